"""Supervision documents: the printable 督办单 from a case's supervise events, and the monthly 通报 per unit."""

from __future__ import annotations

import datetime as dt
import re

from storage.cases import CaseService
from storage.deadlines import SHANGHAI
from storage.lifecycle import CaseStatus
from storage.models import CaseEvent
from storage.scheduler import Scheduler
from tests.backoffice.conftest import City
from tests.support.builders import make_case

XSS = "<img src=x onerror=alert(1)>"


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI).astimezone(dt.UTC)


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


async def supervised(city: City) -> tuple[int, int, int]:
    """A lead-unit case that climbs the whole ladder in November, one of the other unit's, one untouched."""
    world = city.world
    late = await make_case(world, CaseStatus.IN_PROGRESS, now=at(2026, 11, 2), due_at=at(2026, 11, 20, 23),
                           title=XSS, text=f"{XSS} 电话13812345678", street="湖滨街道")
    other = await make_case(world, CaseStatus.IN_PROGRESS, now=at(2026, 11, 2), due_at=at(2026, 11, 20, 23),
                            lead_unit_id=world.other.id, title="公交站牌损坏")
    calm = await make_case(world, CaseStatus.IN_PROGRESS, now=at(2026, 11, 2), due_at=at(2026, 12, 30))
    clock = Clock(at(2026, 11, 19, 9))
    scheduler = Scheduler(CaseService(clock=clock), clock=clock)
    for moment in (at(2026, 11, 19, 9), at(2026, 11, 21, 9), at(2026, 11, 27, 9)):
        clock.now = moment
        await scheduler.tick()
    return late.id, other.id, calm.id


async def test_supervision_order_is_printable_and_escaped(login_as, city: City) -> None:
    late, other, calm = await supervised(city)
    levels = [e.data["level"] for e in await CaseEvent.filter(case_id=late, action="supervise").order_by("id")]
    assert levels == ["reminder", "order", "bulletin"]
    supervisor = await login_as("supervisor")
    status, case_page = await supervisor.get(f"/cases/{late}")
    assert f'href="/cases/{late}/supervision-order"' in case_page  # reachable from the case page
    status, page = await supervisor.get(f"/cases/{late}/supervision-order")
    assert status == 200
    assert "群众诉求督办单" in page and "@media print" not in page  # print rules live in app.css
    steps = re.findall(r"<tr><td>[0-9-]+ [0-9:]+</td><td>([^<]+)</td>", page)
    assert steps == ["催办", "督办单", "通报"]
    assert "市住房和城乡建设局" in page and "湖滨街道" in page
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "13812345678" not in page and "张三" not in page
    status, page = await supervisor.get(f"/cases/{calm}/supervision-order")
    assert status == 200 and "该诉求尚无督办记录" in page  # still printable by its address …
    status, page = await supervisor.get(f"/cases/{calm}")
    assert status == 200 and "supervision-order" not in page  # … but not offered unsupervised
    status, page = await supervisor.get(f"/cases/{late}/supervision-order?lang=en")
    assert "Supervision order" in page


async def test_supervision_order_follows_case_access(login_as, city: City) -> None:
    late, other, _ = await supervised(city)
    handler = await login_as("handler")
    status, _ = await handler.get(f"/cases/{late}/supervision-order")
    assert status == 200
    outsider = await login_as("other-handler")
    status, _ = await outsider.get(f"/cases/{late}/supervision-order")
    assert status == 404
    for bad in ("999999", "abc", "99999999999"):
        status, _ = await outsider.get(f"/cases/{bad}/supervision-order")
        assert status == 404


async def test_monthly_bulletin_per_unit(login_as, city: City) -> None:
    late, other, calm = await supervised(city)
    returned = await make_case(city.world, CaseStatus.RETURNED, now=at(2026, 11, 2), due_at=at(2026, 11, 5))
    supervisor = await login_as("supervisor")
    status, page = await supervisor.get("/reports/bulletin?month=2026-11")
    assert status == 200
    summary = re.search(r'data-table="bulletin">(.*?)</table>', page, re.S)
    assert summary is not None
    rows = [re.findall(r"<td>([^<]*)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", summary.group(1), re.S)]
    rows = [r for r in rows if r]
    assert sorted(rows) == sorted([["市住房和城乡建设局", "1", "1", "1", "1"], ["市交通运输局", "1", "1", "1", "1"]])
    assert f'/cases/{late}/supervision-order' in page and f'/cases/{calm}/supervision-order' not in page
    assert f'/cases/{returned.id}/' not in page  # back with the dispatcher: no unit holds it
    assert XSS not in page
    handler = await login_as("handler")
    _, page = await handler.get("/reports/bulletin?month=2026-11")
    assert "市住房和城乡建设局" in page and "市交通运输局" not in page and f"/cases/{other}/" not in page
    _, page = await supervisor.get("/reports/bulletin?month=2026-10")
    assert "本月没有超期或督办的诉求" in page
    operator = await login_as("operator")
    status, _ = await operator.get("/reports/bulletin?month=2026-11")
    assert status == 403
