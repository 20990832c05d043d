"""Loading case texts for hot issues and risk, and case ids for the KPI engine, from the database."""

from __future__ import annotations

import datetime as dt

from intents.hot_issues import Message, detect
from intents.risk import Signal, collective
from storage.analytics import case_ids_active, load_case_texts, load_histories
from storage.lifecycle import CaseStatus
from storage.models import CaseEvent
from tests.support.builders import make_case, make_world

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
BARBECUE = ["楼下烧烤店油烟噪音扰民", "一楼烧烤店每晚噪音吵到凌晨，油烟很大", "底商烧烤店深夜噪音和油烟扰民",
            "烧烤店油烟直排，噪音扰民严重"]


async def test_case_texts_leave_out_confidential_and_malicious_cases(database_url: str) -> None:
    world = await make_world()
    kept = await make_case(world, CaseStatus.ACCEPTED, now=T0, title="路灯不亮", street="湖滨街道")
    merged = await make_case(world, CaseStatus.MERGED, now=T0 + dt.timedelta(hours=1), citizen_id=None)
    await make_case(world, CaseStatus.ACCEPTED, now=T0, confidential=True)
    await make_case(world, CaseStatus.ACCEPTED, now=T0, malicious=True)
    await make_case(world, CaseStatus.ACCEPTED, now=T0 - dt.timedelta(days=1))
    rows = await load_case_texts(T0, T0 + dt.timedelta(days=1))
    assert [r.id for r in rows] == [kept.id, merged.id]
    assert rows[0].citizen_key == f"c{world.citizen.id}" and rows[1].citizen_key is None
    assert "张三" not in repr(rows) and "138" not in repr(rows)
    assert Signal(**rows[0].as_signal_fields()).place == "湖滨街道"
    assert Message(**rows[0].as_message_fields()).title == "路灯不亮"
    everything = await load_case_texts(T0 - dt.timedelta(days=2), T0 + dt.timedelta(days=1), True, True)
    assert len(everything) == 5


async def test_cases_feed_hot_issues_and_collective_warnings(database_url: str) -> None:
    world = await make_world()
    for i, text in enumerate(BARBECUE * 2):
        await make_case(world, CaseStatus.ACCEPTED, now=T0 + dt.timedelta(hours=i), title=f"幸福里小区{text}",
                        text=f"幸福里小区{text}", street="湖滨街道", citizen_id=None)
    rows = await load_case_texts(T0, T0 + dt.timedelta(days=2))
    topics = detect([Message(**r.as_message_fields()) for r in rows])
    assert len(topics) == 1 and topics[0].size == 8 and topics[0].citizens == 8  # anonymous: each counts once
    warnings = collective([Signal(**r.as_signal_fields()) for r in rows])
    assert [w.key for w in warnings] == []  # 8 < 10 citizens and no collective language


async def test_case_ids_active_by_event_or_deadline(database_url: str) -> None:
    world = await make_world()
    with_event = await make_case(world, CaseStatus.ACCEPTED, now=T0)
    await CaseEvent.create(case=with_event, action="accept", from_status="submitted", to_status="accepted",
                           actor_role="dispatcher", version=2, created_at=T0 + dt.timedelta(hours=1))
    due_inside = await make_case(world, CaseStatus.IN_PROGRESS, now=T0 - dt.timedelta(days=30),
                                 due_at=T0 + dt.timedelta(hours=2))
    await make_case(world, CaseStatus.IN_PROGRESS, now=T0 - dt.timedelta(days=30), due_at=T0 - dt.timedelta(days=3))
    ids = await case_ids_active(T0, T0 + dt.timedelta(days=1))
    assert ids == [with_event.id, due_inside.id]
    assert len(await case_ids_active(None, None)) == 3
    histories = await load_histories(ids)
    assert [h.case_id for h in histories] == ids
    assert [e.action for e in histories[0].events] == ["accept"]
    assert histories[1].due_at == T0 + dt.timedelta(hours=2)
