"""DOMAIN.md abuse cases 1-5 and 21: what unit staff, auditors and guessed ids can reach."""

from __future__ import annotations

import re

from storage.lifecycle import CaseStatus
from storage.models import AuditEntry, Case, CaseAssignment, CaseEvent, Citizen, Unit
from tests.backoffice.conftest import Browser, City
from tests.support.builders import make_case


async def _export(b: Browser, reason: str = "季度统计") -> tuple[int, str]:
    await b.get("/export")
    return await b.post("/export", {"reason": reason})


async def test_1_guessed_ids_of_another_unit_are_404_and_audited(login_as, city: City) -> None:
    theirs = await make_case(city.world, CaseStatus.IN_PROGRESS, title="甲单位的诉求")
    intruder = await login_as("other-handler")
    status, page = await intruder.get(f"/cases/{theirs.id}")
    assert status == 404 and "甲单位的诉求" not in page
    status, _ = await intruder.post(f"/cases/{theirs.id}/actions/progress_note",
                                    {"expected_version": "1", "note": "偷改"})
    assert status == 404
    status, body = await intruder.api("GET", f"/api/cases/{theirs.id}")
    assert status == 404
    status, body = await intruder.api("POST", f"/api/cases/{theirs.id}/actions/progress_note",
                                      {"expected_version": 1, "payload": {"note": "偷改"}})
    assert status == 404
    _, listing = await intruder.get("/queues/mine")
    assert "甲单位的诉求" not in listing
    assert await AuditEntry.filter(action="case_denied", target=str(theirs.id)).count() >= 3
    assert not await CaseEvent.filter(case_id=theirs.id).exists()


async def test_2_after_a_transfer_the_old_unit_loses_access_everywhere(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.DISPATCHED, title="转走的诉求")
    handler = await login_as("handler")
    assert (await handler.get(f"/cases/{case.id}"))[0] == 200
    head = await login_as("head")
    status, _ = await head.act(case.id, "return", reason="不属于本单位职责")
    assert status == 200
    dispatcher = await login_as("dispatcher")
    status, _ = await dispatcher.act(case.id, "dispatch", lead_unit=str(city.world.other.id))
    assert status == 200
    assert not await CaseAssignment.filter(case_id=case.id, unit_id=city.world.lead.id, active=True).exists()
    assert (await handler.get(f"/cases/{case.id}"))[0] == 404
    for path in ("/queues/mine", "/queues/to_sign", "/queues/mine?q=转走"):
        _, page = await handler.get(path)
        assert "转走的诉求" not in page
    assert (await handler.api("GET", f"/api/cases/{case.id}"))[0] == 404
    _, listing = await handler.api("GET", "/api/queues/mine/cases?q=转走")
    assert listing["items"] == []
    _, counts = await handler.api("GET", "/api/queues")
    assert counts["mine"] == 0
    _, csv_text = await _export(handler)
    assert "转走的诉求" not in csv_text
    newcomer = await login_as("other-handler")
    assert (await newcomer.get(f"/cases/{case.id}"))[0] == 200


async def test_3_lists_counts_search_and_exports_leak_nothing(login_as, city: City) -> None:
    await make_case(city.world, CaseStatus.IN_PROGRESS, title="本单位的路灯")
    hidden = await make_case(city.world, CaseStatus.IN_PROGRESS, title="机密主题QX", text="机密主题QX的内容")
    await CaseAssignment.filter(case_id=hidden.id).update(unit_id=city.world.other.id)
    await Case.filter(id=hidden.id).update(lead_unit_id=city.world.other.id)
    handler = await login_as("handler")
    for path in ("/queues/mine", "/queues/in_progress", "/queues/mine?q=QX", "/queues/overdue", "/queues/due_soon"):
        _, page = await handler.get(path)
        assert "机密主题QX" not in page
    _, page = await handler.get("/queues/mine")
    assert "本单位的路灯" in page
    assert re.search(r"本单位诉求</span><span class=\"count\">1<", page)
    _, counts = await handler.api("GET", "/api/queues")
    assert counts["mine"] == 1 and counts["in_progress"] == 1
    _, found = await handler.api("GET", "/api/queues/mine/cases?q=QX")
    assert found["items"] == []
    status, csv_text = await _export(handler)
    assert status == 200 and "本单位的路灯" in csv_text and "机密主题QX" not in csv_text
    assert await AuditEntry.filter(action="export_csv", reason="季度统计").exists()


