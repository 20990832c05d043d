"""Supervision documents (issue 7): the printable 督办单 of one case and the monthly 通报 per unit.

Both are built from the case data and its ``supervise`` events (催办/督办/通报, written by the
scheduler or a supervisor). The 督办单 is shown to whoever may see the case; the 通报 covers the
city for platform roles and only the viewer's unit for unit staff. Neither shows the citizen.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aiohttp import web

from storage.deadlines import local, working_days_between
from storage.errors import CaseNotFound
from storage.labels import ROLE, STATUS, SUPERVISE_LEVEL
from storage.lifecycle import Action, CaseStatus, Role, SuperviseLevel
from storage.models import Case, CaseEvent, Unit
from storage.scheduler import SUPERVISED

from ..access import hides_citizen, visible_case
from ..auth import current_actor
from ..i18n import lang
from ..ids import db_id
from ..masking import street_level, text_view
from ..sessions import now
from .analytics import month_of, refusing, scope_for
from .common import error_page, render

OPEN = SUPERVISED  # the statuses the scheduler chases: the unit holds the case


def level_label(level: str, language: str) -> str:
    """Return the label of a supervision level (or the raw value)."""
    try:
        return SUPERVISE_LEVEL[SuperviseLevel(level)][1 if language == "en" else 0]
    except ValueError:
        return level


async def supervision_order(request: web.Request) -> web.Response:
    """A printable 督办单 of one case: the matter, the unit, the deadline and every supervision step."""
    _, actor = current_actor(request)
    language = lang(request)
    case_id = db_id(request.match_info["case_id"])
    try:
        if case_id is None:
            raise CaseNotFound()
        case = await visible_case(actor, case_id)
    except CaseNotFound as exc:
        return await error_page(request, 404, exc.message(language))
    events = await CaseEvent.filter(case_id=case.id, action=Action.SUPERVISE).order_by("id")
    unit = await Unit.get_or_none(id=case.lead_unit_id) if case.lead_unit_id else None  # type: ignore[attr-defined]
    moment = now()
    overdue_days = 0
    if case.due_at is not None and case.due_at < moment and CaseStatus(case.status) in OPEN:
        overdue_days = working_days_between(case.due_at, moment)
    i = 1 if language == "en" else 0
    steps = [{"at": local(e.created_at), "level": level_label(str(e.data.get("level", "")), language),
              "raw_level": str(e.data.get("level", "")), "note": text_view(str(e.data.get("note", "")), masked=True),
              "by": ROLE[Role(e.actor_role)][i]} for e in events]
    known = [SuperviseLevel(s["raw_level"]) for s in steps if s["raw_level"] in {lv.value for lv in SuperviseLevel}]
    highest = max(known, key=list(SuperviseLevel).index, default=None)
    return await render(request, "supervision_order.html", {
        "c": case, "steps": steps, "unit": (unit.name_en or unit.name_zh) if unit and language == "en"
        else (unit.name_zh if unit else ""),
        "status": STATUS[CaseStatus(case.status)][1 if language == "en" else 0],
        "title": text_view(case.title, masked=True), "text": text_view(case.text, masked=True),
        "place": (case.district or "") if hides_citizen(case, actor) or case.confidential else street_level(case),
        "created": local(case.created_at), "dispatched": local(case.dispatched_at), "due": local(case.due_at),
        "overdue_days": overdue_days, "printed": local(moment),
        "highest": level_label(highest.value, language) if highest else "",
        "doc_no": f"督〔{local(moment)[:4]}〕{case.number}",
    })


@refusing
async def bulletin(request: web.Request) -> web.StreamResponse:
    """The monthly 通报: per unit, the supervision steps of the month and its supervised or overdue cases."""
    scope = await scope_for(request)
    month, start, end = month_of(request)
    language = lang(request)
    i = 1 if language == "en" else 0
    events = await CaseEvent.filter(action=Action.SUPERVISE, created_at__gte=start, created_at__lt=end
                                    ).order_by("id").values("case_id", "data", "created_at")
    case_ids = sorted({e["case_id"] for e in events})
    moment = min(now(), end)
    mine = Case.all() if scope.city else Case.filter(lead_unit_id=scope.unit_id)
    overdue_ids = set(await mine.filter(status__in=OPEN, due_at__isnull=False, due_at__lt=moment
                                        ).values_list("id", flat=True))
    all_ids = sorted(set(case_ids) | overdue_ids)
    cases = {c.id: c for c in await mine.filter(id__in=all_ids)} if all_ids else {}
    units = {u.id: (u.name_en or u.name_zh) if i else u.name_zh for u in await Unit.all()}
    levels: dict[int, list[str]] = defaultdict(list)
    for e in events:
        if e["case_id"] in cases:
            levels[e["case_id"]].append(str((e["data"] or {}).get("level", "")))
    per_unit: dict[int | None, dict[str, Any]] = {}
    for cid, c in sorted(cases.items()):
        uid = c.lead_unit_id  # type: ignore[attr-defined]
        slot = per_unit.setdefault(uid, {"unit": units.get(uid, "—") if uid else "—", "reminder": 0, "order": 0,
                                         "bulletin": 0, "overdue": 0, "cases": []})
        for lv in levels.get(cid, []):
            if lv in ("reminder", "order", "bulletin"):
                slot[lv] += 1
        is_overdue = cid in overdue_ids
        slot["overdue"] += int(is_overdue)
        slot["cases"].append({
            "id": cid, "number": c.number, "title": text_view(c.title, masked=True),
            "status": STATUS[CaseStatus(c.status)][i], "due": local(c.due_at),
            "late": working_days_between(c.due_at, moment) if is_overdue and c.due_at else 0,
            "levels": "、".join(level_label(lv, language) for lv in levels.get(cid, [])),
        })
    sections = sorted(per_unit.values(), key=lambda s: (-(s["bulletin"] * 100 + s["order"] * 10 + s["overdue"]),
                                                         s["unit"]))
    totals = {k: sum(s[k] for s in sections) for k in ("reminder", "order", "bulletin", "overdue")}
    return await render(request, "supervision_bulletin.html", {
        "month": month, "sections": sections, "totals": totals, "printed": local(now()),
        "scope_unit": "" if scope.city else units.get(scope.unit_id, ""),  # type: ignore[arg-type]
    })


def add_routes(r: web.UrlDispatcher) -> None:
    """Add the supervision documents."""
    r.add_get("/cases/{case_id}/supervision-order", supervision_order, name="supervision_order")
    r.add_get("/reports/bulletin", bulletin, name="supervision_bulletin")

