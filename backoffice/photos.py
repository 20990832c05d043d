"""Citizens' photos as staff see them: checked again by their bytes, served without hidden metadata.

Phone photos carry EXIF: the GPS position of the camera (often the citizen's home), the device and
the owner's name. Staff need none of it, and a confidential case must not reveal where the citizen
stood, so JPEG, PNG, WebP and GIF are rebuilt from the parts a viewer needs to draw the picture and
nothing else: no comments, application data, text chunks, second images (MPO, gain maps) or files
appended after the end (a phone's "motion photo" video). Only the JPEG orientation is kept (rewritten
as the one EXIF tag) so the photo is not shown on its side.
"""

from __future__ import annotations

import io
import re
import struct
from pathlib import Path
from urllib.parse import quote

from PIL import Image, ImageOps

from bot.uploads import EXTENSIONS, MAX_PIXELS, UploadRejected, sniff, write_whole

#: JPEG segments a decoder needs: frame headers (SOF0-15), Huffman and arithmetic tables, DQT, DNL, DRI, DHP, EXP.
_JPEG_KEEP = frozenset({*range(0xC0, 0xD0), 0xDB, 0xDC, 0xDD, 0xDE, 0xDF}) - {0xC8}
_JPEG_CHECKED = _JPEG_KEEP | {0xDA}  # kept segments whose length is checked against their content
#: Application segments that change how the picture is drawn: JFIF, the colour profile, Adobe's colour transform.
_JPEG_APP_KEEP = ((0xE0, b"JFIF\x00"), (0xE2, b"ICC_PROFILE\x00"), (0xEE, b"Adobe"))
#: PNG chunks a viewer needs: the critical ones, transparency, colour, pixel size, animation (APNG).
_PNG_KEEP = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
                       b"cICP", b"mDCV", b"cLLI", b"pHYs", b"acTL", b"fcTL", b"fdAT"})
_WEBP_KEEP = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ICCP", b"ANIM", b"ANMF"})
_WEBP_FRAME = frozenset({b"VP8 ", b"VP8L", b"ALPH"})


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


def _scan_end(data: bytes, i: int) -> int:
    """Return where the entropy-coded data from ``i`` ends: at the first marker not FF00 stuffing, RST0-7 or fill."""
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= len(data):
            return len(data)
        following = data[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            i += 2
        elif following == 0xFF:
            i += 1
        else:
            return i


def _jpeg_segment_fits(marker: int, body: bytes) -> bool:
    """Tell whether a kept segment's length agrees with what it holds (a broken length would swallow what follows)."""
    if marker == 0xDA:  # SOS: component count, two bytes per component, spectral selection and approximation
        return len(body) >= 4 and len(body) == 4 + 2 * body[0]
    if marker in (0xDD, 0xDC):  # DRI, DNL
        return len(body) == 2
    if marker == 0xC4:  # DHT: class and id, 16 code counts, the symbols
        i = 0
        while i + 17 <= len(body):
            i += 17 + sum(body[i + 1: i + 17])
        return i == len(body)
    if marker == 0xDB:  # DQT: precision and id, 64 values of 1 or 2 bytes
        i = 0
        while i < len(body):
            i += 1 + (128 if body[i] >> 4 else 64)
        return i == len(body)
    if (0xC0 <= marker <= 0xCF and marker != 0xCC) or marker == 0xDE:  # SOFn, DHP: three bytes per component
        return len(body) >= 6 and len(body) == 6 + 3 * body[5]
    return True


def _jpeg(data: bytes) -> bytes:
    """Keep the frame, tables and every scan up to the first end-of-image; drop COM/APPn and anything after EOI."""
    if not data.startswith(b"\xff\xd8"):
        raise BadImage("jpeg")
    out = bytearray(b"\xff\xd8")
    i, scanned, exif_seen = 2, False, False
    while i + 2 <= len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # end of image: what follows (a second image, a video, a trailer) is not this picture
            out += b"\xff\xd9"
            return bytes(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # stray TEM/RST outside a scan carries nothing
            i += 2
            continue
        if marker in (0x00, 0xD8) or i + 4 > len(data):
            break
        (length,) = struct.unpack(">H", data[i + 2: i + 4])
        end = i + 2 + length
        if length < 2 or end > len(data):
            break
        body = data[i + 4: end]
        if marker in _JPEG_CHECKED and not _jpeg_segment_fits(marker, body):
            break
        if marker == 0xDA:  # start of scan: the header, then entropy-coded data up to the next real marker
            scan_end = _scan_end(data, end)
            out += data[i:scan_end]
            scanned, i = True, scan_end
            continue
        if marker in _JPEG_KEEP:
            out += data[i:end]
        elif not scanned and marker == 0xE1 and not exif_seen and body.startswith(b"Exif\x00\x00"):
            exif_seen = True
            value = _orientation(body[6:])
            if value and value != 1:
                out += _orientation_segment(value)
        elif not scanned and any(marker == m and body.startswith(p) for m, p in _JPEG_APP_KEEP):
            out += data[i:end]
        # anything else: comments, EXIF/XMP/MPF and other application data, unknown segments
        i = end
    if not scanned:
        raise BadImage("jpeg ends early")
    out += b"\xff\xd9"  # cut short or broken after a scan: a viewer draws what came, as it would of the original
    return bytes(out)


def _png(data: bytes) -> bytes:
    """Keep the critical chunks and those a viewer needs (transparency, colour, animation) up to IEND."""
    out = bytearray(data[:8])
    i = 8
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i: i + 4])
        kind = data[i + 4: i + 8]
        chunk = data[i: i + 12 + length]
        if len(chunk) < 12 + length:
            raise BadImage("png chunk")
        if kind in _PNG_KEEP:
            out += chunk
        i += 12 + length
        if kind == b"IEND":
            return bytes(out)
    raise BadImage("png ends early")