async def test_4_read_only_auditor_stays_read_only(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.SUBMITTED)
    auditor = await login_as("auditor")
    status, page = await auditor.get(f"/cases/{case.id}")
    assert status == 200 and 'data-action="' not in page
    for action, fields in (("accept", {}), ("reject", {"reject_class": "unlawful", "reason": "x"}),
                           ("note", {"note": "x"}), ("unmask", {"reason": "好奇"})):
        status, _ = await auditor.post(f"/cases/{case.id}/actions/{action}", {"expected_version": "1", **fields})
        assert status == 409, action
        status, _ = await auditor.api("POST", f"/api/cases/{case.id}/actions/{action}",
                                      {"expected_version": 1, "payload": fields})
        assert status == 409, action
    status, _ = await auditor.post("/intake", {"text": "冒充话务员", "do": "record"})
    assert status == 403
    assert (await Case.get(id=case.id)).version == 1
    assert not await CaseEvent.filter(case_id=case.id).exists()


async def test_5_secondary_ids_are_checked(login_as, city: City) -> None:
    accepted = await make_case(city.world, CaseStatus.ACCEPTED)
    await Unit.filter(id=city.world.spare.id).update(active=False)
    dispatcher = await login_as("dispatcher")
    for unit in (str(city.world.spare.id), "999999", "1 OR 1=1"):
        status, page = await dispatcher.act(accepted.id, "dispatch", lead_unit=unit)
        assert status == 400 and "主办单位填写有误" in page, unit
    status, _ = await dispatcher.act(accepted.id, "merge", parent="8890-29991231-99999")
    assert status == 400
    status, _ = await dispatcher.act(accepted.id, "merge", parent=str(accepted.id))
    assert status == 400
    assert (await Case.get(id=accepted.id)).status == CaseStatus.ACCEPTED
    theirs = await make_case(city.world, CaseStatus.IN_PROGRESS)
    head_elsewhere = await login_as("other-handler")
    status, _ = await head_elsewhere.api("POST", f"/api/cases/{theirs.id}/actions/coordinate",
                                         {"payload": {"co_unit": city.world.other.id, "note": "拉自己进来"}})
    assert status == 404
    head = await login_as("head")
    status, body = await head.api("POST", f"/api/cases/{theirs.id}/actions/coordinate",
                                  {"payload": {"co_unit": "999999", "note": "x"}})
    assert status == 400 and body["error"] == "invalid"
    assert not await CaseAssignment.filter(case_id=theirs.id, unit_id=city.world.other.id).exists()


async def test_21_confidential_case_hides_the_citizen_from_the_unit(login_as, city: City) -> None:
    await Citizen.filter(id=city.world.citizen.id).update(name="李保密", phone="13900001111")
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, confidential=True, title="保密的举报",
                           address="东湖区幸福里小区9栋", district="东湖区", street="幸福里街道")
    handler = await login_as("handler")
    status, page = await handler.get(f"/cases/{case.id}")
    assert status == 200 and "保密件" in page
    for secret in ("李", "1111", "幸福里小区9栋", "幸福里街道", 'data-action="unmask"'):
        assert secret not in page.split("<main")[1], secret
    status, _ = await handler.act(case.id, "unmask", reason="想看看")
    assert status == 409
    _, body = await handler.api("GET", f"/api/cases/{case.id}")
    assert body["citizen"]["hidden"] is True and body["citizen"]["name"] == "" and body["citizen"]["phone"] == ""
    _, csv_text = await _export(handler)
    assert "保密的举报" in csv_text and "李" not in csv_text and "1111" not in csv_text
    assert "幸福里街道" not in csv_text
    dispatcher = await login_as("dispatcher")
    _, page = await dispatcher.get(f"/cases/{case.id}")
    assert "李*" in page and "139****1111" in page
