"""Queues: the right cases in each, filters, Chinese search and keyset pages that never repeat a case."""

from __future__ import annotations

import datetime as dt
import re

from storage.lifecycle import CaseStatus
from storage.models import Case, Channel, Urgency
from tests.backoffice.conftest import City
from tests.support.builders import make_case


def numbers(page: str) -> list[str]:
    """Return the case numbers listed on a queue page."""
    return re.findall(r'<a href="/cases/\d+">([0-9-]+)</a>', page)


async def test_each_queue_holds_its_statuses_and_clocks(login_as, city: City) -> None:
    now = dt.datetime.now(dt.UTC)
    made = {
        "submitted": await make_case(city.world, CaseStatus.SUBMITTED),
        "to_dispatch": await make_case(city.world, CaseStatus.RETURNED),
        "to_sign": await make_case(city.world, CaseStatus.DISPATCHED),
        "in_progress": await make_case(city.world, CaseStatus.REOPENED),
        "review": await make_case(city.world, CaseStatus.PENDING_REVIEW),
        "callback": await make_case(city.world, CaseStatus.RESOLVED),
        "overdue": await make_case(city.world, CaseStatus.IN_PROGRESS, due_at=now - dt.timedelta(hours=1)),
        "due_soon": await make_case(city.world, CaseStatus.IN_PROGRESS, due_at=now + dt.timedelta(hours=5)),
    }
    supervisor = await login_as("supervisor")
    for queue, case in made.items():
        _, page = await supervisor.get(f"/queues/{queue}")
        assert case.number in numbers(page), queue
    _, page = await supervisor.get("/queues/overdue")
    assert numbers(page) == [made["overdue"].number] and "已超期" in page
    _, page = await supervisor.get("/queues/all")
    assert len(numbers(page)) == len(made)


async def test_filters_and_chinese_search(login_as, city: City) -> None:
    a = await make_case(city.world, CaseStatus.IN_PROGRESS, title="噪音扰民", text="楼下烧烤店深夜噪音很大",
                        district="西山区", channel=Channel.PHONE, urgency=Urgency.URGENT, category="环境保护")
    b = await make_case(city.world, CaseStatus.IN_PROGRESS, district="东湖区")
    old = await make_case(city.world, CaseStatus.SUBMITTED, created_at=dt.datetime(2026, 1, 5, 3, tzinfo=dt.UTC))
    dispatcher = await login_as("dispatcher")
    checks = {
        "q=烧烤": [a], "q=" + a.number[-5:]: [a], "district=西山区": [a], "channel=phone": [a],
        "urgency=urgent": [a], "category=环境保护": [a], "status=submitted": [old],
        f"unit={city.world.lead.id}": [b, a], "since=2026-01-05&until=2026-01-05": [old],
        "since=2026-02-01&status=in_progress&district=东湖区": [b],
    }
    for query, expected in checks.items():
        status, page = await dispatcher.get(f"/queues/all?{query}")
        assert status == 200 and numbers(page) == [c.number for c in expected], query


async def test_keyset_pages_cover_every_case_once(login_as, city: City) -> None:
    now = dt.datetime.now(dt.UTC)
    made = [await make_case(city.world, CaseStatus.IN_PROGRESS, due_at=now + dt.timedelta(days=i % 7))
            for i in range(120)]
    supervisor = await login_as("supervisor")
    for sort in ("new", "old", "due"):
        seen: list[str] = []
        path = f"/queues/all?sort={sort}"
        while path:
            status, page = await supervisor.get(path)
            assert status == 200
            seen += numbers(page)
            m = re.search(r'<a href="\?([^"]+)" rel="next">', page)
            path = f"/queues/all?{m.group(1).replace('&amp;', '&')}" if m else ""
        assert sorted(seen) == sorted(c.number for c in made) and len(seen) == len(set(seen)), sort
    _, body = await supervisor.api("GET", "/api/queues/all/cases?sort=due")
    dues = [c["due_at"] for c in body["items"]]
    assert dues == sorted(dues) and body["next_cursor"]
    assert await Case.all().count() == 120
