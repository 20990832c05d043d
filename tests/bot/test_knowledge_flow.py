"""Transcripts of knowledge-base answers in the chat: answer with source, 'yes' recorded, 'no' goes on to a case."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from bot.dialog.engine import DialogEngine
from storage.knowledge import KnowledgeBase, local_day, seed_knowledge, utcnow
from storage.lifecycle import Action, CaseStatus, Role
from storage.models import (
    Case,
    CaseEvent,
    CaseKind,
    Channel,
    ChannelIdentity,
    DialogSession,
    KnowledgeArticle,
    KnowledgeStatus,
    Unit,
)
from tests.bot.conftest import make_engine
from tests.support.chat import Chat, joined

HEATING_ANSWER = "本市供暖期为每年11月15日至次年3月15日，室温应不低于18℃。"
HEATING_SOURCE = "《江澜市城市供热管理办法》第十八条"
FUND_ANSWER = "住房公积金提取可在江澜公积金App办理，购房、租房、退休均可申请。"
PASSPORT_ANSWER = "护照办理窗口已于上月迁至市民中心二楼。"  # expired: never to be shown
QUESTION = "请问今年暖气几号开始供暖"
OFF_TOPIC = "今天天气怎么样啊"


def article(questions: list[str], answer: str, source: str = "", category: str = "城乡建设",
            valid_from: dt.date | None = None, valid_to: dt.date | None = None) -> dict[str, object]:
    """Return one article as the demo file writes it."""
    return {"unit": "zjj", "category": category, "questions": questions, "answer": answer, "source": source,
            "valid_from": valid_from.isoformat() if valid_from else None,
            "valid_to": valid_to.isoformat() if valid_to else None}


async def publish(tmp_path: Path, *articles: dict[str, object]) -> None:
    """Publish articles through storage.knowledge, as revision 1 of the housing bureau's."""
    path = tmp_path / "knowledge.json"
    path.write_text(json.dumps(list(articles), ensure_ascii=False), encoding="utf-8")
    await seed_knowledge({u.code: u for u in await Unit.all()}, path)


@pytest.fixture
async def kb_engine(city: str, tmp_path: Path) -> DialogEngine:
    """An engine with a small knowledge base: heating and housing fund (valid), passports (expired)."""
    today = local_day(utcnow())
    await publish(
        tmp_path,
        article(["今年什么时候开始供暖", "供暖季是几号到几号", "暖气什么时候来"], HEATING_ANSWER, HEATING_SOURCE),
        article(["公积金怎么提取", "住房公积金提取需要什么条件"], FUND_ANSWER, "《住房公积金管理条例》第二十四条"),
        article(["护照在哪里办理", "办护照去哪个窗口"], PASSPORT_ANSWER, category="公安",
                valid_from=today - dt.timedelta(days=60), valid_to=today - dt.timedelta(days=1)),
    )
    engine = make_engine()
    engine.services.knowledge = KnowledgeBase(ttl=0)
    return engine


@pytest.fixture
def kb_chat(kb_engine: DialogEngine) -> Chat:
    """A citizen talking to the engine with the knowledge base."""
    return Chat(kb_engine)


async def citizen_id(chat: Chat) -> int:
    """Return the citizen behind the chat's channel identity."""
    return (await ChannelIdentity.get(channel=chat.channel, external_id=chat.user_key)).citizen_id


async def test_a_question_at_the_menu_gets_the_answer_and_yes_records_a_direct_answer(kb_chat: Chat) -> None:
    reply = await kb_chat.say(QUESTION)
    assert HEATING_ANSWER in reply and HEATING_SOURCE in reply and "知识库#" in reply
    assert "是否解决了您的问题" in reply and kb_chat.buttons() == ["yes", "no"]
    assert await Case.all().count() == 0  # nothing recorded until the citizen says

    done = await kb_chat.tap("yes")
    case = await Case.get()
    assert case.number in done and "直接答复" in done and "请问需要办理什么" in done
    assert (case.status, case.kind, case.channel) == (CaseStatus.RESOLVED, CaseKind.CONSULTATION, Channel.WEBCHAT)
    assert case.text == QUESTION and case.reply == HEATING_ANSWER and case.category == "城乡建设"
    assert case.citizen_id == await citizen_id(kb_chat) and not case.anonymous
    assert case.suggestion["knowledge"]["accepted"] is True
    event = await CaseEvent.get(case_id=case.id, action=Action.ANSWER_DIRECTLY)
    assert event.actor_role == Role.SYSTEM and event.staff_id is None
    assert event.data["direct"] is True and HEATING_SOURCE in event.data["source"]
    submitted = await CaseEvent.get(case_id=case.id, action=Action.SUBMIT)
    assert submitted.citizen_id == case.citizen_id
    session = await DialogSession.get()
    assert (session.flow, session.step) == ("menu", "start")


