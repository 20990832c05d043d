"""Transcripts of the query flow: my cases, number + tracking code, and wrong inputs."""

from __future__ import annotations

import datetime as dt

from storage.lifecycle import Action, CaseStatus
from storage.models import Case, CaseEvent
from tests.support.builders import make_case, make_world
from tests.support.chat import Chat


async def test_my_cases_show_status_unit_deadline_and_timeline(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.IN_PROGRESS)
    await CaseEvent.create(case=case, action=Action.SIGN, from_status=CaseStatus.DISPATCHED,
                           to_status=CaseStatus.IN_PROGRESS, actor_role="handler", version=2)
    await CaseEvent.create(case=case, action=Action.NOTE, from_status=CaseStatus.IN_PROGRESS,
                           to_status=CaseStatus.IN_PROGRESS, actor_role="handler", version=3,
                           data={"note": "内部：诉求人很难缠"})
    owner = Chat(chat.engine, user_key="web-abc")  # the builders' citizen on web chat
    await owner.tap("query")
    assert f"case:{case.id}" in owner.buttons()
    reply = await owner.tap(f"case:{case.id}")
    assert case.number in reply and "办理中" in reply and "承办单位正在办理" in reply
    assert "市住房和城乡建设局" in reply and "签收" in reply
    assert "难缠" not in reply  # internal notes never reach the citizen


async def test_someone_elses_case_needs_number_and_matching_code(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.ACCEPTED)
    other = await make_case(world, CaseStatus.ACCEPTED)
    reply = await chat.tap("query")
    assert "还没有提交过" in reply and "编号" in reply
    assert "没有识别" in await chat.say("我的诉求")
    assert "查询码" in await chat.say(case.number)
    assert "不正确" in await chat.say("ZZZZZZZZZZ")
    assert "不正确" in await chat.say(other.tracking_code)  # a code fits its own case only
    reply = await chat.say(case.tracking_code.lower())
    assert case.number in reply and "已受理" in reply


async def test_guessing_codes_locks_the_lookup(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.ACCEPTED)
    await chat.tap("query")
    await chat.say(case.number)
    for _ in range(4):
        assert "不正确" in await chat.say("ABCDEFGHJK")
    assert "次数过多" in await chat.say("ABCDEFGHJK")
    await chat.tap("query")
    await chat.say(case.number)
    assert "次数过多" in await chat.say(case.tracking_code)
    await chat.tap("query")
    reply = await chat.say(f"{case.number} {case.tracking_code}")  # number and code at once: locked all the same
    assert "次数过多" in reply and "已受理" not in reply


async def test_archived_cases_codes_have_expired(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.ARCHIVED)
    await chat.tap("query")
    await chat.say(case.number)
    assert "已失效" in await chat.say(case.tracking_code)


async def test_a_case_number_at_the_menu_goes_straight_to_the_code(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.SUBMITTED, created_at=dt.datetime.now(dt.UTC))
    assert "查询码" in await chat.say(f"查询 {case.number}")
    assert case.number in await chat.say(case.tracking_code)
    assert await Case.all().count() == 1


async def test_a_mistyped_number_can_be_corrected_and_number_and_code_can_come_together(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.ACCEPTED)
    prefix, day, serial = case.number.split("-")
    wrong = f"{prefix}-{day}-{int(serial) + 900:05d}"
    await chat.tap("query")
    assert "查询码" in await chat.say(wrong)
    reply = await chat.say(case.tracking_code)
    assert "不正确" in reply and "输入正确的编号" in reply  # says how to get out of it
    reply = await chat.say(case.number)  # the corrected number replaces the wrong one
    assert f"已改为查询 {case.number}" in reply and "查询码" in reply
    reply = await chat.say(case.tracking_code)
    assert case.number in reply and "已受理" in reply

    await chat.tap("query")
    reply = await chat.say(f"{case.number} {case.tracking_code}")  # both in one message
    assert "已受理" in reply and "请输入查询码" not in reply
    await chat.tap("query")
    assert "查询码" in await chat.say(case.number.replace("-", ""))  # bare digits, as read off a phone
    assert "已受理" in await chat.say(case.tracking_code)
    await chat.tap("query")
    await chat.say(wrong)
    assert "已受理" in await chat.say(f"{case.number}，{case.tracking_code}")  # corrected with its code at once


async def test_a_resolved_case_looked_up_by_code_says_where_to_rate_it(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.RESOLVED)
    await chat.tap("query")
    await chat.say(case.number)
    reply = await chat.say(case.tracking_code)
    assert "已办结" in reply and "不是在本会话中提交的" in reply and "8890" in reply
    assert not any(b.startswith("go:evaluate") for b in chat.buttons())  # someone else's to rate


async def test_a_rejected_case_says_why_and_the_agent_words_are_understood(chat: Chat) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.REJECTED)
    await CaseEvent.create(case=case, action=Action.REJECT, from_status=CaseStatus.SUBMITTED,
                           to_status=CaseStatus.REJECTED, actor_role="dispatcher", version=2,
                           data={"reject_class": "other_channel", "reason": "该事项已进入诉讼程序，请通过法院解决。"})
    await chat.tap("query")
    await chat.say(case.number)
    reply = await chat.say(case.tracking_code)
    assert "不予受理的原因：该事项已进入诉讼程序" in reply
    reply = await chat.say("我要人工客服")
    assert "热线 8890" in reply and "没有听明白" not in reply
