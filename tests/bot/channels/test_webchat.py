"""The web-chat channel over real websockets: a submission, a query, resume after reconnect."""

from __future__ import annotations

from storage.models import Case
from tests.support.chat import to_summary
from tests.support.webchat import WebChat


async def submit(chat: WebChat, text: str = "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑") -> str:
    """Run a whole submission; return the final reply."""
    await to_summary(chat, text)
    return await chat.tap("confirm")


async def test_a_submission_over_the_websocket_gives_one_case_number(base: str) -> None:
    chat = await WebChat(base).open()
    try:
        assert "submit" in chat.buttons()
        done = await submit(chat)
        case = await Case.get()
        assert case.number in done and case.tracking_code in done
        assert "查询码" in done
    finally:
        await chat.close()


async def test_reconnect_resumes_at_the_same_question(base: str) -> None:
    chat = await WebChat(base).open()
    try:
        await chat.tap("submit")
        await chat.say("西山区人民路夜间施工噪音很大，影响休息")
        asked = [m["text"] for m in chat.last]
        await chat.ws.close()
        resumed = await chat.connect()
        assert [m["text"] for m in resumed] == asked
    finally:
        await chat.close()


async def _next_notice(chat: WebChat) -> dict:
    import json

    while not chat.notices:
        msg = await chat.ws.receive(timeout=10)
        data = json.loads(msg.data)
        if data["type"] == "notice":
            return data
    return chat.notices.pop(0)


async def test_staff_changes_are_pushed_while_connected_and_kept_while_away(base: str) -> None:
    from storage.cases import CaseService
    from storage.lifecycle import Action, Actor, Role

    dispatcher = Actor(roles=frozenset({Role.DISPATCHER}), name="dispatcher")
    chat = await WebChat(base).open()
    try:
        await submit(chat)
        case = await Case.get()
        await CaseService().apply(case.id, Action.ACCEPT, dispatcher)
        notice = await _next_notice(chat)
        assert case.number in notice["messages"][0]["text"] and "受理" in notice["messages"][0]["text"]
        await chat.ws.close()
        await CaseService().apply(case.id, Action.DISPATCH, dispatcher, {"lead_unit": "zjj"})
        await chat.connect()
        notice = await _next_notice(chat)
        assert "江澜市住房和城乡建设局" in notice["messages"][0]["text"]
    finally:
        await chat.close()
