"""The work queues per role, the list filters (allow-listed, 400 on anything else) and keyset pages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from tortoise import connections
from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.queryset import QuerySet

from storage import search
from storage.deadlines import SHANGHAI
from storage.lifecycle import OPEN_STATUSES, UNIT_STATUSES, Actor, CaseStatus
from storage.models import Case, CaseAssignment, Channel, Urgency

from .access import sees_all, visible_cases
from .ids import db_id

PAGE_SIZE = 50
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SOON = dt.timedelta(hours=24)
Narrow = Callable[[QuerySet[Case], dt.datetime], QuerySet[Case]]


@dataclass(frozen=True)
class Queue:
    """A named work list: a label and how it narrows the visible cases."""

    key: str
    zh: str
    en: str
    narrow: Narrow
    platform: bool = True  # shown to platform staff
    unit: bool = True  # shown to unit staff
    unit_narrow: Narrow | None = None  # how it narrows for unit staff, where that differs

    def narrow_for(self, actor: Actor) -> Narrow:
        """Return how this queue narrows the cases for ``actor``."""
        return self.unit_narrow if self.unit_narrow is not None and not sees_all(actor) else self.narrow


def _status(*statuses: CaseStatus) -> Narrow:
    return lambda qs, now: qs.filter(status__in=[s.value for s in statuses])


_CLOCKED = [s.value for s in UNIT_STATUSES | {CaseStatus.RETURNED}]
_UNIT_CLOCKED = [s.value for s in UNIT_STATUSES]  # a case the unit returned is the dispatchers' to move, not late there


def _due_soon(statuses: list[str]) -> Narrow:
    return lambda qs, now: qs.filter(status__in=statuses, due_at__gt=now, due_at__lte=now + SOON)


def _overdue(statuses: list[str]) -> Narrow:
    return lambda qs, now: qs.filter(status__in=statuses, due_at__lte=now)


QUEUES: tuple[Queue, ...] = (
    Queue("submitted", "待受理", "To accept", _status(CaseStatus.SUBMITTED), unit=False),
    Queue("to_dispatch", "待派单", "To dispatch", _status(CaseStatus.ACCEPTED, CaseStatus.RETURNED), unit=False),
    Queue("to_sign", "待签收", "To sign for", _status(CaseStatus.DISPATCHED)),
    Queue("in_progress", "办理中", "In progress", _status(CaseStatus.IN_PROGRESS, CaseStatus.REOPENED)),
    Queue("review", "待审核", "Pending review", _status(CaseStatus.PENDING_REVIEW)),
    Queue("due_soon", "即将超期", "Due soon", _due_soon(_CLOCKED), unit_narrow=_due_soon(_UNIT_CLOCKED)),
    Queue("overdue", "已超期", "Overdue", _overdue(_CLOCKED), unit_narrow=_overdue(_UNIT_CLOCKED)),
    Queue("callback", "待回访", "To call back", _status(CaseStatus.RESOLVED), unit=False),
    Queue("mine", "本单位诉求", "My unit's cases", lambda qs, now: qs, platform=False),
    Queue("all", "全部诉求", "All cases", lambda qs, now: qs, unit=False),
)
BY_KEY = {q.key: q for q in QUEUES}


def queues_for(actor: Actor) -> list[Queue]:
    """Return the queues this actor works from, in sidebar order."""
    platform = sees_all(actor)
    return [q for q in QUEUES if (q.platform if platform else q.unit)]


class BadFilter(ValueError):
    """A list filter or sort key is not allowed (answered with 400)."""


SORTS = ("new", "old", "due")


@dataclass(frozen=True)
class Filters:
    """Validated list filters."""

    status: CaseStatus | None = None
    unit: int | None = None
    category: str | None = None
    district: str | None = None
    channel: Channel | None = None
    urgency: Urgency | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    q: str | None = None
    sort: str = "new"
    cursor: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def query_string(self, **override: str | None) -> str:
        """Return the filters as a query string (for links to the next page)."""
        from urllib.parse import urlencode

        values = {
            "status": self.status.value if self.status else None, "unit": self.unit, "category": self.category,
            "district": self.district, "channel": self.channel.value if self.channel else None,
            "urgency": self.urgency.value if self.urgency else None,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None, "q": self.q,
            "sort": None if self.sort == "new" else self.sort,
        }
        values.update(override)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


ALLOWED = frozenset({"status", "unit", "category", "district", "channel", "urgency", "since", "until", "q",
                     "sort", "cursor", "lang"})


def _text(params: Mapping[str, str], name: str, limit: int) -> str | None:
    value = params.get(name, "").strip()
    if len(value) > limit or "\x00" in value:
        raise BadFilter(f"搜索词不能超过{limit}字 / at most {limit} characters" if name == "q" else name)
    return value or None


def _choice(enum: type, params: Mapping[str, str], name: str):  # noqa: ANN202
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        raise BadFilter(name) from None


def _date(params: Mapping[str, str], name: str) -> dt.date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadFilter(name) from None


def parse_filters(params: Mapping[str, str]) -> Filters:
    """Validate list parameters; unknown names, bad values and unknown sort keys raise BadFilter."""
    unknown = set(params) - ALLOWED
    if unknown:
        raise BadFilter(sorted(unknown)[0])
    unit_raw = params.get("unit", "").strip()
    if unit_raw and db_id(unit_raw) is None:
        raise BadFilter("unit")
    sort = params.get("sort", "new") or "new"
    if sort not in SORTS:
        raise BadFilter("sort")
    cursor = params.get("cursor", "").strip() or None
    if cursor is not None:
        _decode_cursor(cursor, sort)
    return Filters(
        status=_choice(CaseStatus, params, "status"), unit=int(unit_raw) if unit_raw else None,
        category=_text(params, "category", 32), district=_text(params, "district", 64),
        channel=_choice(Channel, params, "channel"), urgency=_choice(Urgency, params, "urgency"),
        since=_date(params, "since"), until=_date(params, "until"), q=_text(params, "q", 100),
        sort=sort, cursor=cursor,
    )


def _decode_cursor(cursor: str, sort: str) -> tuple[dt.datetime, int]:
    """Decode a cursor: "<id>", or "<epoch microseconds>_<id>" for the deadline order."""
    try:
        if sort != "due":
            when, ident = dt.datetime.min.replace(tzinfo=dt.UTC), db_id(cursor)
        else:
            moment, _, raw = cursor.partition("_")
            if not moment.isascii() or not moment.isdigit() or len(moment) > 18:
                raise ValueError(moment)
            when, ident = EPOCH + dt.timedelta(microseconds=int(moment)), db_id(raw)
        if ident is None:
            raise ValueError(cursor)
        return when, ident
    except (ValueError, OverflowError, OSError):
        raise BadFilter("cursor") from None


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)


def apply_filters(qs: QuerySet[Case], f: Filters) -> QuerySet[Case]:
    """Narrow a case query by validated filters (search through the case index, see storage/search.py)."""
    if f.status:
        qs = qs.filter(status=f.status.value)
    if f.unit is not None:
        qs = qs.filter(lead_unit_id=f.unit)
    if f.category:
        qs = qs.filter(category=f.category)
    if f.district:
        qs = qs.filter(district=f.district)
    if f.channel:
        qs = qs.filter(channel=f.channel.value)
    if f.urgency:
        qs = qs.filter(urgency=f.urgency.value)
    if f.since:
        qs = qs.filter(created_at__gte=_local_midnight(f.since))
    if f.until:
        qs = qs.filter(created_at__lt=_local_midnight(f.until + dt.timedelta(days=1)))
    if f.q:
        qs = _search(qs, f.q)
    return qs


def _exact(q: str) -> bool:
    """Tell whether a query is a whole case number or tracking code (looked up by its unique index)."""
    return bool(NUMBER.fullmatch(q) or TRACKING.fullmatch(q.upper()))


def _search(qs: QuerySet[Case], q: str) -> QuerySet[Case]:
    if NUMBER.fullmatch(q):
        return qs.filter(number=q)  # a whole case number: its unique index, not a scan
    if TRACKING.fullmatch(q.upper()):
        return qs.filter(tracking_code=q.upper())
    terms = search.terms(q)
    if terms is None:  # one-character words: no pair to look up, a substring scan (id windows in page())
        return qs.filter(search.contains_all(search.words_of(q), number=True))
    return search.narrow(qs, terms)


@dataclass
class Page:
    """One page of a case list and the cursor of the next page."""

    cases: list[Case]
    next_cursor: str | None


def _cursor_of(case: Case, sort: str) -> str:
    if sort != "due":
        return str(case.id)
    assert case.due_at is not None
    return f"{(case.due_at - EPOCH) // dt.timedelta(microseconds=1)}_{case.id}"


NUMBER = re.compile(r"[0-9]{3,8}-[0-9]{8}-[0-9]{3,8}")
#: A tracking code (storage.numbering): ten characters of its alphabet with at least one digit and one letter.
TRACKING = re.compile(r"(?=.*[2-9])(?=.*[A-HJKMNP-Z])[2-9A-HJKMNP-Z]{10}")
COUNT_CAP = 1000  # a list this long is read in id windows, a shorter one picked from its ids
API_COUNT_CAP = 1000  # the JSON API counts each queue up to this (that figure means "at least")
SIDEBAR_CAP = 100  # sidebar counts stop here (shown as "99+"): see counts()


def count_label(count: int) -> str:
    """Return a sidebar count as shown: "99+" once it reaches SIDEBAR_CAP (counts stop there)."""
    return str(count) if count < SIDEBAR_CAP else f"{SIDEBAR_CAP - 1}+"
WINDOW = 4096
CO_LISTED = 2000  # a unit's co-handled cases up to this many are named in the query, not subselected
FEW = 2000  # a list this short is searched row by row, a longer one through the index
MAX_CANDIDATES = 16384  # the widest window of search candidates read at once


async def parts(actor: Actor) -> list[QuerySet[Case]]:
    """Return disjoint queries whose union is access.visible_cases(actor), each one an index can walk.

    Platform staff see everything: one part. Unit staff see the cases their units have an active
    assignment on. ``id IN (the unit's assignments)`` makes SQLite copy every assignment of the unit
    (50,000 at a million cases) into a temporary table on each query, and makes both databases sort
    all of them for a page. So unit staff's cases come in two parts: those their unit leads, found
    through the lead_unit_id indexes and checked per case against an active assignment (a correlated
    probe of the (case_id, active) index - on SQLite the unary + keeps it off the unit's whole range
    of the (unit_id, active, case_id) index), and those where the unit only co-handles, found through the
    (unit_id, active, lead, case_id) index of migration 0011. A unit's active lead assignment is
    always for the case's lead unit (the dispatch effect writes both), so nothing falls between.
    """
    return [qs for qs, _ in await parts_with_bounds(actor)]


async def parts_with_bounds(actor: Actor) -> list[tuple[QuerySet[Case], QuerySet[Case]]]:
    """Return parts() each with a cheaper query holding at least its rows (for sizing it, never for listing)."""
    if sees_all(actor) or not actor.unit_ids:
        return [(visible_cases(actor), visible_cases(actor))]
    units = sorted(actor.unit_ids)
    listed = ", ".join(str(int(u)) for u in units)
    probe = f'SELECT 1 FROM case_assignment AS a WHERE a.case_id = "appeal_case"."id" AND {{}}a.unit_id IN ({listed})' \
            " AND a.active"
    if search.dialect() == "sqlite":
        seen = RawSQL(f"EXISTS ({probe.format('+')})")
    else:
        # PostgreSQL turns EXISTS into a semi-join that hashes all the unit's assignments per query;
        # a scalar subquery stays a per-case probe of the (case_id, active) index.
        seen = RawSQL(f"({probe.format('')} LIMIT 1) IS NOT NULL")
    led = Case.filter(lead_unit_id__in=units)
    lead = (led.annotate(_seen=seen).filter(_seen=True), led)
    co_units = CaseAssignment.filter(unit_id__in=units, active=True, lead=False)
    # Most units co-handle few cases: name them, so the query starts from those rows (or is skipped).
    few = await co_units.limit(CO_LISTED + 1).values_list("case_id", flat=True)
    if not few:
        return [lead]
    ids: list[int] | Subquery = sorted(few) if len(few) <= CO_LISTED else Subquery(co_units.values("case_id"))
    co = Case.filter(Q(lead_unit_id__isnull=True) | Q(lead_unit_id__not_in=units), id__in=ids)
    return [lead, (co, co)]


async def capped_count(qs: QuerySet[Case], cap: int = COUNT_CAP) -> int:
    """Count up to ``cap`` rows (COUNT(*) would visit every matching row of a million)."""
    return len(await qs.limit(cap).values_list("id", flat=True))


async def _scan(qs: QuerySet[Case], newest_first: bool, cursor: int | None, size: int) -> list[Case]:
    """Walk id windows (newest or oldest first) so a dense queue never sorts all its rows."""
    top = await Case.all().order_by("-id").limit(1).values_list("id", flat=True)
    if not top:
        return []
    rows: list[Case] = []
    width = WINDOW
    if newest_first:
        hi = min(top[0], cursor - 1) if cursor is not None else top[0]
        while hi >= 1 and len(rows) <= size:
            lo = max(1, hi - width + 1)
            rows += await qs.filter(id__gte=lo, id__lte=hi).order_by("-id").limit(size + 1 - len(rows))
            hi, width = lo - 1, width * 2
    else:
        lo = cursor + 1 if cursor is not None else 1
        while lo <= top[0] and len(rows) <= size:
            hi = lo + width - 1
            rows += await qs.filter(id__gte=lo, id__lte=hi).order_by("id").limit(size + 1 - len(rows))
            lo, width = hi + 1, width * 2
    return rows


async def _search_page(qs: QuerySet[Case], terms: search.Terms, f: Filters, size: int) -> list[Case]:
    """Walk the search index's candidates in id order, in growing windows, keeping those the filters pass."""
    newest = f.sort == "new"
    bound = _decode_cursor(f.cursor, f.sort)[1] if f.cursor else None
    # The candidates query carries no parameters (its words are literals): PostgreSQL plans it for
    # these words every time - the primary key for a common word, the GIN index for a rare one - where a
    # prepared statement's generic plan for "(match) = $1" could neither use the index nor estimate it.
    width = 4 * (size + 1)
    rows: list[Case] = []
    while len(rows) <= size:
        ids = await search.candidates(terms, before=bound if newest else None, after=None if newest else bound,
                                      newest_first=newest, limit=width)
        if ids:
            rows += await (qs.filter(id__in=ids).filter(search.verify(terms))
                           .order_by("-id" if newest else "id").limit(size + 1 - len(rows)))
        if len(ids) < width:
            break
        bound, width = ids[-1], min(width * 2, MAX_CANDIDATES)
    return rows


def _order_key(sort: str) -> Callable[[Case], tuple]:
    if sort == "due":
        return lambda c: (c.due_at, c.id)
    return (lambda c: -c.id) if sort == "new" else (lambda c: c.id)  # type: ignore[return-value]


async def _part_page(qs: QuerySet[Case], bound: QuerySet[Case], f: Filters, size: int) -> list[Case]:
    """Return up to size + 1 rows of one part (``bound`` holds at least its rows), in order, after the cursor."""
    terms = search.terms(f.q) if f.q and not _exact(f.q) and f.sort != "due" else None
    if terms is not None:
        qs = apply_filters(qs, replace(f, q=None))
        if await capped_count(apply_filters(bound, replace(f, q=None)), FEW) >= FEW:
            return await _search_page(qs, terms, f, size)
        # A short list (a rare queue, a unit's co-handled cases): check its few rows for the words.
        qs = qs.filter(search.verify(terms))
    else:
        qs = apply_filters(qs, f)
    if f.sort == "due":
        # The deadline order lists the cases that have a deadline, earliest first.
        qs = qs.filter(due_at__isnull=False)
        if f.cursor:
            when, ident = _decode_cursor(f.cursor, "due")
            qs = qs.filter(Q(due_at__gt=when) | Q(due_at=when, id__gt=ident))
        return await qs.order_by("due_at", "id").limit(size + 1)
    ident = _decode_cursor(f.cursor, f.sort)[1] if f.cursor else None
    scanning_text = bool(f.q) and not _exact(f.q or "") and terms is None  # one character: no pair to look up
    # A long list is read in id windows: within a window both databases read each status's short
    # range of an index ending in id (no sort of the whole queue, whatever statuses it holds).
    if scanning_text:
        return await _scan(qs, f.sort == "new", ident, size)
    ids = await qs.limit(COUNT_CAP).values_list("id", flat=True)
    if len(ids) >= COUNT_CAP:
        return await _scan(qs, f.sort == "new", ident, size)
    # A short list: its ids are all here (read through whichever index suits its filters), so the
    # page is chosen from them and only its rows are read.
    newest = f.sort == "new"
    chosen = sorted((i for i in ids if ident is None or (i < ident if newest else i > ident)), reverse=newest)
    rows = await qs.filter(id__in=chosen[:size + 1])  # the part's conditions again: still true now?
    return sorted(rows, key=_order_key(f.sort))


async def page(actor: Actor, queue: Queue, f: Filters, now: dt.datetime, size: int = PAGE_SIZE) -> Page:
    """Return one keyset page of a queue for an actor."""
    narrow = queue.narrow_for(actor)
    narrowed = [(narrow(part, now), narrow(bound, now)) for part, bound in await parts_with_bounds(actor)]
    merged = {c.id: c for part, bound in narrowed for c in await _part_page(part, bound, f, size)}
    rows = sorted(merged.values(), key=_order_key(f.sort))[:size + 1]
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, _cursor_of(rows[-1], f.sort) if more and rows else None)


