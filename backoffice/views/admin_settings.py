"""Administration of time: time-limit policies, holiday overrides and KPI weights (admins only, audited)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from aiohttp import web
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from storage.accounts import staff_names
from storage.deadlines import (
    LIMIT_FIELDS,
    OVERRIDE_KINDS,
    add_limit,
    is_calendar_workday,
    is_official,
    policy_for,
    policy_problems,
    refresh_rules,
)
from storage.kpi import (
    KPI_LABELS,
    REPEAT_WINDOW_DAYS,
    VOLUME_FLOOR,
    WEIGHTABLE,
    VersionTaken,
    Weights,
    WeightsError,
    current_weights,
    save_weights,
)
from storage.models import AuditEntry, CaseKind, HolidayOverride, KpiWeightSet, Policy, Urgency

from .. import sessions
from ..i18n import lang, tr
from ..ids import db_id
from ..keys import STAFF
from .admin import _admin
from .common import redirect, render, row_or_404
from .intake import KINDS, URGENCY

UNIT_LABELS = {"hours": ("小时", "hours"), "days": ("自然日", "days"), "working_days": ("工作日", "working days")}
OVERRIDE_LABELS = {"holiday": ("放假", "holiday"), "workday": ("上班", "working day")}
POLICY_SNAPSHOT = ("name", "category", "kind", "urgency", "handle_unit", *LIMIT_FIELDS, "active", "version")
POLICY_CONFLICT = ("其他人刚刚修改了该规则，请刷新后重试。",
                   "Someone else just changed this rule; reload and try again.")
HOLIDAY_TAKEN = ("这一天已有调整，请先删除。", "That date already has an override; remove it first.")


def _policy_snapshot(p: Policy) -> dict[str, object]:
    """A policy's fields as plain JSON (for the audit log)."""
    values = {k: getattr(p, k) for k in POLICY_SNAPSHOT}
    return {k: v.value if isinstance(v, CaseKind | Urgency) else v for k, v in values.items()}


CHANGE_LABELS = {"policy_created": ("新增规则", "rule added"), "policy_changed": ("修改规则", "rule changed"),
                 "holiday_added": ("新增调整", "override added"), "holiday_removed": ("删除调整", "override removed"),
                 "kpi_weights_changed": ("更换权重", "weights changed")}


async def _changes(request: web.Request, actions: tuple[str, ...]) -> list[dict[str, object]]:
    """The latest audited changes of these kinds: who, when, what, before and after."""
    i = 1 if lang(request) == "en" else 0
    entries = await AuditEntry.filter(action__in=actions).order_by("-id").limit(30)
    who = await staff_names(e.staff_id for e in entries)  # type: ignore[attr-defined]
    return [{"at": e.created_at, "who": who.get(e.staff_id, ""),  # type: ignore[attr-defined]
             "action": CHANGE_LABELS.get(e.action, (e.action, e.action))[i],
             "target": e.target, "before": json.dumps(e.data.get("before"), ensure_ascii=False, sort_keys=True),
             "after": json.dumps(e.data.get("after"), ensure_ascii=False, sort_keys=True)} for e in entries]


def _labels(request: web.Request) -> dict[str, object]:
    i = 1 if lang(request) == "en" else 0
    return {"kinds": [(k.value, v[i]) for k, v in KINDS.items()],
            "urgencies": [(k.value, v[i]) for k, v in URGENCY.items() if k is not Urgency.NORMAL],
            "units_of_time": [(k, v[i]) for k, v in UNIT_LABELS.items()],
            "kind_label": {k.value: v[i] for k, v in KINDS.items()},
            "urgency_label": {k.value: v[i] for k, v in URGENCY.items()},
            "unit_label": {k: v[i] for k, v in UNIT_LABELS.items()}}


