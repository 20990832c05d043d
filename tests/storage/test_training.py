"""Staff's dispatch decisions become training data beside the classifier's suggestion."""

from __future__ import annotations

import csv
from pathlib import Path

from storage.cases import CaseService
from storage.lifecycle import Action, CaseStatus, Role
from storage.models import AuditEntry, CaseEvent
from storage.training import dispatch_decisions, export_decisions
from tests.support.builders import make_case, make_staff, make_world


async def test_a_corrected_dispatch_is_exported_with_the_suggestion(database_url: str, tmp_path: Path) -> None:
    world = await make_world()
    service = CaseService()
    dispatcher = world.actor(Role.DISPATCHER)
    agreed = await make_case(world, CaseStatus.ACCEPTED, suggestion={"category": "城乡建设", "unit": "lead"})
    changed = await make_case(world, CaseStatus.ACCEPTED, title="公交线路", text="希望增开到高铁站的公交",
                              suggestion={"category": "城乡建设", "unit": "lead"})
    await make_case(world, CaseStatus.ACCEPTED)  # never dispatched: not a decision
    secret = await make_case(world, CaseStatus.ACCEPTED, confidential=True, suggestion={"category": "交通运输"})
    await service.apply(agreed.id, Action.DISPATCH, dispatcher, {"lead_unit": "lead"})
    await service.apply(changed.id, Action.DISPATCH, dispatcher, {"lead_unit": "other", "category": "交通运输"})
    await service.apply(secret.id, Action.DISPATCH, dispatcher, {"lead_unit": "lead"})  # confidential: never exported

    event = await CaseEvent.get(case_id=changed.id, action=Action.DISPATCH)
    assert (event.data["suggested_category"], event.data["category"]) == ("城乡建设", "交通运输")
    assert (event.data["suggested_unit"], event.data["lead_unit"]) == ("lead", "other")

    all_decisions = await dispatch_decisions()
    assert [(d.label, d.corrected) for d in all_decisions] == [("城乡建设", False), ("交通运输", True)]
    out = tmp_path / "corrections.csv"
    staff = await make_staff("exporter", [Role.SUPERVISOR])
    assert await export_decisions(out, staff.id, "月度模型更新", only_corrections=True,
                                  mask=lambda s: s.replace("高铁站", "某地")) == 1
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows == [
        {"title": "公交线路", "body": "希望增开到某地的公交", "label": "交通运输", "suggested": "城乡建设"}
    ]
    audit = await AuditEntry.get(action="export_training")
    assert audit.reason == "月度模型更新" and audit.data["rows"] == 1 and audit.staff_id == staff.id
