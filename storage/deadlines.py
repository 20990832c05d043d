"""Working-day arithmetic on the mainland calendar (holidays and 调休, plus local overrides) and time-limit policies."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import chinese_calendar

from .models import CaseKind, HolidayOverride, Policy, Urgency

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
log = logging.getLogger(__name__)
_warned_years: set[int] = set()
#: Local corrections from the holiday_override table: date -> True (working day) or False (holiday).
_overrides: dict[dt.date, bool] = {}
#: The active time-limit policies, loaded with the overrides.
_policies: list[Policy] = []
_loaded_at: float | None = None  # monotonic time of the last reload, None when never loaded (or set by hand)
OVERRIDE_KINDS = {"holiday": False, "workday": True}
#: How old the overrides and policies may be when a policy is looked up: an edit in this process
#: applies at once, one made by another process within this many seconds (a reload per lookup was
#: two reads in every submission and every transition).
RULES_MAX_AGE = 5.0


#: Statutory holidays on fixed dates (元旦, 劳动节, 国庆节); lunar ones need the published schedule.
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


def is_official(day: dt.date) -> bool:
    """Tell whether the State Council's schedule for ``day``'s year is known to the calendar package."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def set_overrides(overrides: Mapping[dt.date, bool]) -> None:
    """Replace this process's holiday overrides (date -> is a working day); the next lookup reloads them."""
    global _loaded_at
    _overrides.clear()
    _overrides.update(overrides)
    _loaded_at = None


def forget_rules() -> None:
    """Drop what was loaded from a database (another database is being opened): the next lookup reloads."""
    global _loaded_at
    _policies.clear()
    _overrides.clear()
    _loaded_at = None


async def refresh_rules(max_age: float = 0.0) -> None:
    """Load the holiday overrides and the active policies from the database into this process (unless
    loaded less than ``max_age`` seconds ago)."""
    global _loaded_at
    now = time.monotonic()
    if max_age and _loaded_at is not None and now - _loaded_at < max_age:
        return
    rows = await HolidayOverride.all().values_list("day", "kind")
    policies = await Policy.filter(active=True)
    set_overrides({day: OVERRIDE_KINDS[kind] for day, kind in rows if kind in OVERRIDE_KINDS})
    _policies[:] = policies
    _loaded_at = now


def is_workday(day: dt.date) -> bool:
    """Tell whether ``day`` is a working day: a local override first, else the mainland calendar (调休 included)."""
    if day in _overrides:
        return _overrides[day]
    return is_calendar_workday(day)


def is_calendar_workday(day: dt.date) -> bool:
    """Tell whether ``day`` is a working day on the mainland calendar alone, without local overrides."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # A year not yet published: weekends and the fixed-date holidays; deadlines computed
        # this way are flagged as estimated (see is_official) until the package is updated.
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("no official holiday calendar for %s yet; estimating", day.year)
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS


def add_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """Return the end of the ``days``-th working day after ``start`` (the start day is not counted)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if days < 0:
        raise ValueError("days must not be negative")
    day = start.astimezone(SHANGHAI).date()
    if days == 0:
        while not is_workday(day):
            day += dt.timedelta(days=1)
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_workday(day):
            counted += 1
    end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=SHANGHAI)
    return end.astimezone(UTC)


def working_days_between(start: dt.datetime, end: dt.datetime) -> int:
    """Count working days after ``start``'s date up to and including ``end``'s date."""
    a = start.astimezone(SHANGHAI).date()
    b = end.astimezone(SHANGHAI).date()
    count = 0
    while a < b:
        a += dt.timedelta(days=1)
        count += is_workday(a)
    return count


def add_limit(start: dt.datetime, amount: int, unit: str) -> dt.datetime:
    """Add a policy limit (``hours``, ``days`` or ``working_days``) to a UTC time."""
    if unit == "hours":
        return start + dt.timedelta(hours=amount)
    if unit == "days":
        end = start.astimezone(SHANGHAI).date() + dt.timedelta(days=amount)
        return dt.datetime.combine(end, dt.time(23, 59, 59), tzinfo=SHANGHAI).astimezone(UTC)
    if unit == "working_days":
        return add_working_days(start, amount)
    raise ValueError(f"unknown time-limit unit {unit!r}")


def local(moment: dt.datetime | None) -> str:
    """Format a stored UTC time in Asia/Shanghai for people."""
    if moment is None:
        return ""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class PolicyDefault:
    """One default time-limit rule (DOMAIN.md), loaded into the policy table on first start."""

    name: str
    handle_amount: int
    handle_unit: str
    category: str | None = None
    kind: CaseKind | None = None
    urgency: Urgency | None = None


#: Defaults from the domain reference; a city edits the ``policy`` table, never this code.
DEFAULT_POLICIES: tuple[PolicyDefault, ...] = (
    PolicyDefault("紧急/危及生命 2小时反馈", 2, "hours", urgency=Urgency.EMERGENCY),
    PolicyDefault("水电气热 24小时反馈", 24, "hours", category="水电气热"),
    PolicyDefault("咨询 1个工作日", 1, "working_days", kind=CaseKind.CONSULTATION),
    PolicyDefault("求助 5个工作日", 5, "working_days", kind=CaseKind.REQUEST),
    PolicyDefault("建议 5个工作日", 5, "working_days", kind=CaseKind.SUGGESTION),
    PolicyDefault("表扬 5个工作日", 5, "working_days", kind=CaseKind.PRAISE),
    PolicyDefault("投诉 10个工作日", 10, "working_days", kind=CaseKind.COMPLAINT),
    PolicyDefault("举报 10个工作日", 10, "working_days", kind=CaseKind.REPORT),
    PolicyDefault("加急 3个工作日", 3, "working_days", urgency=Urgency.URGENT),
    PolicyDefault("默认 10个工作日", 10, "working_days"),
)

