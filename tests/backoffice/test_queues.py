"""Queues: the right cases in each, filters, Chinese search and keyset pages that never repeat a case."""

from __future__ import annotations

import datetime as dt
import re

from storage.lifecycle import CaseStatus, Role
from storage.models import Case, Channel, Staff, Urgency
from tests.backoffice.conftest import City, password_hash
from tests.support.builders import make_case


def numbers(page: str) -> list[str]:
    """Return the case numbers listed on a queue page."""
    return re.findall(r'<a href="/cases/\d+">([0-9-]+)</a>', page)


async def walk(client, path: str) -> list[str]:  # noqa: ANN001
    """Follow a queue's next links from ``path``; return every case number listed."""
    seen: list[str] = []
    while path:
        status, page = await client.get(path)
        assert status == 200
        seen += numbers(page)
        m = re.search(r'<a href="\?([^"]+)" rel="next">', page)
        path = f"{path.split('?')[0]}?{m.group(1).replace('&amp;', '&')}" if m else ""
    return seen


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
    assert '<span class="clock-name">办理</span> 已超期' in page  # which clock it is, in words on the row
    _, page = await supervisor.get("/queues/all")
    assert len(numbers(page)) == len(made)
    closed = await make_case(city.world, CaseStatus.IN_PROGRESS, due_at=now + dt.timedelta(days=5),
                             return_due_at=now - dt.timedelta(days=3))
    _, page = await supervisor.get(f"/queues/in_progress?q={closed.number[-5:]}")
    assert closed.number in numbers(page) and "退单</span> 已超期" not in page  # a closed window is nobody's lateness


async def test_a_returned_case_is_late_for_the_dispatchers_not_for_the_unit_that_returned_it(
        login_as, city: City) -> None:
    now = dt.datetime.now(dt.UTC)
    returned = await make_case(city.world, CaseStatus.RETURNED, due_at=now - dt.timedelta(hours=1))
    late = await make_case(city.world, CaseStatus.IN_PROGRESS, due_at=now - dt.timedelta(hours=1))
    soon = await make_case(city.world, CaseStatus.RETURNED, due_at=now + dt.timedelta(hours=5))
    handler = await login_as("handler")
    assert returned.number in numbers((await handler.get("/queues/mine"))[1])  # still its history
    _, page = await handler.get("/queues/overdue")
    assert numbers(page) == [late.number]
    assert soon.number not in numbers((await handler.get("/queues/due_soon"))[1])
    supervisor = await login_as("supervisor")
    assert set(numbers((await supervisor.get("/queues/overdue"))[1])) == {returned.number, late.number}
    assert soon.number in numbers((await supervisor.get("/queues/due_soon"))[1])


async def test_filters_and_chinese_search(login_as, city: City) -> None:
    a = await make_case(city.world, CaseStatus.IN_PROGRESS, title="噪音扰民", text="楼下烧烤店深夜噪音很大",
                        district="西山区", channel=Channel.PHONE, urgency=Urgency.URGENT, category="环境保护")
    b = await make_case(city.world, CaseStatus.IN_PROGRESS, district="东湖区")
    old = await make_case(city.world, CaseStatus.SUBMITTED, created_at=dt.datetime(2026, 1, 5, 3, tzinfo=dt.UTC))
    dispatcher = await login_as("dispatcher")
    checks = {
        "q=烧烤": [a], "q=深夜 烧烤": [a], "q=烧烤 东湖": [], "q=" + a.number[-5:]: [a], "district=西山区": [a],
        "channel=phone": [a],
        "urgency=urgent": [a], "category=环境保护": [a], "status=submitted": [old],
        f"unit={city.world.lead.id}": [b, a], "since=2026-01-05&until=2026-01-05": [old],
        "since=2026-02-01&status=in_progress&district=东湖区": [b],
    }
    for query, expected in checks.items():
        status, page = await dispatcher.get(f"/queues/all?{query}")
        assert status == 200 and numbers(page) == [c.number for c in expected], query
    status, page = await dispatcher.get("/queues/all?q=" + "烧烤" * 60)
    assert status == 400 and "搜索词不能超过100字" in page  # says what is wrong, not "q"