def _capped_sql(qs: QuerySet[Case], offset: int, postgres: bool, cap: int) -> tuple[str, list[object]]:
    """Return ``SELECT COUNT(*)`` over the first ``cap`` ids of a query, its placeholders numbered from offset."""
    ids = qs.limit(cap).values_list("id", flat=True)
    ids._make_query()  # the SQL and values Tortoise itself would send
    sql, values = ids.query.get_parameterized_sql()
    if postgres:
        sql = re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + offset}", sql)
    return f"(SELECT COUNT(*) FROM ({sql}) AS capped)", list(values)


async def counts(actor: Actor, now: dt.datetime, cap: int = SIDEBAR_CAP) -> dict[str, int]:
    """Count each of the actor's queues (only cases the actor may see), up to ``cap``, in one query.

    Each count reads at most ``cap`` ids through an index (for unit staff each one checked
    against the unit's active assignment), so it costs the same at ten thousand and at a million
    cases. A city's staff read the sidebar as "how much is waiting": 99+ says
    "a lot" as well as an exact figure would. Counters kept per queue would be exact but every
    transition would update the same few rows (one writer at a time on SQLite, a hot row on
    PostgreSQL), and "due soon" and "overdue" change with the clock, not with writes.
    """
    keyed = [(q.key, q.narrow_for(actor)(part, now)) for part in await parts(actor) for q in queues_for(actor)]
    postgres = search.dialect() != "sqlite"
    columns, values = [], []
    for i, (_, qs) in enumerate(keyed):
        sql, more = _capped_sql(qs, len(values), postgres, cap)
        columns.append(f"{sql} AS n{i}")
        values += more
    row = (await connections.get("default").execute_query_dict("SELECT " + ", ".join(columns), values))[0]
    found = dict.fromkeys((q.key for q in queues_for(actor)), 0)
    for i, (key, _) in enumerate(keyed):
        found[key] = min(cap, found[key] + int(row[f"n{i}"]))
    return found


def open_statuses() -> list[str]:
    """Return the open statuses as values (for similar-case candidates)."""
    return [s.value for s in OPEN_STATUSES]
