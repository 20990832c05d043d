"""The audit log page: auditors and admins see who viewed personal data, exported, signed in or changed settings."""

from __future__ import annotations

from storage.lifecycle import CaseStatus
from storage.models import AuditEntry
from tests.backoffice.conftest import City
from tests.support.builders import make_case

XSS = "<img src=x onerror=alert(1)>"


async def test_an_auditor_sees_unmasking_exports_and_sign_ins_with_their_reasons(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    status, _ = await handler.act(case.id, "unmask", reason=f"需要电话联系诉求人{XSS}")
    assert status == 200
    await AuditEntry.create(staff=city.staff["dispatcher"], action="export_xlsx", target="cases", reason="季度统计",
                            data={"rows": 12, "format": "xlsx"})
    auditor = await login_as("auditor")
    status, page = await auditor.get("/audit")
    assert status == 200 and "审计日志" in page
    assert case.number in page and "需要电话联系诉求人" in page and "handler姓名" in page  # who looked, and why
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page  # what staff typed is text
    assert "导出 Excel" in page and "季度统计" in page and "dispatcher姓名" in page
    assert "<td>登录</td>" in page  # the sign-ins of this very test (the hint above says 登录 too)
    status, page = await auditor.get("/audit?kind=export")
    assert "导出 Excel" in page and "<td>登录</td>" not in page
    assert 'href="/audit"' in (await auditor.get("/queues"))[1]  # reachable from the menu


async def test_other_roles_do_not_see_the_audit_log(login_as, city: City) -> None:
    for username in ("operator", "dispatcher", "handler", "supervisor"):
        client = await login_as(username)
        status, page = await client.get("/audit")
        assert status == 403 and "只有审计员和管理员" in page, username
        assert 'href="/audit"' not in (await client.get("/queues"))[1]