async def policies_page(request: web.Request, error: str = "", status: int = 200,
                        editing: Policy | None = None) -> web.Response:
    """List the time-limit policies; a form edits one or adds one."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    raw = request.query.get("edit", "")
    if editing is None and db_id(raw):
        editing = await Policy.get_or_none(id=db_id(raw))
    policies = await Policy.all().order_by("-active", "id")
    return await render(request, "admin_policies.html", {
        "policies": policies, "editing": editing, "error": error, "limit_fields": LIMIT_FIELDS,
        "changes": await _changes(request, ("policy_created", "policy_changed")), **_labels(request)}, status=status)


def _read_policy(form: Mapping[str, object], policy: Policy) -> list[tuple[str, str]]:
    """Copy the form's fields onto a policy; return problems with the form itself."""
    problems: list[tuple[str, str]] = []
    name = str(form.get("name", "")).strip()
    if not name or len(name) > 64:
        problems.append(("请填写规则名称（不超过64字）。", "Give the rule a name (64 characters at most)."))
    policy.name = name[:64]
    category = str(form.get("category", "")).strip()
    if len(category) > 32:
        problems.append(("类别不超过32字。", "The category has at most 32 characters."))
    policy.category = category[:32] or None
    kind, urgency = str(form.get("kind", "")), str(form.get("urgency", ""))
    if (kind and kind not in CaseKind._value2member_map_) or (urgency and urgency not in ("urgent", "emergency")):
        problems.append(("诉求类型或紧急程度无效。", "Bad kind or urgency."))
    policy.kind = CaseKind(kind) if kind in CaseKind._value2member_map_ else None
    policy.urgency = Urgency(urgency) if urgency in ("urgent", "emergency") else None
    policy.handle_unit = str(form.get("handle_unit", ""))
    for field in LIMIT_FIELDS:
        text = str(form.get(field, "")).strip()
        setattr(policy, field, int(text) if text.isdigit() and len(text) < 6 else -1)
    policy.active = form.get("active") == "1"
    return problems


async def _save_policy(request: web.Request, policy: Policy, created: bool) -> web.Response:
    """Validate and store a new or changed policy; a change is compare-and-set on the version the form was read at."""
    admin = request[STAFF]
    form = await request.post()
    before = None if created else _policy_snapshot(policy)
    raw = str(form.get("expected_version", "")).strip()
    expected = int(raw) if raw.isdigit() and len(raw) < 10 else None
    if not created and expected != policy.version:
        return await policies_page(request, tr(request, *POLICY_CONFLICT), 409, editing=policy)
    problems = _read_policy(form, policy)
    problems = problems or policy_problems(policy, await Policy.all())
    if problems:
        i = 1 if lang(request) == "en" else 0
        return await policies_page(request, " ".join(p[i] for p in problems), 400, editing=policy)
    async with in_transaction():
        if created:
            await policy.save()
        else:
            fields = {k: getattr(policy, k) for k in POLICY_SNAPSHOT if k != "version"}
            if not await Policy.filter(id=policy.id, version=expected).update(**fields, version=F("version") + 1):
                # Another administrator saved in between: nothing of this form is stored; show theirs.
                latest = await Policy.get(id=policy.id)
                return await policies_page(request, tr(request, *POLICY_CONFLICT), 409, editing=latest)
            policy.version += 1
        await AuditEntry.create(staff_id=admin.id, action="policy_created" if created else "policy_changed",
                                target=f"policy:{policy.id}", data={"before": before,
                                                                    "after": _policy_snapshot(policy)})
    await refresh_rules()  # this process's next deadline follows the change at once
    return redirect("/admin/policies")


async def policy_create(request: web.Request) -> web.Response:
    """Add a time-limit policy (validated, audited)."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    return await _save_policy(request, Policy(handle_amount=0, handle_unit="working_days"), created=True)


async def policy_update(request: web.Request) -> web.Response:
    """Change a time-limit policy: validated against the others, version bumped, audited with before/after."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    policy = await row_or_404(request, Policy, "policy_id", ("没有这条规则。", "No such rule."))
    if isinstance(policy, web.Response):
        return policy
    return await _save_policy(request, policy, created=False)


