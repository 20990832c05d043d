"""The advisor degrades to the category menu without a model and uses the shipped model when there is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services import Advisor
from tests.bot.conftest import make_engine
from tests.support.chat import Chat


async def test_a_missing_model_means_no_suggestion_and_a_category_menu(city: str, tmp_path: Path) -> None:
    advisor = Advisor(model_path=tmp_path / "no-such-model.npz")
    assert await advisor.suggest("东湖区幸福里小区路灯坏了") == []
    engine = make_engine()
    engine.services.advisor = advisor
    chat = Chat(engine)
    await chat.tap("submit")
    assert "请选择问题类别" in await chat.say("东湖区幸福里小区路灯坏了一个月")
    assert "cat:城乡建设" in chat.buttons() and "unsure" in chat.buttons()


async def test_the_shipped_model_suggests_a_category_and_a_unit(city: str) -> None:
    from intents import classifier

    if not Path(classifier.DEFAULT_MODEL_PATH).exists():
        pytest.skip("no classifier model is shipped in this checkout")
    suggestions = await Advisor().suggest("东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑", "东湖区")
    assert suggestions and suggestions[0]["category"] and 0 < suggestions[0]["score"] <= 1


async def test_a_case_another_process_created_is_a_similar_candidate_within_seconds(
        city: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from bot import services
    from storage.cases import CaseService, NewCase, utcnow
    from storage.lifecycle import Actor, Role
    from storage.models import Channel

    monkeypatch.setattr(services, "CASES_REFRESH_SECONDS", 0.3)  # 5 s in production
    advisor = Advisor(model_path=None)
    text = "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑"
    assert await advisor.similar(text, "东湖区", None, utcnow()) is None  # nothing yet (and the index is loaded)
    other = await CaseService().submit(NewCase(text=text, channel=Channel.PHONE, district="东湖区"),
                                       Actor(roles=frozenset({Role.OPERATOR})))  # another worker's citizen
    await asyncio.sleep(0.35)  # the catalogue (30 s) is not due, the cases are
    await advisor.similar(text, "东湖区", None, utcnow())  # starts the refresh in the background: steps go on
    await advisor.settle()
    found = await advisor.similar(text, "东湖区", None, utcnow())
    assert found is not None and found.number == other.number


async def test_on_postgresql_a_case_committed_after_a_higher_id_is_still_found(
        city: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from bot import services
    from storage.cases import CaseService, NewCase, utcnow
    from storage.lifecycle import Actor, Role
    from storage.models import Case, Channel

    if Case._meta.db.capabilities.dialect == "sqlite":
        pytest.skip("SQLite has one writer at a time: its ids commit in order")
    monkeypatch.setattr(services, "CASES_REFRESH_SECONDS", 0.3)
    operator = Actor(roles=frozenset({Role.OPERATOR}))
    late = await CaseService().submit(NewCase(text="东湖区幸福里小区3栋门口路灯坏了一个月", channel=Channel.PHONE,
                                              district="东湖区"), operator)
    await CaseService().submit(NewCase(text="西山区人民路下水道堵塞", channel=Channel.PHONE), operator)
    hidden = late.id
    await Case.filter(id=hidden).update(status="archived")  # as if its transaction had not committed yet
    advisor = Advisor(model_path=None)
    assert await advisor.similar("东湖区幸福里小区3栋门口路灯坏了一个月", "东湖区", None, utcnow()) is None
    await Case.filter(id=hidden).update(status=late.status)  # now it has: a lower id than one already read
    await asyncio.sleep(0.35)
    await advisor.similar("东湖区幸福里小区3栋门口路灯坏了一个月", "东湖区", None, utcnow())  # starts the refresh
    await advisor.settle()
    found = await advisor.similar("东湖区幸福里小区3栋门口路灯坏了一个月", "东湖区", None, utcnow())
    assert found is not None and found.id == hidden


async def test_a_slow_refresh_runs_beside_the_steps_instead_of_in_front_of_them(
        city: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from bot import services
    from storage.cases import utcnow

    monkeypatch.setattr(services, "CASES_REFRESH_SECONDS", 0.1)
    advisor = Advisor(model_path=None)
    text = "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑"
    await advisor.similar(text, "东湖区", None, utcnow())  # the first load is waited for
    release, entered = asyncio.Event(), asyncio.Event()

    async def slow() -> None:  # another worker's thousands of new cases, say
        entered.set()
        await release.wait()

    monkeypatch.setattr(advisor, "_add_new_cases", slow)
    await asyncio.sleep(0.15)
    for _ in range(3):  # each step answers at once from what is loaded while the refresh goes on
        await asyncio.wait_for(advisor.similar(text, "东湖区", None, utcnow()), timeout=1)
        assert await asyncio.wait_for(advisor.categories(), timeout=1)
    assert entered.is_set()  # the refresh did start, and ran beside the steps
    release.set()
    await advisor.settle()
