"""Replaying stored Telegram updates after a restart: each applied to its dialog once, a sibling's left alone."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp

from backoffice.app import create_app
from bot.channels import telegram, telegram_inbox
from bot.channels.telegram_inbox import Inbox
from bot.channels.telegram_wire import key_order
from bot.throttle import shared_count
from storage.cases import utcnow
from storage.models import DialogSession, JobRun
from storage.settings import Settings
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.server import serving
from tests.support.telegram import CHAT, handled, tg_settings

OTHER = 4343


async def lose_done_marks(*updates: dict[str, Any], age: dt.timedelta = dt.timedelta(minutes=5)) -> None:
    """Make updates look as a kill -9 leaves them: stored ``age`` ago, the done marks never written."""
    for update in updates:
        await JobRun.filter(job="telegram", key=f"{TOKEN.split(':')[0]}:{update['update_id']}").update(
            data={"update": update, "done": False}, created_at=utcnow() - age)


async def settled(channel: telegram.TelegramChannel, timeout: float = 10.0) -> dict[str, int]:
    """Wait until no update is pending and the channel handles none; return the outcomes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        outcomes = await channel.inbox.outcomes()
        if not outcomes.get("pending") and not channel._running:
            return outcomes
        assert asyncio.get_running_loop().time() < deadline, f"not settled: {outcomes}"
        await asyncio.sleep(0.02)


async def dialog() -> dict[str, Any]:
    """Return the chat's dialog state."""
    return await DialogSession.get(user_key=str(CHAT)).values("flow", "step", "slots", "version", "last_inbound_key")


def test_telegram_keys_rank_by_update_id_then_deep_link_step() -> None:
    assert key_order("tg9") < key_order("tg10") < key_order("tg11:menu") < key_order("tg11:number") < key_order("tg11")
    assert key_order("wh:5") is None and key_order("tgx") is None and key_order("tg5:other") is None


async def test_updates_applied_before_a_crash_that_lost_their_marks_change_nothing(settings: Settings,
                                                                                   fake: FakeTelegram) -> None:
    start, tap = fake.message(CHAT, "/start"), fake.tap(CHAT, "submit")
    text = fake.message(CHAT, "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑")
    async with serving(create_app(tg_settings(settings, fake), manage_orm=False)):
        await handled(fake, start)
        await handled(fake, tap)
        last = await handled(fake, text)
    before = await dialog()
    await lose_done_marks(start, tap, text)
    sent = len(fake.sent())
    app = create_app(tg_settings(settings, fake), manage_orm=False)
    async with serving(app):
        assert await settled(app[telegram.CHANNEL_KEY]) == {"handled": 3}
    assert await dialog() == before  # the citizen's steps are not applied a second time
    assert fake.texts()[sent:] == last  # only the newest is answered again, as before (it may never have arrived)


async def test_an_update_stored_before_a_crash_is_applied_once_then_the_next_one(settings: Settings,
                                                                                 fake: FakeTelegram) -> None:
    start, tap = fake.message(CHAT, "/start"), fake.tap(CHAT, "submit")
    async with serving(create_app(tg_settings(settings, fake), manage_orm=False)):
        await handled(fake, start)
    await lose_done_marks(start)
    inbox = Inbox(TOKEN.split(":")[0])
    assert await inbox.accept(tap["update_id"], tap)  # stored, never handled: the process died
    await lose_done_marks(tap)
    version = (await dialog())["version"]
    app = create_app(tg_settings(settings, fake), manage_orm=False)
    async with serving(app):
        assert await settled(app[telegram.CHANNEL_KEY]) == {"handled": 2}
    state = await dialog()
    assert state["version"] == version + 1 and state["last_inbound_key"] == f"tg{tap['update_id']}"
    assert state["flow"] == "submit"  # the tap moved the dialog on, once


