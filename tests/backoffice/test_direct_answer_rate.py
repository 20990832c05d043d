"""The direct-answer rate (直接答复率): consultations answered at intake, per channel, on the dashboard."""

from __future__ import annotations

import datetime as dt

from storage.analytics import direct_answers
from storage.cases import CaseService, NewCase
from storage.deadlines import SHANGHAI
from storage.lifecycle import Action, Actor, Role
from storage.models import CaseKind, Channel
from tests.backoffice.conftest import City

NOW = dt.datetime(2026, 11, 10, 10, tzinfo=SHANGHAI).astimezone(dt.UTC)
START = dt.datetime(2026, 11, 1, tzinfo=SHANGHAI).astimezone(dt.UTC)
END = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI).astimezone(dt.UTC)


async def _calls(city: City) -> None:
    service = CaseService(clock=lambda: NOW)
    operator = Actor(roles=frozenset({Role.OPERATOR}), staff_id=city.staff["operator"].id)
    for text, channel, kind, answer in (
        ("供暖季从几号开始", Channel.PHONE, CaseKind.CONSULTATION, True),
        ("社保怎么转移", Channel.PHONE, CaseKind.CONSULTATION, False),
        ("公积金怎么提取", Channel.WEBCHAT, CaseKind.CONSULTATION, False),
        ("楼下烧烤油烟扰民", Channel.PHONE, CaseKind.COMPLAINT, False),
    ):
        case = await service.submit(NewCase(text=text, channel=channel, kind=kind), operator)
        if answer:
            await service.apply(case.id, Action.ANSWER_DIRECTLY, operator, {"reply": "每年11月15日开始供暖。"})


async def test_direct_answers_are_counted_per_channel_and_shown_on_the_dashboard(login_as, city: City) -> None:
    await _calls(city)
    figures = {f.channel: (f.consultations, f.answered, f.rate) for f in await direct_answers(START, END)}
    assert figures == {"phone": (2, 1, 0.5), "webchat": (1, 0, 0.0)}
    supervisor = await login_as("supervisor")
    async with supervisor.http.get(f"{supervisor.base}/analytics?month=2026-11&format=csv&table=direct") as resp:
        assert resp.status == 200
        rows = (await resp.text()).strip().splitlines()
    assert rows[-1].split(",")[1:3] == ["3", "1"]  # the total: three consultations, one answered directly
    handler = await login_as("handler")
    status, page = await handler.get("/analytics?month=2026-11")
    assert status == 200 and "直接答复率" not in page  # a unit sees its own unit, not the city's intake