async def _deadline_preview(request: web.Request) -> dict[str, object]:
    """What the overrides mean today: when a normal complaint dispatched now would be due."""
    moment = sessions.now()
    policy = await policy_for(None, CaseKind.COMPLAINT, Urgency.NORMAL)
    if policy is None:
        return {}
    return {"preview_policy": policy.name, "preview_due": add_limit(moment, policy.handle_amount, policy.handle_unit)}


async def holidays_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    """List the holiday overrides (local holidays, extra working days, years beyond the published calendar)."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    i = 1 if lang(request) == "en" else 0
    overrides = await HolidayOverride.all().order_by("day")
    return await render(request, "admin_holidays.html", {
        "overrides": overrides, "kinds": [(k, v[i]) for k, v in OVERRIDE_LABELS.items()],
        "kind_label": {k: v[i] for k, v in OVERRIDE_LABELS.items()}, "error": error,
        "official": {o.id: is_official(o.day) for o in overrides},
        "changes": await _changes(request, ("holiday_added", "holiday_removed")), **await _deadline_preview(request)},
        status=status)


async def holiday_add(request: web.Request) -> web.Response:
    """Mark a date as a holiday or a working day, whatever the national calendar says (audited)."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    form = await request.post()
    kind, note = str(form.get("kind", "")), str(form.get("note", "")).strip()
    try:
        day = dt.date.fromisoformat(str(form.get("day", "")).strip())
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2100 or kind not in OVERRIDE_KINDS or len(note) > 128:
        return await holidays_page(request, tr(request, "请填写日期（YYYY-MM-DD）并选择放假或上班。",
                                               "Give a date (YYYY-MM-DD) and choose holiday or working day."), 400)
    if await HolidayOverride.exists(day=day):
        return await holidays_page(request, tr(request, *HOLIDAY_TAKEN), 400)
    calendar = is_calendar_workday(day)  # no override exists for the day: this is what applied until now
    try:
        async with in_transaction():
            row = await HolidayOverride.create(day=day, kind=kind, note=note, staff_id=admin.id)
            await AuditEntry.create(staff_id=admin.id, action="holiday_added", target=day.isoformat(), reason=note,
                                    data={"before": {"day": day.isoformat(), "workday": calendar},
                                          "after": {"day": day.isoformat(), "workday": OVERRIDE_KINDS[kind],
                                                    "override": row.id}})
    except IntegrityError:  # another administrator added the same day in between: the unique day refused ours
        return await holidays_page(request, tr(request, *HOLIDAY_TAKEN), 400)
    await refresh_rules()
    return redirect("/admin/holidays")


async def holiday_remove(request: web.Request) -> web.Response:
    """Remove an override: the national calendar applies to that date again (audited)."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    row = await row_or_404(request, HolidayOverride, "override_id", ("没有这条调整。", "No such override."))
    if isinstance(row, web.Response):
        return row
    calendar = is_calendar_workday(row.day)
    async with in_transaction():
        await HolidayOverride.filter(id=row.id).delete()
        await AuditEntry.create(staff_id=admin.id, action="holiday_removed", target=row.day.isoformat(),
                                data={"before": {"day": row.day.isoformat(), "workday": OVERRIDE_KINDS[row.kind],
                                                 "note": row.note},
                                      "after": {"day": row.day.isoformat(), "workday": calendar}})
    await refresh_rules()
    return redirect("/admin/holidays")


async def kpi_weights_page(request: web.Request, error: str = "", status: int = 200,
                           draft: Mapping[str, str] | None = None) -> web.Response:
    """Show the current KPI weights (database, else kpi_weights.json) and a form for a new version."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    i = 1 if lang(request) == "en" else 0
    current = await current_weights()
    rows = await KpiWeightSet.all().order_by("-id").limit(20)
    who = await staff_names(r.staff_id for r in rows)  # type: ignore[attr-defined]
    fields = [(k.value, KPI_LABELS[k][i], round(current.weights.get(k, 0.0) * 100, 2)) for k in WEIGHTABLE]
    return await render(request, "admin_kpi_weights.html", {
        "current": current, "fields": fields, "rows": rows, "who": who, "error": error, "draft": draft or {},
        "from_file": not rows, "changes": await _changes(request, ("kpi_weights_changed",))}, status=status)


