"""Administration pages: units and their hierarchy, staff and roles, the versioned dispatch catalogue."""

from __future__ import annotations

from aiohttp import web

from storage.accounts import AccountError, create_staff, generate_password, staff_names
from storage.labels import ROLE
from storage.lifecycle import STAFF_ROLES, Role
from storage.models import AuditEntry, CatalogueChange, CatalogueEntry, Staff, Unit, UnitKind

from .. import sessions, totp
from ..auth import current_actor
from ..i18n import lang, tr
from ..ids import db_id
from .common import error_page, redirect, render, row_or_404

UNIT_KINDS = {UnitKind.CITY: ("市级", "City"), UnitKind.BUREAU: ("委办局", "Bureau"),
              UnitKind.COMPANY: ("企业", "Company"), UnitKind.DISTRICT: ("区县", "District"),
              UnitKind.STREET: ("街道", "Street")}


async def _admin(request: web.Request) -> Staff | web.Response:
    staff, actor = current_actor(request)
    if Role.ADMIN not in actor.roles:
        return await error_page(request, 403, tr(request, "只有系统管理员可以管理。", "Administrators only."))
    return staff


async def units_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    """List units with their parents; a form adds one."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    i = 1 if lang(request) == "en" else 0
    units = await Unit.all().order_by("id")
    names = {u.id: (u.name_en or u.name_zh) if i else u.name_zh for u in units}
    return await render(request, "admin_units.html", {
        "units": units, "names": names, "kinds": [(k.value, v[i]) for k, v in UNIT_KINDS.items()],
        "kind_labels": {k.value: v[i] for k, v in UNIT_KINDS.items()}, "error": error}, status=status)


async def unit_create(request: web.Request) -> web.Response:
    """Add a unit under an optional parent."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    form = await request.post()
    code, name_zh, name_en = (str(form.get(k, "")).strip() for k in ("code", "name_zh", "name_en"))
    kind, parent = str(form.get("kind", "")), str(form.get("parent", ""))
    if not code or len(code) > 64 or any(c.isspace() for c in code) or not name_zh or len(name_zh) > 128:
        return await units_page(request, tr(request, "请填写单位代码和名称。", "Give a code and a name."), 400)
    if kind not in {k.value for k in UnitKind} or (parent and db_id(parent) is None):
        return await units_page(request, tr(request, "单位类型或上级单位有误。", "Bad kind or parent."), 400)
    if await Unit.exists(code=code):
        return await units_page(request, tr(request, "单位代码已存在。", "That code is taken."), 400)
    parent_id = db_id(parent) if parent else None
    if parent_id is not None and not await Unit.exists(id=parent_id):
        return await units_page(request, tr(request, "上级单位不存在。", "No such parent."), 400)
    await Unit.create(code=code, name_zh=name_zh, name_en=name_en[:128], kind=UnitKind(kind), parent_id=parent_id)
    await AuditEntry.create(staff_id=admin.id, action="unit_created", target=code)
    return redirect("/admin/units")


async def unit_toggle(request: web.Request) -> web.Response:
    """Deactivate or reactivate a unit (inactive units cannot receive dispatches)."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    unit = await row_or_404(request, Unit, "unit_id", ("没有这个单位。", "No such unit."))
    if isinstance(unit, web.Response):
        return unit
    await Unit.filter(id=unit.id).update(active=not unit.active)
    await AuditEntry.create(staff_id=admin.id, action="unit_deactivated" if unit.active else "unit_activated",
                            target=unit.code)
    return redirect("/admin/units")


async def staff_page(request: web.Request, error: str = "", status: int = 200, created: str = "",
                     password: str = "") -> web.Response:
    """List staff accounts; a form adds one with a generated first password."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    i = 1 if lang(request) == "en" else 0
    accounts = await Staff.all().order_by("id")
    units = dict(await Unit.all().values_list("id", "name_en" if i else "name_zh"))
    return await render(request, "admin_staff.html", {
        "accounts": accounts, "units": units, "unit_codes": await Unit.filter(active=True).order_by("id")
        .values_list("code", "name_en" if i else "name_zh"),
        "role_choices": [(r.value, ROLE[r][i]) for r in sorted(STAFF_ROLES)],
        "role_label": {r.value: ROLE[r][i] for r in Role},
        "error": error, "created": created, "password": password}, status=status)


