"""Database side of analytics: load case timelines for the KPI engine and case texts for hot issues and risk.

storage is a leaf package: it hands out plain rows; the back-office turns ``CaseText`` into
``intents.hot_issues.Message`` / ``intents.risk.Signal`` (see ``CaseText.as_message_fields``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q

from .kpi import CaseHistory, EventRow, Scorecard, Weights, assess, current_weights
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
    weights = weights or await current_weights()  # saved by an admin, in whichever process
    histories = await load_histories(await case_ids_active(start, end))
    return assess(histories, as_of, weights, by, start, end)


@dataclass(frozen=True)
class CaseText:
    """What hot-issue and risk detection read of a case: its words, time, author key and area - no identity."""

    id: int
    number: str
    title: str
    text: str
    created_at: dt.datetime
    citizen_key: str | None  # an opaque per-citizen key for counting distinct people, never a name or phone
    district: str | None
    street: str | None
    category: str | None

    def as_message_fields(self) -> dict[str, Any]:
        """Return keyword arguments for ``intents.hot_issues.Message``."""
        return {"id": self.id, "title": self.title, "body": self.text, "time": self.created_at,
                "user": self.citizen_key}

    def as_signal_fields(self) -> dict[str, Any]:
        """Return keyword arguments for ``intents.risk.Signal`` (place: street, else district)."""
        return {"id": self.id, "time": self.created_at, "text": f"{self.title} {self.text}",
                "citizen": self.citizen_key, "place": self.street or self.district}


async def load_case_texts(start: dt.datetime, end: dt.datetime, include_confidential: bool = False,
                          include_malicious: bool = False) -> list[CaseText]:
    """Load the cases submitted in [start, end) for text analytics; merged repeats are kept (they are signal)."""
    query = Case.filter(created_at__gte=start, created_at__lt=end)
    if not include_confidential:
        query = query.filter(confidential=False)  # 保密件 never feed dashboards (DOMAIN.md bad input 21)
    if not include_malicious:
        query = query.filter(malicious=False)
    rows = await query.order_by("id").values("id", "number", "title", "text", "created_at", "citizen_id",
                                             "district", "street", "category")
    return [CaseText(
        id=r["id"], number=r["number"], title=r["title"] or "", text=r["text"] or "",
        created_at=_aware(r["created_at"]) or r["created_at"],
        citizen_key=f"c{r['citizen_id']}" if r["citizen_id"] is not None else None,
        district=r["district"], street=r["street"], category=r["category"],
    ) for r in rows]


@dataclass(frozen=True)
class DirectAnswers:
    """Consultations received in a period on one channel, and how many were answered at intake (直接答复)."""

    channel: str
    consultations: int
    answered: int

    @property
    def rate(self) -> float | None:
        """Return the direct-answer rate, or None when no consultation came in."""
        return self.answered / self.consultations if self.consultations else None


async def direct_answers(start: dt.datetime, end: dt.datetime) -> list[DirectAnswers]:
    """Count consultations submitted in [start, end) per channel and those answered directly."""
    rows = await Case.filter(kind="consultation", created_at__gte=start, created_at__lt=end).values_list(
        "id", "channel")
    answered: set[int] = set()
    ids = [r[0] for r in rows]
    for chunk in _chunks(ids):
        answered.update(await CaseEvent.filter(case_id__in=list(chunk), action="answer_directly")
                        .values_list("case_id", flat=True))
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case_id, channel in rows:
        key = getattr(channel, "value", channel)
        per[key][0] += 1
        per[key][1] += case_id in answered
    return [DirectAnswers(ch, n, a) for ch, (n, a) in sorted(per.items())]
