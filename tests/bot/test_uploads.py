"""Photo checks: real images pass; SVG, HTML named .jpg, double extensions, oversize and bombs do not; orphans go."""

from __future__ import annotations

import datetime as dt
import os
import struct
import time
from pathlib import Path

import pytest

from bot import uploads
from storage.cases import CaseService
from storage.models import Attachment, Case, Channel
from storage.scheduler import Scheduler
from tests.support.images import jpeg_header, png_header


def test_real_images_are_recognised_with_their_size() -> None:
    assert uploads.sniff(png_header(640, 480)) == uploads.Sniffed("image/png", 640, 480)
    assert uploads.sniff(jpeg_header(800, 600)) == uploads.Sniffed("image/jpeg", 800, 600)
    assert uploads.sniff(b"GIF89a" + struct.pack("<HH", 10, 20) + b"\x00" * 8).content_type == "image/gif"


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    b"<!doctype html><script>alert(1)</script>",
    b"\x00\x01garbage",
    b"",
])
def test_anything_but_a_photo_is_refused(data: bytes) -> None:
    with pytest.raises(uploads.UploadRejected):
        uploads.sniff(data)


def test_decompression_bombs_are_refused() -> None:
    with pytest.raises(uploads.UploadRejected) as err:
        uploads.sniff(png_header(50_000, 50_000))
    assert err.value.reason == "upload.dimensions"


@pytest.mark.parametrize("name", ["photo.jpg.html", "x.svg", "a.php.jpg", "page.html"])
def test_foreign_and_double_extensions_are_refused(name: str) -> None:
    with pytest.raises(uploads.UploadRejected):
        uploads.safe_name(name)


def test_names_lose_paths_and_markup() -> None:
    assert uploads.safe_name("../../etc/<b>门口</b>.jpg") == "b_.jpg"
    assert uploads.safe_name("门口 <i>照片.JPG") == "门口__i_照片.JPG"


async def test_store_keeps_one_file_per_content(database_url: str, tmp_path: Path) -> None:
    first = await uploads.store(png_header(10, 10), "a.png", tmp_path)
    second = await uploads.store(png_header(10, 10), "b.png", tmp_path)
    assert first.path == second.path and Path(first.path).read_bytes() == png_header(10, 10)
    assert first.case_id is None and first.content_type == "image/png"
    with pytest.raises(uploads.UploadRejected):
        await uploads.store(b"\xff\xd8\xff" + b"\x00" * (uploads.MAX_BYTES + 1), "big.jpg", tmp_path)


async def test_day_old_uploads_no_case_claimed_are_swept_with_their_files(database_url: str, tmp_path: Path) -> None:
    claimed = await uploads.store(png_header(10, 10), "claimed.png", tmp_path)
    same_file = await uploads.store(png_header(10, 10), "again.png", tmp_path)  # same bytes: one file, two rows
    orphan = await uploads.store(jpeg_header(20, 20), "orphan.jpg", tmp_path)
    case = await Case.create(number="8890-20261126-00001", tracking_code="ABCDEFGHJK", text="路灯不亮",
                             channel=Channel.WEBCHAT)
    await Attachment.filter(id=claimed.id).update(case_id=case.id)
    scheduler = Scheduler(CaseService(hotline_prefix="8890"))
    scheduler.extra_jobs.append(uploads.sweep_orphans)

    scheduler.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    assert "orphan_uploads" not in (await scheduler.tick()).done  # not a day old yet
    fresh = await uploads.store(jpeg_header(30, 30), "fresh.jpg", tmp_path)
    scheduler.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    fresh_row = await Attachment.get(id=fresh.id)
    await Attachment.filter(id=fresh.id).update(created_at=fresh_row.created_at + dt.timedelta(hours=2))
    assert (await scheduler.tick()).done["orphan_uploads"] == 2

    assert {a.id for a in await Attachment.all()} == {claimed.id, fresh.id}
    assert Path(claimed.path).exists() and Path(same_file.path) == Path(claimed.path)  # still the claimed photo's
    assert not Path(orphan.path).exists() and Path(fresh.path).exists()
    assert "orphan_uploads" not in (await scheduler.tick()).done  # nothing left to do


def test_writers_of_the_same_file_at_once_never_fail_or_leave_a_part(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bot.uploads import write_whole

    target = tmp_path / "ab" / "same-picture.jpg"
    target.parent.mkdir()
    body = bytes(range(256)) * 4096  # 1 MB: long enough for the writes to overlap

    def write(_: int) -> None:
        write_whole(target, body)
        assert target.read_bytes() == body  # a reader never sees a half-written file

    with ThreadPoolExecutor(8) as pool:  # two workers (or two requests) storing one picture at once
        list(pool.map(write, range(64)))
    assert [p.name for p in target.parent.iterdir()] == ["same-picture.jpg"]


def test_partial_files_a_crash_left_are_swept_but_not_a_write_in_progress(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    picture = tmp_path / "ab" / "picture.jpg"
    picture.write_bytes(b"kept")
    left = tmp_path / "ab" / ".picture.jpg.4242.0a1b2c3d.part"  # its writer was killed before the rename
    left.write_bytes(b"half")
    hour_ago = time.time() - 3600
    os.utime(left, (hour_ago, hour_ago))
    writing = tmp_path / "ab" / ".other.png.4343.0a1b2c3d.part"  # another worker is writing it right now
    writing.write_bytes(b"half")
    assert uploads.remove_leftovers(tmp_path) == 1
    assert sorted(p.name for p in (tmp_path / "ab").iterdir()) == [writing.name, picture.name]
    assert uploads.remove_leftovers(tmp_path / "no-uploads-yet") == 0