async def staff_create(request: web.Request) -> web.Response:
    """Create a staff account; its first password is shown once."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    form = await request.post()
    roles = [str(r) for r in form.getall("roles", [])]
    if not roles or any(r not in {x.value for x in STAFF_ROLES} for r in roles):
        return await staff_page(request, tr(request, "请选择角色。", "Choose roles."), 400)
    password = generate_password()
    try:
        await create_staff(str(form.get("username", "")), password, [Role(r) for r in roles],
                           str(form.get("display_name", ""))[:64], str(form.get("unit", "")) or None)
    except AccountError as exc:
        return await staff_page(request, str(exc), 400)
    return await staff_page(request, created=str(form.get("username", "")), password=password)


async def _other_account(request: web.Request, admin: Staff) -> Staff | web.Response:
    """The account named in the URL, or a 404 page when there is none or it is the administrator's own."""
    missing = ("不能修改这个账号。", "Not possible for this account.")
    target = await row_or_404(request, Staff, "staff_id", missing)
    if not isinstance(target, web.Response) and target.id == admin.id:
        return await error_page(request, 404, tr(request, *missing))
    return target


async def staff_toggle(request: web.Request) -> web.Response:
    """Deactivate or reactivate an account; deactivation ends its sessions."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    if isinstance(target := await _other_account(request, admin), web.Response):
        return target
    await Staff.filter(id=target.id).update(active=not target.active)
    if target.active:
        await sessions.end_others(target.id, None)
    await AuditEntry.create(staff_id=admin.id, action="staff_deactivated" if target.active else "staff_activated",
                            target=target.username)
    return redirect("/admin/staff")


async def staff_reset_totp(request: web.Request) -> web.Response:
    """Remove a staff member's second factor (a lost phone): audited, their sessions end, they enrol again."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    if isinstance(target := await _other_account(request, admin), web.Response):
        return target
    await totp.reset(target, admin)
    await sessions.end_others(target.id, None)
    return redirect("/admin/staff")


async def catalogue_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    """Show the dispatch catalogue and its change history."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    i = 1 if lang(request) == "en" else 0
    entries = await CatalogueEntry.filter(active=True).order_by("category", "district", "id")
    units = await Unit.all().order_by("id")
    names = {u.id: (u.name_en or u.name_zh) if i else u.name_zh for u in units}
    changes = await CatalogueChange.all().order_by("-id").limit(50)
    who = await staff_names(c.staff_id for c in changes)  # type: ignore[attr-defined]
    return await render(request, "admin_catalogue.html", {
        "entries": entries, "names": names, "units": [u for u in units if u.active], "changes": changes,
        "who": who, "error": error}, status=status)


async def catalogue_add(request: web.Request) -> web.Response:
    """Add a rule: a category (in a district, or city-wide) goes to a unit; the change is recorded."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    form = await request.post()
    category, district, unit_raw = (str(form.get(k, "")).strip() for k in ("category", "district", "unit"))
    unit = await Unit.get_or_none(id=db_id(unit_raw), active=True) if db_id(unit_raw) else None
    if not category or len(category) > 32 or len(district) > 64 or unit is None:
        return await catalogue_page(request, tr(request, "请填写类别并选择单位。", "Give a category and a unit."), 400)
    existing = await CatalogueEntry.get_or_none(category=category, district=district or None, unit_id=unit.id)
    if existing is not None and existing.active:
        return await catalogue_page(request, tr(request, "该规则已存在。", "That rule exists."), 400)
    if existing is not None:
        await CatalogueEntry.filter(id=existing.id).update(active=True)
    else:
        await CatalogueEntry.create(category=category, district=district or None, unit_id=unit.id)
    await CatalogueChange.create(staff_id=admin.id, change="added", category=category, district=district or None,
                                 unit_code=unit.code)
    return redirect("/admin/catalogue")


async def catalogue_remove(request: web.Request) -> web.Response:
    """Retire a rule (kept as history, no longer used for suggestions)."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    entry = await row_or_404(request, CatalogueEntry, "entry_id", ("没有这条规则。", "No such rule."), active=True)
    if isinstance(entry, web.Response):
        return entry
    unit = await Unit.get(id=entry.unit_id)  # type: ignore[attr-defined]
    await CatalogueEntry.filter(id=entry.id).update(active=False)
    await CatalogueChange.create(staff_id=admin.id, change="removed", category=entry.category,
                                 district=entry.district, unit_code=unit.code)
    return redirect("/admin/catalogue")


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the administration routes."""
    router.add_get("/admin/units", units_page, name="admin_units")
    router.add_post("/admin/units", unit_create, name="admin_unit_create")
    router.add_post("/admin/units/{unit_id}/toggle", unit_toggle, name="admin_unit_toggle")
    router.add_get("/admin/staff", staff_page, name="admin_staff")
    router.add_post("/admin/staff", staff_create, name="admin_staff_create")
    router.add_post("/admin/staff/{staff_id}/toggle", staff_toggle, name="admin_staff_toggle")
    router.add_post("/admin/staff/{staff_id}/reset-totp", staff_reset_totp, name="admin_staff_reset_totp")
    router.add_get("/admin/catalogue", catalogue_page, name="admin_catalogue")
    router.add_post("/admin/catalogue", catalogue_add, name="admin_catalogue_add")
    router.add_post("/admin/catalogue/{entry_id}/remove", catalogue_remove, name="admin_catalogue_remove")

