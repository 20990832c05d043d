"""Telegram through the real PTB Application and HTTP client against a fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from backoffice.app import create_app
from bot.channels import telegram, telegram_inbox
from bot.channels.telegram_inbox import is_blocked
from bot.channels.telegram_sender import TelegramSender
from bot.channels.telegram_wire import merged, split
from bot.messages import Choice, Inbound, Outbound
from bot.runtime import build
from bot.throttle import Throttle
from storage.cases import CaseService
from storage.lifecycle import Action, Actor, CaseStatus, Role
from storage.models import Attachment, Case, Channel, DialogSession, JobRun, Notification, NotificationStatus
from storage.settings import Settings
from tests.support.fake_telegram import TOKEN, FakeTelegram
from tests.support.images import jpeg_header
from tests.support.server import serving
from tests.support.telegram import CHAT, handled, tg_settings

Send = Callable[[dict], Awaitable[list[str]]]
SUPERVISOR = Actor(roles=frozenset({Role.SUPERVISOR}), name="supervisor")


@pytest.fixture
async def polling(settings: Settings, fake: FakeTelegram) -> AsyncIterator[telegram.TelegramChannel]:
    """Run the whole application with Telegram in long-polling mode."""
    app = create_app(tg_settings(settings, fake), manage_orm=False)
    async with serving(app):
        yield app[telegram.CHANNEL_KEY]


@pytest.fixture
async def hooked(settings: Settings, fake: FakeTelegram) -> AsyncIterator[tuple[str, telegram.TelegramChannel]]:
    """Run the whole application with Telegram in webhook mode; yield the webhook URL and the channel."""
    app = create_app(tg_settings(settings, fake, public_url="https://appeals.example.org"), manage_orm=False)
    async with serving(app) as url:
        yield url + telegram.WEBHOOK_PATH, app[telegram.CHANNEL_KEY]


async def submit(fake: FakeTelegram, chat: int = CHAT, send: Send | None = None) -> Case:
    """Run a whole submission with buttons, a map pin and a shared contact; return the case.

    ``send`` delivers one update and returns the texts sent meanwhile (default: long polling).
    """
    send = send or (lambda update: handled(fake, update))
    assert "需要办理什么" in "".join(await send(fake.message(chat, "/start")))
    assert {"submit", "query"} <= set(fake.buttons(chat))
    await send(fake.tap(chat, "submit"))
    await send(fake.message(chat, "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑"))
    await send(fake.tap(chat, fake.buttons(chat)[0]))
    keyboard = fake.sent(chat)[-1]["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_location"] is True
    await send(fake.message(chat, location={"latitude": 28.68, "longitude": 115.89}))
    await send(fake.tap(chat, "phone"))
    assert fake.sent(chat)[-1]["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    await send(fake.message(chat, contact={"phone_number": "13812345678", "first_name": "C", "user_id": chat}))
    if "new" in fake.buttons(chat):
        await send(fake.tap(chat, "new"))
    assert "confirm" in fake.buttons(chat)
    done = "".join(await send(fake.tap(chat, "confirm")))
    case = await Case.get(channel=Channel.TELEGRAM)
    assert case.number in done and case.tracking_code in done
    return case


async def test_full_submission_with_buttons_location_and_contact(polling, fake: FakeTelegram) -> None:
    case = await submit(fake)
    assert (case.latitude, case.longitude) == (28.68, 115.89)
    assert fake.webhook == {} and any(c.method == "deleteWebhook" for c in fake.calls)
    menus = {c.params.get("language_code"): c.params["commands"] for c in fake.calls if c.method == "setMyCommands"}
    assert [m["command"] for m in menus[None]] == ["start", "my", "help", "cancel"]  # Telegram's command menu
    assert "我的诉求" in menus[None][1]["description"] and menus["en"][1]["description"].startswith("My cases")
    assert any(c.method == "answerCallbackQuery" for c in fake.calls)
    assert any(c.method == "editMessageReplyMarkup" for c in fake.calls)  # a tapped button works once


async def test_full_submission_over_the_webhook_answered_in_its_responses(hooked, fake: FakeTelegram) -> None:
    url, channel = hooked
    delivered: list[dict] = []
    async with aiohttp.ClientSession() as http:
        async def deliver(update: dict) -> list[str]:
            before = len(fake.sent())
            assert await fake.deliver(http, url, update, channel.secret) == 200  # Telegram carries out the answer
            delivered.append(update)
            return fake.texts()[before:]

        case = await submit(fake, send=deliver)
    assert (case.latitude, case.longitude) == (28.68, 115.89) and case.channel == Channel.TELEGRAM
    assert fake.carried == len(delivered)  # each update's (last) reply rode in its webhook answer
    assert await channel.inbox.outcomes() == {"handled": len(delivered)}


async def test_a_deep_link_delivered_again_after_a_restart_is_not_applied_again(hooked, fake: FakeTelegram) -> None:
    url, channel = hooked
    async with aiohttp.ClientSession() as http:
        async def deliver(update: dict) -> list[str]:
            before = len(fake.sent())
            assert await fake.deliver(http, url, update, channel.secret) == 200
            return fake.texts()[before:]

        case = await submit(fake, send=deliver)
        link = fake.message(CHAT, f"/start case_{case.number}_{case.tracking_code}")  # three steps in one update
        first = await _answer(http, url, link, channel.secret)
        assert case.number in first["text"]
        version = (await DialogSession.get(channel="telegram", user_key=str(CHAT))).version
        channel._given.clear()  # as after a restart: Telegram never got that answer and delivers the update again
        assert await _answer(http, url, link, channel.secret) == first  # answered as then, not applied again
    assert (await DialogSession.get(channel="telegram", user_key=str(CHAT))).version == version


async def test_a_photo_is_fetched_and_attached(polling, fake: FakeTelegram) -> None:
    fake.files["ph1"] = jpeg_header(64, 48)
    await handled(fake, fake.message(CHAT, "/start"), fake.tap(CHAT, "submit"))
    size = len(fake.files["ph1"])
    photo = [{"file_id": "ph1", "file_unique_id": "uph1", "width": 64, "height": 48, "file_size": size}]
    await handled(fake, fake.message(CHAT, photo=photo, caption="西山区人民路夜间施工噪音很大，影响休息"))
    assert await Attachment.all().count() == 1
    assert any(c.method == "getFile" for c in fake.calls)


async def test_a_picture_sent_as_a_file_is_attached_and_a_voice_message_is_declined_politely(
        polling, fake: FakeTelegram) -> None:
    fake.files["doc1"] = jpeg_header(640, 480)
    await handled(fake, fake.message(CHAT, "/start"), fake.tap(CHAT, "submit"))
    document = {"file_id": "doc1", "file_unique_id": "udoc1", "file_name": "IMG_2041.jpg", "mime_type": "image/jpeg",
                "file_size": len(fake.files["doc1"])}
    await handled(fake, fake.message(CHAT, document=document, caption="西山区人民路夜间施工噪音很大，影响休息"))
    stored = await Attachment.get()
    assert stored.filename == "IMG_2041.jpg" and stored.content_type == "image/jpeg"
    voice = {"file_id": "v1", "file_unique_id": "uv1", "duration": 4, "mime_type": "audio/ogg"}
    said = await handled(fake, fake.message(CHAT, voice=voice))
    assert said == ["暂时只能处理文字、照片、位置和手机号，请用文字回复。"]
    assert await polling.inbox.outcomes() == {"handled": 3, "rejected": 1}
    assert await Attachment.all().count() == 1


async def test_an_album_of_photos_is_kept_whole_for_the_submission(polling, fake: FakeTelegram) -> None:
    for i in range(3):
        fake.files[f"a{i}"] = jpeg_header(64 + i, 48)
    await handled(fake, fake.message(CHAT, "/start"), fake.tap(CHAT, "submit"))
    album = [fake.message(CHAT, media_group_id="g1", photo=[
        {"file_id": f"a{i}", "file_unique_id": f"ua{i}", "width": 64 + i, "height": 48, "file_size": 200}],
        **({"caption": "西山区人民路夜间施工噪音很大，影响休息"} if i == 0 else {})) for i in range(3)]
    assert "环境保护" in "".join(await handled(fake, album[0]))  # the first picture carries the description
    for i in (1, 2):  # the others come one message each, while the category is asked
        said = await handled(fake, album[i])  # one message: the count, and the question again
        assert said == [said[-1]] and said[-1].startswith(f"照片已收到，共{i + 1}张。") and "环境保护" in said[-1]
    await handled(fake, fake.tap(CHAT, fake.buttons(CHAT)[0]))
    await handled(fake, fake.message(CHAT, location={"latitude": 28.68, "longitude": 115.89}))
    await handled(fake, fake.tap(CHAT, "phone"))
    await handled(fake, fake.message(CHAT, contact={"phone_number": "13812345678", "first_name": "C", "user_id": CHAT}))
    if "new" in fake.buttons(CHAT):
        await handled(fake, fake.tap(CHAT, "new"))
    assert "照片：3张" in fake.texts(CHAT)[-1]  # the summary counts the photos
    await handled(fake, fake.tap(CHAT, "confirm"))
    case = await Case.get(channel=Channel.TELEGRAM)
    assert await Attachment.filter(case_id=case.id).count() == 3


async def test_query_by_deep_link(polling, fake: FakeTelegram) -> None:
    case = await submit(fake)
    asked = await handled(fake, fake.message(CHAT, f"/start case_{case.number}"))
    assert asked and "查询码" in asked[-1]
    facts = "".join(await handled(fake, fake.message(CHAT, case.tracking_code)))
    assert case.number in facts
    facts = "".join(await handled(fake, fake.message(CHAT, f"/start case_{case.number}_{case.tracking_code}")))
    assert case.number in facts and "查询码" not in facts


async def test_commands_help_cancel_and_my(polling, fake: FakeTelegram) -> None:
    case = await submit(fake)
    assert "帮助" in "".join(await handled(fake, fake.message(CHAT, "/help"))) or "取消" in fake.texts()[-1]
    await handled(fake, fake.tap(CHAT, "submit"))
    assert "已取消" in "".join(await handled(fake, fake.message(CHAT, "/cancel")))
    await handled(fake, fake.message(CHAT, "/my"))
    assert f"case:{case.id}" in fake.buttons(CHAT)


async def test_status_change_and_rating_request_are_pushed_and_rated(polling, fake: FakeTelegram) -> None:
    case = await submit(fake)
    await Case.filter(id=case.id).update(status=CaseStatus.PENDING_REVIEW, reply="已更换路灯灯泡。")
    await CaseService().apply(case.id, Action.APPROVE_REPLY, SUPERVISOR)
    await polling.sender.drain_once()
    await fake.wait_for(1)
    assert f"go:evaluate:{case.id}" in fake.buttons(CHAT)
    assert "满意吗" in "".join(await handled(fake, fake.tap(CHAT, f"go:evaluate:{case.id}")))
    await handled(fake, fake.tap(CHAT, "rating:very_satisfied"))
    await handled(fake, fake.tap(CHAT, "skip"))
    await case.refresh_from_db()
    assert case.status == CaseStatus.EVALUATED
    assert await Notification.filter(channel=Channel.TELEGRAM, status=NotificationStatus.SENT).count() >= 2


async def test_a_replayed_update_out_of_order_is_handled_once(polling, fake: FakeTelegram) -> None:
    first, second = fake.message(CHAT, "/start"), fake.tap(CHAT, "submit")
    replies = await handled(fake, second, first, second, first, first, second)
    assert len(replies) == 2
    assert await JobRun.filter(job="telegram").count() == 2


async def test_webhook_stores_then_answers_and_refuses_forged_calls(hooked, fake: FakeTelegram) -> None:
    url, channel = hooked
    assert fake.webhook["url"] == "https://appeals.example.org/channels/telegram"
    assert fake.webhook["secret_token"] == channel.secret
    update = fake.message(CHAT, "/start")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=update, headers={telegram.SECRET_HEADER: "wrong"}) as forged:
            assert forged.status == 401
        async with http.post(url, json=update) as unsigned:
            assert unsigned.status == 401
        assert await JobRun.filter(job="telegram").count() == 0
        assert await fake.deliver(http, url, update, channel.secret) == 200
        assert await JobRun.filter(job="telegram").count() == 1  # stored before the 2xx
        for _ in range(2):  # delivered again (Telegram lost the answers): stored and handled once
            async with http.post(url, json=update, headers={telegram.SECRET_HEADER: channel.secret}) as again:
                assert again.status == 200
            assert await JobRun.filter(job="telegram").count() == 1
    await fake.wait_for(1, CHAT)
    import asyncio

    await asyncio.sleep(0.2)
    assert len(fake.sent(CHAT)) == 1


async def test_api_error_is_retried_with_backoff_then_dead_lettered(city: str, settings: Settings,
                                                                    fake: FakeTelegram) -> None:
    channel = telegram.TelegramChannel(tg_settings(settings, fake), build(settings, CaseService()),
                                       upload_dir=settings.data_dir / "uploads", webhook=True)
    await channel.application.initialize()
    try:
        now = dt.datetime(2026, 11, 26, 9, tzinfo=dt.UTC)
        sender = TelegramSender(channel.application.bot, clock=lambda: now)
        row = await Notification.create(audience="citizen", channel=Channel.TELEGRAM, address=str(CHAT),
                                        template="accept", params={"number": "8890-20261126-00001"})
        fake.fail("sendMessage", 500, "Internal Server Error", times=100)
        for attempt in range(1, 9):
            assert await sender.drain_once() == {"failed": 1}
            await row.refresh_from_db()
            assert row.attempts == attempt
            if attempt < 8:
                assert row.status == NotificationStatus.FAILED and row.next_attempt_at > now
                assert await sender.drain_once() == {}  # not before its backoff
                now = row.next_attempt_at
        assert row.status == NotificationStatus.DEAD and "Internal Server Error" in row.last_error
        assert await sender.drain_once() == {}
        fake.failures.clear()
        fake.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
        blocked = await Notification.create(audience="citizen", channel=Channel.TELEGRAM, address="777",
                                            template="accept", params={"number": "8890-20261126-00002"})
        assert await sender.drain_once() == {"blocked": 1}
        await blocked.refresh_from_db()
        assert blocked.status == NotificationStatus.DEAD and await is_blocked("777")
        again = await Notification.create(audience="citizen", channel=Channel.TELEGRAM, address="777",
                                          template="accept", params={"number": "8890-20261126-00002"})
        calls = len(fake.calls)
        assert await sender.drain_once() == {"blocked": 1}
        assert len(fake.calls) == calls  # a blocked chat is not called again
        await again.refresh_from_db()
        assert again.status == NotificationStatus.DEAD
        long_reply = "\n".join(f"第{i}条答复" + "字" * 60 for i in range(100))  # two Telegram messages
        split_row = await Notification.create(audience="citizen", channel=Channel.TELEGRAM, address=str(CHAT),
                                              template="approve_reply",
                                              params={"number": "8890-20261126-00003", "reply": long_reply})
        fake.fail("sendMessage", 500, after=1)  # the first part goes out, the second fails
        assert await sender.drain_once() == {"failed": 1}
        await split_row.refresh_from_db()
        now = split_row.next_attempt_at
        assert await sender.drain_once() == {"sent": 1}
        parts = [c.params["text"] for c in fake.calls if c.method == "sendMessage" and "条答复" in c.params["text"]]
        assert len(parts) == 3 and parts[1] == parts[2] and parts[0] != parts[1]  # the second again, not the first
        assert "第0条答复" in parts[0] and "第99条答复" in parts[2]
        now += dt.timedelta(minutes=1)
        await channel.bot.engine.handle(Inbound(Channel.TELEGRAM, "777", text="你好", key="tg9001"))  # unblocked
        later = await Notification.create(audience="citizen", channel=Channel.TELEGRAM, address="777",
                                          template="accept", params={"number": "8890-20261126-00002"})
        assert await sender.drain_once() == {"sent": 1}  # any message, not only /start, shows it reachable
        await later.refresh_from_db()
        assert later.status == NotificationStatus.SENT and not await is_blocked("777")
    finally:
        await channel.application.shutdown()


async def test_a_flood_of_100_messages_is_throttled_politely(polling, fake: FakeTelegram) -> None:
    polling.throttle = Throttle(limit=20, window=60.0)
    flood = [fake.message(CHAT, f"第{i}条：西山区人民路夜间施工噪音很大") for i in range(100)]
    replies = await handled(fake, *flood, timeout=30)
    assert sum("太快" in r for r in replies) == 1
    assert len(replies) <= 2 * 20 + 1  # 20 answers (a re-ask is two messages) and one notice
    outcomes = await polling.inbox.outcomes()
    assert outcomes == {"handled": 20, "throttled": 80}  # every message accounted for, none silently lost
    assert await JobRun.filter(job=telegram_inbox.CHATS).count() == 20  # only handled updates count against the next


def test_a_plain_message_is_joined_to_the_question_after_it_in_one_bubble() -> None:
    said, asked = Outbound("请点选下面的按钮之一。"), Outbound("对吗？", (Choice("yes", "对"),), "choice")
    assert merged([said, asked]) == [Outbound("请点选下面的按钮之一。\n\n对吗？", asked.choices, "choice")]
    keyed = Outbound("请发送位置", (), "location")
    assert merged([keyed, said]) == [keyed, said]  # a message with a key or buttons stays on its own
    assert merged([asked, said, said]) == [asked, Outbound("请点选下面的按钮之一。\n\n请点选下面的按钮之一。")]


def test_long_replies_are_split_at_line_breaks() -> None:
    text = "\n".join(f"第{i}行" + "字" * 60 for i in range(200))
    pieces = split(text)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text
    emoji = "好😀" * 2000  # 4,000 characters, 6,000 UTF-16 code units: Telegram counts the units
    pieces = split(emoji)
    assert len(pieces) == 2 and "".join(pieces) == emoji
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in pieces)
    assert split("短消息") == ["短消息"] and split("") == [""]


async def test_a_flood_spread_over_two_processes_is_throttled_as_one(settings: Settings, fake: FakeTelegram) -> None:
    import asyncio

    hooked = tg_settings(settings, fake, public_url="https://appeals.example.org")
    first, second = create_app(hooked, manage_orm=False), create_app(hooked, manage_orm=False)
    flood = [fake.message(CHAT, f"第{i}条：西山区人民路夜间施工噪音很大") for i in range(60)]
    for app in (first, second):
        app[telegram.CHANNEL_KEY].ordered = True  # several processes (this test's settings have one worker)
    async with serving(first) as one, serving(second) as two, aiohttp.ClientSession() as http:
        secret = first[telegram.CHANNEL_KEY].secret
        for i, update in enumerate(flood):  # a load balancer sends every other update to the other process
            url = (one if i % 2 == 0 else two) + telegram.WEBHOOK_PATH
            assert await fake.deliver(http, url, update, secret) == 200
        deadline = asyncio.get_running_loop().time() + 30
        while await JobRun.filter(job="telegram").count() != 60 or not all(
                r.data.get("done") for r in await JobRun.filter(job="telegram")):
            assert asyncio.get_running_loop().time() < deadline, "the flood was not handled in time"
            await asyncio.sleep(0.05)
        outcomes = await first[telegram.CHANNEL_KEY].inbox.outcomes()
    assert outcomes == {"handled": 20, "throttled": 40}  # per process it would have been 20 each
    assert await JobRun.filter(job=telegram_inbox.CHATS).count() == 20
    assert sum("太快" in text for text in fake.texts(CHAT)) == 1  # told once, by one of the two


async def test_concurrent_redeliveries_of_one_update_are_stored_and_answered_once(hooked, fake: FakeTelegram) -> None:
    import asyncio

    url, channel = hooked
    update = fake.message(CHAT, "/start")
    async with aiohttp.ClientSession() as http:
        deliveries = (fake.deliver(http, url, update, channel.secret) for _ in range(8))
        assert await asyncio.gather(*deliveries) == [200] * 8  # one group commit
    await fake.wait_for(1, CHAT)
    await asyncio.sleep(0.3)
    assert len(fake.sent(CHAT)) == 1
    assert await JobRun.filter(job="telegram").count() == 1


async def test_an_update_stored_before_a_crash_is_handled_at_the_next_start(settings: Settings,
                                                                             fake: FakeTelegram) -> None:
    from bot.channels.telegram_inbox import Inbox

    update = fake.message(CHAT, "/start")
    assert await Inbox(TOKEN.split(":")[0]).accept(update["update_id"], update)  # stored, then the process died
    await JobRun.filter(job="telegram").update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    app = create_app(tg_settings(settings, fake, public_url="https://appeals.example.org"), manage_orm=False)
    async with serving(app):
        assert "需要办理什么" in "".join(await fake.wait_for(1, CHAT))
        outcomes = {}
        for _ in range(200):
            outcomes = await app[telegram.CHANNEL_KEY].inbox.outcomes()
            if outcomes == {"handled": 1}:
                break
            import asyncio

            await asyncio.sleep(0.02)
        assert outcomes == {"handled": 1}


async def test_telegrams_429_on_a_reply_is_waited_out(polling, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 429, "Too Many Requests: retry after 1")
    replies = await handled(fake, fake.message(CHAT, "/start"))  # the fake records the refused call too
    assert len(replies) == 2 and replies[0] == replies[1] and "需要办理什么" in replies[1]  # refused, then sent
    assert await polling.inbox.outcomes() == {"handled": 1}


async def test_a_reply_that_fails_in_transit_is_sent_again(polling, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 502, "Bad Gateway")  # Telegram's front end, once
    replies = await handled(fake, fake.message(CHAT, "/start"))
    assert len(replies) == 2 and replies[0] == replies[1] and "需要办理什么" in replies[1]  # refused, then sent
    assert await polling.inbox.outcomes() == {"handled": 1}
    fake.fail("sendMessage", 400, "Bad Request: message text is empty")  # a refusal is not sent again
    replies = await handled(fake, fake.message(CHAT, "/help"))
    assert len(replies) == 1
    assert await polling.inbox.outcomes() == {"handled": 1, "reply_failed": 1}


async def test_a_reply_telegram_cannot_take_for_a_while_goes_to_the_outbox(polling, fake: FakeTelegram) -> None:
    fake.fail("sendMessage", 502, "Bad Gateway", times=3)  # every try of the step: Telegram is down a moment
    await handled(fake, fake.message(CHAT, "/start"))
    assert await polling.inbox.outcomes() == {"reply_queued": 1}
    row = await Notification.get(channel=Channel.TELEGRAM, address=str(CHAT))
    assert row.template == "chat_reply"
    texts = await fake.wait_for(4, CHAT)  # three refused tries, then the outbox's sender delivers it
    assert "需要办理什么" in texts[-1]
    assert {"submit", "query"} <= set(fake.buttons(CHAT))  # with its buttons
    await row.refresh_from_db()
    assert row.status == NotificationStatus.SENT

    long_text = "\n".join(f"第{i}行" + "字" * 60 for i in range(100))  # two Telegram messages
    handle = polling.bot.engine.handle

    async def long_then_menu(inbound, receipt=None):  # (a button: a message of its own, not joined to the next)
        return [Outbound(long_text, (Choice("cmd:help", "帮助"),), "choice"), *(await handle(inbound, receipt))]

    polling.bot.engine.handle = long_then_menu
    fake.fail("sendMessage", 502, "Bad Gateway", times=3, after=1)  # the second piece fails on every try
    await handled(fake, fake.message(CHAT, "/start"))
    queued = await Notification.filter(template="chat_reply").order_by("-id").first()
    assert queued.params["_parts_sent"] == 1 and len(queued.params["outbounds"]) == 2  # in one row: in order
    before = len(fake.sent(CHAT))
    await fake.wait_for(before + 2, CHAT)  # the second piece, then the menu; the first is not sent again
    first, second = split(long_text)
    sent = fake.texts(CHAT)  # (the fake records refused calls too)
    assert sent[-6:-1] == [first, second, second, second, second] and "需要办理什么" in sent[-1]

    fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", times=3)  # still flood-limited after the tries
    await handled(fake, fake.message(CHAT, "/start"), timeout=20)
    assert await polling.inbox.outcomes() == {"reply_queued": 3}  # the outbox waits it out


def test_the_throttle_forgets_quiet_chats_and_still_limits_busy_ones_among_many() -> None:
    throttle = Throttle(limit=20, window=60.0)
    for i in range(15_000):  # a busy city: fifteen thousand chats active within one minute
        assert throttle.allow(f"old{i}", now=float(i) / 1000)
    assert throttle.recent("old0") == 1  # all active: nothing forgotten yet
    for _ in range(20):
        assert throttle.allow("busy", now=30.0)
    assert not throttle.allow("busy", now=30.5)  # the 21st within the minute is refused
    for i in range(15_000):  # a minute later, as many new chats: the old ones have gone quiet
        throttle.allow(f"new{i}", now=100.0 + float(i) / 1000)
    assert throttle.recent("old0") == throttle.recent("busy") == 0  # quiet chats forgotten
    assert throttle.recent("new14999") == 1
    for _ in range(20):
        assert throttle.allow("busy", now=120.0)
    assert not throttle.allow("busy", now=120.1)


async def test_a_sibling_worker_neither_polls_nor_registers_nor_replays_but_handles_webhook_calls(
        settings: Settings, fake: FakeTelegram) -> None:
    from bot.channels.telegram_inbox import Inbox

    left = fake.message(CHAT + 1, "/start")  # stored by a process that died before handling it
    assert await Inbox(TOKEN.split(":")[0]).accept(left["update_id"], left)
    await JobRun.filter(job="telegram").update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    polling_sibling = create_app(tg_settings(settings, fake), manage_orm=False, worker=1)
    async with serving(polling_sibling):
        await asyncio.sleep(0.3)  # worker 0 would have called deleteWebhook before this and be polling by now
        assert "getMe" in fake.counts  # it did connect: it handles what reaches it, and sends its replies
        assert not {"getUpdates", "deleteWebhook", "setWebhook"} & set(fake.counts)  # worker 0 polls
        assert fake.sent(CHAT + 1) == []  # and worker 0 replays: one reply, not one per worker
    hooked_sibling = create_app(tg_settings(settings, fake, public_url="https://appeals.example.org"),
                                manage_orm=False, worker=1)
    async with serving(hooked_sibling) as url:
        channel = hooked_sibling[telegram.CHANNEL_KEY]
        assert "setWebhook" not in fake.counts  # worker 0 registers the webhook
        async with aiohttp.ClientSession() as http:
            assert await fake.deliver(http, url + telegram.WEBHOOK_PATH, fake.message(CHAT, "/start"),
                                      channel.secret) == 200
        assert "需要办理什么" in "".join(await fake.wait_for(1, CHAT))  # but it answers what reaches it


async def test_worker_0_replays_what_a_sibling_that_died_left_unfinished(settings: Settings,
                                                                         fake: FakeTelegram) -> None:
    from bot.channels.telegram_inbox import Inbox

    app = create_app(tg_settings(settings, fake, public_url="https://appeals.example.org"), manage_orm=False)
    app[telegram.CHANNEL_KEY].lease = dt.timedelta(seconds=0.2)
    async with serving(app):
        await asyncio.sleep(0.1)
        left = fake.message(CHAT, "/start")  # a sibling stored it, answered 200, and died before handling it
        assert await Inbox(TOKEN.split(":")[0]).accept(left["update_id"], left)
        assert "需要办理什么" in "".join(await fake.wait_for(1, CHAT, timeout=5))  # two leases later
        await asyncio.sleep(0.6)
        assert len(fake.sent(CHAT)) == 1  # once


async def test_an_update_a_busy_sibling_held_while_worker_0_replayed_it_is_answered_once(settings: Settings,
                                                                                         fake: FakeTelegram) -> None:
    hooked = tg_settings(settings, fake, public_url="https://appeals.example.org")
    first, sibling = create_app(hooked, manage_orm=False), create_app(hooked, manage_orm=False, worker=1)
    lease = dt.timedelta(seconds=0.4)
    for app in (first, sibling):
        app[telegram.CHANNEL_KEY].lease = lease
        app[telegram.CHANNEL_KEY].ordered = True  # several processes (this test's settings have one worker)
    async with serving(first), serving(sibling) as url:
        channel = sibling[telegram.CHANNEL_KEY]
        busy = asyncio.Lock()  # the sibling is stuck behind this chat's lock (overloaded) well past two leases
        channel._locks[CHAT] = busy
        await busy.acquire()
        update = fake.message(CHAT, "/start")
        async with aiohttp.ClientSession() as http:
            assert await fake.deliver(http, url + telegram.WEBHOOK_PATH, update, channel.secret) == 200  # held
        assert "需要办理什么" in "".join(await fake.wait_for(1, CHAT, timeout=5))  # worker 0 replayed it
        busy.release()  # the sibling gets to it at last
        for _ in range(50):
            if not channel._running:
                break
            await asyncio.sleep(0.02)
        assert not channel._running
        await asyncio.sleep(0.2)
        assert len(fake.sent(CHAT)) == 1  # answered once: the sibling saw worker 0 had taken it


async def test_a_late_update_is_taken_by_one_process_and_a_dead_ones_take_goes_stale(database_url: str) -> None:
    from bot.channels.telegram_inbox import Inbox

    inbox = Inbox(TOKEN.split(":")[0])
    update = {"update_id": 77, "message": {"message_id": 1, "text": "x", "chat": {"id": CHAT, "type": "private"}}}
    assert await inbox.accept(77, update)
    stale = dt.timedelta(minutes=1)
    worker_0, worker_1 = ("host:0", "a1"), ("host:1", "b1")
    assert await inbox.take(77, stale, *worker_1) and not await inbox.take(77, stale, *worker_0)  # first comer only
    assert not await inbox.take(77, stale, *worker_1)  # its own take is not taken again either
    await JobRun.filter(job=telegram_inbox.TAKEN).update(created_at=dt.datetime.now(dt.UTC) - 2 * stale)
    assert await inbox.take(77, stale, *worker_0) and not await inbox.take(77, stale, *worker_1)  # taken over, once
    assert not await inbox.finished(77)
    assert await inbox.take(77, stale, "host:0", "a2")  # worker 0 restarted: its dead predecessor's take, at once
    assert not await inbox.take(77, stale, "host:0", "a2") and not await inbox.take(77, stale, "other:0", "c1")
    await inbox.done_many({77: "handled"})
    assert await inbox.finished(77)


async def test_an_update_waits_for_an_earlier_one_of_its_chat_that_another_worker_holds(
        hooked, fake: FakeTelegram) -> None:
    from bot.channels.telegram_inbox import Inbox

    url, channel = hooked
    channel.ordered = True  # several workers (this test's settings have one)
    channel.lease = dt.timedelta(seconds=3)
    inbox = Inbox(TOKEN.split(":")[0])
    loop = asyncio.get_running_loop()

    async def post(update: dict) -> None:
        async with aiohttp.ClientSession() as http:
            assert await fake.deliver(http, url, update, channel.secret) == 200

    first = fake.message(CHAT, "/start")
    assert await inbox.accept(first["update_id"], first)  # another worker stored it and is still on it
    held = asyncio.create_task(post(fake.message(CHAT, "/help")))
    await asyncio.sleep(0.3)
    assert fake.sent(CHAT) == []  # /help is not answered before /start
    await inbox.done_many({first["update_id"]: "handled"})  # the other worker has answered /start
    assert "帮助" in "".join(await fake.wait_for(1, CHAT, timeout=2))
    await held

    failed = fake.message(CHAT, "菜单")  # another worker failed on it (database locked, say) and told the citizen
    assert await inbox.accept(failed["update_id"], failed)
    await inbox.mark_failed(failed["update_id"], failed)
    assert failed in await inbox.pending()  # still there for worker 0's replay
    started, answered = loop.time(), len(fake.sent(CHAT))
    await post(fake.message(CHAT, "/help"))
    await fake.wait_for(answered + 1, CHAT, timeout=10)
    assert loop.time() - started < 2  # the next message does not wait a lease for it
    await inbox.done_many({failed["update_id"]: "handled"})

    lost = fake.message(CHAT, "菜单")
    assert await inbox.accept(lost["update_id"], lost)  # stored by a worker that then died
    started, answered = loop.time(), len(fake.sent(CHAT))
    held = asyncio.create_task(post(fake.message(CHAT, "/help")))
    other = loop.time()
    await post(fake.message(CHAT + 7, "/start"))  # another chat does not wait for this one's
    await fake.wait_for(1, CHAT + 7, timeout=10)
    assert loop.time() - other < 2
    await fake.wait_for(answered + 1, CHAT, timeout=10)
    assert loop.time() - started >= 2.9  # it waited one lease, then went ahead
    await held


def test_updates_are_ordered_across_processes_wherever_several_can_take_one_chats_calls(settings: Settings) -> None:
    import dataclasses

    def ordered(database_url: str, workers: int) -> bool:
        configured = dataclasses.replace(settings, telegram_bot_token=TOKEN, database_url=database_url,
                                         workers=workers)
        bot = build(configured, CaseService(hotline_prefix="8890"))
        return telegram.TelegramChannel(configured, bot, upload_dir=settings.data_dir).ordered

    assert not ordered("sqlite://one.db", 1)  # one process holds every call: the chat's lock orders them
    assert ordered("sqlite://one.db", 2)  # several workers on one port
    assert ordered("postgres://u@db.example/appeals", 1)  # several machines on one database, one process each


async def test_updates_this_worker_took_out_of_order_do_not_wait_for_each_other(hooked, fake: FakeTelegram) -> None:
    from bot.channels.telegram_inbox import Inbox

    _, channel = hooked
    channel.ordered = True
    channel.lease = dt.timedelta(seconds=5)
    first, second = fake.message(CHAT, "/start"), fake.message(CHAT, "/help")
    inbox = Inbox(TOKEN.split(":")[0])
    for update in (first, second):
        assert await inbox.accept(update["update_id"], update)
    started = asyncio.get_running_loop().time()
    await channel.enqueue(second)  # two webhook calls of this process that arrived out of order
    await channel.enqueue(first)
    await fake.wait_for(2, CHAT, timeout=10)
    assert asyncio.get_running_loop().time() - started < 2.5  # the later one did not wait a lease for its sibling


async def test_an_update_whose_step_failed_is_told_marked_failed_and_kept_for_a_replay(
        hooked, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels.telegram_inbox import Inbox

    url, channel = hooked
    channel.ordered = True  # several workers (this test's settings have one): the flood count is shared

    async def locked(*_: object) -> bool:
        raise RuntimeError("database is locked")  # the shared flood count's read fails

    monkeypatch.setattr(channel.throttle, "allowed", locked)
    update = fake.message(CHAT, "/start")
    async with aiohttp.ClientSession() as http:
        assert await fake.deliver(http, url, update, channel.secret) == 200
    assert "出了点问题" in "".join(await fake.wait_for(1, CHAT))  # the citizen is told to try again
    inbox = Inbox(TOKEN.split(":")[0])
    for _ in range(100):
        if await inbox.unfinished_before(CHAT, update["update_id"] + 1) == []:
            break  # marked failed: the chat's next update, on any worker, does not wait for it
        await asyncio.sleep(0.02)
    assert await inbox.unfinished_before(CHAT, update["update_id"] + 1) == []
    assert update in await inbox.pending()  # and it is still there for worker 0's replay


async def _answer(http: aiohttp.ClientSession, url: str, update: dict, secret: str) -> dict:
    """POST an update to the webhook; return the JSON answer."""
    async with http.post(url, json=update, headers={telegram.SECRET_HEADER: secret}) as response:
        assert response.status == 200
        return await response.json()


async def test_the_webhook_answers_with_the_reply_for_telegram_to_carry_out(hooked, fake: FakeTelegram) -> None:
    url, channel = hooked
    assert int(fake.webhook["max_connections"]) == telegram.MAX_CONNECTIONS  # each call is held for its step
    async with aiohttp.ClientSession() as http:
        answer = await _answer(http, url, fake.message(CHAT, "/start"), channel.secret)
        assert answer["method"] == "sendMessage" and answer["chat_id"] == CHAT and "需要办理什么" in answer["text"]
        assert {"submit", "query"} <= {b["callback_data"] for row in answer["reply_markup"]["inline_keyboard"]
                                       for b in row}
        assert "sendMessage" not in fake.counts  # the reply needed no request of its own
        again = await _answer(http, url, fake.message(CHAT, "/start"), channel.secret)
        assert again["text"] == answer["text"]
        redelivered = fake.tap(CHAT, "submit")
        first = await _answer(http, url, redelivered, channel.secret)
        assert first["method"] == "sendMessage" and first["text"] != answer["text"]
        version = (await DialogSession.get(channel="telegram", user_key=str(CHAT))).version
        # Telegram delivers again only when it got no answer: handled once, the same reply given again.
        assert await _answer(http, url, redelivered, channel.secret) == first
    assert "sendMessage" not in fake.counts
    assert await channel.inbox.outcomes() == {"handled": 3}
    assert (await DialogSession.get(channel="telegram", user_key=str(CHAT))).version == version  # applied once


async def test_a_reply_of_several_messages_sends_the_first_and_answers_with_the_last(
        hooked, fake: FakeTelegram) -> None:
    url, channel = hooked
    long_text = "\n".join(f"第{i}行" + "字" * 60 for i in range(100))  # two Telegram messages
    channel.bot.engine.handle = _replying(channel.bot.engine.handle, long_text)
    async with aiohttp.ClientSession() as http:
        answer = await _answer(http, url, fake.message(CHAT, "/start"), channel.secret)
    sent = fake.texts(CHAT)
    assert len(sent) == 1 and sent[0] + "\n" + answer["text"] == long_text  # in order: the request came first
    assert answer["method"] == "sendMessage"


def _replying(handle, text: str):
    """Wrap the engine's handle so that its reply is one long text."""
    from bot.messages import Outbound

    async def handle_long(inbound, receipt=None):
        await handle(inbound, receipt)
        return [Outbound(text)]

    return handle_long


