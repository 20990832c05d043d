"""The messenger webhook: signed JSON in, replies out; forged, stale and replayed calls; signed callbacks."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels import webhook
from bot.channels.credentials import create_peer, signature, signed
from bot.channels.webhook_sender import WebhookSender
from storage.models import Channel, ChannelIdentity, JobRun, Notification, NotificationStatus
from tests.support.server import serving


async def post(base: str, peer: str, secret: str, frame: dict[str, Any], stamp: int | None = None,
               sign: str | None = None) -> tuple[int, dict[str, Any]]:
    """POST one message the way a peer does; return status and JSON."""
    body = json.dumps(frame, ensure_ascii=False).encode()
    ts = str(stamp if stamp is not None else int(time.time()))
    headers = {"Content-Type": "application/json", "X-Appeals-Timestamp": ts,
               "X-Appeals-Signature": sign or signature(secret, ts, body)}
    async with aiohttp.ClientSession() as http, http.post(f"{base}/channels/webhook/{peer}", data=body,
                                                          headers=headers) as response:
        return response.status, await response.json()


async def post_raw(base: str, peer: str, secret: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST a body as it is, signed."""
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Appeals-Timestamp": ts,
               "X-Appeals-Signature": signature(secret, ts, body)}
    async with aiohttp.ClientSession() as http, http.post(f"{base}/channels/webhook/{peer}", data=body,
                                                          headers=headers) as response:
        return response.status, await response.json()


async def test_a_conversation_over_the_webhook(base: str) -> None:
    secret = await create_peer("sms")
    status, data = await post(base, "sms", secret, {"id": "m1", "user": "13800000001", "text": "你好"})
    assert status == 200 and "需要办理什么" in data["messages"][0]["text"]
    assert "submit" in [c["value"] for c in data["messages"][0]["choices"]]
    status, data = await post(base, "sms", secret, {"id": "m2", "user": "13800000001", "choice": "submit"})
    assert status == 200 and data["messages"][-1]["expect"].startswith("text")
    assert await ChannelIdentity.filter(channel=Channel.WEBHOOK, external_id="sms:13800000001").exists()


async def test_forged_stale_unknown_and_replayed_calls(base: str) -> None:
    secret = await create_peer("wechat", replay_window=60)
    frame = {"id": "x1", "user": "u1", "text": "你好"}
    assert (await post(base, "wechat", secret, frame, sign="sha256=" + "0" * 64))[0] == 401
    assert (await post(base, "wechat", "not-the-secret", frame))[0] == 401
    assert (await post(base, "nobody", secret, frame))[0] == 401
    assert (await post(base, "wechat", secret, frame, stamp=int(time.time()) - 120))[0] == 401
    assert await JobRun.filter(job__startswith="webhook:").count() == 0
    first = await post(base, "wechat", secret, frame)
    again = await post(base, "wechat", secret, frame)
    assert first[0] == again[0] == 200 and first[1]["messages"] and again[1] == {"duplicate": True, "messages": []}
    assert (await post(base, "wechat", secret, {"id": "x2", "user": 5}))[0] == 400
    assert (await post(base, "wechat", secret, {"id": "x3", "user": "u1", "location": {"lat": "a"}}))[0] == 400
    for location in ({"lat": 999, "lon": 115.9}, {"lat": 28.7, "lon": -181}):
        status, data = await post(base, "wechat", secret, {"id": "x4", "user": "u1", "location": location})
        assert status == 400 and "range" in data["message"]
    status, data = await post(base, "wechat", secret, {"id": "x5", "user": "u1"})  # nothing to handle
    assert status == 400 and "text, choice, location or contact" in data["message"]
    body = '{"id": "x6", "user": "u1", "location": {"lat": NaN, "lon": Infinity}}'  # Python's json reads these
    assert (await post_raw(base, "wechat", secret, body.encode()))[0] == 400


async def test_a_flood_gets_429_with_a_polite_message(base: str) -> None:
    secret = await create_peer("gateway")
    statuses = [(await post(base, "gateway", secret, {"id": f"f{i}", "user": "u9", "text": "你好"}))
                for i in range(25)]
    assert [s for s, _ in statuses].count(200) == 20
    refused = [d for s, d in statuses if s == 429]
    assert len(refused) == 5 and all("太快" in d["message"] and "重新发送" in d["message"] for d in refused)
    assert await JobRun.filter(job=webhook.USERS).count() == 20  # refused messages count against nothing
    again = await post(base, "gateway", secret, {"id": "f24", "user": "u9", "text": "你好"})
    assert again[0] == 429 and "duplicate" not in again[1]  # sent again: refused for the flood, not a replay
    assert not await JobRun.filter(job__startswith="webhook:", key="f24").exists()  # so later it is handled


