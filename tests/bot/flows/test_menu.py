"""The menu: buttons, free text routed by intent, help."""

from __future__ import annotations

from storage.models import DialogSession
from tests.support.chat import Chat


async def test_greeting_shows_the_menu(chat: Chat) -> None:
    assert "请问需要办理什么" in await chat.say("你好")
    assert chat.buttons() == ["submit", "query", "evaluate", "help"]


async def test_a_complaint_typed_at_the_menu_becomes_the_description(chat: Chat) -> None:
    reply = await chat.say("东湖区幸福里小区路灯坏了一个月了，晚上很黑")
    assert "类别" in reply
    session = await DialogSession.get()
    assert (session.flow, session.step) == ("submit", "category")
    assert "路灯" in session.slots["text"]


async def test_short_intent_words_start_the_flows(chat: Chat) -> None:
    assert "请描述" in await chat.say("我要投诉")
    await chat.say("菜单")
    assert "编号" in await chat.say("查一下我的诉求进度")
    await chat.say("取消")
    assert "没有等待您评价" in await chat.say("我想评价")


async def test_gibberish_and_unknown_buttons_are_asked_again(chat: Chat) -> None:
    assert "没有听明白" in await chat.say("asdf qwer")
    assert "按钮" in await chat.tap("does-not-exist")
    assert "帮助" in await chat.tap("help") or "取消" in chat.last[0].text


async def test_english_free_text_at_the_menu_is_understood(chat: Chat) -> None:
    await chat.say("english")
    reply = await chat.say("Loud construction noise every night on Renmin Road near my building")
    assert "did not understand" not in reply and "category" in reply.lower()  # taken as the description
    await chat.say("menu")
    assert "appeal number" in await chat.say("what is the status of my case")  # the query flow
    await chat.say("menu")
    reply = await chat.say("I want to complain")
    assert "Describe the problem" in reply