async def test_a_step_slower_than_the_wait_gets_a_plain_2xx_and_its_reply_as_a_request(
        hooked, fake: FakeTelegram) -> None:
    url, channel = hooked
    channel.answer_wait = 0.2
    busy = asyncio.Lock()  # the chat's earlier step is still running
    channel._locks[CHAT] = busy
    await busy.acquire()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        started = loop.time()
        assert await _answer(http, url, fake.message(CHAT, "/start"), channel.secret) == {"ok": True}
        assert loop.time() - started < 2
        assert await channel.inbox.outcomes() == {"pending": 1}  # the 2xx still came after it was stored
    busy.release()
    assert "需要办理什么" in "".join(await fake.wait_for(1, CHAT))
    assert fake.counts["sendMessage"] == 1  # sent as a request of its own, once
    await asyncio.sleep(0.2)
    assert len(fake.sent(CHAT)) == 1
    assert await channel.inbox.outcomes() == {"handled": 1}


async def test_one_process_stores_each_update_with_its_step_or_before_any_other_reply(
        hooked, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    url, channel = hooked
    if channel.ordered:
        pytest.skip("PostgreSQL: several machines may share the database; each update is stored first")
    channel.throttle = Throttle(limit=2, window=60.0)
    async with aiohttp.ClientSession() as http:
        for count, text in enumerate(("/start", "/help", "菜单"), 1):  # the third is over the limit: refused, told
            await _answer(http, url, fake.message(CHAT, text), channel.secret)
            assert sum((await channel.inbox.outcomes()).values()) == count  # stored before its 2xx
        for _ in range(100):  # the refused one's mark follows its answer
            if await channel.inbox.outcomes() == {"handled": 2, "throttled": 1}:
                break
            await asyncio.sleep(0.02)
        assert await channel.inbox.outcomes() == {"handled": 2, "throttled": 1}
        channel.throttle = Throttle()

        async def broken(*_: object) -> list:
            raise RuntimeError("database is locked")

        monkeypatch.setattr(channel.bot.engine, "handle", broken)
        failed = fake.message(CHAT + 1, "/start")
        assert await _answer(http, url, failed, channel.secret) == {"ok": True}
    assert "出了点问题" in "".join(fake.texts(CHAT + 1))  # told to try again
    assert failed in await channel.inbox.pending()  # stored before the 2xx, kept to be replayed


async def test_a_choice_longer_than_telegram_keeps_gets_a_token_button_and_comes_back_whole(
        polling, fake: FakeTelegram) -> None:
    long_value = "cat:" + "城市道路桥梁隧道及附属设施养护维修" * 2  # 4 + 34 × 3 bytes: over Telegram's 64
    seen: list[str | None] = []
    handle = polling.bot.engine.handle

    async def offering(inbound, receipt=None):
        seen.append(inbound.choice)
        if inbound.choice == "cmd:menu":
            return [Outbound("请选择类别", (Choice(long_value, "道路桥梁"), Choice("cat:其他", "其他")), "choice")]
        return await handle(inbound, receipt)

    polling.bot.engine.handle = offering
    await handled(fake, fake.message(CHAT, "/start"))
    buttons = fake.buttons(CHAT)
    assert len(buttons) == 2 and all(len(b.encode()) <= 64 for b in buttons) and buttons[1] == "cat:其他"
    await handled(fake, fake.tap(CHAT, buttons[0]))
    assert seen[-1] == long_value  # the dialog gets the whole choice
    await JobRun.filter(job=telegram_inbox.CHOICES).delete()  # forgotten (a week later)
    await handled(fake, fake.tap(CHAT, buttons[0]))
    assert seen[-1] == ""  # the dialog asks again


async def test_a_redelivery_to_another_process_gets_the_answer_that_was_lost(settings: Settings,
                                                                            fake: FakeTelegram) -> None:
    hooked = tg_settings(settings, fake, public_url="https://appeals.example.org")
    first, second = create_app(hooked, manage_orm=False), create_app(hooked, manage_orm=False, worker=1)
    async with serving(first) as one, serving(second) as two, aiohttp.ClientSession() as http:
        secret = first[telegram.CHANNEL_KEY].secret
        update = fake.message(CHAT, "/start")
        lost = await _answer(http, one + telegram.WEBHOOK_PATH, update, secret)  # Telegram never read it
        assert lost["method"] == "sendMessage"
        again = await _answer(http, two + telegram.WEBHOOK_PATH, update, secret)  # delivered again, elsewhere
        assert again == lost
        assert await _answer(http, two + telegram.WEBHOOK_PATH, fake.tap(CHAT, "submit"), secret) != lost
        version = (await DialogSession.get(channel="telegram", user_key=str(CHAT))).version
    restarted = create_app(hooked, manage_orm=False)
    async with serving(restarted) as three, aiohttp.ClientSession() as http:
        old = await _answer(http, three + telegram.WEBHOOK_PATH, update, secret)
        assert old == {"ok": True}  # the chat has moved on: not applied again, and no old answer given
    assert (await DialogSession.get(channel="telegram", user_key=str(CHAT))).version == version
    assert await first[telegram.CHANNEL_KEY].inbox.outcomes() == {"handled": 2}
