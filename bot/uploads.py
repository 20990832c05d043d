"""Photo uploads: size and type limits, content sniffing, decompression-bomb checks, stored by hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from storage.models import Attachment
from storage.scheduler import TickReport

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 5 MB file that unpacks to more than this is a decompression bomb
MAX_SIDE = 12_000
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
ALLOWED_SUFFIXES = {"jpg", "jpeg", "png", "gif", "webp", "heic"}
ORPHAN_AFTER = dt.timedelta(days=1)  # an upload no submission claimed by then is removed (its receipt expired too)
LEFTOVER_AFTER = dt.timedelta(minutes=10)  # a partial file this old was left by a process that died while writing


class UploadRejected(ValueError):
    """The file is not a photo we accept; ``reason`` is a message key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Sniffed:
    """What the bytes really are."""

    content_type: str
    width: int
    height: int


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2: i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5: i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def sniff(data: bytes) -> Sniffed:
    """Identify a JPEG, PNG, GIF or WebP by its bytes and read its dimensions; refuse anything else."""
    size: tuple[int, int] | None = None
    if data.startswith(b"\xff\xd8\xff"):
        kind, size = "image/jpeg", _jpeg_size(data)
    elif data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        kind, size = "image/png", struct.unpack(">II", data[16:24])
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        kind, size = "image/gif", struct.unpack("<HH", data[6:10])
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind, size = "image/webp", _webp_size(data)
    else:
        raise UploadRejected("upload.type")
    if size is None or min(size) < 1:
        raise UploadRejected("upload.type")
    width, height = size
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise UploadRejected("upload.dimensions")
    return Sniffed(kind, width, height)


def safe_name(filename: str) -> str:
    """Return a filename with no path, control or markup characters; refuse double or foreign extensions."""
    name = re.sub(r"[^\w.\-\u4e00-\u9fff]", "_", Path(filename or "photo").name)[:100] or "photo"
    parts = name.lower().split(".")
    if len(parts) > 1 and (parts[-1] not in ALLOWED_SUFFIXES or any(p in {"html", "htm", "svg", "js", "php", "exe"}
                                                                     for p in parts[1:])):
        raise UploadRejected("upload.type")
    return name


async def store(data: bytes, filename: str, directory: Path) -> Attachment:
    """Check and keep a photo; it belongs to no case until a submission claims it."""
    if len(data) > MAX_BYTES:
        raise UploadRejected("upload.size")
    if not data:
        raise UploadRejected("upload.type")
    name = safe_name(filename)
    found = sniff(data)
    digest = hashlib.sha256(data).hexdigest()
    path = directory / digest[:2] / f"{digest}.{EXTENSIONS[found.content_type]}"
    if path.exists():
        os.utime(path)  # fresh again: the orphan sweep leaves files stored since its cutoff alone
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, data)
    return await Attachment.create(case=None, filename=name, content_type=found.content_type, size=len(data),
                                   sha256=digest, path=str(path))


def write_whole(path: Path, data: bytes) -> None:
    """Write a file whole or not at all, even while other threads or processes write the same one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")  # this writer's own
    try:
        partial.write_bytes(data)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def remove_leftovers(directory: Path, older_than: dt.timedelta = LEFTOVER_AFTER) -> int:
    """Delete the partial files (``write_whole``'s) a crash left beside the uploads and thumbnails; return how many.

    Files younger than ``older_than`` are another process's writes in progress and are left alone.
    """
    cutoff, removed = time.time() - older_than.total_seconds(), 0
    for part in directory.glob("*/.*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


async def remove_orphans(now: dt.datetime, older_than: dt.timedelta = ORPHAN_AFTER) -> int:
    """Delete uploads no case claimed within ``older_than``, and their files unless another upload uses them.

    Safe beside submissions and other processes: a row a case claims meanwhile is not deleted, a file
    still named by any row (or stored again since the cutoff) is kept. Returns how many rows went.
    """
    cutoff = now - older_than
    orphans = await Attachment.filter(case_id=None, created_at__lt=cutoff).values_list("id", "path")
    removed, paths = 0, set()
    for i in range(0, len(orphans), 500):
        chunk = orphans[i:i + 500]
        removed += await Attachment.filter(id__in=[row[0] for row in chunk], case_id=None).delete()
        paths.update(row[1] for row in chunk)
    listed, used = sorted(paths), set()
    for i in range(0, len(listed), 500):  # chunked like the deletes: one IN list per 500 paths
        used.update(await Attachment.filter(path__in=listed[i:i + 500]).values_list("path", flat=True))
    for name in paths - used:
        file = Path(name)
        try:
            if file.stat().st_mtime < cutoff.timestamp():
                file.unlink()
                for kept in file.parent.glob(f"{file.name}.thumb.*"):  # its case page thumbnail, if one was made
                    kept.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
    return removed


async def sweep_orphans(now: dt.datetime, report: TickReport) -> None:
    """Scheduler job: remove the day-old uploads that never became part of a case."""
    report.count("orphan_uploads", await remove_orphans(now))
