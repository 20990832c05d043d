"""The case page: the citizen's words, masked personal data, photos, map, timeline, clocks and the allowed actions."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

from PIL import Image

from backoffice.access import actor_for
from bot import uploads
from storage.cases import CaseView
from storage.lifecycle import CaseStatus, allowed_actions
from storage.models import Attachment, AuditEntry, Case, CaseEvent
from tests.backoffice.conftest import Browser, City
from tests.support import images
from tests.support.builders import attach, make_case
from tests.support.images import JPEG, SECRET, exif_jpeg, png


def forms(page: str) -> list[str]:
    """Return the actions offered as forms on a case page."""
    return re.findall(r'data-action="([a-z_]+)"', page)


async def test_handler_sees_masked_case_and_signs_it(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.DISPATCHED, address="东湖区幸福里小区3栋2单元401",
                           district="东湖区", street="幸福里街道")
    handler = await login_as("handler")
    status, page = await handler.get(f"/cases/{case.id}")
    assert status == 200
    assert "路灯坏了" in page and "138****5678" in page and "13812345678" not in page
    assert "张*" in page and "401" not in page and "东湖区幸福里街道" in page
    expected = allowed_actions(await CaseView.load(case, dt.datetime.now(dt.UTC)), actor_for(city.staff["handler"]))
    assert forms(page) == [a.value for a in expected] and "sign" in forms(page)
    status, page = await handler.act(case.id, "sign", note="已签收，安排城管中队夜查")
    assert status == 200 and "办理中" in page and "签收" in page
    assert "已签收，安排城管中队夜查" in page  # the note typed beside it is in the timeline (below, exactly)
    assert (await Case.get(id=case.id)).status == CaseStatus.IN_PROGRESS
    status, page = await (await login_as("head")).act(case.id, "return", reason="不属于本单位职责",
                                                      suggested_unit=str(city.world.other.id))
    assert status == 200 and f"<dt>建议承办单位</dt><dd>{city.world.other.name_zh}</dd>" in page  # named, not "17"
    assert "<dt>说明</dt><dd>已签收，安排城管中队夜查</dd>" in page


async def test_unmask_needs_a_reason_then_shows_the_data(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, address="东湖区幸福里小区3栋2单元401")
    handler = await login_as("handler")
    status, page = await handler.act(case.id, "unmask", reason="")
    assert status == 400 and "请填写" in page
    status, page = await handler.act(case.id, "unmask", reason="需要电话联系诉求人")
    assert status == 200 and "13812345678" in page and "张三" in page and "401" in page
    assert await CaseEvent.filter(case_id=case.id, action="unmask").count() == 1


async def test_stale_form_shows_the_conflict_message_and_changes_nothing(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    await handler.get(f"/cases/{case.id}")
    status, _ = await handler.post(f"/cases/{case.id}/actions/progress_note",
                                   {"expected_version": str(case.version), "note": "第一次"})
    assert status == 200
    status, page = await handler.post(f"/cases/{case.id}/actions/progress_note",
                                      {"expected_version": str(case.version), "note": "过期的表单"})
    assert status == 409 and "其他人刚刚修改了该诉求" in page
    assert await CaseEvent.filter(case_id=case.id).count() == 1


async def test_every_role_sees_exactly_its_allowed_actions(login_as, city: City) -> None:
    now = dt.datetime.now(dt.UTC)
    cases = [await make_case(city.world, s) for s in (CaseStatus.SUBMITTED, CaseStatus.DISPATCHED,
                                                      CaseStatus.IN_PROGRESS, CaseStatus.PENDING_REVIEW,
                                                      CaseStatus.RESOLVED)]
    for username in ("operator", "dispatcher", "handler", "head", "supervisor", "auditor"):
        client = await login_as(username)
        actor = actor_for(city.staff[username])
        for case in cases:
            status, page = await client.get(f"/cases/{case.id}")
            expected = [a.value for a in allowed_actions(await CaseView.load(case, now), actor)]
            assert (status == 200 and forms(page) == expected) or (status == 404 and case.lead_unit_id is None), (
                username, case.status)


async def test_not_allowed_action_is_409_and_changes_nothing(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    status, page = await handler.act(case.id, "approve_reply")
    assert status == 409
    assert (await Case.get(id=case.id)).version == case.version
    assert not await AuditEntry.filter(action="case_denied").exists()


async def test_similar_cases_merge_and_the_citizens_earlier_cases(login_as, city: City) -> None:
    text = "幸福里小区3栋门口路灯坏了一个月，晚上很黑，老人出门不安全。"
    older = await make_case(city.world, CaseStatus.IN_PROGRESS, text=text, title="幸福里路灯")
    repeat = await make_case(city.world, CaseStatus.SUBMITTED, text=text, title="又是幸福里路灯")
    dispatcher = await login_as("dispatcher")
    status, page = await dispatcher.get(f"/cases/{repeat.id}")
    assert status == 200 and "相似诉求" in page and older.number in page and "并入此件" in page
    assert "该诉求人的其他诉求" in page  # both cases come from the same citizen
    await dispatcher.post(f"/cases/{repeat.id}/actions/merge", {
        "expected_version": "1", "parent": older.number, "reason": "与该件为同一事项"})
    merged = await Case.get(id=repeat.id)
    assert merged.status == CaseStatus.MERGED and merged.parent_id == older.id


# --- photos and the map ---------------------------------------------------------------------------

async def fetch(b: Browser, path: str) -> tuple[int, bytes, dict[str, str]]:
    """GET raw bytes and headers."""
    async with b.http.get(b.base + path, allow_redirects=False) as r:
        return r.status, await r.read(), dict(r.headers)


async def test_photos_show_as_thumbnails_and_are_served_inline_without_metadata(uploads_dir, login_as,
                                                                                city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    jpeg = await attach(case, exif_jpeg(), "IMG_2041 <b>.jpg", uploads_dir)
    picture = await attach(case, png(), "截图.png", uploads_dir)
    handler = await login_as("handler")
    status, page = await handler.get(f"/cases/{case.id}")
    assert status == 200 and "照片与位置" in page
    for row in (jpeg, picture):
        url = f"/cases/{case.id}/photos/{row.id}"
        assert re.search(rf'<a href="{url}"[^>]*><img src="{url}\?size=thumb"', page)  # small copy, full on click
    status, body, headers = await fetch(handler, f"/cases/{case.id}/photos/{jpeg.id}")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "private, no-store"
    assert headers["Content-Disposition"].startswith(f'inline; filename="photo-{jpeg.id}.jpg"')
    assert "<" not in headers["Content-Disposition"] and " " not in headers["Content-Disposition"].split("filename*")[1]
    assert SECRET.encode() not in body and b"COMMENT" not in body
    assert uploads.sniff(body) == uploads.sniff(JPEG)  # still the same 48×32 picture
    assert b"Exif\x00\x00II*\x00" in body and b"\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00" in body  # turned as taken
    status, body, headers = await fetch(handler, f"/cases/{case.id}/photos/{picture.id}")
    assert status == 200 and headers["Content-Type"] == "image/png" and SECRET.encode() not in body
    assert body.endswith(png()[-12:]) and b"IDAT" in body
    assert headers["Content-Disposition"].endswith("filename*=UTF-8''%E6%88%AA%E5%9B%BE.png")


async def test_thumbnails_are_small_turned_as_taken_and_carry_no_metadata(uploads_dir, login_as,
                                                                          city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    exif = Image.Exif()
    exif[0x0112] = 6  # taken with the phone on its side: shown turned a quarter
    exif[0x010E] = SECRET  # ImageDescription, where a phone may write more than it should
    big = io.BytesIO()
    Image.new("RGB", (1600, 1200), (200, 40, 40)).save(big, "JPEG", exif=exif.tobytes())
    clear = io.BytesIO()
    Image.new("RGBA", (900, 300), (0, 0, 0, 0)).save(clear, "PNG")
    photo = await attach(case, big.getvalue(), "wide.jpg", uploads_dir)
    overlay = await attach(case, clear.getvalue(), "clear.png", uploads_dir)
    handler = await login_as("handler")
    status, body, headers = await fetch(handler, f"/cases/{case.id}/photos/{photo.id}?size=thumb")
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and len(body) < len(big.getvalue()) / 4
    assert headers["Cache-Control"] == "private, no-store" and SECRET.encode() not in body
    with Image.open(io.BytesIO(body)) as thumb:
        assert thumb.size == (240, 320) and not thumb.getexif()  # upright, 320 on the long side, no EXIF
    kept = Path(photo.path).with_name(Path(photo.path).name + ".thumb.jpg")
    assert kept.read_bytes() == body  # made once, kept beside the picture (named by its content) ...
    kept.write_bytes(body + b"kept")  # so the next view shows whether it decoded the picture again
    assert (await fetch(handler, f"/cases/{case.id}/photos/{photo.id}?size=thumb"))[1] == body + b"kept"
    status, body, headers = await fetch(handler, f"/cases/{case.id}/photos/{overlay.id}?size=thumb")
    with Image.open(io.BytesIO(body)) as thumb:
        assert headers["Content-Type"] == "image/png" and thumb.size == (320, 107) and thumb.mode == "RGBA"
    status, body, _ = await fetch(handler, f"/cases/{case.id}/photos/{photo.id}")
    with Image.open(io.BytesIO(body)) as full:
        assert full.size == (1600, 1200)  # the full picture is still one click away


async def test_photos_follow_access_to_the_case(server, uploads_dir, login_as, city: City, tmp_path: Path) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    other_case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    row = await attach(case, png(), "a.png", uploads_dir)
    other_row = await attach(other_case, png(12, 10), "b.png", uploads_dir)
    outsider = await login_as("other-handler")
    status, body, _ = await fetch(outsider, f"/cases/{case.id}/photos/{row.id}")
    assert status == 404 and b"IDAT" not in body
    assert await AuditEntry.filter(action="case_denied", target=str(case.id)).exists()
    handler = await login_as("handler")
    for path in (f"/cases/{case.id}/photos/{other_row.id}", f"/cases/{case.id}/photos/999999",
                 f"/cases/{case.id}/photos/1%20OR%201=1", f"/cases/{case.id}/photos/-1"):
        assert (await fetch(handler, path))[0] == 404, path
    anonymous = Browser(server)
    try:
        status, _, headers = await fetch(anonymous, f"/cases/{case.id}/photos/{row.id}")
        assert status == 303 and headers["Location"].startswith("/login")
    finally:
        await anonymous.close()
    outside = tmp_path / "outside.png"
    outside.write_bytes(png())
    await Attachment.filter(id=row.id).update(path=str(outside))
    assert (await fetch(handler, f"/cases/{case.id}/photos/{row.id}"))[0] == 404  # only files under the data dir


async def test_a_unit_gets_a_confidential_cases_photo_without_the_citizens_file_name(uploads_dir, login_as,
                                                                                     city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, confidential=True)
    row = await attach(case, exif_jpeg(), "张三家门口.jpg", uploads_dir)
    handler = await login_as("handler")
    _, page = await handler.get(f"/cases/{case.id}")
    assert f'<img src="/cases/{case.id}/photos/{row.id}?size=thumb"' in page and "张三" not in page
    status, body, headers = await fetch(handler, f"/cases/{case.id}/photos/{row.id}")
    assert status == 200 and SECRET.encode() not in body
    assert headers["Content-Disposition"] == f"inline; filename=\"photo-{row.id}.jpg\"; filename*=UTF-8''photo.jpg"
    supervisor = await login_as("supervisor")
    _, _, headers = await fetch(supervisor, f"/cases/{case.id}/photos/{row.id}")
    assert headers["Content-Disposition"].endswith("filename*=UTF-8''%E5%BC%A0%E4%B8%89%E5%AE%B6%E9%97%A8%E5%8F%A3.jpg")


async def test_a_stored_file_that_is_not_an_image_is_a_download_never_inline(uploads_dir, login_as,
                                                                             city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    fake = uploads_dir / "fake.jpg"
    fake.parent.mkdir(parents=True, exist_ok=True)
    fake.write_bytes(b"<html><script>alert(1)</script></html>")
    row = await Attachment.create(case=case, filename="x.jpg", content_type="image/jpeg", size=40, sha256="0" * 64,
                                  path=str(fake))
    handler = await login_as("handler")
    status, body, headers = await fetch(handler, f"/cases/{case.id}/photos/{row.id}")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment;") and headers["X-Content-Type-Options"] == "nosniff"


async def test_photos_are_served_without_a_second_image_a_video_a_trailer_or_gif_comments(uploads_dir, login_as,
                                                                                        city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, confidential=True)
    rows = [await attach(case, data, name, uploads_dir) for data, name in (
        (images.mpo(), "IMG_0001.jpg"),  # MPO / Ultra HDR: a second JPEG with its own EXIF after the first
        (exif_jpeg(orientation=1) + images.MP4, "MVIMG_0002.jpg"),  # a motion photo: the video after the JPEG
        (images.leaky_gif(), "动图.gif"),  # comments, XMP, plain text, data after the trailer
        (images.webp(images.VP8L) + images.riff_chunk(b"EXIF", b"II*\x00GPS " + SECRET.encode()), "x.webp"))]
    handler = await login_as("handler")
    for row, clean in zip(rows, (JPEG, JPEG, images.GIF, images.webp(images.VP8L)), strict=True):
        status, body, headers = await fetch(handler, f"/cases/{case.id}/photos/{row.id}")
        assert status == 200 and headers["Content-Type"] == row.content_type
        assert headers["Content-Disposition"].startswith("inline;")
        assert body == clean and b"GPS" not in body and SECRET.encode() not in body


async def test_a_photo_that_cannot_be_rebuilt_is_a_download_never_an_error(uploads_dir, login_as,
                                                                           city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    row = await attach(case, images.GIF_SCREEN + images.LOOP + b"\x3b", "空.gif", uploads_dir)  # no picture
    handler = await login_as("handler")
    status, _, headers = await fetch(handler, f"/cases/{case.id}/photos/{row.id}")
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment;")


async def test_a_confidential_photo_that_cannot_be_cleaned_is_withheld_from_the_unit(uploads_dir, login_as,
                                                                                     city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, confidential=True)
    raw = images.GIF_SCREEN + images.LOOP + b"\x21\xfe\x0bGPS 28.3 112" + b"\x00\x3b"  # a comment, no picture
    row = await attach(case, raw, "张三家门口.gif", uploads_dir)
    handler = await login_as("handler")
    status, body, _ = await fetch(handler, f"/cases/{case.id}/photos/{row.id}")
    assert status == 404 and b"GPS 28.3" not in body and "无法去除".encode() in body
    supervisor = await login_as("supervisor")  # sees the citizen anyway: gets the original as a download
    status, body, headers = await fetch(supervisor, f"/cases/{case.id}/photos/{row.id}")
    assert status == 200 and headers["Content-Disposition"].startswith("attachment;") and body == raw


def pin(page: str) -> re.Match[str] | None:
    """Find the pin drawn in the map."""
    return re.search(r'<g class="pin" data-lat="([\d.]+)" data-lon="([\d.]+)"', page)


async def test_the_map_shows_the_pin_in_its_district_rounded_until_unmasked(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, latitude=28.251234, longitude=112.871234,
                           district="西山区")
    handler = await login_as("handler")
    status, page = await handler.get(f"/cases/{case.id}")
    assert status == 200 and '<svg xmlns="http://www.w3.org/2000/svg" class="case-map"' in page
    assert 'class="district here" data-district="西山区"' in page and page.count('class="district-name"') == 3
    found = pin(page)
    assert found and found.groups() == ("28.251", "112.871")
    assert "28.25123" not in page and "112.87123" not in page
    assert 'href="https://uri.amap.com/marker?position=112.871,28.251&amp;coordinate=wgs84' in page
    assert "在外部地图中打开" in page and "坐标已脱敏" in page
    assert "<script" not in page.split('class="card media"')[1].split("</section>")[0]
    status, page = await handler.act(case.id, "unmask", reason="需要到现场核实")
    found = pin(page)
    assert status == 200 and found and found.groups() == ("28.25123", "112.87123")


async def test_a_confidential_case_shows_a_unit_only_the_district(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, latitude=28.28, longitude=113.03, district="东湖区",
                           confidential=True)
    handler = await login_as("handler")
    _, page = await handler.get(f"/cases/{case.id}")
    assert pin(page) is None and "28.28" not in page and "113.03" not in page and "amap" not in page
    assert 'class="district here" data-district="东湖区"' in page and "只显示所在区县" in page
    supervisor = await login_as("supervisor")
    _, page = await supervisor.get(f"/cases/{case.id}")
    assert pin(page) is not None and "28.28" in page
    unplaced = await make_case(city.world, CaseStatus.IN_PROGRESS, latitude=28.12, longitude=113.0, district=None,
                               confidential=True)
    _, page = await handler.get(f"/cases/{unplaced.id}")  # no district recorded: the pin's district, not the pin
    assert pin(page) is None and 'class="district here" data-district="南港区"' in page and "28.12" not in page


async def test_without_a_pin_the_district_comes_from_the_address_text(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, district=None, street=None,
                           address="西山区翠微路12号", text="翠微路上的井盖丢了")
    odd = await make_case(city.world, CaseStatus.IN_PROGRESS, district="<svg onload=alert(1)>", text="井盖丢了")
    handler = await login_as("handler")
    _, page = await handler.get(f"/cases/{case.id}")
    assert pin(page) is None and "按地址文字判断所在区县" in page
    assert 'class="district here" data-district="西山区"' in page and "翠微路12号" not in page
    _, page = await handler.get(f"/cases/{odd.id}")
    assert "<svg onload" not in page and "&lt;svg onload=alert(1)&gt;" in page


async def test_a_pin_outside_the_city_is_named_so_and_still_linked(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, latitude=39.9042, longitude=116.4074)
    supervisor = await login_as("supervisor")
    _, page = await supervisor.get(f"/cases/{case.id}")
    assert pin(page) is None and "定位不在本市范围内" in page and "position=116.407,39.904" in page


async def test_the_map_speaks_english_on_request(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, latitude=28.12, longitude=113.0)
    supervisor = await login_as("supervisor")
    _, page = await supervisor.get(f"/cases/{case.id}?lang=en")
    assert "Photos and place" in page and "Open in an external map" in page and "rounded to about 100 m" in page
    assert 'href="https://www.openstreetmap.org/?mlat=28.12&amp;mlon=113.0#map=16/28.12/113.0"' in page
    assert 'class="district here" data-district="南港区"' in page and "map, pin at 28.120, 113.000" in page


async def test_a_refused_form_comes_back_with_what_was_typed(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    reply = "<b>已派人疏通</b>" + "管道已清理完毕。" * 1000  # over the 8,000 characters a reply may have
    status, page = await handler.act(case.id, "submit_reply", reply=reply)
    assert status == 400 and "不能超过8000字" in page
    assert "&lt;b&gt;已派人疏通&lt;/b&gt;" + "管道已清理完毕。" * 1000 + "</textarea>" in page  # kept, as text
    assert "<b>已派人疏通</b>" not in page
    status, page = await handler.act(case.id, "request_extension", days="3", reason="")
    assert status == 400 and 'value="3"' in page  # the days stay chosen while the reason is added
    assert (await Case.get(id=case.id)).status == CaseStatus.IN_PROGRESS


async def test_a_category_must_come_from_the_dispatch_catalogue(login_as, city: City) -> None:
    from storage.models import CatalogueEntry

    await CatalogueEntry.create(category="城乡建设", unit=city.world.lead)
    case = await make_case(city.world, CaseStatus.SUBMITTED)
    dispatcher = await login_as("dispatcher")
    _, page = await dispatcher.get(f"/cases/{case.id}")
    assert '<option value="城乡建设">' in page  # the whole catalogue is offered in the category list
    status, page = await dispatcher.act(case.id, "accept", category="乱写类别xyz")
    assert status == 400 and "不是派单目录中的类别" in page and 'value="乱写类别xyz"' in page  # kept to correct
    assert (await Case.get(id=case.id)).status == CaseStatus.SUBMITTED
    status, page = await dispatcher.act(case.id, "accept", category="城乡建设")
    assert status == 200 and (await Case.get(id=case.id)).category == "城乡建设"

    operator = await login_as("operator")
    status, page = await operator.post("/intake", {"text": "小区门口路灯坏了一个星期", "kind": "complaint",
                                                   "urgency": "normal", "category": "火星类别", "do": "record"})
    assert status == 400 and "不是派单目录中的类别" in page and await Case.all().count() == 1


async def test_a_unit_is_not_its_own_co_unit_and_the_choice_survives_the_refusal(login_as, city: City) -> None:
    world = city.world
    case = await make_case(world, CaseStatus.ACCEPTED)
    dispatcher = await login_as("dispatcher")
    status, page = await dispatcher.act(case.id, "dispatch", lead_unit=str(world.lead.id),
                                        co_units=[str(world.lead.id), str(world.other.id)])
    assert status == 400 and "协办单位不能是主办单位" in page
    assert f'<option value="{world.other.id}" selected>' in page  # the co-units chosen are still chosen
    assert (await Case.get(id=case.id)).status == CaseStatus.ACCEPTED


async def test_approving_an_extension_shows_and_proposes_the_days_asked_for(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, extension_pending_days=4)
    supervisor = await login_as("supervisor")
    _, page = await supervisor.get(f"/cases/{case.id}")
    assert "申请延期 4 个工作日" in page and 'name="days" min="1" max="10" value="4"' in page


async def test_a_case_shows_the_appeals_merged_into_it_and_its_followers(login_as, city: City) -> None:
    from storage.models import CaseFollower

    parent = await make_case(city.world, CaseStatus.IN_PROGRESS)
    child = await make_case(city.world, CaseStatus.SUBMITTED)
    dispatcher = await login_as("dispatcher")
    status, _ = await dispatcher.act(child.id, "merge", parent=parent.number, reason="同一路灯")
    assert status == 200 and (await Case.get(id=child.id)).status == CaseStatus.MERGED
    await CaseFollower.create(case=parent, citizen=city.world.citizen, channel="webchat")
    _, page = await dispatcher.get(f"/cases/{parent.id}")
    assert "并入此件的诉求" in page and f'href="/cases/{child.id}">{child.number}</a>' in page
    assert "1 位市民关注此件" in page


async def test_a_reply_sent_back_is_no_longer_shown_as_the_answer(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.PENDING_REVIEW, reply="已批评教育司机")
    head = await login_as("head")
    status, page = await head.act(case.id, "send_back", reason="答复不具体")
    assert status == 200 and (await Case.get(id=case.id)).reply == ""  # the unit writes a new one