def _riff_chunks(data: bytes, start: int, end: int) -> list[tuple[bytes, bytes]]:
    """Split ``data[start:end]`` into RIFF chunks (kind, payload)."""
    chunks = []
    i = start
    while i + 8 <= end:
        kind = data[i: i + 4]
        (length,) = struct.unpack("<I", data[i + 4: i + 8])
        if i + 8 + length > end:
            raise BadImage("webp chunk")
        chunks.append((kind, data[i + 8: i + 8 + length]))
        i += 8 + length + (length & 1)
    return chunks


def _riff_chunk(kind: bytes, payload: bytes) -> bytes:
    """Build a RIFF chunk, padded to an even size."""
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def _webp(data: bytes) -> bytes:
    """Keep the image, alpha, colour profile and animation chunks inside the RIFF size; drop EXIF, XMP and the rest."""
    if len(data) < 12:
        raise BadImage("webp")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)  # bytes after the RIFF chunk are no part of the picture
    body = bytearray()
    for kind, payload in _riff_chunks(data, 12, end):
        if kind not in _WEBP_KEEP:
            continue
        if kind == b"VP8X" and payload:
            payload = bytes([payload[0] & ~0x0C & 0xFF]) + payload[1:]  # no EXIF, no XMP any more
        elif kind == b"ANMF":
            if len(payload) < 16:
                raise BadImage("webp frame")
            frame = [c for c in _riff_chunks(payload, 16, len(payload)) if c[0] in _WEBP_FRAME]
            payload = payload[:16] + b"".join(_riff_chunk(k, p) for k, p in frame)
        body += _riff_chunk(kind, payload)
    if not body:
        raise BadImage("webp has no image")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + bytes(body)


def _sub_blocks_end(data: bytes, i: int) -> int | None:
    """Return where the GIF data sub-blocks from ``i`` end (after the zero terminator), None if cut short."""
    while i < len(data):
        if data[i] == 0:
            return i + 1
        i += 1 + data[i]
    return None


