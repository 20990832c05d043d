"""Transcripts of the submit flow's location step with a map pin: the district comes from the city map (属地)."""

from __future__ import annotations

from types import SimpleNamespace

from storage.models import Case, DialogSession
from tests.bot.conftest import make_engine
from tests.support.chat import Chat, joined

STREETLIGHT = "小区门口的路灯坏了一个月，晚上很黑"  # names no place
XISHAN_PIN = (28.25, 112.87)
DONGHU_PIN = (28.28, 113.03)


def streetlights(text: str) -> list[SimpleNamespace]:
    """A classifier that always says 城乡建设 (a matter the catalogue routes by district)."""
    return [SimpleNamespace(category="城乡建设", score=0.9), SimpleNamespace(category="环境保护", score=0.05)]


async def to_location(chat: Chat, text: str = STREETLIGHT) -> str:
    """Describe the problem and accept the suggested category; return the category question."""
    await chat.tap("submit")
    question = await chat.say(text)
    assert "哪里" in await chat.tap("yes")
    return question


async def confirm(chat: Chat) -> Case:
    """Go anonymous, skip any similar case, confirm; return the case."""
    await chat.tap("anonymous")
    if "new" in chat.buttons():
        await chat.tap("new")
    await chat.tap("confirm")
    return await Case.get()


async def test_a_pin_in_xishan_gives_the_case_its_district_and_the_district_unit(city: str) -> None:
    chat = Chat(make_engine(suggester=streetlights))
    question = await to_location(chat)
    assert "江澜市住房和城乡建设局" in question  # no place named yet: the city bureau
    reply = joined(await chat.send(location=XISHAN_PIN))
    assert "联系" in reply
    session = await DialogSession.get()
    assert session.slots["district"] == "西山区"
    assert session.slots["suggested"][0]["unit_name"] == "西山区人民政府"
    await chat.tap("anonymous")
    if "new" in chat.buttons():
        await chat.tap("new")
    summary = chat.last[-1].text
    assert "西山区" in summary and "28.25000" in summary
    await chat.tap("confirm")
    case = await Case.get()
    assert (case.district, case.latitude, case.longitude) == ("西山区", 28.25, 112.87)
    assert case.suggestion["unit"] == "xishan" and case.category == "城乡建设"


async def test_a_pin_in_another_district_than_the_words_follows_the_pin(city: str) -> None:
    asked: list[str] = []

    def counted(text: str) -> list[SimpleNamespace]:
        asked.append(text)
        return streetlights(text)

    chat = Chat(make_engine(suggester=counted))
    await to_location(chat, "西山区翠微路口的路灯坏了一个月")
    await chat.send(location=DONGHU_PIN)
    case = await confirm(chat)
    assert case.district == "东湖区" and case.suggestion["unit"] == "donghu"
    assert len(asked) == 1  # the pin re-routes the earlier suggestion: the description is not classified again


async def test_a_pin_outside_the_city_keeps_the_position_and_leaves_the_district_to_staff(city: str) -> None:
    chat = Chat(make_engine(suggester=streetlights))
    await to_location(chat)
    reply = joined(await chat.send(location=(39.9042, 116.4074)))
    assert "联系" in reply and "不在本市范围内" in reply  # said, not silently kept
    case = await confirm(chat)
    assert case.district is None and case.street is None
    assert (case.latitude, case.longitude) == (39.9042, 116.4074)
    assert case.suggestion["unit"] == "zjj"  # the city-wide suggestion stays


async def test_a_pin_without_a_classifier_still_finds_the_district(chat: Chat) -> None:
    await chat.tap("submit")
    await chat.say(STREETLIGHT)
    await chat.tap(chat.buttons()[0])
    await chat.send(location=(28.12, 113.0))
    case = await confirm(chat)
    assert case.district == "南港区" and case.latitude == 28.12


async def test_an_impossible_pin_is_asked_again(chat: Chat) -> None:
    await chat.tap("submit")
    await chat.say(STREETLIGHT)
    await chat.tap(chat.buttons()[0])
    for bad in ((float("nan"), 113.0), (95.0, 113.0), (28.0, 200.0)):
        reply = joined(await chat.send(location=bad))
        assert "具体" in reply
        assert (await DialogSession.get()).step == "location"
