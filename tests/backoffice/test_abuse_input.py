"""DOMAIN.md abuse cases 9-11 (markup shown as text everywhere) and 16 (bad types, SQL in filters: 400)."""

from __future__ import annotations

from storage.lifecycle import CaseStatus
from storage.models import Case, CaseEvent, Citizen, Unit
from tests.backoffice.conftest import City
from tests.support.builders import make_case

IMG = "<img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(2)>"
SCRIPT = '"><script>alert(3)</script>'
JS_LINK = "javascript:alert(4)"


def assert_inert(page: str) -> None:
    """No payload survives as markup; each one is there as escaped text."""
    for raw in (IMG, SVG, "<script>alert(3)", 'href="javascript:'):
        assert raw not in page, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in page or "&lt;svg" in page or "&lt;script&gt;" in page


async def test_9_appeal_text_title_name_and_address_are_text(login_as, city: City) -> None:
    await Citizen.filter(id=city.world.citizen.id).update(name=SVG, phone="13812345678")
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, title=SCRIPT, text=f"路灯坏了 {IMG} {JS_LINK}",
                           address=f"{SCRIPT}路", district=SVG, street=IMG)
    handler = await login_as("handler")
    status, page = await handler.get(f"/cases/{case.id}")
    assert status == 200
    assert_inert(page)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&#34;&gt;&lt;script&gt;" in page
    status, page = await handler.act(case.id, "unmask", reason="联系")
    assert_inert(page)
    assert "&lt;svg onload=alert(2)&gt;" in page
    _, listing = await handler.get("/queues/mine")
    assert_inert(listing)
    assert "&#34;&gt;&lt;script&gt;alert(3)&lt;/script&gt;" in listing


async def test_10_notes_replies_and_unit_names_are_text(login_as, city: City) -> None:
    await Unit.filter(id=city.world.co.id).update(name_zh=f"协办{SCRIPT}")
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    handler = await login_as("handler")
    assert (await handler.act(case.id, "progress_note", note=IMG))[0] == 200
    assert (await handler.act(case.id, "submit_reply", reply=f"{SVG} 已修复 {JS_LINK}"))[0] == 200
    status, page = await handler.get(f"/cases/{case.id}")
    assert_inert(page)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;svg onload=alert(2)&gt;" in page
    assert "协办&#34;&gt;&lt;script&gt;" in page
    _, body = await handler.api("GET", f"/api/cases/{case.id}")
    assert body["reply"].startswith(SVG)  # JSON carries data, not markup; served as application/json


async def test_11_search_error_pages_and_exports_are_text(login_as, city: City) -> None:
    await make_case(city.world, CaseStatus.IN_PROGRESS, title=f"=HYPERLINK(\"http://x\") {IMG}")
    supervisor = await login_as("supervisor")
    status, page = await supervisor.get(f"/queues/all?q={SCRIPT}")
    assert status == 200 and "<script>alert(3)" not in page and "&lt;script&gt;alert(3)" in page
    status, page = await supervisor.get("/queues/all?status=<svg onload=alert(2)>")
    assert status == 400 and "<svg onload" not in page
    status, page = await supervisor.get(f"/queues/{IMG}")
    assert status in (404, 400) and IMG not in page
    await supervisor.get("/export")
    status, csv_text = await supervisor.post("/export", {"reason": SCRIPT})
    assert status == 200 and "'=HYPERLINK" in csv_text
    async with supervisor.http.post(supervisor.base + "/export",
                                    data={"reason": "检查", "csrf_token": supervisor.csrf}) as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Disposition"].startswith("attachment")


async def test_16_wrong_types_sql_and_sort_keys_are_400(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.IN_PROGRESS)
    supervisor = await login_as("supervisor")
    for query in ("sort=id;DROP TABLE appeal_case", "sort=-created_at", "status=' OR 1=1 --",
                  "unit=1 OR 1=1", "channel=phone'--", "since=2026-13-45", "cursor=1;--", "order_by=id",
                  "urgency[]=x"):
        status, _ = await supervisor.get(f"/queues/all?{query}")
        assert status == 400, query
        status, body = await supervisor.api("GET", f"/api/queues/all/cases?{query}")
        assert status == 400 and body["error"] == "filter", query
    status, page = await supervisor.get("/queues/all?q=' OR '1'='1")
    assert status == 200 and case.number not in page  # searched as text, found nothing
    handler = await login_as("handler")
    url = f"/api/cases/{case.id}/actions/progress_note"
    for body in ({"payload": {"note": 5}}, {"payload": {"note": ["x"]}}, {"payload": ["note"]},
                 {"expected_version": "1", "payload": {"note": "x"}}, {"expected_version": True},
                 {"payload": {"note": "x", "status": "resolved"}}, [1, 2], "note", None):
        status, answer = await handler.api("POST", url, body)
        assert status == 400, body
    async with handler.http.post(handler.base + url, data=b"{not json",
                                 headers={"X-CSRF-Token": handler.csrf, "Content-Type": "application/json"}) as r:
        assert r.status == 400
    status, _ = await handler.api("POST", f"/api/cases/{case.id}/actions/contact", {"payload": {"reached": "maybe"}})
    assert status == 400
    status, _ = await handler.api("POST", f"/api/cases/{case.id}/actions/drop_table", {"payload": {}})
    assert status == 400
    assert (await Case.get(id=case.id)).version == case.version
    assert not await CaseEvent.filter(case_id=case.id).exists()
