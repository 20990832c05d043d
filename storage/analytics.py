"""Database side of analytics: load case timelines for the KPI engine and recent cases for hot issues."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tortoise.expressions import Q

from .kpi import CaseHistory, EventRow, Scorecard, Weights, assess, load_weights
from .models import Case, CaseEvent, Unit

CHUNK = 2000  # ids per IN (...) list: well inside SQLite's and PostgreSQL's parameter limits
_CASE_FIELDS = ("id", "category", "district", "status", "anonymous", "citizen_id", "due_at", "sign_due_at",
                "callback_due_at", "parent_id", "lead_unit_id", "created_at")


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i: i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


async def case_ids_active(start: dt.datetime | None, end: dt.datetime | None) -> list[int]:
    """Return ids of cases with an event, or a deadline, in [start, end)."""
    if start is None and end is None:
        return list(await Case.all().order_by("id").values_list("id", flat=True))
    window: dict[str, dt.datetime] = {}
    due: dict[str, dt.datetime] = {}
    if start is not None:
        window["created_at__gte"], due["due_at__gte"] = start, start
    if end is not None:
        window["created_at__lt"], due["due_at__lt"] = end, end
    with_events = await CaseEvent.filter(**window).order_by("case_id").distinct().values_list("case_id", flat=True)
    with_due = await Case.filter(Q(**due)).values_list("id", flat=True)
    return sorted(set(with_events) | set(with_due))


async def load_histories(case_ids: Sequence[int]) -> list[CaseHistory]:
    """Load cases and their whole timelines (in event order) as pure ``CaseHistory`` rows."""
    units = dict(await Unit.all().values_list("id", "code"))
    rows: list[dict[str, Any]] = []
    events: dict[int, list[EventRow]] = defaultdict(list)
    for chunk in _chunks(list(case_ids)):
        rows += await Case.filter(id__in=chunk).values(*_CASE_FIELDS)
        for e in await CaseEvent.filter(case_id__in=chunk).order_by("case_id", "id").values(
            "case_id", "action", "created_at", "data"
        ):
            events[e["case_id"]].append(EventRow(str(e["action"]), _aware(e["created_at"]) or e["created_at"],
                                                 e["data"] or {}))
    parent_ids = sorted({r["parent_id"] for r in rows if r["parent_id"] is not None})
    parents: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(parent_ids):
        for p in await Case.filter(id__in=chunk).values("id", "created_at", "lead_unit_id"):
            parents[p["id"]] = p
    out = []
    for r in sorted(rows, key=lambda r: r["id"]):
        parent = parents.get(r["parent_id"]) if r["parent_id"] is not None else None
        out.append(CaseHistory(
            case_id=r["id"], events=tuple(events.get(r["id"], ())), category=r["category"],
            district=r["district"], status=str(r["status"]),
            anonymous=bool(r["anonymous"]) or r["citizen_id"] is None,
            due_at=_aware(r["due_at"]), sign_due_at=_aware(r["sign_due_at"]),
            callback_due_at=_aware(r["callback_due_at"]),
            parent_created_at=_aware(parent["created_at"]) if parent else None,
            parent_unit=units.get(parent["lead_unit_id"]) if parent else None,
        ))
    return out


async def kpi_report(as_of: dt.datetime, by: Sequence[str] = ("unit",), start: dt.datetime | None = None,
                     end: dt.datetime | None = None, weights: Weights | None = None) -> list[Scorecard]:
    """Compute the ranked KPI scorecards of a period straight from the event log."""
    weights = weights or load_weights()
    histories = await load_histories(await case_ids_active(start, end))
    return assess(histories, as_of, weights, by, start, end)
