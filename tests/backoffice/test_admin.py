"""Administration: units, staff, the dispatch catalogue, time limits, holidays and KPI weights - admins only."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator

import pytest

from storage.cases import CaseService
from storage.deadlines import SHANGHAI, ensure_default_policies, policy_for, set_overrides
from storage.kpi import KPI, forget_saved_weights, load_weights
from storage.lifecycle import Action, CaseStatus, Role
from storage.models import (
    AuditEntry,
    Case,
    CaseKind,
    CatalogueChange,
    CatalogueEntry,
    HolidayOverride,
    KpiWeightSet,
    Policy,
    Staff,
    StaffSession,
    Unit,
    Urgency,
)
from tests.backoffice.conftest import VERSION, Browser, City
from tests.support.builders import make_case


async def test_admin_manages_units_staff_and_catalogue(login_as, city: City) -> None:
    admin = await login_as("admin")
    status, _ = await admin.post("/admin/units", {"code": "water", "name_zh": "市水务局<b>", "name_en": "Water",
                                                  "kind": "bureau", "parent": ""})
    assert status == 200
    water = await Unit.get(code="water")
    _, page = await admin.get("/admin/units")
    assert "市水务局&lt;b&gt;" in page
    status, page = await admin.post("/admin/staff", [("username", "w-handler"), ("display_name", "水务承办"),
                                                     ("roles", "handler"), ("unit", "water")])
    assert status == 200 and "只显示这一次" in page
    password = re.search(r"<code>([^<]+)</code>", page).group(1)  # type: ignore[union-attr]
    newcomer = Browser(admin.base)
    try:
        _, text = await newcomer.login("w-handler", password)
        assert "本单位诉求" in text
    finally:
        await newcomer.close()
    status, _ = await admin.post("/admin/catalogue", {"category": "供水", "district": "", "unit": str(water.id)})
    assert status == 200
    entry = await CatalogueEntry.get(category="供水")
    status, _ = await admin.post(f"/admin/catalogue/{entry.id}/remove", {})
    assert status == 200 and not (await CatalogueEntry.get(id=entry.id)).active
    changes = [c.change for c in await CatalogueChange.all().order_by("id")]
    assert changes == ["added", "removed"]
    _, page = await admin.get("/admin/catalogue")
    assert "admin姓名" in page and "water" in page
    target = await Staff.get(username="w-handler")
    await admin.post(f"/admin/staff/{target.id}/toggle", {})
    assert not (await Staff.get(id=target.id)).active
    assert not await StaffSession.filter(staff_id=target.id).exists()
    assert await AuditEntry.filter(action="staff_deactivated").exists()


async def test_only_administrators_reach_administration(login_as, city: City) -> None:
    supervisor = await login_as("supervisor")
    for path in ("/admin/units", "/admin/staff", "/admin/catalogue"):
        assert (await supervisor.get(path))[0] == 403
    status, _ = await supervisor.post("/admin/staff", [("username", "sneaky"), ("roles", "admin")])
    assert status == 403 and not await Staff.exists(username="sneaky")


@pytest.fixture
def fresh_calendar_and_weights() -> Iterator[None]:
    """Holiday overrides and saved KPI weights live in the process too: forget them after the test."""
    yield
    set_overrides({})
    forget_saved_weights()


async def test_policies_are_edited_validated_and_audited(login_as, city: City,
                                                         fresh_calendar_and_weights: None) -> None:
    await ensure_default_policies()
    admin = await login_as("admin")
    status, page = await admin.get("/admin/policies")
    assert status == 200 and "办理时限规则" in page and "投诉 10个工作日" in page
    default = await Policy.get(name="默认 10个工作日")
    urgent = await Policy.get(name="加急 3个工作日")
    form = {"name": "加急 3个工作日", "urgency": "urgent", "category": "", "kind": "", "handle_amount": "12",
            "handle_unit": "working_days", "accept_hours": "2", "sign_hours": "2", "return_working_days": "2",
            "callback_working_days": "2", "extension_max_working_days": "10", "reopen_working_days": "5",
            "active": "1", "expected_version": "1"}
    status, page = await admin.post(f"/admin/policies/{urgent.id}", form)
    assert status == 400 and "加急不能比普通更慢" in page  # 12 working days would outlast the 10 of a normal case
    status, page = await admin.post(f"/admin/policies/{urgent.id}", form | {"handle_amount": "0"})
    assert status == 400 and "正整数" in page
    status, page = await admin.post(f"/admin/policies/{default.id}", form | {
        "name": "默认 2个工作日", "urgency": "", "handle_amount": "2"})
    assert status == 400 and "加急不能比普通更慢" in page  # the same rule, from the normal side
    assert (await Policy.get(id=urgent.id)).handle_amount == 3 and (await Policy.get(id=default.id)).version == 1
    status, page = await admin.post(f"/admin/policies/{urgent.id}", form | {"handle_amount": "2"})
    assert status == 200
    changed = await Policy.get(id=urgent.id)
    assert changed.handle_amount == 2 and changed.version == 2
    entry = await AuditEntry.get(action="policy_changed")
    assert entry.staff_id == city.staff["admin"].id and entry.target == f"policy:{urgent.id}"  # type: ignore
    assert entry.data["before"]["handle_amount"] == 3 and entry.data["after"]["handle_amount"] == 2
    _, page = await admin.get("/admin/policies?lang=en")
    assert "Time-limit policies" in page and "Change history" in page and "admin姓名" in page
    assert "<td>admin姓名</td>" in page  # the change history names who changed (the header always shows the name)
    water = {"name": "供水加急", "category": "供水", "handle_amount": "1"}
    status, _ = await admin.post("/admin/policies", form | water)
    assert status == 200 and await Policy.exists(name="供水加急", category="供水")
    before = await policy_for("环境保护", CaseKind.COMPLAINT, Urgency.URGENT)
    env = {"name": "环保加急", "category": "环境保护", "handle_amount": "1"}
    status, _ = await admin.post("/admin/policies", form | env)
    chosen = await policy_for("环境保护", CaseKind.COMPLAINT, Urgency.URGENT)  # at once in this process
    assert status == 200 and before is not None and before.name != "环保加急" and chosen.name == "环保加急"


async def test_a_holiday_override_moves_a_new_cases_deadline(login_as, city: City,
                                                              fresh_calendar_and_weights: None) -> None:
    await ensure_default_policies()
    # Wed 2 Dec 2026, 10:00: a request (5 working days) is due Wed 9 Dec on the national calendar.
    moment = dt.datetime(2026, 12, 2, 10, tzinfo=SHANGHAI).astimezone(dt.UTC)
    service = CaseService(clock=lambda: moment)

    async def dispatched_due() -> dt.date:
        case = await make_case(city.world, CaseStatus.ACCEPTED, kind=CaseKind.REQUEST)
        await service.apply(case.id, Action.DISPATCH, city.world.actor(Role.DISPATCHER), {"lead_unit": "lead"})
        return (await Case.get(id=case.id)).due_at.astimezone(SHANGHAI).date()

    assert await dispatched_due() == dt.date(2026, 12, 9)
    admin = await login_as("admin")
    status, page = await admin.post("/admin/holidays", {"day": "2026-12-04", "kind": "holiday", "note": "市庆日"})
    assert status == 200 and "市庆日" in page and "deadline-preview" in page
    assert await dispatched_due() == dt.date(2026, 12, 10)  # Friday 4 Dec is now a holiday: one day later
    status, _ = await admin.post("/admin/holidays", {"day": "2026-12-05", "kind": "workday", "note": "调休上班"})
    assert await dispatched_due() == dt.date(2026, 12, 9)  # Saturday 5 Dec worked instead
    entry = await AuditEntry.filter(action="holiday_added").order_by("id").first()
    assert entry is not None and entry.data["before"] == {"day": "2026-12-04", "workday": True}
    assert entry.data["after"]["workday"] is False and entry.staff_id == city.staff["admin"].id  # type: ignore
    status, page = await admin.post("/admin/holidays", {"day": "2026-12-04", "kind": "workday"})
    assert status == 400 and "已有调整" in page
    status, page = await admin.post("/admin/holidays", {"day": "next friday", "kind": "holiday"})
    assert status == 400
    for row in await HolidayOverride.all():
        await admin.post(f"/admin/holidays/{row.id}/remove", {})
    assert not await HolidayOverride.exists() and await AuditEntry.filter(action="holiday_removed").count() == 2
    assert await dispatched_due() == dt.date(2026, 12, 9)


async def test_kpi_weights_default_to_the_file_and_edits_must_add_up(login_as, city: City,
                                                                    fresh_calendar_and_weights: None) -> None:
    admin = await login_as("admin")
    status, page = await admin.get("/admin/kpi-weights")
    assert status == 200 and "2026-1" in page and "kpi_weights.json" in page
    weights = {"response": "30", "solved": "35", "satisfaction": "30", "on_time": "0", "sign_timely": "0",
               "dispatch_accuracy": "0", "callback": "0"}
    rest = {"version": "2027-1", "basic_satisfied_k": "0.8", "volume_floor": "5", "repeat_window_days": "30",
            "note": "征求意见后调整"}
    status, page = await admin.post("/admin/kpi-weights", weights | rest)
    assert status == 400 and "95%" in page and not await KpiWeightSet.exists()
    status, page = await admin.post("/admin/kpi-weights", weights | rest | {"satisfaction": "35"})
    assert status == 200 and "2027-1" in page
    assert "admin姓名 <strong>2027-1</strong>" in page  # who saved the version
    assert load_weights().weights == {KPI.RESPONSE: 0.3, KPI.SOLVED: 0.35, KPI.SATISFACTION: 0.35}
    assert load_weights().basic_satisfied_k == 0.8  # what the analytics pages use now
    status, page = await admin.get("/analytics/kpi")
    assert status == 200 and "权重版本 2027-1" in page and "件数少于 5 件" in page  # the KPI page follows the edit
    entry = await AuditEntry.get(action="kpi_weights_changed")
    assert entry.data["before"]["version"] == "2026-1" and entry.data["after"]["version"] == "2027-1"
    status, page = await admin.post("/admin/kpi-weights", weights | rest | {"satisfaction": "35"})
    assert status == 400 and "版本名称已用过" in page  # a version name is used once
    supervisor = await login_as("supervisor")
    assert (await supervisor.get("/admin/kpi-weights"))[0] == 403
    status, _ = await supervisor.post("/admin/holidays", {"day": "2026-12-04", "kind": "holiday"})
    assert status == 403 and not await HolidayOverride.exists()


async def test_admin_settings_pages_need_the_csrf_token(login_as, city: City) -> None:
    admin = await login_as("admin")
    for path, form in (("/admin/holidays", {"day": "2026-12-04", "kind": "holiday"}),
                       ("/admin/kpi-weights", {"version": "x", "solved": "100"}),
                       ("/admin/policies", {"name": "x", "handle_amount": "1"})):
        status, _ = await admin.post(path, form, csrf=False)
        assert status == 403
    assert not await HolidayOverride.exists() and not await KpiWeightSet.exists()


POLICY_FORM = {"name": "加急 3个工作日", "urgency": "urgent", "category": "", "kind": "", "handle_amount": "3",
               "handle_unit": "working_days", "accept_hours": "2", "sign_hours": "2", "return_working_days": "2",
               "callback_working_days": "2", "extension_max_working_days": "10", "reopen_working_days": "5",
               "active": "1"}


async def test_two_admins_editing_one_rule_do_not_overwrite_each_other(login_as, city: City,
                                                                       fresh_calendar_and_weights: None) -> None:
    await ensure_default_policies()
    urgent = await Policy.get(name="加急 3个工作日")
    first, second = await login_as("admin"), await login_as("admin")
    versions = []
    for b in (first, second):
        status, page = await b.get(f"/admin/policies?edit={urgent.id}")
        versions.append(VERSION.search(page).group(1))  # type: ignore[union-attr]
    status, _ = await first.post(f"/admin/policies/{urgent.id}", POLICY_FORM | {
        "handle_amount": "2", "expected_version": versions[0]})
    assert status == 200
    status, page = await second.post(f"/admin/policies/{urgent.id}", POLICY_FORM | {
        "handle_amount": "1", "expected_version": versions[1]})
    assert status == 409 and "其他人刚刚修改了该规则，请刷新后重试。" in page
    stored = await Policy.get(id=urgent.id)
    assert stored.handle_amount == 2 and stored.version == 2  # the first admin's change stands
    assert await AuditEntry.filter(action="policy_changed").count() == 1
    assert 'name="expected_version" value="2"' in page  # the page shows the rule as it is now
    status, page = await second.post(f"/admin/policies/{urgent.id}?lang=en", POLICY_FORM | {
        "handle_amount": "1", "expected_version": "1"})
    assert status == 409 and "Someone else just changed this rule; reload and try again." in page
    status, _ = await second.post(f"/admin/policies/{urgent.id}", POLICY_FORM | {
        "handle_amount": "1", "expected_version": "2"})
    assert status == 200 and (await Policy.get(id=urgent.id)).handle_amount == 1


async def test_the_same_holiday_added_twice_at_once_is_answered_politely(login_as, city: City,
                                                                         fresh_calendar_and_weights: None) -> None:
    admins = [await login_as("admin") for _ in range(2)]
    form = {"day": "2026-12-04", "kind": "holiday", "note": "市庆日"}
    results = await asyncio.gather(*(b.post("/admin/holidays", form) for b in admins * 4))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * 7, statuses  # one added; the others told politely, no server error
    assert all("这一天已有调整" in page for status, page in results if status == 400)
    assert await HolidayOverride.filter(day=dt.date(2026, 12, 4)).count() == 1
    assert await AuditEntry.filter(action="holiday_added").count() == 1


async def accepted_and_dispatched_case(city: City) -> None:
    """A case with an intake and a dispatch in its history: the KPI facts (the repeat window too) cover it."""
    service = CaseService()
    case = await make_case(city.world, CaseStatus.SUBMITTED)
    dispatcher = city.world.actor(Role.DISPATCHER)
    await service.apply(case.id, Action.ACCEPT, dispatcher)
    await service.apply(case.id, Action.DISPATCH, dispatcher, {"lead_unit": "lead"})


KPI_FORM = {"response": "30", "solved": "35", "satisfaction": "35", "version": "2027-2", "basic_satisfied_k": "0.9",
            "volume_floor": "10", "repeat_window_days": "30"}


async def test_kpi_settings_must_be_within_their_ranges(login_as, city: City,
                                                        fresh_calendar_and_weights: None) -> None:
    admin = await login_as("admin")
    for field, value in (("repeat_window_days", "1000000000"), ("repeat_window_days", "0"),
                         ("repeat_window_days", "3651"), ("volume_floor", "100001"), ("volume_floor", "-1")):
        status, page = await admin.post("/admin/kpi-weights", KPI_FORM | {field: value})
        assert status == 400, (field, value)
        assert ("1到3650天" if field == "repeat_window_days" else "0到100000") in page
    status, page = await admin.post("/admin/kpi-weights?lang=en", KPI_FORM | {"repeat_window_days": "4000"})
    assert status == 400 and "from 1 to 3650" in page
    assert not await KpiWeightSet.exists()
    status, _ = await admin.post("/admin/kpi-weights", KPI_FORM | {"repeat_window_days": "3650", "volume_floor": "0"})
    assert status == 200 and (await KpiWeightSet.get(version="2027-2")).repeat_window_days == 3650
    await accepted_and_dispatched_case(city)
    status, page = await admin.get("/analytics/kpi")
    assert status == 200 and "2027-2" in page


async def test_an_out_of_range_stored_kpi_setting_falls_back_to_the_default(login_as, city: City,
                                                                            fresh_calendar_and_weights: None) -> None:
    await KpiWeightSet.create(version="legacy", note="", staff_id=None, weights={"solved": 1.0},
                              basic_satisfied_k=0.9, volume_floor=10, repeat_window_days=1_000_000_000)
    await accepted_and_dispatched_case(city)
    admin = await login_as("admin")
    status, page = await admin.get("/admin/kpi-weights")
    assert status == 200 and "legacy" in page
    status, page = await admin.get("/analytics/kpi")
    assert status == 200 and "legacy" in page  # computed with the default 30-day window, not a server error
