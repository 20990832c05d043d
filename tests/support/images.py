"""Test pictures: small JPEG, PNG, WebP and GIF files, clean or carrying metadata a phone might write."""

from __future__ import annotations

import base64
import struct
import zlib

#: A 48×32 JPEG (blue with a yellow square) as chromium's canvas encodes it: JFIF, ICC profile, baseline scan.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH4AABAAEAAAAAAABhY3NwAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAlkZXNjAAAA"
    "8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAABUAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAAAChiVFJDAAABZAAA"
    "AChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAAAAgAAAAcAHMAUgBHAEJYWVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UA"
    "ABjaWFlaIAAAAAAAACSgAAAPhAAAts9YWVogAAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVj"
    "AAAAAAAAAAEAAAAMZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0o"
    "OjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAgADADASIAAhEBAxEB/8QAFwABAQEBAAAAAAAAAAAAAAAAAAUEBv/EAC4QAAEBAgoKAwAAAAAAAAAAAAAR"
    "BAUBAhITFRZUYWRxAwYUIiNCoqPR4USCwf/EABgBAQEAAwAAAAAAAAAAAAAAAAMEAQIF/8QAIhEAAQUAAQMFAAAAAAAAAAAAAgABAwQREgUhcRMxMoHR"
    "/9oADAMBAAIRAxEAPwCeb6FeFn64vkwHeCXrZ1+PBm777/SmrwjJurkqFeFn64vkztTE0McnaNHIlqm9BCqZZnakHWj4v3/Cer1CWaVgJmx/zyklriAO"
    "TKCADsqJC9WTCdz0QQBNXjmz1G3EgSEHxdXqyYTuejA9HlSE1wpubXmVVS64wA0jpwRkxgPfy6yUxk2O6AAqRL//2Q=="
)
SECRET = "幸福里3栋401 GPS 28.2512N"  # what a phone writes into a photo's metadata


