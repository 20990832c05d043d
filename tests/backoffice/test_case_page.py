"""The case page: the citizen's words, masked personal data, timeline, clocks and exactly the allowed actions."""

from __future__ import annotations

import datetime as dt
import re

from backoffice.access import actor_for
from storage.cases import CaseView
from storage.lifecycle import CaseStatus, allowed_actions
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
    expected = allowed_actions(await CaseView.load(case, dt.datetime.now(dt.UTC)), actor_for(city.staff["handler"]))
    assert forms(page) == [a.value for a in expected] and "sign" in forms(page)
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


async def test_every_role_sees_exactly_its_allowed_actions(login_as, city: City) -> None:
    now = dt.datetime.now(dt.UTC)
    cases = [await make_case(city.world, s) for s in (CaseStatus.SUBMITTED, CaseStatus.DISPATCHED,
                                                      CaseStatus.IN_PROGRESS, CaseStatus.PENDING_REVIEW,
                                                      CaseStatus.RESOLVED)]
    for username in ("operator", "dispatcher", "handler", "head", "supervisor", "auditor"):
        client = await login_as(username)
        actor = actor_for(city.staff[username])
        for case in cases:
            status, page = await client.get(f"/cases/{case.id}")
            expected = [a.value for a in allowed_actions(await CaseView.load(case, now), actor)]
            assert (status == 200 and forms(page) == expected) or (status == 404 and case.lead_unit_id is None), (
                username, case.status)


async def test_not_allowed_action_is_409_and_changes_nothing(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    status, page = await handler.act(case.id, "approve_reply")
    assert status == 409
    assert (await Case.get(id=case.id)).version == case.version
    assert not await AuditEntry.filter(action="case_denied").exists()


async def test_similar_cases_merge_and_the_citizens_earlier_cases(login_as, city: City) -> None:
    text = "幸福里小区3栋门口路灯坏了一个月，晚上很黑，老人出门不安全。"
    older = await make_case(city.world, CaseStatus.IN_PROGRESS, text=text, title="幸福里路灯")
    repeat = await make_case(city.world, CaseStatus.SUBMITTED, text=text, title="又是幸福里路灯")
    dispatcher = await login_as("dispatcher")
    status, page = await dispatcher.get(f"/cases/{repeat.id}")
    assert status == 200 and "相似诉求" in page and older.number in page and "并入此件" in page
    assert "该诉求人的其他诉求" in page  # both cases come from the same citizen
    await dispatcher.post(f"/cases/{repeat.id}/actions/merge", {
        "expected_version": "1", "parent": older.number, "reason": "与该件为同一事项"})
    merged = await Case.get(id=repeat.id)
    assert merged.status == CaseStatus.MERGED and merged.parent_id == older.id