def _gif(data: bytes) -> bytes:
    """Keep the screen, colour tables, images, graphic control and NETSCAPE2.0 looping; drop comments and the rest."""
    if len(data) < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        raise BadImage("gif")
    i = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    if i > len(data):
        raise BadImage("gif colour table")
    out = bytearray(data[:i])
    images = 0
    while i < len(data) and data[i] != 0x3B:  # the trailer: what follows is not this picture
        if data[i] == 0x2C and i + 10 <= len(data):  # image: descriptor, local colour table, LZW code size, data
            packed = data[i + 9]
            end = _sub_blocks_end(data, i + 11 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0))
            if end is None:
                break
            out += data[i:end]
            images += 1
        elif data[i] == 0x21 and i + 2 < len(data):  # extension: label, then data sub-blocks
            end = _sub_blocks_end(data, i + 2)
            if end is None:
                break
            label, size = data[i + 1], data[i + 2]
            first = data[i + 3: i + 3 + size]
            if label == 0xF9 and size == 4:  # graphic control: delay, disposal, transparency
                out += b"\x21\xf9\x04" + first + b"\x00"
            elif label == 0xFF and first == b"NETSCAPE2.0" and data[i + 14] == 3 and data[i + 15] == 1:
                out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + data[i + 16: i + 18] + b"\x00"  # the loop count
            # comments, plain text and other applications' blocks (XMP, ICC, ...) are left out
        else:
            break
        i = end
    if not images:
        raise BadImage("gif has no image")
    return bytes(out + b"\x3b")


def without_metadata(data: bytes, content_type: str) -> bytes:
    """Return the image rebuilt without its metadata (EXIF GPS, XMP, comments, text, appended files)."""
    if content_type == "image/jpeg":
        return _jpeg(data)
    if content_type == "image/png":
        return _png(data)
    if content_type == "image/webp":
        return _webp(data)
    if content_type == "image/gif":
        return _gif(data)
    return data


THUMB_PIXELS = 320  # the longer side of a case page's thumbnail


def thumbnail(data: bytes, size: int = THUMB_PIXELS) -> tuple[bytes, str]:
    """Return a small copy of a picture, turned as taken, as (bytes, content type): JPEG, or PNG when it has
    transparency. Only pixels are written, so no metadata survives. Raises BadImage for what Pillow cannot read.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise BadImage("picture too large to shrink")
            img.draft("RGB", (size, size))  # JPEG: decode at 1/2 … 1/8 scale straight away
            small = ImageOps.exif_transpose(img)
            small.thumbnail((size, size))
            alpha = small.mode in ("RGBA", "LA") or (small.mode == "P" and "transparency" in small.info)
            pixels = small.convert("RGBA" if alpha else "RGB")  # the palette's transparency read while still there
            pixels.info = {}  # Pillow writes a JPEG comment, EXIF or ICC back from here: pixels only
            out = io.BytesIO()
            if alpha:
                pixels.save(out, "PNG", optimize=True)
                return out.getvalue(), "image/png"
            pixels.save(out, "JPEG", quality=80, optimize=True)
            return out.getvalue(), "image/jpeg"
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise BadImage(f"cannot shrink: {exc}") from exc


THUMB_KINDS = {"image/jpeg": "jpg", "image/png": "png"}  # what ``thumbnail`` writes


def kept_thumbnail(original: Path) -> tuple[bytes, str] | None:
    """Return the thumbnail of a stored picture, made on first use and kept beside it; None for what cannot be shrunk.

    Uploads are stored under their content's digest, so a picture's thumbnail never changes: the case page's
    small copies are read from disk after the first view instead of decoding the full picture every time.
    """
    for kind, ext in THUMB_KINDS.items():
        kept = thumbnail_path(original, ext)
        if kept.is_file():
            return kept.read_bytes(), kind
    data = original.read_bytes()
    try:
        sniff(data)  # only pictures the upload checks accept are handed to Pillow
        body, kind = thumbnail(data)
    except (UploadRejected, BadImage):
        return None
    kept = thumbnail_path(original, THUMB_KINDS[kind])
    write_whole(kept, body)  # whole or not at all, whichever request or worker writes it
    return body, kind


def thumbnail_path(original: Path, ext: str) -> Path:
    """Return where the thumbnail of a stored picture is kept."""
    return original.with_name(f"{original.name}.thumb.{ext}")


def disposition(kind: str, attachment_id: int, filename: str, content_type: str) -> str:
    """Return a Content-Disposition value: an ASCII name, and the citizen's file name made safe (RFC 6266)."""
    ext = EXTENSIONS.get(content_type, "bin")
    stem = re.sub(r"[^\w\-\u4e00-\u9fff]", "_", Path(filename or "").stem)[:60].strip("_.") or "photo"
    return f"{kind}; filename=\"photo-{attachment_id}.{ext}\"; filename*=UTF-8''{quote(stem + '.' + ext)}"