def segment(marker: int, body: bytes) -> bytes:
    """Build a JPEG marker segment."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def exif_segment(secret: str = SECRET, orientation: int = 6) -> bytes:
    """Build an APP1 EXIF segment holding an orientation and a description with the secret."""
    text = secret.encode() + b"\x00"
    entries = 2
    data_at = 8 + 2 + 12 * entries + 4
    ifd = struct.pack("<H", entries)
    ifd += struct.pack("<HHII", 0x010E, 2, len(text), data_at)  # ImageDescription
    ifd += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)  # Orientation
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + text
    return segment(0xE1, b"Exif\x00\x00" + tiff)


def exif_jpeg(secret: str = SECRET, orientation: int = 6, base: bytes = JPEG) -> bytes:
    """Return ``base`` with an EXIF block (orientation, the secret) and a comment with the secret."""
    com = segment(0xFE, b"COMMENT " + secret.encode())
    return base[:2] + exif_segment(secret, orientation) + com + base[2:]


def xmp_segment(secret: str) -> bytes:
    """Build an APP1 XMP segment naming the secret (as phones write GPS and motion-photo offsets)."""
    return segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><exif:GPSLatitude>" + secret.encode()
                   + b"</exif:GPSLatitude></x:xmpmeta>")


def progressive_parts() -> list[bytes]:
    """Return a 16×8 grey progressive JPEG in parts: a DC scan and an AC scan, restart markers and FF00 stuffing.

    Chromium draws it with the left block at 160 and the right one at 128.
    """
    dc_scan = segment(0xDA, b"\x01\x01\x00\x00\x00\x00") + b"\xbf\xff\x00\xff\xd0\x7f"  # +255, stuffed FF, RST0
    ac_scan = segment(0xDA, b"\x01\x01\x00\x01\x3f\x00") + b"\x7f\xff\xd0\x7f"  # an end of band per block
    return [b"\xff\xd8", segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC2, b"\x08" + struct.pack(">HH", 8, 16) + b"\x01\x01\x11\x00"),
            segment(0xC4, b"\x00" + bytes([1, 1] + [0] * 14) + b"\x00\x08"), segment(0xDD, struct.pack(">H", 1)),
            dc_scan, segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00"), ac_scan, b"\xff\xd9"]


PROGRESSIVE = b"".join(progressive_parts())


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """Build a PNG chunk with its CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int = 40, height: int = 30, secret: str = SECRET) -> bytes:
    """Return a solid-colour PNG with a text chunk holding the secret."""
    rows = b"".join(b"\x00" + b"\x2b\x6c\xb0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + png_chunk(b"tEXt", b"Author\x00" + secret.encode()) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def riff_chunk(kind: bytes, payload: bytes) -> bytes:
    """Build a RIFF chunk, padded to an even size."""
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def webp(*chunks: bytes) -> bytes:
    """Wrap chunks in a RIFF WEBP container."""
    body = b"".join(chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


#: A 1×1 lossless WebP (a VP8L chunk alone).
VP8L = riff_chunk(b"VP8L", base64.b64decode("LwAAABAHEBERiIj+BwA="))
#: The header of a 1×1 animated WebP (animation flag set), its ANIM chunk and the header of its one frame.
VP8X = b"VP8X" + struct.pack("<I", 10) + b"\x02\x00\x00\x00" + b"\x00" * 6
ANIM = riff_chunk(b"ANIM", b"\xff\xff\xff\xff\x00\x00")
FRAME_HEADER = b"\x00" * 12 + b"\x64\x00\x00\x00"  # at 0,0, 1×1, 100 ms


def animated_webp(*extra_in_frame: bytes) -> bytes:
    """Return the animated 1×1 WebP, with extra chunks inside its frame if given."""
    return webp(VP8X, ANIM, riff_chunk(b"ANMF", FRAME_HEADER + VP8L + b"".join(extra_in_frame)))


GIF_SCREEN = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\xff\xff\xff\x00\x00\x00"  # 1×1, two global colours
GIF_FRAME = b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00"  # one pixel, LZW data in a sub-block
LOOP = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever


def gce(delay: int) -> bytes:
    """Build a graphic control extension (delay in 1/100 s, no transparency)."""
    return b"\x21\xf9\x04\x00" + struct.pack("<H", delay) + b"\x00\x00"


def gif_extension(label: int, *blocks: bytes) -> bytes:
    """Build a GIF extension from its data sub-blocks."""
    return b"\x21" + bytes([label]) + b"".join(bytes([len(b)]) + b for b in blocks) + b"\x00"


#: A two-frame looping 1×1 GIF.
GIF = GIF_SCREEN + LOOP + gce(50) + GIF_FRAME + gce(50) + GIF_FRAME + b"\x3b"


def leaky_gif(secret: str = SECRET) -> bytes:
    """Return GIF with the secret in a comment, plain text, an XMP block, a NETSCAPE block and after the trailer."""
    text = secret.encode()
    xmp = gif_extension(0xFF, b"XMP DataXMP", b"<x:xmpmeta>" + text + b"</x:xmpmeta>")
    loop = gif_extension(0xFF, b"NETSCAPE2.0", b"\x01\x00\x00", b"hidden " + text)
    plain = gif_extension(0x01, b"\x00" * 12, text)
    comment = gif_extension(0xFE, b"COMMENT " + text)
    return (GIF_SCREEN + comment + loop + xmp + gce(50) + GIF_FRAME + plain + gce(50) + comment + GIF_FRAME
            + b"\x3b" + comment + b"after the trailer " + text)


MP4 = (struct.pack(">I", 24) + b"ftypmp42\x00\x00\x00\x00mp42isom"
       + struct.pack(">I", 36) + b"moov" + struct.pack(">I", 28) + b"udta" + struct.pack(">I", 20) + b"\xa9xyz"
       + b"+28.2512+112.8712/")  # the location atom a phone writes into a motion photo's video


def mpo(primary: str = "PRIMARY-GPS", second: str = "SECOND-GPS") -> bytes:
    """Return a two-image JPEG as a phone writes it (MPO/Ultra HDR): an MPF index, then the second JPEG after EOI."""
    mpf = segment(0xE2, b"MPF\x00MM\x00*\x00\x00\x00\x08" + b"\x00" * 16)
    first = exif_jpeg(primary, 1)
    return first[:2] + mpf + xmp_segment(primary) + first[2:] + exif_jpeg(second, 1)


def png_header(width: int, height: int) -> bytes:
    """Return a tiny valid PNG header claiming ``width`` × ``height``."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 16)


def jpeg_header(width: int, height: int) -> bytes:
    """Return a minimal JPEG start with a SOF0 segment."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"
