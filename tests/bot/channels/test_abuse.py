"""DOMAIN.md abuse cases 6, 7, 8, 12, 13, 14, 20, 24 and 25 against the web-chat channel."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp import web

from bot.channels import signing
from storage.lifecycle import CaseStatus
from storage.models import Attachment, Case, DialogSession
from storage.settings import Settings
from tests.support.builders import make_case, make_world
from tests.support.images import png_header
from tests.support.server import serving
from tests.support.webchat import WebChat

from .test_webchat import submit

KEY = b"k" * 48


def uid(chat: WebChat) -> str:
    return chat.cookie.split(".")[0]


async def test_6_a_message_naming_another_users_id_stays_in_the_senders_conversation(base: str) -> None:
    victim = await WebChat(base).open()
    attacker = await WebChat(base).open()
    try:
        await victim.tap("submit")
        for field in ("user_key", "user", "external_id"):
            await attacker.frame({"type": "message", "text": "取消", field: uid(victim)})
        await attacker.frame({"type": "choice", "value": "query", "user_key": uid(victim)})
        victim_row = await DialogSession.get(user_key=uid(victim))
        assert (victim_row.flow, victim_row.step) == ("submit", "describe")
        assert await DialogSession.filter(user_key=uid(attacker)).count() == 1
    finally:
        await victim.close()
        await attacker.close()


async def test_7_forged_replayed_or_cross_site_identities_are_refused(base: str) -> None:
    victim = await WebChat(base).open()
    try:
        await victim.tap("submit")
        forged = f"{uid(victim)}.{int(time.time())}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        expired = signing.sign(KEY, "webchat-id", uid(victim), now=time.time() - signing.IDENTITY_MAX_AGE - 10)
        other_purpose = signing.sign(KEY, "webchat-upload", uid(victim))
        for token in (forged, expired, other_purpose, uid(victim)):
            intruder = WebChat(base)
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await intruder.open(cookie=token)
            assert err.value.status == 403
            await intruder.http.close()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            http.cookie_jar.update_cookies({"appeals_chat": forged}, aiohttp.client.URL(base + "/chat"))
            async with http.get(base + "/chat") as page:
                fresh = page.cookies["appeals_chat"]
                assert uid(victim) not in fresh.value and "HttpOnly" in fresh.output()
                assert "SameSite=Strict" in fresh.output()
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(base + "/chat/ws", headers={"Origin": "http://evil.example"})
        assert (await DialogSession.get(user_key=uid(victim))).step == "describe"
    finally:
        await victim.close()


async def test_8_two_citizens_on_one_browser_never_see_each_other(base: str) -> None:
    browser = await WebChat(base).open()
    try:
        first = uid(browser)
        await submit(browser)
        await browser.tap("submit")
        await browser.say("我家楼上每天深夜装修，很吵，影响休息")
        async with browser.http.post(base + "/chat/logout") as response:
            assert response.status == 200
        await browser.ws.close()
        resumed = await browser.connect()
        assert uid(browser) != first
        assert "请问需要办理什么" in resumed[0]["text"] and "装修" not in json.dumps(resumed, ensure_ascii=False)
        reply = await browser.tap("query")
        assert "还没有提交过" in reply and (await Case.get()).number not in reply
    finally:
        await browser.close()


async def _upload(chat: WebChat, base: str, data: bytes, name: str, content_type: str) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=content_type)
    async with chat.http.post(base + "/chat/upload", data=form) as response:
        await response.read()
        return response


async def test_12c_the_hourly_upload_limit_holds_across_two_worker_processes(base: str, settings: Settings) -> None:
    from backoffice.app import create_app
    from bot.channels import webchat

    chat = await WebChat(base).open()
    try:
        async with serving(create_app(settings, manage_orm=False, worker=1)) as sibling:  # one database, one key
            answers = [await _upload(chat, (base, sibling)[i % 2], png_header(10, 10 + i), "a.png", "image/png")
                       for i in range(2 * webchat.UPLOADS_PER_HOUR)]  # spread over both, as the kernel may
        accepted = [r.status for r in answers].count(200)
        # Each process counts every process's uploads once the identity sent it 3: at most 2 more per process.
        assert webchat.UPLOADS_PER_HOUR <= accepted <= webchat.UPLOADS_PER_HOUR + 2 * 2
        refused = [r for r in answers if r.status == 429]
        assert len(refused) == len(answers) - accepted and answers[-1].status == 429
        assert await Attachment.filter(case=None).count() == accepted  # nothing refused was kept
    finally:
        await chat.close()


async def test_12d_upload_counts_older_than_the_hour_are_forgotten(base: str) -> None:
    import datetime as dt

    from bot.channels import webchat
    from storage.models import JobRun
    from storage.scheduler import TickReport

    now = dt.datetime.now(dt.UTC)
    await JobRun.create(job=webchat.UPLOADS_JOB, key="wold:1", created_at=now - dt.timedelta(hours=2))
    await JobRun.create(job=webchat.UPLOADS_JOB, key="wnew:1", created_at=now - dt.timedelta(minutes=5))
    report = TickReport()
    await webchat.forget_uploads(now, report)
    assert report.done == {"upload_counts_forgotten": 1}
    assert await JobRun.filter(job=webchat.UPLOADS_JOB).values_list("key", flat=True) == ["wnew:1"]


async def test_12_svg_html_as_jpg_and_double_extensions_are_rejected(base: str) -> None:
    chat = await WebChat(base).open()
    try:
        for data, name, ctype in (
            (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.svg", "image/svg+xml"),
            (b"<html><script>alert(1)</script></html>", "photo.jpg", "image/jpeg"),
            (png_header(10, 10), "photo.png.html", "image/png"),
        ):
            response = await _upload(chat, base, data, name, ctype)
            assert response.status == 415
        assert await Attachment.all().count() == 0
        good = await _upload(chat, base, png_header(10, 10), "门口.png", "image/png")
        assert good.status == 200
    finally:
        await chat.close()


async def test_13_oversize_images_and_decompression_bombs_are_rejected(base: str) -> None:
    chat = await WebChat(base).open()
    try:
        big = await _upload(chat, base, png_header(100, 100) + b"\x00" * (6 * 1024 * 1024), "big.png", "image/png")
        assert big.status == 413
        bomb = await _upload(chat, base, png_header(60_000, 60_000), "bomb.png", "image/png")
        assert bomb.status == 415
        assert await Attachment.all().count() == 0
        stranger = WebChat(base)
        stranger.http = aiohttp.ClientSession()
        response = await _upload(stranger, base, png_header(10, 10), "a.png", "image/png")
        assert response.status == 403
        await stranger.http.close()
    finally:
        await chat.close()


async def test_13b_a_photo_receipt_works_only_for_its_owner(base: str) -> None:
    owner = await WebChat(base).open()
    thief = await WebChat(base).open()
    try:
        form = aiohttp.FormData()
        form.add_field("file", png_header(10, 10), filename="a.png", content_type="image/png")
        async with owner.http.post(base + "/chat/upload", data=form) as response:
            receipt = (await response.json())["attachment"]
        await thief.tap("submit")
        reply = await thief.frame({"type": "attachment", "attachments": [receipt]})
        assert reply[0]["code"] == "bad_attachment"
        await owner.tap("submit")
        reply = await owner.frame({"type": "attachment", "attachments": [receipt]})
        assert "照片已收到（1张）" in reply[0]["text"]
    finally:
        await owner.close()
        await thief.close()


async def test_14_links_and_images_in_appeal_text_are_never_fetched(base: str) -> None:
    hits: list[str] = []

    async def canary(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="gotcha")

    trap = web.Application()
    trap.router.add_get("/{tail:.*}", canary)
    async with serving(trap) as trap_url:
        chat = await WebChat(base).open()
        try:
            text = f"东湖区路灯坏了 {trap_url}/a.png <img src={trap_url}/b.png> ![x]({trap_url}/c)"
            await submit(chat, text)
            await asyncio.sleep(0.3)  # give any fetcher (there must be none) a chance
        finally:
            await chat.close()
    assert hits == [] and trap_url in (await Case.get()).text


async def test_20_tracking_codes_are_bound_to_one_case_expire_and_are_not_guessable(base: str) -> None:
    world = await make_world()
    cases = [await make_case(world, CaseStatus.ACCEPTED) for _ in range(30)]
    codes = {c.tracking_code for c in cases}
    assert len(codes) == 30 and all(len(c) == 10 and c.isalnum() and c.isupper() for c in codes)
    archived = await make_case(world, CaseStatus.ARCHIVED)
    chat = await WebChat(base).open()
    try:
        await chat.tap("query")
        await chat.say(cases[0].number)
        assert "不正确" in await chat.say(cases[1].tracking_code)
        assert cases[0].number in await chat.say(cases[0].tracking_code)
        await chat.tap("query")
        await chat.say(archived.number)
        assert "已失效" in await chat.say(archived.tracking_code)
    finally:
        await chat.close()


async def test_24_invisible_bidi_nul_homoglyph_and_huge_messages(base: str) -> None:
    chat = await WebChat(base).open()
    try:
        await chat.tap("submit")
        assert "太长" in await chat.say("路" * 5000)
        await chat.say("东湖区\u200b幸福里\u202e小区\x00路灯\u2066坏了\r\n很久")
        assert (await DialogSession.get()).slots["text"] == "东湖区幸福里小区路灯坏了\n很久"
        assert "已取消" in await chat.say("ｃａｎｃｅｌ")  # fullwidth letters are the same command
        assert "查询码" in await chat.say("查询 ８８９０－２０２６１１２６－０００４２")
        await chat.ws.send_str("x" * 100_000)  # beyond the frame limit: the socket closes, the server lives on
        msg = await chat.ws.receive(timeout=10)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        resumed = await chat.connect()
        assert "查询码" in resumed[0]["text"]
        bad = await chat.frame({"type": "message", "text": 42})
        assert bad[0]["code"] == "bad_frame"
    finally:
        await chat.close()


async def test_25_a_flood_from_one_account_is_slowed_never_silently_dropped(base: str) -> None:
    chat = await WebChat(base).open()
    try:
        answers = [await chat.frame({"type": "message", "text": f"你好{i}"}) for i in range(30)]
        slowed = [a for a in answers if a and a[0].get("code") == "slow_down"]
        assert slowed and all("太快" in a[0]["message"] for a in slowed)
        assert all(a for a in answers)  # every message got an answer or an explicit refusal
    finally:
        await chat.close()


async def test_12b_uploads_that_are_not_multipart_or_too_many_are_refused(base: str) -> None:
    from bot.channels import webchat

    chat = await WebChat(base).open()
    try:
        raw = {"Content-Type": "image/jpeg"}
        async with chat.http.post(base + "/chat/upload", data=b"\xff\xd8\xff", headers=raw) as response:
            assert response.status == 400
        statuses = [(await _upload(chat, base, png_header(10, 10 + i), "a.png", "image/png")).status
                    for i in range(webchat.UPLOADS_PER_HOUR + 1)]
        assert statuses.count(200) == webchat.UPLOADS_PER_HOUR - 1 and statuses[-1] == 429  # the 400 counted too
    finally:
        await chat.close()