UTILITY_CATEGORIES = frozenset({"水电气热", "供水", "供电", "燃气", "供暖"})


async def ensure_default_policies() -> int:
    """Insert the default policies when the table is empty; return how many were added."""
    if await Policy.exists():
        return 0
    for p in DEFAULT_POLICIES:
        await Policy.create(
            name=p.name, category=p.category, kind=p.kind, urgency=p.urgency,
            handle_amount=p.handle_amount, handle_unit=p.handle_unit,
        )
    forget_rules()  # a lookup on the empty table moments ago must not hide them for seconds
    return len(DEFAULT_POLICIES)


def _specificity(policy: Policy, category: str | None, kind: CaseKind, urgency: Urgency) -> int | None:
    score = 0
    if policy.urgency is not None:
        if policy.urgency != urgency:
            return None
        score += 8  # urgency decides first: an emergency is an emergency whatever its kind
    if policy.category is not None:
        if policy.category == category:
            score += 5  # the case's own category: more specific than its group (a 供水 rule beats 水电气热)
        elif policy.category == "水电气热" and category in UTILITY_CATEGORIES:
            score += 4
        else:
            return None
    if policy.kind is not None:
        if policy.kind != kind:
            return None
        score += 2
    return score


_APPROX_HOURS = {"hours": 1.0, "days": 24.0, "working_days": 24.0 * 7 / 5}


def _approx_hours(policy: Policy) -> float:
    return policy.handle_amount * _APPROX_HOURS.get(policy.handle_unit, 24.0)


def _best(candidates: list[tuple[int, Policy]]) -> Policy | None:
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c[0], c[1].version))[1]


def choose_policy(
    policies: Iterable[Policy], category: str | None, kind: CaseKind, urgency: Urgency
) -> Policy | None:
    """Return the policy for a case: an emergency rule first, else the most specific rule, capped by
    an "urgent" rule only where that one is shorter (marking a case urgent never lengthens it)."""
    matches = [
        (score, p) for p in policies if p.active and (score := _specificity(p, category, kind, urgency)) is not None
    ]
    emergency = _best([(s, p) for s, p in matches if p.urgency == Urgency.EMERGENCY])
    if emergency is not None:
        return emergency
    base = _best([(s, p) for s, p in matches if p.urgency is None])
    urgent = _best([(s, p) for s, p in matches if p.urgency is not None])
    if urgent is not None and (base is None or _approx_hours(urgent) < _approx_hours(base)):
        return urgent
    return base


async def policy_for(category: str | None, kind: CaseKind, urgency: Urgency) -> Policy | None:
    """Look up the time-limit policy for a case among the active policies (first reloading them and the
    holiday overrides when older than RULES_MAX_AGE, so another process's edits apply within seconds)."""
    await refresh_rules(RULES_MAX_AGE)
    return choose_policy(_policies, category, kind, urgency)


LIMIT_UNITS = ("hours", "days", "working_days")
LIMIT_LABELS = {"accept_hours": ("受理时限", "the accept limit"), "sign_hours": ("签收时限", "the sign limit"),
                "handle_amount": ("办理时限", "the handling limit"),
                "return_working_days": ("退单时限", "the return limit"),
                "callback_working_days": ("回访时限", "the call-back limit"),
                "extension_max_working_days": ("最长延期", "the longest extension"),
                "reopen_working_days": ("重办时限", "the reopen limit")}
LIMIT_FIELDS = tuple(LIMIT_LABELS)


def policy_problems(candidate: Policy, policies: Iterable[Policy]) -> list[tuple[str, str]]:
    """Check a policy (new or edited) against the others: every limit positive, and an urgent or emergency
    rule never longer than the normal rule of the same category and kind (or the default rule).

    Return the problems as (zh-CN, English) messages, none when the policy may be saved."""
    problems: list[tuple[str, str]] = []
    for name in LIMIT_FIELDS:
        value = getattr(candidate, name)
        if not isinstance(value, int) or value <= 0:
            zh, en = LIMIT_LABELS[name]
            problems.append((f"{zh}必须是正整数。", f"{en.capitalize()} must be a positive whole number."))
    if candidate.handle_unit not in LIMIT_UNITS:
        problems.append(("办理时限单位无效。", f"The limit unit must be one of {', '.join(LIMIT_UNITS)}."))
    if problems:
        return problems
    rows = [p for p in policies if p.active and p.id != candidate.id] + ([candidate] if candidate.active else [])

    def normal_for(rule: Policy) -> Policy | None:
        same = [p for p in rows if p.urgency is None and p.category == rule.category and p.kind == rule.kind]
        default = [p for p in rows if p.urgency is None and p.category is None and p.kind is None]
        return _best([(0, p) for p in same or default])

    for rule in rows:
        if rule.urgency is None:
            continue
        normal = normal_for(rule)
        if normal is None or (rule is not candidate and normal is not candidate):
            continue  # only pairs this change touches: an old inconsistency does not block other edits
        if _approx_hours(rule) > _approx_hours(normal):
            problems.append((
                f"“{rule.name}”（{rule.handle_amount} {rule.handle_unit}）比普通时限“{normal.name}”"
                f"（{normal.handle_amount} {normal.handle_unit}）更长：加急不能比普通更慢。",
                f"“{rule.name}” ({rule.handle_amount} {rule.handle_unit}) is longer than the normal limit "
                f"“{normal.name}” ({normal.handle_amount} {normal.handle_unit}): urgent may never be slower.",
            ))
    return problems
