"""Citizens' photos as staff see them: checked again by their bytes, served without hidden metadata.

Phone photos carry EXIF: the GPS position of the camera (often the citizen's home), the device and
the owner's name. Staff need none of it, and a confidential case must not reveal where the citizen
stood, so JPEG, PNG and WebP are served with their metadata removed; only the JPEG orientation is
kept (rewritten as the one EXIF tag) so the photo is not shown on its side.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from urllib.parse import quote

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
_WEBP_DROP = {b"EXIF", b"XMP "}


class BadImage(ValueError):
    """The bytes do not parse as the image type they claim."""


def _orientation(exif: bytes) -> int | None:
    """Read the Orientation tag (0x0112) of IFD0 from an EXIF payload that starts with the TIFF header."""
    if len(exif) < 8 or exif[:2] not in (b"II", b"MM"):
        return None
    end = "<" if exif[:2] == b"II" else ">"
    (offset,) = struct.unpack(end + "I", exif[4:8])
    if offset + 2 > len(exif):
        return None
    (count,) = struct.unpack(end + "H", exif[offset: offset + 2])
    for i in range(count):
        entry = exif[offset + 2 + 12 * i: offset + 14 + 12 * i]
        if len(entry) < 12:
            return None
        tag, kind = struct.unpack(end + "HH", entry[:4])
        if tag == 0x0112 and kind == 3:
            (value,) = struct.unpack(end + "H", entry[8:10])
            return value if 1 <= value <= 8 else None
    return None


def _orientation_segment(value: int) -> bytes:
    """Build an APP1 segment holding only the Orientation tag."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, value, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _jpeg(data: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise BadImage("jpeg")
    out = bytearray(b"\xff\xd8")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise BadImage("jpeg marker")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # end of image
            out += data[i: i + 2]
            return bytes(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out += data[i: i + 2]
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2: i + 4])
        segment = data[i: i + 2 + length]
        if length < 2 or len(segment) < 2 + length:
            raise BadImage("jpeg segment")
        body = segment[4:]
        if marker == 0xDA:  # start of scan: the picture itself follows, no more metadata before it
            out += data[i:]
            return bytes(out)
        if marker == 0xE1:
            value = _orientation(body[6:]) if body.startswith(b"Exif\x00\x00") else None
            if value and value != 1:
                out += _orientation_segment(value)
        elif marker == 0xFE or (0xE1 <= marker <= 0xEF and not (
                (marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00")) or marker == 0xEE)):
            pass  # comments and application data; the colour profile (APP2) and Adobe's APP14 stay
        else:
            out += segment
        i += 2 + length
    raise BadImage("jpeg ends early")


def _png(data: bytes) -> bytes:
    out = bytearray(data[:8])
    i = 8
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i: i + 4])
        kind = data[i + 4: i + 8]
        chunk = data[i: i + 12 + length]
        if len(chunk) < 12 + length:
            raise BadImage("png chunk")
        if kind not in _PNG_DROP:
            out += chunk
        i += 12 + length
        if kind == b"IEND":
            return bytes(out)
    raise BadImage("png ends early")


def _webp(data: bytes) -> bytes:
    body = bytearray()
    i = 12
    flags_at = None
    while i + 8 <= len(data):
        kind = data[i: i + 4]
        (length,) = struct.unpack("<I", data[i + 4: i + 8])
        size = 8 + length + (length & 1)
        chunk = data[i: i + size]
        if len(chunk) < 8 + length:
            raise BadImage("webp chunk")
        if kind == b"VP8X":
            flags_at = 12 + len(body) + 8
        if kind not in _WEBP_DROP:
            body += chunk
        i += size
    out = bytearray(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP") + body
    if flags_at is not None:
        out[flags_at] &= ~0x0C & 0xFF  # the EXIF and XMP flags
    return bytes(out)


def without_metadata(data: bytes, content_type: str) -> bytes:
    """Return the image with its metadata (EXIF GPS, XMP, comments, text) removed; GIF is returned as is."""
    if content_type == "image/jpeg":
        return _jpeg(data)
    if content_type == "image/png":
        return _png(data)
    if content_type == "image/webp":
        return _webp(data)
    return data


def disposition(kind: str, attachment_id: int, filename: str, content_type: str) -> str:
    """Return a Content-Disposition value: an ASCII name, and the citizen's file name made safe (RFC 6266)."""
    ext = EXTENSIONS.get(content_type, "bin")
    stem = re.sub(r"[^\w\-\u4e00-\u9fff]", "_", Path(filename or "").stem)[:60].strip("_.") or "photo"
    return f"{kind}; filename=\"photo-{attachment_id}.{ext}\"; filename*=UTF-8''{quote(stem + '.' + ext)}"
