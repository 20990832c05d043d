"""Transcripts of the submit flow, including every bad input."""

from __future__ import annotations

import pytest

from bot import uploads
from bot.dialog.parsers import MAX_TEXT
from storage.models import Attachment, Case, Citizen, DialogSession, Notification, Urgency
from tests.support.chat import Chat
from tests.support.images import png

DESCRIPTION = "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑"


async def to_describe(chat: Chat) -> None:
    await chat.tap("submit")


async def finish(chat: Chat, contact: str = "anonymous") -> str:
    """From the category question to the case number."""
    assert "哪里" in await chat.tap(chat.buttons()[0])
    assert "联系" in await chat.say("东湖区幸福里小区3栋")
    await chat.tap(contact)
    if contact != "anonymous":
        await chat.say("13812345678")
    if "new" in chat.buttons():
        await chat.tap("new")
    assert "请确认" in chat.last[-1].text
    return await chat.tap("confirm")


async def test_full_submission_gives_number_and_tracking_code(chat: Chat) -> None:
    await to_describe(chat)
    assert "类别" in await chat.say(DESCRIPTION)
    done = await finish(chat, "phone")
    case = await Case.get()
    assert case.number in done and case.tracking_code in done
    assert case.text == DESCRIPTION and case.district == "东湖区" and case.category == "城乡建设"
    assert not case.anonymous
    assert (await Citizen.get(id=case.citizen_id)).phone == "13812345678"
    assert await Notification.filter(case_id=case.id, template="submit").count() == 1
    session = await DialogSession.get()
    assert (session.flow, session.step) == ("menu", "start")


async def test_confidential_and_anonymous_flags(chat: Chat) -> None:
    await to_describe(chat)
    await chat.say(DESCRIPTION)
    await finish(chat, "confidential")
    case = await Case.get()
    assert case.confidential and not case.anonymous


async def test_emergency_words_warn_at_once_and_flag_the_case(chat: Chat) -> None:
    await to_describe(chat)
    reply = await chat.say("我家楼下着火了，浓烟很大，有人被困")
    assert "119" in chat.last[0].text and "紧急" in reply
    await finish(chat)
    assert (await Case.get()).urgency == Urgency.EMERGENCY


async def test_emergency_at_the_menu_warns_once_and_goes_straight_into_a_submission(chat: Chat) -> None:
    await chat.say("你好")
    reply = await chat.say("小区里燃气泄漏了，味道很大，我要投诉")
    assert "119" in chat.last[0].text and reply.count("⚠") == 1  # warned once, not twice
    assert "类别" in chat.last[-1].text or "对吗" in chat.last[-1].text  # the description is taken already
    await finish(chat)
    case = await Case.get()
    assert case.urgency == Urgency.EMERGENCY and "燃气泄漏" in case.text


async def test_a_bare_emergency_is_never_too_short(chat: Chat) -> None:
    reply = await chat.say("煤气泄漏")  # four characters at the menu: no "didn't understand", no case promised yet
    assert "119" in reply and reply.count("⚠") == 1 and "没有听明白" not in reply
    await finish(chat)
    assert (await Case.get()).urgency == Urgency.EMERGENCY
    await to_describe(chat)
    reply = await chat.say("着火了")  # below the usual five characters in the describe step
    assert "119" in reply and "太简短" not in reply


async def test_a_similar_open_case_can_be_followed_instead(chat: Chat) -> None:
    await to_describe(chat)
    await chat.say(DESCRIPTION)
    await finish(chat)
    other = Chat(chat.engine, user_key="web-neighbour")
    await other.tap("submit")
    await other.say("东湖区幸福里小区3栋门口的路灯坏了快一个月了，晚上很黑")
    await other.tap(other.buttons()[0])
    await other.say("东湖区幸福里小区3栋")
    reply = await other.tap("anonymous")
    first = await Case.get()
    assert first.number in reply and "follow" in other.buttons()
    assert first.tracking_code not in reply
    assert "路灯坏了" not in reply and "东湖区" in reply  # the place, never the other citizen's words
    followed = await other.tap("follow")
    assert first.number in followed
    assert await Case.all().count() == 1


async def test_a_similar_case_elsewhere_is_not_offered(chat: Chat) -> None:
    await to_describe(chat)
    await chat.say(DESCRIPTION)
    await finish(chat)
    other = Chat(chat.engine, user_key="web-elsewhere")
    await other.tap("submit")
    await other.say("小区3栋门口的路灯坏了快一个月了，晚上很黑")
    await other.tap(other.buttons()[0])
    await other.say("西山区人民路")  # the same words, another district
    reply = await other.tap("anonymous")
    assert "follow" not in other.buttons() and "请确认" in reply


