"""Photos without metadata: what a viewer draws stays byte for byte; GPS, comments and files appended after it go.

The stripping is checked by structure, not by decoding: the rebuilt file is exactly the clean picture
(markers and chunks in order, image data byte-exact, ending at its end marker). The images below were checked to
decode in chromium before and after stripping.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from backoffice import photos
from backoffice.photos import BadImage, thumbnail
from bot import uploads
from tests.support.images import (
    ANIM,
    FRAME_HEADER,
    GIF,
    GIF_SCREEN,
    JPEG,
    LOOP,
    MP4,
    PROGRESSIVE,
    SECRET,
    VP8L,
    VP8X,
    animated_webp,
    exif_jpeg,
    exif_segment,
    leaky_gif,
    mpo,
    png,
    png_chunk,
    progressive_parts,
    riff_chunk,
    segment,
    webp,
    xmp_segment,
)

# --- JPEG ----------------------------------------------------------------------------------------------------------

def test_the_picture_after_the_first_one_and_its_gps_are_not_served() -> None:
    data = mpo()
    assert uploads.sniff(data).content_type == "image/jpeg"  # accepted on upload
    stripped = photos.without_metadata(data, "image/jpeg")
    assert b"PRIMARY-GPS" not in stripped and b"SECOND-GPS" not in stripped and b"MPF" not in stripped
    assert stripped == JPEG  # the clean picture exactly: JFIF, ICC profile, tables, frame, scan, EOI


@pytest.mark.parametrize("trailer", [MP4, exif_jpeg(), b"\x00" * 7 + SECRET.encode()], ids=["motion", "jpeg", "junk"])
def test_nothing_after_the_end_of_image_is_served(trailer: bytes) -> None:
    data = JPEG[:2] + xmp_segment("MotionPhoto GPS") + JPEG[2:] + trailer
    stripped = photos.without_metadata(data, "image/jpeg")
    assert stripped == JPEG and b"xyz" not in stripped and SECRET.encode() not in stripped


def test_the_orientation_stays_as_the_one_exif_tag() -> None:
    stripped = photos.without_metadata(exif_jpeg(orientation=6) + exif_jpeg(orientation=3), "image/jpeg")
    orientation = b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00"  # tag 0x0112, SHORT, 1 value: 6
    tag = segment(0xE1, b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00" + orientation + b"\x00\x00\x00\x00")
    assert stripped == JPEG[:2] + tag + JPEG[2:]


def test_comments_and_application_data_between_progressive_scans_are_dropped() -> None:
    parts = progressive_parts()
    leaky = [parts[0], exif_segment(orientation=1), *parts[1:7], segment(0xFE, SECRET.encode()),
             xmp_segment(SECRET), segment(0xED, b"Photoshop 3.0\x00" + SECRET.encode()), *parts[7:],
             segment(0xFE, b"after " + SECRET.encode())]
    stripped = photos.without_metadata(b"".join(leaky), "image/jpeg")
    assert SECRET.encode() not in stripped
    assert stripped == PROGRESSIVE  # both scans, the stuffed FF, the restart markers and the second table kept
    assert photos.without_metadata(PROGRESSIVE, "image/jpeg") == PROGRESSIVE


def test_a_jpeg_cut_short_in_its_scan_is_closed_and_one_without_a_scan_is_bad() -> None:
    cut = exif_jpeg()[:-40]
    stripped = photos.without_metadata(cut, "image/jpeg")
    assert stripped.endswith(JPEG[-42:-40] + b"\xff\xd9") and SECRET.encode() not in stripped
    with pytest.raises(photos.BadImage):
        photos.without_metadata(exif_jpeg()[:300], "image/jpeg")


# --- PNG, WebP, GIF ------------------------------------------------------------------------------------------------

def test_png_keeps_only_the_chunks_a_viewer_needs_and_stops_at_iend() -> None:
    head, _, rest = png().partition(png_chunk(b"tEXt", b"Author\x00" + SECRET.encode()))  # signature and IHDR
    idat, iend = rest[:-12], rest[-12:]
    gama, trns = png_chunk(b"gAMA", struct.pack(">I", 45455)), png_chunk(b"tRNS", b"\x00\x01\x00\x02\x00\x03")
    secret = SECRET.encode()
    data = (head + gama + png_chunk(b"eXIf", b"MM\x00*" + secret) + png_chunk(b"caBX", secret) + trns
            + png_chunk(b"zTXt", b"GPS\x00\x00" + zlib.compress(secret)) + idat
            + png_chunk(b"iTXt", b"GPS\x00" + secret)
            + iend + png_chunk(b"tEXt", b"After\x00" + secret) + idat + iend)
    assert uploads.sniff(data).content_type == "image/png"
    assert photos.without_metadata(data, "image/png") == head + gama + trns + idat + iend


def test_webp_keeps_only_the_picture_inside_its_riff_size() -> None:
    secret = SECRET.encode()
    exif = riff_chunk(b"EXIF", b"II*\x00" + secret)
    flagged = VP8X[:8] + bytes([VP8X[8] | 0x0C]) + VP8X[9:]  # EXIF and XMP present
    inside = webp(flagged, ANIM, riff_chunk(b"ANMF", FRAME_HEADER + VP8L + riff_chunk(b"GPS ", secret)),
                  exif, riff_chunk(b"XMP ", b"<x:xmpmeta>" + secret), riff_chunk(b"LOCA", secret))
    data = inside + exif + b"after the RIFF chunk " + secret
    assert uploads.sniff(data).content_type == "image/webp"
    stripped = photos.without_metadata(data, "image/webp")
    assert stripped == animated_webp()  # flags cleared, frame rebuilt, RIFF size of what is left
    assert struct.unpack("<I", stripped[4:8])[0] == len(stripped) - 8
    assert photos.without_metadata(webp(VP8L) + exif, "image/webp") == webp(VP8L)


def test_gif_keeps_frames_timing_and_looping_and_drops_comments_text_and_trailers() -> None:
    data = leaky_gif()
    assert uploads.sniff(data).content_type == "image/gif"
    assert photos.without_metadata(data, "image/gif") == GIF
    assert photos.without_metadata(GIF, "image/gif") == GIF
    assert photos.without_metadata(GIF[:-1], "image/gif") == GIF  # no trailer: closed as a viewer would
    with pytest.raises(photos.BadImage):
        photos.without_metadata(GIF_SCREEN + LOOP + b"\x3b", "image/gif")  # no picture at all


@pytest.mark.parametrize(("data", "kind"), [(mpo(), "image/jpeg"), (exif_jpeg(base=PROGRESSIVE), "image/jpeg"),
                                            (png(), "image/png"), (leaky_gif(), "image/gif"),
                                            (webp(VP8X, riff_chunk(b"EXIF", SECRET.encode()), VP8L), "image/webp")],
                         ids=["mpo", "progressive", "png", "gif", "webp"])
def test_a_broken_file_is_refused_or_served_clean_never_an_error(data: bytes, kind: str) -> None:
    secrets = (SECRET.encode(), b"PRIMARY-GPS", b"SECOND-GPS")
    for end in range(len(data)):  # every way the file can be cut short, and a byte spoilt at every place
        spoilt = bytearray(data)
        spoilt[end] ^= 0xA5
        for broken in (data[:end], bytes(spoilt)):
            try:
                stripped = photos.without_metadata(broken, kind)
            except photos.BadImage:
                continue
            assert not any(s in stripped for s in secrets), (end, broken)


def test_a_thumbnail_refuses_what_it_cannot_or_should_not_decode() -> None:
    with pytest.raises(BadImage):
        thumbnail(b"not a picture at all")
    # A tiny file claiming 60,000 × 60,000 pixels: refused before any pixel is decoded.
    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    bomb = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))
    with pytest.raises(BadImage):
        thumbnail(bomb)
    body, kind = thumbnail(exif_jpeg())  # the shipped 48 × 32 JPEG, taken on its side
    assert kind == "image/jpeg" and SECRET.encode() not in body and b"Exif" not in body


def test_a_transparent_palette_picture_keeps_its_transparency_in_the_thumbnail() -> None:
    gif = io.BytesIO()
    Image.new("P", (600, 200), 0).save(gif, "GIF", transparency=0)
    body, kind = thumbnail(gif.getvalue())
    with Image.open(io.BytesIO(body)) as small:
        assert kind == "image/png" and small.size == (320, 107) and small.mode == "RGBA"
        assert small.getpixel((0, 0))[3] == 0  # still see-through, not filled in as a JPEG would be
