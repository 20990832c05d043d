"""Transcripts of the evaluate flow: five levels, comment, 不满意 reopens through CaseService."""

from __future__ import annotations

from storage.lifecycle import CaseStatus
from storage.models import Case, Evaluation
from tests.support.builders import make_case, make_world
from tests.support.chat import Chat


async def resolved(chat: Chat) -> tuple[Chat, Case]:
    world = await make_world()
    case = await make_case(world, CaseStatus.RESOLVED, reply="已更换路灯灯泡。")
    return Chat(chat.engine, user_key="web-abc"), case


async def test_satisfied_rating_with_comment(chat: Chat) -> None:
    owner, case = await resolved(chat)
    await owner.tap("evaluate")
    assert "已更换路灯灯泡" in await owner.tap(f"case:{case.id}")
    assert "五个等级" in await owner.say("7")
    assert "五个等级" in await owner.say("非常好")
    await owner.say("2")
    assert "感谢" in await owner.say("处理很快")
    await case.refresh_from_db()
    assert case.status == CaseStatus.EVALUATED
    evaluation = await Evaluation.get()
    assert (evaluation.rating, evaluation.comment, evaluation.source) == ("satisfied", "处理很快", "citizen")


async def test_dissatisfied_reopens_the_case(chat: Chat) -> None:
    owner, case = await resolved(chat)
    await owner.tap("evaluate")
    await owner.tap(f"case:{case.id}")
    assert "哪里没有解决" in await owner.tap("rating:dissatisfied")
    reply = await owner.say("路灯还是不亮")
    await case.refresh_from_db()
    assert case.status == CaseStatus.REOPENED and "重办" in reply


async def test_rate_button_from_a_notification_skips_the_list(chat: Chat) -> None:
    owner, case = await resolved(chat)
    assert "满意吗" in await owner.tap(f"go:evaluate:{case.id}")
    await owner.tap("rating:very_satisfied")
    await owner.tap("skip")
    await case.refresh_from_db()
    assert case.status == CaseStatus.EVALUATED


async def test_nobody_else_can_rate_a_case(chat: Chat) -> None:
    _, case = await resolved(chat)
    reply = await chat.tap(f"go:evaluate:{case.id}")
    assert "没有等待您评价" in reply
    await case.refresh_from_db()
    assert case.status == CaseStatus.RESOLVED


async def test_nothing_to_rate(chat: Chat) -> None:
    assert "没有等待您评价" in await chat.tap("evaluate")