@pytest.mark.parametrize("bad, answer", [
    ("", "没有收到"),
    ("   \u200b\u200d\u2060  ", "没有收到"),
    ("😀😡🔥🔥", "文字"),
    ("路灯" * (MAX_TEXT // 2 + 1), "太长"),
    ("x" * 10_000, "太长"),
    ("好", "太简短"),
])
async def test_bad_descriptions_are_refused_politely_and_asked_again(chat: Chat, bad: str, answer: str) -> None:
    await to_describe(chat)
    reply = await chat.say(bad)
    assert answer in reply and "请描述" in reply
    session = await DialogSession.get()
    assert (session.flow, session.step) == ("submit", "describe")


async def test_html_and_control_characters_are_kept_as_plain_text(chat: Chat) -> None:
    await to_describe(chat)
    text = "<img src=x onerror=alert(1)> 路灯\x00坏了\u202e很久\x07了，\u200b东湖区"
    await chat.say(text)
    await finish(chat)
    case = await Case.get()
    assert case.text == "<img src=x onerror=alert(1)> 路灯坏了很久了，东湖区"


async def test_restart_clears_the_answers(chat: Chat) -> None:
    await to_describe(chat)
    await chat.say(DESCRIPTION)
    await chat.tap(chat.buttons()[0])
    await chat.say("东湖区幸福里小区3栋")
    await chat.tap("anonymous")
    assert "请描述" in await chat.tap("restart")
    assert "text" not in (await DialogSession.get()).slots


async def test_a_flood_of_submissions_is_throttled_and_nothing_is_lost(chat: Chat) -> None:
    chat.engine.services.submissions_per_hour = 2
    for i in range(2):
        await chat.tap("submit")
        await chat.say(f"{DESCRIPTION}，第{i}次反映")
        await finish(chat)
    await chat.tap("submit")
    await chat.say(f"{DESCRIPTION}，第三次反映")
    reply = await finish(chat)
    assert "稍后" in reply and await Case.all().count() == 2
    session = await DialogSession.get()
    assert session.step == "summary" and "第三次" in session.slots["text"]


async def test_the_photos_sent_with_the_description_belong_to_the_case(chat: Chat, tmp_path) -> None:
    taken = await uploads.store(png(20, 10), "a.png", tmp_path)
    other = await uploads.store(png(30, 10), "b.png", tmp_path)
    await to_describe(chat)
    assert "1张" in "".join(o.text for o in await chat.send(attachments=(taken.id,)))
    await chat.say(DESCRIPTION)
    await finish(chat)
    case = await Case.get()
    assert (await Attachment.get(id=taken.id)).case_id == case.id
    assert (await Attachment.get(id=other.id)).case_id is None  # another upload, never sent, stays unclaimed


async def test_a_photo_sent_at_the_menu_starts_a_submission_and_is_kept(chat: Chat, tmp_path) -> None:
    taken = await uploads.store(png(20, 10), "a.png", tmp_path)
    reply = "".join(o.text for o in await chat.send(attachments=(taken.id,)))  # no words yet, at the menu
    assert "照片已收到（1张）" in reply and "请描述" in reply and "没有听明白" not in reply
    await chat.say(DESCRIPTION)
    await finish(chat)
    assert (await Attachment.get(id=taken.id)).case_id == (await Case.get()).id


async def test_photos_sent_at_later_steps_are_kept_and_the_question_asked_again(chat: Chat, tmp_path) -> None:
    first, second, third = [await uploads.store(png(20 + i, 10), f"{i}.png", tmp_path) for i in range(3)]
    await to_describe(chat)
    await chat.send(text=DESCRIPTION, attachments=(first.id,))
    offered = chat.buttons()
    replies = await chat.send(attachments=(second.id,))  # an album's second picture, while the category is asked
    assert replies[0].text == "照片已收到，共2张。" and chat.buttons() == offered  # asked again, its buttons with it
    assert "哪里" in await chat.tap(offered[0])
    replies = await chat.send(attachments=(third.id,))  # while the place is asked
    assert replies[0].text == "照片已收到，共3张。" and replies[-1].expect == "location"  # the location button again
    assert "联系" in await chat.say("东湖区幸福里小区3栋")
    await chat.tap("anonymous")
    if "new" in chat.buttons():
        await chat.tap("new")
    assert "照片：3张" in chat.last[-1].text
    await chat.tap("confirm")
    case = await Case.get()
    assert await Attachment.filter(case_id=case.id).count() == 3


async def test_an_emergency_is_caught_at_every_step_and_in_english(chat: Chat) -> None:
    for text, hotline in (("有个小孩掉进河里了", "119"), ("电梯困人了，里面有老人", "119"), ("家里进小偷了", "110")):
        reply = await chat.say(text)  # at the menu: these read as nothing else
        assert hotline in reply and "没有听明白" not in reply, text
        await chat.say("取消")
    await to_describe(chat)
    await chat.say(DESCRIPTION)
    await chat.tap(chat.buttons()[0])
    reply = await chat.say("快来人啊，楼下着火了，有人被困")  # typed where the place is asked
    assert "119" in reply and "⚠" in reply
    await chat.tap("anonymous")
    if "new" in chat.buttons():
        await chat.tap("new")
    await chat.tap("confirm")
    assert (await Case.get()).urgency == Urgency.EMERGENCY  # the submission under way is flagged for staff
    english = Chat(chat.engine, user_key="web-en")
    await english.say("english")
    await english.tap("submit")
    assert "119" in await english.say("Gas leak in my kitchen, it smells very strong")


async def test_a_self_harm_threat_gets_the_help_line_and_no_bureau(chat: Chat) -> None:
    from types import SimpleNamespace

    from tests.bot.conftest import make_engine

    chat = Chat(make_engine(suggester=lambda text: [SimpleNamespace(category="商贸旅游", score=0.9)]))
    await to_describe(chat)
    reply = await chat.say("我不想活了，谁也帮不了我")
    assert "12356" in reply and "110" in reply
    assert "建议由" not in reply and "商务局" not in reply  # no category or bureau suggested to a person in crisis
    assert "unsure" in chat.buttons() or "请选择问题类别" in reply


async def test_a_follower_finds_the_followed_case_and_is_told_its_outcome(chat: Chat) -> None:
    from bot.notifier import render
    from storage.cases import CaseService
    from storage.lifecycle import Action, Actor, CaseStatus, Role
    from storage.models import CaseFollower, Notification

    await to_describe(chat)
    await chat.say(DESCRIPTION)
    await finish(chat)
    first = await Case.get()
    other = Chat(chat.engine, user_key="web-follower")
    await other.tap("submit")
    await other.say("东湖区幸福里小区3栋门口的路灯坏了快一个月了，晚上很黑")
    await other.tap(other.buttons()[0])
    await other.say("东湖区幸福里小区3栋")
    await other.tap("anonymous")
    assert "已关注诉求" in await other.tap("follow")
    follower = await CaseFollower.get(case_id=first.id)
    await other.tap("query")
    assert f"case:{first.id}" in other.buttons()  # among "my cases", as followed
    assert "关注 " + first.number in [c.label for o in other.last for c in o.choices][0]

    await Case.filter(id=first.id).update(status=CaseStatus.PENDING_REVIEW, reply="路灯已于今日修复。")
    await CaseService(hotline_prefix="8890").apply(first.id, Action.APPROVE_REPLY,
                                                   Actor(roles=frozenset({Role.SUPERVISOR})))
    told = await Notification.get(citizen_id=follower.citizen_id, template="followed_approve_reply")
    text = render(told).text
    assert first.number in text and "路灯已于今日修复" in text
    assert await Notification.filter(citizen_id=first.citizen_id, template="approve_reply").count() == 1


async def test_a_merged_appeals_citizen_sees_and_is_told_how_the_other_goes(chat: Chat) -> None:
    from bot.notifier import render
    from storage.cases import CaseService
    from storage.lifecycle import Action, Actor, CaseStatus, Role
    from storage.models import Notification

    await to_describe(chat)
    await chat.say(DESCRIPTION)
    await finish(chat)
    mine = await Case.get()
    parent = await Case.create(number="8890-20261127-09999", tracking_code="PARENT0001", text="同一路灯坏了",
                               channel="phone", status=CaseStatus.PENDING_REVIEW, reply="已修复。")
    service = CaseService(hotline_prefix="8890")
    await service.apply(mine.id, Action.MERGE, Actor(roles=frozenset({Role.DISPATCHER})), {"parent": parent.number})
    await service.apply(parent.id, Action.APPROVE_REPLY, Actor(roles=frozenset({Role.SUPERVISOR})))
    told = await Notification.get(citizen_id=mine.citizen_id, template="followed_approve_reply")
    assert parent.number in render(told).text and "已修复" in render(told).text
    await chat.tap("query")
    reply = await chat.tap(f"case:{mine.id}")
    assert f"已并入诉求 {parent.number} 一并办理：已办结" in reply and "已修复" in reply