async def test_a_sibling_process_in_flight_update_is_not_replayed_at_start(settings: Settings,
                                                                           fake: FakeTelegram) -> None:
    hooked = tg_settings(settings, fake, public_url="https://appeals.example.org")
    running = create_app(hooked, manage_orm=False)
    old = fake.message(OTHER, "/start")  # a dead process's update, long pending: the new process replays it
    fresh = fake.message(CHAT, "/start")
    async with serving(running) as url, aiohttp.ClientSession() as http:
        await Inbox(TOKEN.split(":")[0]).accept(old["update_id"], old)
        await lose_done_marks(old)
        sibling = running[telegram.CHANNEL_KEY]
        delivery = asyncio.create_task(fake.deliver(http, url + telegram.WEBHOOK_PATH, fresh, sibling.secret))
        while not await JobRun.filter(job="telegram", key__endswith=f":{fresh['update_id']}").exists():
            await asyncio.sleep(0.005)  # stored; the sibling is handling it now
        starting = create_app(hooked, manage_orm=False)
        async with serving(starting):
            channel = starting[telegram.CHANNEL_KEY]
            await settled(channel)
            await settled(sibling)
            assert len(fake.sent(OTHER)) == 1  # the dead process's update was replayed
        assert await delivery == 200
    assert len(fake.sent(CHAT)) == 1  # the sibling's was answered by the sibling alone
    assert (await dialog())["version"] == 2


async def test_an_update_stored_moments_before_a_restart_is_handled_once_a_lease_later(settings: Settings,
                                                                                     fake: FakeTelegram) -> None:
    update = fake.message(CHAT, "/start")
    assert await Inbox(TOKEN.split(":")[0]).accept(update["update_id"], update)  # then the process died at once
    app = create_app(tg_settings(settings, fake), manage_orm=False)
    channel = app[telegram.CHANNEL_KEY]
    channel.lease = dt.timedelta(seconds=0.5)  # the dialog lease (30 s by default): a sibling may hold it
    async with serving(app):
        assert "需要办理什么" in "".join(await fake.wait_for(1, CHAT))
        assert await settled(channel) == {"handled": 1}
    assert len(fake.sent(CHAT)) == 1


async def test_the_shared_flood_count_keeps_chats_apart_and_forgets_old_updates(database_url: str) -> None:
    inbox = Inbox(TOKEN.split(":")[0])

    def update(update_id: int, chat: int) -> dict[str, Any]:
        return {"update_id": update_id, "message": {"message_id": update_id, "text": "x",
                                                    "chat": {"id": chat, "type": "private"}}}

    assert await inbox.accept(1, update(1, 1)) and await inbox.accept(2, update(2, 12))  # through the ORM
    batch = [(3, update(3, -1)), (4, update(4, -100)), (5, update(5, 1)), (6, update(6, 1)), (7, update(7, -100))]
    assert await inbox.accept_many(batch) == [True] * 5  # plain SQL in the group commit

    async def rank(chat: int, update_id: int) -> int:  # what Throttle.allowed counts for this update
        return await shared_count(*inbox.flood_range(chat, update_id), window=60)

    assert [await rank(1, 6), await rank(1, 5), await rank(12, 2)] == [3, 2, 1]
    assert [await rank(-1, 3), await rank(-100, 7), await rank(-10, 7)] == [1, 2, 0]
    aged = await JobRun.filter(job=telegram_inbox.CHATS, key__in=[f"{inbox.bot_id}:1:{i:015d}" for i in (1, 5)]).update(
        created_at=utcnow() - dt.timedelta(minutes=2))
    assert aged == 2  # (the rows are where the key format says)
    assert await rank(1, 6) == 1  # only the update of the last minute


async def test_a_restarted_worker_0_replays_at_once_what_its_killed_predecessor_had_taken(settings: Settings,
                                                                                        fake: FakeTelegram) -> None:
    import socket

    update = fake.message(CHAT, "/start")
    inbox = Inbox(TOKEN.split(":")[0])
    assert await inbox.accept(update["update_id"], update)
    await lose_done_marks(update)
    # The previous worker 0 took it (it was late, or a replay), then was killed before answering.
    assert await inbox.take(update["update_id"], dt.timedelta(minutes=1), f"{socket.gethostname()}:0", "killed")
    app = create_app(tg_settings(settings, fake, public_url="https://appeals.example.org"), manage_orm=False)
    channel = app[telegram.CHANNEL_KEY]
    channel.ordered = True  # several workers (this test's settings have one)
    async with serving(app):
        assert "需要办理什么" in "".join(await fake.wait_for(1, CHAT, timeout=5))  # at its start, not minutes later
        assert await settled(channel) == {"handled": 1}
    assert len(fake.sent(CHAT)) == 1