async def test_keyset_pages_cover_every_case_once(login_as, city: City) -> None:
    now = dt.datetime.now(dt.UTC)
    made = [await make_case(city.world, CaseStatus.IN_PROGRESS, due_at=now + dt.timedelta(days=i % 7))
            for i in range(120)]
    supervisor = await login_as("supervisor")
    for sort in ("new", "old", "due"):
        seen = await walk(supervisor, f"/queues/all?sort={sort}")
        assert sorted(seen) == sorted(c.number for c in made) and len(seen) == len(set(seen)), sort
    _, body = await supervisor.api("GET", "/api/queues/all/cases?sort=due")
    dues = [c["due_at"] for c in body["items"]]
    assert dues == sorted(dues) and body["next_cursor"]
    assert await Case.all().count() == 120


async def test_search_pages_list_every_match_once_for_city_and_units(login_as, city: City) -> None:
    await Staff.create(username="co-handler", display_name="协办", password_hash=password_hash(),
                       roles=[Role.HANDLER.value], unit=city.world.co)
    made = [await make_case(city.world, CaseStatus.IN_PROGRESS if i % 3 else CaseStatus.SUBMITTED,
                            title=f"第{i}件", text="工地夜间噪音扰民" if i % 2 else "路灯不亮",
                            tracking_code=f"QZ{i + 22222222}".replace("0", "A").replace("1", "B"))
            for i in range(130)]
    noisy = sorted(c.number for c in made if "噪音" in c.text)
    noisy_units = sorted(c.number for c in made if "噪音" in c.text and c.status != CaseStatus.SUBMITTED)
    supervisor, handler, co_handler = [await login_as(n) for n in ("supervisor", "handler", "co-handler")]
    dispatched = sum(c.status != CaseStatus.SUBMITTED for c in made)
    _, city_counts = await supervisor.api("GET", "/api/queues")
    assert city_counts["all"] == 130 and city_counts["in_progress"] == dispatched
    assert city_counts["submitted"] == 130 - dispatched
    for unit_staff in (handler, co_handler):  # a co-unit counts the cases it co-handles
        _, unit_counts = await unit_staff.api("GET", "/api/queues")
        assert unit_counts["mine"] == unit_counts["in_progress"] == dispatched
    for sort in ("new", "old"):
        seen = await walk(supervisor, f"/queues/all?q=噪音&sort={sort}")
        assert sorted(seen) == noisy and len(seen) == len(set(seen)), sort
        for unit_staff in (handler, co_handler):  # the lead unit's and the co-unit's lists alike
            seen = await walk(unit_staff, f"/queues/mine?q=噪音&sort={sort}")
            assert sorted(seen) == noisy_units and len(seen) == len(set(seen)), sort
    newest = await walk(supervisor, "/queues/in_progress?q=夜间噪音")
    assert sorted(newest) == sorted(c.number for c in made if "噪音" in c.text and c.status == CaseStatus.IN_PROGRESS)
    assert newest == sorted(newest, key=lambda n: int(n.rsplit("-", 1)[1]), reverse=True)
    assert await walk(supervisor, "/queues/all?q=地铁站") == []
    assert await walk(handler, f"/queues/mine?q={made[1].tracking_code}") == [made[1].number]


async def test_sidebar_counts_stop_at_99_plus_and_the_api_counts_to_1000(login_as, city: City) -> None:
    await Case.bulk_create([
        Case(number=f"8890-20260102-{i:05d}", tracking_code=f"BULK{i:06d}", text="路灯不亮", channel=Channel.PHONE,
             status=CaseStatus.SUBMITTED)
        for i in range(1000)
    ], batch_size=500)
    review = await make_case(city.world, CaseStatus.PENDING_REVIEW)
    supervisor = await login_as("supervisor")
    _, page = await supervisor.get("/queues/review")
    counts = dict(re.findall(r'<span>([^<]+)</span><span class="count">([^<]+)</span>', page))
    assert counts["待受理"] == counts["全部诉求"] == "99+" and counts["待审核"] == "1"
    assert review.number in numbers(page)
    _, exact = await supervisor.api("GET", "/api/queues")
    assert exact["submitted"] == exact["all"] == 1000 and exact["review"] == 1