async def test_no_goes_on_to_a_case_with_the_question_already_filled_in(kb_chat: Chat) -> None:
    await kb_chat.say("公积金怎么提取啊")
    assert FUND_ANSWER in kb_chat.last[0].text
    said = [await kb_chat.tap("no")]
    assert "不用再说一遍" in said[0] and "类别" in said[0]
    said.append(await kb_chat.tap(kb_chat.buttons()[0]))
    said.append(await kb_chat.say("东湖区幸福里小区3栋"))
    said.append(await kb_chat.tap("anonymous"))
    if "new" in kb_chat.buttons():
        said.append(await kb_chat.tap("new"))
    assert "公积金怎么提取啊" in kb_chat.last[-1].text  # the summary shows the question as the problem
    said.append(await kb_chat.tap("confirm"))
    assert not any("请描述" in s for s in said)  # the description was never asked for
    case = await Case.get()
    assert case.number in said[-1]
    assert (case.text, case.kind, case.status) == ("公积金怎么提取啊", CaseKind.CONSULTATION, CaseStatus.SUBMITTED)
    assert case.suggestion["knowledge"]["accepted"] is False  # offered and declined: a gap to fix
    assert not await CaseEvent.filter(action=Action.ANSWER_DIRECTLY).exists()


async def test_a_consultation_written_as_the_description_gets_the_answer(kb_chat: Chat) -> None:
    await kb_chat.tap("submit")
    reply = await kb_chat.say("想问一下供暖季是几号到几号")
    assert HEATING_ANSWER in reply and kb_chat.buttons() == ["yes", "no"]
    assert "类别" in await kb_chat.tap("no")
    session = await DialogSession.get()
    assert (session.flow, session.step) == ("submit", "category")
    assert session.slots["text"] == "想问一下供暖季是几号到几号"


async def test_an_expired_article_is_never_shown(kb_chat: Chat) -> None:
    reply = await kb_chat.say("请问护照在哪里办理")
    assert PASSPORT_ANSWER not in reply and "yes" not in kb_chat.buttons()
    await kb_chat.tap("submit")
    reply = await kb_chat.say("办护照去哪个窗口呢")
    assert PASSPORT_ANSWER not in reply and "类别" in reply


async def test_an_article_withdrawn_after_it_was_shown_is_not_recorded(kb_chat: Chat) -> None:
    await kb_chat.say(QUESTION)
    await KnowledgeArticle.all().update(status=KnowledgeStatus.WITHDRAWN, updated_at=utcnow())
    assert HEATING_ANSWER not in joined(await kb_chat.send(resume=True))
    session = await DialogSession.get()
    assert (session.flow, session.step) == ("submit", "category")
    assert not await Case.exists()


async def test_an_article_withdrawn_before_yes_leaves_no_case_and_goes_to_staff(kb_chat: Chat) -> None:
    await kb_chat.say(QUESTION)
    await KnowledgeArticle.all().update(status=KnowledgeStatus.WITHDRAWN, updated_at=utcnow())
    reply = await kb_chat.tap("yes")
    assert "停止使用" in reply and "类别" in reply
    assert not await Case.exists()  # the consultation case was rolled back with the refused answer
    session = await DialogSession.get()
    assert (session.flow, session.step) == ("submit", "category") and session.slots["text"] == QUESTION


async def test_off_topic_text_and_complaints_get_no_answer(kb_chat: Chat) -> None:
    assert "没有听明白" in await kb_chat.say(OFF_TOPIC)
    reply = await kb_chat.say("东湖区幸福里小区路灯坏了一个月了，晚上很黑")
    assert "是否解决" not in reply and "类别" in reply
    await kb_chat.say("菜单")
    assert "请描述" in await kb_chat.say("我要投诉")  # short intent words keep their meaning
    await kb_chat.say("菜单")
    for filler in ("15", "11", "好的"):  # "15" is a term of the heating article ("11月15日"), yet no question
        reply = await kb_chat.say(filler)
        assert "是否解决" not in reply and HEATING_ANSWER not in reply, filler
    assert await Case.all().count() == 0


async def test_other_answers_are_asked_again_and_english_works(kb_chat: Chat) -> None:
    await kb_chat.say("english")
    reply = await kb_chat.say("公积金怎么提取")
    assert FUND_ANSWER in reply and "Did this answer your question?" in reply
    assert "Yes" in await kb_chat.say("maybe")
    assert "recorded as answered directly" in await kb_chat.say("yes")


async def test_an_empty_or_missing_knowledge_base_changes_nothing(city: str) -> None:
    replies = []
    for knowledge in (None, KnowledgeBase(ttl=0)):
        engine = make_engine()
        engine.services.knowledge = knowledge
        chat = Chat(engine, user_key=f"user-{knowledge is None}")
        replies.append([await chat.say(QUESTION), await chat.say("菜单"), await chat.say("公积金怎么提取")])
    assert replies[0] == replies[1] and not any("是否解决" in r for r in replies[0])



async def test_a_failing_knowledge_base_is_passed_over_silently(city: str) -> None:
    class Broken(KnowledgeBase):
        async def index(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("knowledge_article does not exist")

    engine = make_engine()
    engine.services.knowledge = Broken()
    chat = Chat(engine)
    assert "没有听明白" in await chat.say(OFF_TOPIC)
    assert "类别" in await chat.say("东湖区幸福里小区路灯坏了一个月了，晚上很黑")
