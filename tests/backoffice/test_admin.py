"""Administration: units, staff and the versioned dispatch catalogue, for administrators only."""

from __future__ import annotations

import re

from storage.models import AuditEntry, CatalogueChange, CatalogueEntry, Staff, StaffSession, Unit
from tests.backoffice.conftest import Browser, City


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
