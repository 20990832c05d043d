"""KPI formulas over case timelines (pure): facts per case, rates per group, composite score and ranking.

Every KPI is a rate over *facts*: one fact per thing in a denominator (a dispatch, a resolved case,
a call-back …) with a weight in [0, 1] for how much it counts in the numerator. A figure keeps
the case ids behind it, so any number on a dashboard can be recomputed and audited.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

WEIGHTS_PATH = Path(__file__).with_name("kpi_weights.json")
SHANGHAI = ZoneInfo("Asia/Shanghai")
GROUP_KEYS = ("unit", "category", "district", "day", "week", "month")


class KPI(StrEnum):
    """The indicators of DOMAIN.md; values are the keys used in kpi_weights.json."""

    SIGN_TIMELY = "sign_timely"  # 签收及时率
    ON_TIME = "on_time"  # 按时办结率
    RESPONSE = "response"  # 响应率
    SOLVED = "solved"  # 解决率
    SATISFACTION = "satisfaction"  # 满意率
    RETURN = "return"  # 退单率
    DISPATCH_ACCURACY = "dispatch_accuracy"  # 派单准确率
    EXTENSION = "extension"  # 延期率
    REOPEN = "reopen"  # 重办率
    REPEAT = "repeat"  # 重复诉求率
    CALLBACK = "callback"  # 回访率


KPI_LABELS: dict[KPI, tuple[str, str]] = {
    KPI.SIGN_TIMELY: ("签收及时率", "signed on time"),
    KPI.ON_TIME: ("按时办结率", "resolved on time"),
    KPI.RESPONSE: ("响应率", "response rate"),
    KPI.SOLVED: ("解决率", "solved rate"),
    KPI.SATISFACTION: ("满意率", "satisfaction rate"),
    KPI.RETURN: ("退单率", "return rate"),
    KPI.DISPATCH_ACCURACY: ("派单准确率", "dispatch accuracy"),
    KPI.EXTENSION: ("延期率", "extension rate"),
    KPI.REOPEN: ("重办率", "reopen rate"),
    KPI.REPEAT: ("重复诉求率", "repeat rate"),
    KPI.CALLBACK: ("回访率", "call-back rate"),
}
RATING_SCORE = {"very_satisfied": 1.0, "satisfied": 1.0, "dissatisfied": 0.0, "very_dissatisfied": 0.0}
OPEN_FOR_UNIT = frozenset({"dispatched", "in_progress", "pending_review", "reopened"})


#: Indicators where more is better: only these may carry a weight in the composite score
#: (a return, extension, reopen or repeat rate would reward the wrong thing).
WEIGHTABLE = (KPI.RESPONSE, KPI.SOLVED, KPI.SATISFACTION, KPI.ON_TIME, KPI.SIGN_TIMELY, KPI.DISPATCH_ACCURACY,
              KPI.CALLBACK)


#: Allowed ranges (inclusive) of the repeat window in days and of the volume floor in cases.
REPEAT_WINDOW_DAYS = (1, 3650)
VOLUME_FLOOR = (0, 100_000)
DEFAULT_REPEAT_WINDOW_DAYS = 30
DEFAULT_VOLUME_FLOOR = 10


def _in_range(value: object, bounds: tuple[int, int]) -> bool:
    """Tell whether a value is an integer (not a bool) within the inclusive bounds."""
    return isinstance(value, int) and not isinstance(value, bool) and bounds[0] <= value <= bounds[1]


class WeightsError(ValueError):
    """The KPI weights file is malformed; the message names the bad entry."""


class VersionTaken(WeightsError):
    """Saved weights need a version name not used before (in the database or in kpi_weights.json)."""


@dataclass(frozen=True)
class Weights:
    """One version of the assessment rules: KPI weights, k for 基本满意, volume floor, repeat window."""

    version: str
    weights: Mapping[KPI, float]
    basic_satisfied_k: float = 0.9
    volume_floor: int = 10
    repeat_window_days: int = 30


def _weights_entry(entry: Mapping[str, Any]) -> Weights:
    name = entry.get("version")
    if not isinstance(name, str) or not name:
        raise WeightsError(f"a weights entry has no version: {entry!r}")
    raw = entry.get("weights")
    if not isinstance(raw, dict) or not raw:
        raise WeightsError(f"weights {name}: 'weights' must be a non-empty object")
    weights: dict[KPI, float] = {}
    for key, value in raw.items():
        if key not in KPI._value2member_map_:
            raise WeightsError(f"weights {name}: unknown KPI {key!r}, expected one of {[k.value for k in KPI]}")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise WeightsError(f"weights {name}: weight of {key!r} must be a non-negative number")
        if value > 0 and KPI(key) not in WEIGHTABLE:
            raise WeightsError(f"weights {name}: {key!r} is a rate where less is better and cannot be weighted")
        weights[KPI(key)] = float(value)
    if abs(sum(weights.values()) - 1.0) > 1e-6:
        raise WeightsError(f"weights {name}: weights sum to {sum(weights.values())}, not 1")
    k = entry.get("basic_satisfied_k", 0.9)
    if not isinstance(k, int | float) or not 0 <= k <= 1:
        raise WeightsError(f"weights {name}: basic_satisfied_k must be between 0 and 1")
    floor, window = entry.get("volume_floor", 10), entry.get("repeat_window_days", 30)
    if not _in_range(floor, VOLUME_FLOOR):
        raise WeightsError(f"weights {name}: volume_floor must be an integer from {VOLUME_FLOOR[0]} "
                           f"to {VOLUME_FLOOR[1]}")
    if not _in_range(window, REPEAT_WINDOW_DAYS):
        raise WeightsError(f"weights {name}: repeat_window_days must be an integer from {REPEAT_WINDOW_DAYS[0]} "
                           f"to {REPEAT_WINDOW_DAYS[1]}")
    return Weights(name, weights, float(k), floor, window)


_saved: Weights | None = None  # the newest database weights seen by this process, if any


def load_weights(path: str | Path = WEIGHTS_PATH, version: str | None = None) -> Weights:
    """Load one version of the weights file (the file's current one by default), validated.

    The default call returns the weights an administrator saved in the database, when this process
    has loaded some (see current_weights), so the pages follow the edited weights."""
    if _saved is not None and Path(path) == WEIGHTS_PATH and version in (None, _saved.version):
        return _saved
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read KPI weights {path}: {exc}") from exc
    entries = doc.get("versions") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise WeightsError(f"{path}: 'versions' must be a non-empty list")
    parsed = [_weights_entry(e) for e in entries]
    names = [w.version for w in parsed]
    if len(set(names)) != len(names):
        raise WeightsError(f"{path}: duplicate version in {names}")
    wanted = version or doc.get("current") or names[-1]
    for w in parsed:
        if w.version == wanted:
            return w
    raise WeightsError(f"{path}: no weights version {wanted!r} (have {names})")


def weights_from_row(row: Any) -> Weights:
    """Validate a kpi_weight_set row into Weights (the same rules as the file).

    A stored volume floor or repeat window outside its range (saved before the ranges were enforced) falls
    back to its default, so one bad row never breaks every KPI page."""
    floor = row.volume_floor if _in_range(row.volume_floor, VOLUME_FLOOR) else DEFAULT_VOLUME_FLOOR
    window = row.repeat_window_days if _in_range(row.repeat_window_days, REPEAT_WINDOW_DAYS) \
        else DEFAULT_REPEAT_WINDOW_DAYS
    return _weights_entry({"version": row.version, "weights": row.weights, "basic_satisfied_k": row.basic_satisfied_k,
                           "volume_floor": floor, "repeat_window_days": window})


def forget_saved_weights() -> None:
    """Go back to the file's weights in this process (until current_weights reads the database again)."""
    global _saved
    _saved = None


async def current_weights() -> Weights:
    """Return the current weights: the newest set saved in the database, else the file's current version."""
    from .models import KpiWeightSet  # the formulas above stay free of the database

    global _saved
    row = await KpiWeightSet.all().order_by("-id").first()
    _saved = None  # cleared first: a row that fails validation leaves the file's weights, not older saved ones
    if row is not None:
        _saved = weights_from_row(row)
        return _saved
    return load_weights()


async def save_weights(weights: Weights, note: str, staff_id: int | None) -> Weights:
    """Store a new version of the weights (validated, audited with before and after) and make it current."""
    from tortoise.transactions import in_transaction

    from .models import AuditEntry, KpiWeightSet

    checked = _weights_entry(weights_dict(weights))
    before = await current_weights()
    if await KpiWeightSet.exists(version=checked.version) or checked.version in file_versions():
        raise VersionTaken(f"weights {checked.version}: that version name is taken")
    after = weights_dict(checked)
    async with in_transaction():
        await KpiWeightSet.create(**after, note=note, staff_id=staff_id)
        await AuditEntry.create(staff_id=staff_id, action="kpi_weights_changed", target=checked.version,
                                reason=note, data={"before": weights_dict(before), "after": after})
    return await current_weights()


def weights_dict(w: Weights) -> dict[str, Any]:
    """Describe weights as plain JSON (for the audit log)."""
    return {"version": w.version, "weights": {k.value: v for k, v in w.weights.items()},
            "basic_satisfied_k": w.basic_satisfied_k, "volume_floor": w.volume_floor,
            "repeat_window_days": w.repeat_window_days}


def file_versions() -> list[str]:
    """Return the version names in kpi_weights.json (they cannot be reused for saved weights)."""
    try:
        doc = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
        return [str(e.get("version")) for e in doc.get("versions", [])]
    except (OSError, ValueError, AttributeError):
        return []


@dataclass(frozen=True)
class EventRow:
    """One timeline entry as the formulas need it."""

    action: str
    at: dt.datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseHistory:
    """A case and its timeline in order; parent fields describe the case a repeat was merged into."""

    case_id: int
    events: tuple[EventRow, ...]
    category: str | None = None
    district: str | None = None
    status: str = "submitted"
    anonymous: bool = False
    due_at: dt.datetime | None = None
    sign_due_at: dt.datetime | None = None
    callback_due_at: dt.datetime | None = None
    parent_created_at: dt.datetime | None = None
    parent_unit: str | None = None


@dataclass(frozen=True)
class Fact:
    """One member of a KPI's denominator; ``weight`` is its share of the numerator."""

    kpi: KPI
    case_id: int
    unit: str | None
    category: str | None
    district: str | None
    at: dt.datetime
    weight: float


def facts_for(h: CaseHistory, as_of: dt.datetime, k: float = 0.9, repeat_window_days: int = 30) -> list[Fact]:
    """Derive every KPI fact of one case from its timeline, as things stand at ``as_of``."""
    out: list[Fact] = []

    def add(kpi: KPI, unit: str | None, at: dt.datetime, weight: float) -> None:
        out.append(Fact(kpi, h.case_id, unit, h.category, h.district, at, weight))

    unit: str | None = None
    sign_open: tuple[str | None, dt.datetime] | None = None  # dispatch waiting for 签收
    return_open: tuple[str | None, dt.datetime] | None = None  # dispatch not (yet) returned
    dispatches: list[tuple[str | None, dt.datetime]] = []
    resolutions: list[tuple[str | None, dt.datetime, bool]] = []
    signed: dict[str | None, list[Any]] = {}  # unit -> [first sign time, extended?]
    reopened = has_callback = self_rated = False
    intake: dt.datetime | None = None
    merged_at: dt.datetime | None = None
    last_cb: tuple[str | None, EventRow] | None = None
    last_rating: tuple[str | None, EventRow] | None = None
    for e in h.events:
        a = e.action
        if a in ("accept", "merge") and intake is None:
            intake = e.at
        if a == "merge":
            merged_at = e.at
        elif a in ("dispatch", "uphold_dispatch"):
            if a == "dispatch":
                unit = e.data.get("lead_unit") or unit
                dispatches.append((unit, e.at))
            if return_open is not None:
                add(KPI.RETURN, return_open[0], return_open[1], 0.0)
            sign_open = return_open = (unit, e.at)
        elif a == "sign":
            if sign_open is not None:
                add(KPI.SIGN_TIMELY, sign_open[0], sign_open[1], 0.0 if e.data.get("late") else 1.0)
                sign_open = None
            signed.setdefault(unit, [e.at, False])
        elif a == "return":
            if return_open is not None:
                add(KPI.RETURN, return_open[0], return_open[1], 1.0)
            sign_open = return_open = None  # a return before 签收 is judged by 退单率, not 签收及时率
        elif a == "approve_extension" and unit in signed:
            signed[unit][1] = True
        elif a == "approve_reply":
            resolutions.append((unit, e.at, bool(e.data.get("on_time", True))))
        elif a == "reopen" and resolutions:
            reopened = True
        elif a in ("callback", "callback_attempt"):
            has_callback = has_callback or bool(resolutions)
            if a == "callback":
                last_cb = (unit, e)
        if a == "evaluate":
            self_rated = True
        if a in ("callback", "evaluate") and e.data.get("rating"):
            last_rating = (unit, e)
    if sign_open is not None and h.sign_due_at is not None and as_of > h.sign_due_at:
        add(KPI.SIGN_TIMELY, sign_open[0], sign_open[1], 0.0)
    if return_open is not None:
        add(KPI.RETURN, return_open[0], return_open[1], 0.0)
    if dispatches:
        add(KPI.DISPATCH_ACCURACY, dispatches[0][0], dispatches[0][1], 1.0 if len(dispatches) == 1 else 0.0)
    for signer, (first_sign, extended) in signed.items():
        add(KPI.EXTENSION, signer, first_sign, 1.0 if extended else 0.0)
    overdue = h.status in OPEN_FOR_UNIT and h.due_at is not None and h.due_at < as_of
    if overdue and h.due_at is not None:
        add(KPI.ON_TIME, unit, h.due_at, 0.0)
    elif resolutions:
        last_unit, last_at, _ = resolutions[-1]
        add(KPI.ON_TIME, last_unit, last_at, 1.0 if all(r[2] for r in resolutions) else 0.0)
    if resolutions:
        first_unit, first_at, _ = resolutions[0]
        add(KPI.REOPEN, first_unit, first_at, 1.0 if reopened else 0.0)
        if has_callback:
            add(KPI.CALLBACK, first_unit, first_at, 1.0)
        elif not h.anonymous and not self_rated and (
            h.status == "archived" or (h.callback_due_at is not None and h.callback_due_at <= as_of)
        ):
            add(KPI.CALLBACK, first_unit, first_at, 0.0)  # due, never attempted
    if last_cb is not None:
        cb_unit, cb = last_cb
        if cb.data.get("contacted") is not None:
            add(KPI.RESPONSE, cb_unit, cb.at, 1.0 if cb.data["contacted"] else 0.0)
        if cb.data.get("solved") is not None:
            add(KPI.SOLVED, cb_unit, cb.at, 1.0 if cb.data["solved"] else 0.0)
    if last_rating is not None:
        rating = str(last_rating[1].data["rating"])
        add(KPI.SATISFACTION, last_rating[0], last_rating[1].at, RATING_SCORE.get(rating, k))
    if intake is not None:
        if not _in_range(repeat_window_days, REPEAT_WINDOW_DAYS):
            repeat_window_days = DEFAULT_REPEAT_WINDOW_DAYS  # an out-of-range window would overflow timedelta
        window = dt.timedelta(days=repeat_window_days)
        repeat = (merged_at is not None and h.parent_created_at is not None
                  and merged_at - h.parent_created_at <= window)
        owner = h.parent_unit if merged_at is not None else (dispatches[0][0] if dispatches else None)
        add(KPI.REPEAT, owner, intake, 1.0 if repeat else 0.0)
    return out


@dataclass(frozen=True)
class Figure:
    """One KPI for one group: value = numerator / denominator, with the cases behind both."""

    kpi: KPI
    numerator: float
    denominator: int
    case_ids: tuple[int, ...]
    hit_case_ids: tuple[int, ...]

    @property
    def value(self) -> float | None:
        """Return the rate, or None when nothing was due (no denominator)."""
        return self.numerator / self.denominator if self.denominator else None


def _bucket(at: dt.datetime, key: str) -> str:
    local = at.astimezone(SHANGHAI)
    if key == "day":
        return local.date().isoformat()
    if key == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def group_key(fact: Fact, by: Sequence[str]) -> tuple[str | None, ...]:
    """Return the group a fact falls in (unit, category, district, day, week or month)."""
    return tuple(_bucket(fact.at, k) if k in ("day", "week", "month") else getattr(fact, k) for k in by)


@dataclass(frozen=True)
class Scorecard:
    """All KPIs of one group, its volume (distinct cases), composite score and rank (None below the floor)."""

    key: tuple[str | None, ...]
    figures: Mapping[KPI, Figure]
    volume: int
    score: float | None
    rank: int | None = None

    def value(self, kpi: KPI) -> float | None:
        """Return one KPI's value."""
        return self.figures[kpi].value


def composite(figs: Mapping[KPI, Figure], weights: Weights) -> float | None:
    """Return Σ wᵢ·KPIᵢ, renormalised over the weighted KPIs that have a value (None if none has)."""
    parts = [(w, figs[k].value) for k, w in weights.weights.items() if k in figs and figs[k].value is not None]
    total = sum(w for w, _ in parts)
    if not parts or total == 0:
        return None
    return sum(w * v for w, v in parts if v is not None) / total


def aggregate(facts: Iterable[Fact], by: Sequence[str] = ("unit",), start: dt.datetime | None = None,
              end: dt.datetime | None = None) -> dict[tuple[str | None, ...], dict[KPI, Figure]]:
    """Group facts dated in [start, end) by ``by`` and compute every KPI per group (streaming)."""
    bad = [k for k in by if k not in GROUP_KEYS]
    if bad:
        raise ValueError(f"cannot group by {bad}; choose from {GROUP_KEYS}")
    # per group and KPI: [numerator, denominator, case ids, hit case ids]
    acc: dict[tuple[str | None, ...], dict[KPI, list[Any]]] = {}
    for f in facts:
        if (start is None or f.at >= start) and (end is None or f.at < end):
            key = group_key(f, by)
            slot = acc.setdefault(key, {}).setdefault(f.kpi, [0.0, 0, [], []])
            slot[0] += f.weight
            slot[1] += 1
            slot[2].append(f.case_id)
            if f.weight > 0:
                slot[3].append(f.case_id)
    out: dict[tuple[str | None, ...], dict[KPI, Figure]] = {}
    for key, per_kpi in acc.items():
        out[key] = {}
        for kpi in KPI:
            num, den, ids, hits = per_kpi.get(kpi, (0.0, 0, [], []))
            out[key][kpi] = Figure(kpi, round(num, 9), den, tuple(sorted(set(ids))), tuple(sorted(set(hits))))
    return out


def rank(groups: Mapping[tuple[str | None, ...], Mapping[KPI, Figure]], weights: Weights) -> list[Scorecard]:
    """Score each group and rank those at or above the volume floor; the rest follow unranked."""
    cards = []
    for key, figs in groups.items():
        volume = len({cid for fig in figs.values() for cid in fig.case_ids})
        cards.append(Scorecard(key, figs, volume, composite(figs, weights)))
    eligible = [c for c in cards if c.score is not None and c.volume >= weights.volume_floor]
    others = [c for c in cards if c not in eligible]
    eligible.sort(key=lambda c: (-(c.score or 0.0), -c.volume, tuple(str(k) for k in c.key)))
    others.sort(key=lambda c: (-c.volume, tuple(str(k) for k in c.key)))
    ranked = [Scorecard(c.key, c.figures, c.volume, c.score, i) for i, c in enumerate(eligible, start=1)]
    return ranked + others


def assess(histories: Iterable[CaseHistory], as_of: dt.datetime, weights: Weights,
           by: Sequence[str] = ("unit",), start: dt.datetime | None = None,
           end: dt.datetime | None = None) -> list[Scorecard]:
    """Compute, score and rank the KPIs of every group from case histories."""
    facts = (f for h in histories
             for f in facts_for(h, as_of, weights.basic_satisfied_k, weights.repeat_window_days))
    return rank(aggregate(facts, by, start, end), weights)