async def kpi_weights_save(request: web.Request) -> web.Response:
    """Save a new version of the weights (percentages summing to 100), audited with before and after."""
    if isinstance(admin := await _admin(request), web.Response):
        return admin
    form = await request.post()
    draft = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    bad = tr(request, "权重必须是0到100之间的数字，合计100%。",
             "Weights are numbers from 0 to 100 that add up to 100%.")
    try:
        percents = {k: float(draft.get(k.value, "0") or 0) for k in WEIGHTABLE}
        k_value = float(draft.get("basic_satisfied_k", ""))
        floor, window = int(draft.get("volume_floor", "")), int(draft.get("repeat_window_days", ""))
    except ValueError:
        return await kpi_weights_page(request, bad, 400, draft)
    if not REPEAT_WINDOW_DAYS[0] <= window <= REPEAT_WINDOW_DAYS[1]:
        low, high = REPEAT_WINDOW_DAYS
        message = tr(request, f"重复诉求统计窗口必须是{low}到{high}天之间的整数。",
                     f"The repeat window must be a whole number of days from {low} to {high}.")
        return await kpi_weights_page(request, message, 400, draft)
    if not VOLUME_FLOOR[0] <= floor <= VOLUME_FLOOR[1]:
        low, high = VOLUME_FLOOR
        message = tr(request, f"参与排名的最低件数必须是{low}到{high}之间的整数。",
                     f"The volume floor must be a whole number from {low} to {high}.")
        return await kpi_weights_page(request, message, 400, draft)
    total = sum(percents.values())
    if any(not 0 <= p <= 100 or p != p for p in percents.values()) or abs(total - 100) > 0.01:
        message = tr(request, f"权重合计为{total:g}%，必须是100%。", f"The weights add up to {total:g}%, not 100%.")
        return await kpi_weights_page(request, message, 400, draft)
    version = draft.get("version", "").strip()
    if not version or len(version) > 64:
        return await kpi_weights_page(request, tr(request, "请填写版本名称。", "Give the version a name."), 400, draft)
    weights = Weights(version, {k: p / total for k, p in percents.items() if p > 0}, k_value, floor, window)
    try:
        await save_weights(weights, draft.get("note", "").strip()[:500], admin.id)
    except VersionTaken:
        message = tr(request, "这个版本名称已用过，请换一个。", "That version name is taken; choose another.")
        return await kpi_weights_page(request, message, 400, draft)
    except WeightsError as exc:
        return await kpi_weights_page(request, tr(request, "考核权重无效：", "Invalid KPI weights: ") + str(exc), 400,
                                      draft)
    return redirect("/admin/kpi-weights")


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the routes of time-limit policies, holiday overrides and KPI weights."""
    router.add_get("/admin/policies", policies_page, name="admin_policies")
    router.add_post("/admin/policies", policy_create, name="admin_policy_create")
    router.add_post("/admin/policies/{policy_id}", policy_update, name="admin_policy_update")
    router.add_get("/admin/holidays", holidays_page, name="admin_holidays")
    router.add_post("/admin/holidays", holiday_add, name="admin_holiday_add")
    router.add_post("/admin/holidays/{override_id}/remove", holiday_remove, name="admin_holiday_remove")
    router.add_get("/admin/kpi-weights", kpi_weights_page, name="admin_kpi_weights")
    router.add_post("/admin/kpi-weights", kpi_weights_save, name="admin_kpi_weights_save")


async def load_admin_settings(app: web.Application) -> None:
    """At start-up, load the holiday overrides and policies into this process (KPI weights are read per report)."""
    await refresh_rules()
