"""The engine: sessions saved at every step, dedupe, global commands, idle expiry, the per-user lease."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Awaitable
from types import SimpleNamespace

import pytest
from tortoise.expressions import F

from bot.dialog.engine import DialogEngine
from bot.messages import Inbound
from storage.models import Case, Channel, ChannelIdentity, Citizen, DialogSession, Notification
from tests.bot.conftest import make_engine
from tests.support.chat import Chat, joined, to_summary


async def test_the_session_row_follows_every_step(chat: Chat) -> None:
    await chat.tap("submit")
    assert (await DialogSession.get()).step == "describe"
    await chat.say("西山区人民路夜间施工噪音很大")
    row = await DialogSession.get()
    assert row.step == "category" and row.slots["text"] == "西山区人民路夜间施工噪音很大"
    assert row.locked_by is None and row.expires_at is not None


async def test_a_redelivered_message_is_answered_once(chat: Chat) -> None:
    await chat.tap("submit")
    first = await chat.send(text="西山区人民路夜间施工噪音很大", key="dup-1")
    version = (await DialogSession.get()).version
    again = await chat.send(text="西山区人民路夜间施工噪音很大", key="dup-1")
    assert again == first
    row = await DialogSession.get()
    assert row.version == version and row.step == "category"


async def test_cancel_menu_help_and_agent_anywhere(chat: Chat) -> None:
    await chat.tap("submit")
    await chat.say("西山区人民路夜间施工噪音很大")
    reply = await chat.say("帮助")
    assert "取消" in reply and "类别" in reply  # the help, then the same question again
    assert "8890" in await chat.say("人工")
    assert (await DialogSession.get()).step == "category"
    reply = await chat.say("取消")
    assert "已取消" in reply and "请问需要办理什么" in reply
    row = await DialogSession.get()
    assert (row.flow, row.step) == ("menu", "start") and "text" not in row.slots
    await chat.tap("submit")
    assert "请问需要办理什么" in await chat.say("MENU")
    await chat.tap("submit")
    assert "已取消" in await chat.say(" cancel ")
    assert "取消" in await chat.say("help")


async def test_what_is_typed_as_the_session_expires_is_kept_for_going_on(chat: Chat) -> None:
    now = [dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)]
    chat.engine.services.clock = lambda: now[0]
    await chat.tap("submit")
    now[0] += dt.timedelta(hours=2)  # a slow typist
    reply = await chat.say("西山区人民路工地每天夜里十二点以后还在施工，噪音很大，影响休息")
    assert "未完成" in reply and chat.buttons() == ["resume", "restart"]
    reply = await chat.tap("resume")
    assert "类别" in reply and "请描述" not in reply  # taken as the description, not asked for again
    row = await DialogSession.get()
    assert row.step == "category" and row.slots["text"].startswith("西山区人民路工地")
    now[0] += dt.timedelta(hours=2)
    await chat.say("这段话不再需要")
    await chat.tap("restart")  # starting over drops it
    assert (await DialogSession.get()).flow == "menu" and "这段话" not in str((await DialogSession.get()).slots)


async def test_idle_expiry_offers_to_resume(chat: Chat) -> None:
    now = [dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)]
    chat.engine.services.clock = lambda: now[0]
    await chat.tap("submit")
    await chat.say("西山区人民路夜间施工噪音很大")
    now[0] += dt.timedelta(hours=2)
    reply = await chat.say("西山区")
    assert "未完成" in reply and chat.buttons() == ["resume", "restart"]
    assert "类别" in await chat.tap("resume")
    row = await DialogSession.get()
    assert row.step == "category" and row.slots["text"] == "西山区人民路夜间施工噪音很大"
    now[0] += dt.timedelta(hours=2)
    await chat.say("hello")
    assert "请问需要办理什么" in await chat.tap("restart")
    assert "text" not in (await DialogSession.get()).slots


async def test_two_processes_take_turns_on_one_user(engine: DialogEngine) -> None:
    other = make_engine()  # a second process: its own in-process locks, the same database
    await engine.handle(Inbound("webchat", "u1", choice="submit"))
    texts = ["西山区人民路夜间施工噪音很大", "cancel"] * 5
    results = await asyncio.gather(*(
        (engine if i % 2 else other).handle(Inbound("webchat", "u1", text=t, key=f"k{i}"))
        for i, t in enumerate(texts)
    ))
    assert all(results)
    assert not any("still being handled" in o.text or "还在处理" in o.text for r in results for o in r)
    row = await DialogSession.get()
    assert row.version == 2 + len(texts) and row.locked_by is None


async def test_a_lease_held_elsewhere_makes_the_message_wait_then_say_busy(engine: DialogEngine) -> None:
    await engine.handle(Inbound("webchat", "u1", choice="submit"))
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    await DialogSession.filter(user_key="u1").update(locked_by="someone-else", locked_until=until)
    engine.wait = 0.05
    reply = await engine.handle(Inbound("webchat", "u1", text="西山区人民路夜间施工噪音很大"))
    assert "还在处理" in reply[0].text
    assert (await DialogSession.get()).step == "describe"
    await DialogSession.filter(user_key="u1").update(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    reply = await engine.handle(Inbound("webchat", "u1", text="西山区人民路夜间施工噪音很大"))
    assert (await DialogSession.get()).step == "category"


async def test_a_classifier_suggestion_is_shown_with_its_unit(city: str) -> None:
    def suggest(text: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(category="环境保护", score=0.8), SimpleNamespace(category="城乡建设", score=0.1)]

    chat = Chat(make_engine(suggester=suggest))
    await chat.tap("submit")
    reply = await chat.say("西山区人民路夜间施工噪音很大")
    assert "环境保护" in reply and "建议由「西山区人民政府」" in reply  # the district's own unit (属地)
    assert chat.buttons()[:2] == ["yes", "cat:城乡建设"]
    await chat.tap("yes")
    await chat.say("西山区人民路")
    await chat.tap("anonymous")
    await chat.tap("confirm")
    case = await Case.get()
    assert case.category == "环境保护" and case.suggestion["category"] == "环境保护"
    assert case.suggestion["unit"]


async def test_in_english_the_category_and_unit_are_named_in_english(city: str) -> None:
    def suggest(text: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(category="环境保护", score=0.8), SimpleNamespace(category="城乡建设", score=0.1)]

    chat = Chat(make_engine(suggester=suggest))
    await chat.say("english")
    await chat.tap("submit")
    reply = await chat.say("Loud construction noise at night on Renmin Road, Xishan district")
    assert "'Environment' matter" in reply and "环境保护" not in reply
    unit = next(o for o in chat.last if o.choices)
    assert [c.label for c in unit.choices][1] == "Urban and rural construction"
    assert "人民政府" not in reply and "环境局" not in reply  # the unit's English name
    await chat.tap("list")
    assert "Transport" in [c.label for o in chat.last for c in o.choices]
    await chat.say("transport")  # typed in English, taken as the category
    await chat.say("西山区人民路")
    summary = await chat.tap("anonymous")
    assert "Transport" in summary and "交通运输" not in summary
    await chat.tap("confirm")
    assert (await Case.get()).category == "交通运输"  # stored as the catalogue names it


async def test_a_broken_step_keeps_the_session_and_apologises(chat: Chat, monkeypatch) -> None:
    await chat.tap("submit")

    async def boom(*args: object) -> None:
        raise RuntimeError("classifier exploded")

    monkeypatch.setattr(chat.engine.services.advisor, "suggest", boom)
    assert "出了点问题" in await chat.say("西山区人民路夜间施工噪音很大")
    row = await DialogSession.get()
    assert row.step == "describe" and row.locked_by is None


async def test_english_on_request_and_back(chat: Chat) -> None:
    reply = await chat.say("English")
    assert "Switched to English" in reply and "What can we do for you" in reply
    assert (await DialogSession.get()).language == "en"
    await chat.tap("submit")
    assert "Describe the problem" in chat.last[-1].text
    assert "Cancelled" in await chat.say("cancel")
    assert "中文" in await chat.say("中文") and (await DialogSession.get()).language == "zh-CN"


async def test_a_process_never_trusts_its_cached_session_over_another_processs_save(engine: DialogEngine) -> None:
    other = make_engine()
    a, b = Chat(engine, user_key="u2"), Chat(other, user_key="u2")
    await a.tap("submit")
    assert "类别" in await b.say("西山区人民路夜间施工噪音很大")  # b saw a's step
    assert "哪里" in await a.tap("cat:环境保护")  # a sees b's step, not its own cached one
    assert "联系" in await b.say("西山区人民路")
    row = await DialogSession.get(user_key="u2")
    assert (row.step, row.slots["category"], row.version) == ("contact", "环境保护", 5)


async def test_first_contact_creates_one_citizen_and_one_session_even_from_two_processes(engine: DialogEngine) -> None:
    other = make_engine()
    replies = await asyncio.gather(*(e.handle(Inbound("webchat", "new-user", resume=True)) for e in (engine, other)))
    assert all("请问需要办理什么" in r[0].text for r in replies)
    assert await DialogSession.filter(user_key="new-user").count() == 1
    assert await ChannelIdentity.filter(external_id="new-user").count() == 1
    row = await DialogSession.get(user_key="new-user")
    assert row.citizen_id is not None and row.locked_by is None


async def test_a_known_identity_without_a_session_keeps_its_citizen(engine: DialogEngine) -> None:
    citizen = await Citizen.create()
    await ChannelIdentity.create(citizen=citizen, channel=Channel.WEBCHAT, external_id="returning")
    await engine.handle(Inbound("webchat", "returning", resume=True))
    assert (await DialogSession.get(user_key="returning")).citizen_id == citizen.id
    assert await Citizen.all().count() == 1


async def test_a_database_locked_elsewhere_gets_a_polite_answer_and_then_the_chat_goes_on(
        engine: DialogEngine, other_writer: sqlite3.Connection) -> None:
    stranger = Chat(engine)  # first contact: its session must be created, which needs the write lock
    visitor = Chat(engine, user_key="visitor")  # a first page load (hello) creates one too
    other_writer.execute("BEGIN IMMEDIATE")  # e.g. a backup or a long migration in another process
    assert "系统暂时出了点问题" in await stranger.say("你好")
    assert "系统暂时出了点问题" in joined(await visitor.send(resume=True))
    assert engine.stats["errors"] == 2
    other_writer.execute("ROLLBACK")
    assert "请问需要办理什么" in await stranger.say("菜单")
    assert "请问需要办理什么" in joined(await visitor.send(resume=True))


def after_the_first_submission(monkeypatch: pytest.MonkeyPatch, engine: DialogEngine,
                               meanwhile: Awaitable[object]) -> list[str]:
    """Run ``meanwhile`` once, right after the engine's first submission has queued its rows (before the session
    save commits them); return the case numbers handed out, one per try."""
    service, numbers = engine.services.cases, []
    submit = service.submit

    async def and_meanwhile(new, actor, writes=None):  # noqa: ANN001, ANN202
        case = await submit(new, actor, writes)
        if not numbers:
            await meanwhile
        numbers.append(case.number)
        return case

    monkeypatch.setattr(service, "submit", and_meanwhile)
    return numbers


async def test_a_session_saved_elsewhere_during_the_confirmation_leaves_exactly_one_case(
        chat: Chat, monkeypatch) -> None:
    await to_summary(chat)
    # The first try: another process saves this session before this one does.
    numbers = after_the_first_submission(monkeypatch, chat.engine, DialogSession.filter(
        user_key=chat.user_key).update(version=F("version") + 1))
    done = await chat.tap("confirm")
    case = await Case.get()  # the first try was undone with its session save; the step ran again
    assert len(numbers) == 2 and case.number == numbers[1] and case.number in done
    assert await Notification.filter(case_id=case.id).count() == 1
    row = await DialogSession.get(user_key=chat.user_key)
    assert (row.flow, row.step) == ("menu", "start") and case.number in str(row.slots["_out"])


async def test_a_first_visit_creates_the_session_at_the_menu_and_leaves_it_free(engine: DialogEngine) -> None:
    replies = await engine.handle(Inbound("webchat", "visitor", resume=True))
    assert "请问需要办理什么" in replies[0].text
    row = await DialogSession.get(user_key="visitor")
    assert (row.flow, row.step, row.locked_by, row.locked_until, row.version) == ("menu", "start", None, None, 1)
    assert engine.new_identity("webchat", "visitor")  # nothing can be waiting for a brand-new identity
    assert not engine.new_identity("webchat", "visitor")  # (said once)
    other = make_engine()  # nobody holds the new session: another process takes the next message at once
    answer = await Chat(other, user_key="visitor").tap("submit")
    assert "描述" in answer and (await DialogSession.get(user_key="visitor")).step == "describe"
    again = await engine.handle(Inbound("webchat", "visitor", resume=True))  # a reload shows where it stands
    assert "描述" in again[-1].text and not engine.new_identity("webchat", "visitor")


async def test_a_confirmation_whose_lease_was_lost_creates_nothing_and_can_be_sent_again(
        chat: Chat, monkeypatch) -> None:
    await to_summary(chat)
    other = Chat(make_engine(), user_key=chat.user_key)  # another process: it has to take the lease
    # The first try outlives its lease, and a third process takes the session.
    tries = after_the_first_submission(monkeypatch, other.engine, DialogSession.filter(
        user_key=chat.user_key).update(locked_by="a third process", locked_until=None))
    assert "出了点问题" in await other.tap("confirm")  # told politely; nothing of the try stays
    assert await Case.all().count() == 0 and (await DialogSession.get(user_key=chat.user_key)).step == "summary"
    done = await other.tap("confirm")
    case = await Case.get()
    assert case.number == tries[1] in done and case.number != tries[0]  # the undone try's number is not reused


@pytest.mark.parametrize(("cached", "channel", "retried"), [
    (None, "telegram", True),  # one process, or every channel cached: the other process's save makes it stale
    (frozenset({"webchat"}), "telegram", False),  # several workers: only web chat's sockets stay on one process
    (frozenset({"webchat"}), "webchat", True),
])
async def test_two_processes_taking_turns_run_no_step_twice_where_the_channel_is_not_cached(
        city: str, cached: frozenset[str] | None, channel: str, retried: bool) -> None:
    first, second = make_engine(), make_engine()
    first.cached_channels = second.cached_channels = cached
    one, two = Chat(first, "4242", channel), Chat(second, "4242", channel)  # the kernel alternates the processes
    await one.tap("submit")
    await two.say("东湖区幸福里小区3栋门口路灯坏了一个月")
    await one.tap(two.buttons()[0])  # the suggested category
    answer = await two.say("东湖区幸福里小区3栋")
    assert "联系" in answer or "电话" in answer  # the conversation went on across both
    assert (first.stats["retried"] + second.stats["retried"] > 0) is retried
    assert first.stats["errors"] == second.stats["errors"] == 0