async def test_notices_are_posted_signed_to_the_callback_with_retries(city: str) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    answers = [500, 200]

    async def callback(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=answers.pop(0))

    receiver = web.Application()
    receiver.router.add_post("/notices", callback)
    async with serving(receiver) as url:
        secret = await create_peer("dingtalk", callback_url=f"{url}/notices")
        now = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)
        sender = WebhookSender(clock=lambda: now)
        row = await Notification.create(audience="citizen", channel=Channel.WEBHOOK, address="dingtalk:u7",
                                        template="accept", params={"number": "8890-20261126-00009"})
        try:
            assert await sender.drain_once() == {"failed": 1}
            await row.refresh_from_db()
            assert row.status == NotificationStatus.FAILED
            now = row.next_attempt_at
            assert await sender.drain_once() == {"sent": 1}
        finally:
            await sender.close()
        await row.refresh_from_db()
        assert row.status == NotificationStatus.SENT
        headers, body = received[-1]
        assert signed(secret, headers["X-Appeals-Timestamp"], body, headers["X-Appeals-Signature"])
        notice = json.loads(body)
        assert notice["user"] == "u7" and "8890-20261126-00009" in notice["messages"][0]["text"]


async def test_a_flood_spread_over_two_processes_is_limited_for_the_sender_alone(settings) -> None:
    from backoffice.app import create_app

    secret = await create_peer("bridge")
    async with serving(create_app(settings, manage_orm=False)) as one, \
            serving(create_app(settings, manage_orm=False)) as two:
        statuses = [(await post((one, two)[i % 2], "bridge", secret, {"id": f"b{i}", "user": "a:b", "text": "你好"}))[0]
                    for i in range(60)]
        # Each process alone would let 20 through (40 in all); counted together at most
        # limit + processes × (shared_after - 1) = 20 + 2 × 2.
        assert 20 <= statuses.count(200) <= 24 and statuses.count(429) == 60 - statuses.count(200)
        # Another sender of the same peer, even one whose name begins the flooder's, is not held back.
        other = [(await post(one, "bridge", secret, {"id": f"c{i}", "user": "a", "text": "你好"}))[0]
                 for i in range(5)]
        assert other == [200] * 5


async def test_old_message_ids_and_flood_counts_are_forgotten(base: str) -> None:
    from storage.scheduler import TickReport

    secret = await create_peer("old")
    for i in range(3):
        assert (await post(base, "old", secret, {"id": f"o{i}", "user": "u", "text": "你好"}))[0] == 200
    now = dt.datetime.now(dt.UTC)
    await JobRun.filter(job__startswith="webhook", key__in=["o0"]).update(created_at=now - dt.timedelta(days=8))
    await JobRun.filter(job=webhook.USERS).update(created_at=now - dt.timedelta(days=2))
    report = TickReport()
    await webhook.forget_old(now, report)
    assert sorted(await JobRun.filter(job__startswith="webhook:").values_list("key", flat=True)) == ["o1", "o2"]
    assert not await JobRun.filter(job=webhook.USERS).exists() and report.done["webhook_rows_forgotten"] == 4
    again = await post(base, "old", secret, {"id": "o1", "user": "u", "text": "你好"})
    assert again[1] == {"duplicate": True, "messages": []}  # a remembered id is answered once
    # Just inside the limits nothing goes: an id of six days (ids are kept a week), a flood row of 20 hours.
    assert (await post(base, "old", secret, {"id": "o3", "user": "u", "text": "你好"}))[0] == 200
    await JobRun.filter(job__startswith="webhook:", key="o1").update(created_at=now - dt.timedelta(days=6))
    await JobRun.filter(job=webhook.USERS).update(created_at=now - dt.timedelta(hours=20))
    await webhook.forget_old(now, report)
    assert sorted(await JobRun.filter(job__startswith="webhook:").values_list("key", flat=True)) == ["o1", "o2", "o3"]
    assert await JobRun.filter(job=webhook.USERS).count() == 1 and report.done["webhook_rows_forgotten"] == 4
