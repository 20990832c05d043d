"""Bulk CSV export: needs a reason, is logged, masks personal data and hides confidential citizens."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from storage.deadlines import local
from storage.labels import STATUS
from storage.lifecycle import CaseStatus
from storage.models import AuditEntry, Citizen, Unit

from .. import queues
from ..access import hides_citizen, visible_cases
from ..auth import current_actor
from ..i18n import lang, tr
from ..masking import citizen_view, text_view
from .common import EXPORT_ROLES, error_page, render

MAX_ROWS = 50_000
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """Make a value safe for a spreadsheet: no formula can start a cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA) else text


async def export_form(request: web.Request) -> web.Response:
    """Show the export form."""
    _, actor = current_actor(request)
    if not actor.roles & EXPORT_ROLES:
        return await error_page(request, 403, tr(request, "您的角色不能导出。", "Your role may not export."))
    i = 1 if lang(request) == "en" else 0
    return await render(request, "export.html", {"statuses": [(s.value, STATUS[s][i]) for s in CaseStatus]})


async def export_csv(request: web.Request) -> web.StreamResponse:
    """Export the cases the user may see, filtered, as CSV; the reason goes to the audit log."""
    staff, actor = current_actor(request)
    if not actor.roles & EXPORT_ROLES:
        return await error_page(request, 403, tr(request, "您的角色不能导出。", "Your role may not export."))
    form = await request.post()
    reason = str(form.get("reason", "")).strip()[:500]
    params = {k: str(form.get(k, "")) for k in ("status", "since", "until", "q") if form.get(k)}
    try:
        filters = queues.parse_filters(params)
    except queues.BadFilter as exc:
        return await error_page(request, 400, tr(request, f"筛选条件有误：{exc}", f"Invalid filter: {exc}"))
    if not reason:
        i = 1 if lang(request) == "en" else 0
        return await render(request, "export.html", {
            "error": tr(request, "请填写导出理由。", "Please give a reason."),
            "statuses": [(s.value, STATUS[s][i]) for s in CaseStatus]}, status=400)
    cases = await queues.apply_filters(visible_cases(actor), filters).order_by("id").limit(MAX_ROWS)
    units = dict(await Unit.all().values_list("id", "name_zh"))
    citizens = {c.id: c for c in await Citizen.filter(id__in={c.citizen_id for c in cases if c.citizen_id})}  # type: ignore[attr-defined]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["编号", "标题", "内容", "状态", "类别", "区县", "街道", "渠道", "主办单位", "诉求人", "电话",
                     "登记时间", "办理时限"])
    for c in cases:
        person = citizen_view(c, citizens.get(c.citizen_id), hidden=hides_citizen(c, actor), unmasked=False)  # type: ignore[arg-type]
        writer.writerow([cell(v) for v in (
            c.number, text_view(c.title, masked=True), text_view(c.text, masked=True),
            STATUS[CaseStatus(c.status)][0], c.category, c.district, "" if person["hidden"] else c.street,
            c.channel.value, units.get(c.lead_unit_id, ""), person["name"], person["phone"],  # type: ignore[arg-type]
            local(c.created_at), local(c.due_at),
        )])
    await AuditEntry.create(staff_id=staff.id, action="export_csv", target=f"{len(cases)} cases", reason=reason,
                            data={"filters": params, "rows": len(cases)})
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"', "X-Content-Type-Options": "nosniff"},
    )
