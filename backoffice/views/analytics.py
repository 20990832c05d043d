"""Analytics pages: dashboard, KPI assessment with drill-down, hot issues, risk warnings, monthly report.

Platform supervisors, dispatchers, admins and auditors see the whole city; handlers and unit heads
see only their own unit's figures and cases. Every chart is also a table and a CSV download
(``?format=csv&table=KEY``) built from the same rows, so the download always matches the page.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from markupsafe import Markup
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from intents.hot_issues import Message, detect
from intents.risk import Signal, scan
from storage.analytics import direct_answers, kpi_report, load_case_texts
from storage.kpi import KPI, KPI_LABELS, SHANGHAI, Figure, Scorecard, current_weights
from storage.labels import STATUS
from storage.lifecycle import Actor, CaseStatus, Role
from storage.models import AuditEntry, Case, Channel, RiskAck, Unit

from .. import charts
from ..access import hides_citizen, visible_cases
from ..auth import current_actor
from ..i18n import lang, tr
from ..masking import street_level, text_view
from ..sessions import now
from .common import error_page, render
from .export import XlsxWriter, cell
from .queues import CHANNELS

CITY_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR})
UNIT_ROLES = frozenset({Role.HANDLER, Role.UNIT_HEAD})
MONTH = re.compile(r"(\d{4})-(\d{2})")
#: KPIs shown on the assessment table, in order.
KPI_COLUMNS = (KPI.SIGN_TIMELY, KPI.ON_TIME, KPI.RESPONSE, KPI.SOLVED, KPI.SATISFACTION, KPI.RETURN,
               KPI.DISPATCH_ACCURACY, KPI.EXTENSION, KPI.REOPEN, KPI.REPEAT, KPI.CALLBACK)
RISK_KINDS = {"burst": ("突增", "Burst"), "collective": ("群体性诉求", "Collective appeal"),
              "emotion": ("极端情绪", "Extreme emotion")}
MAX_DRILL = 500


class Refused(Exception):
    """A page refused with a status and a bilingual message."""

    def __init__(self, status: int, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.zh, self.en = status, zh, en


@dataclass(frozen=True)
class Scope:
    """What part of the city a viewer's analytics cover: everything, or one unit."""

    actor: Actor
    unit_id: int | None = None
    unit_code: str | None = None
    unit_names: tuple[str, str] = ("", "")  # the unit's name in Chinese and in English

    @property
    def city(self) -> bool:
        """Tell whether the viewer sees the whole city."""
        return self.unit_id is None

    def name(self, language: str) -> str:
        """Return the viewer's unit in the page language (empty for the whole city)."""
        zh, en = self.unit_names
        return (en or zh) if language == "en" else zh

    def cards(self, cards: Sequence[Scorecard]) -> list[Scorecard]:
        """Keep the scorecards of this scope (the key starts with the unit code for unit staff)."""
        return list(cards) if self.city else [c for c in cards if c.key and c.key[0] == self.unit_code]


async def scope_for(request: web.Request) -> Scope:
    """Return the viewer's scope, or refuse roles that have no analytics (operators, citizens)."""
    _, actor = current_actor(request)
    if actor.roles & CITY_ROLES:
        return Scope(actor)
    if actor.roles & UNIT_ROLES and actor.unit_ids:
        unit = await Unit.get_or_none(id=min(actor.unit_ids))
        if unit is not None:
            return Scope(actor, unit.id, unit.code, (unit.name_zh, unit.name_en))
    raise Refused(403, "您的角色不能查看统计分析。", "Your role may not see analytics.")


def refusing(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
             ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Turn ``Refused`` into the polite error page."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as exc:
            return await error_page(request, exc.status, tr(request, exc.zh, exc.en))
    wrapped.__doc__ = handler.__doc__
    wrapped.__name__ = handler.__name__
    return wrapped


def month_of(request: web.Request) -> tuple[str, dt.datetime, dt.datetime]:
    """Return the chosen month (``?month=YYYY-MM``, default this month, Asia/Shanghai) and its UTC bounds."""
    raw = request.query.get("month", "")
    if raw:
        m = MONTH.fullmatch(raw)
        if not m or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
            raise Refused(400, "月份格式应为 YYYY-MM。", "The month must look like YYYY-MM.")
        year, month = int(m.group(1)), int(m.group(2))
    else:
        local_now = now().astimezone(SHANGHAI)
        year, month = local_now.year, local_now.month
    start = dt.datetime(year, month, 1, tzinfo=SHANGHAI)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SHANGHAI)
    return f"{year}-{month:02d}", start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def pct(value: float | None) -> str:
    """Format a rate as on the pages and in CSV: 85.0%, or — when nothing was due."""
    return "—" if value is None else f"{value * 100:.1f}%"


def score_text(value: float | None) -> str:
    """Format a composite score (0-100)."""
    return "—" if value is None else f"{value * 100:.1f}"


def fraction(fig: Figure) -> str:
    """Format numerator/denominator."""
    num = fig.numerator
    return f"{int(num) if num == int(num) else round(num, 2)}/{fig.denominator}"


@dataclass
class Table:
    """One dataset: headers and rows of text cells, optional per-cell links and a chart."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    links: list[list[str | None]] = field(default_factory=list)
    chart: Markup | None = None

    def add(self, row: Sequence[object], links: Sequence[str | None] | None = None) -> None:
        """Append a row (cells become text exactly as shown)."""
        self.rows.append([str(v) for v in row])
        self.links.append(list(links) if links else [None] * len(row))


def csv_response(tables: Sequence[Table], filename: str) -> web.Response:
    """Answer a CSV (UTF-8 with BOM for spreadsheet programs) of the tables' headers and rows."""
    out = io.StringIO()
    writer = csv.writer(out)
    for i, table in enumerate(tables):
        if i:
            writer.writerow([])
        writer.writerow([cell(h) for h in table.headers])
        for row in table.rows:
            writer.writerow([cell(v) for v in row])
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"',
                 "X-Content-Type-Options": "nosniff"},
    )


def xlsx_bytes(sheet: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    """Write a one-sheet .xlsx (numbers as numbers, text never a formula) with the case export's writer."""
    book = XlsxWriter(sheet, headers, [max(10, min(40, 2 * len(str(h)) + 4)) for h in headers])
    book.append(rows)
    with book.finish() as file:
        return file.read()


async def unit_names(language: str) -> dict[str, str]:
    """Return unit code -> display name."""
    rows = await Unit.all().values_list("code", "name_en" if language == "en" else "name_zh", "name_zh")
    return {code: (name or zh) for code, name, zh in rows}


def kpi_label(kpi: KPI, language: str) -> str:
    """Return a KPI's label."""
    return KPI_LABELS[kpi][1 if language == "en" else 0]


def wants_csv(request: web.Request) -> bool:
    """Tell whether the CSV download was asked for."""
    return request.query.get("format") == "csv"


def pick_tables(request: web.Request, tables: Sequence[Table]) -> list[Table]:
    """Return the table named by ``?table=`` (all when absent), or refuse an unknown name."""
    key = request.query.get("table")
    if not key:
        return list(tables)
    chosen = [t for t in tables if t.key == key]
    if not chosen:
        raise Refused(404, "没有这个统计表。", "No such table.")
    return chosen


# --- dashboard --------------------------------------------------------------------------------

async def dashboard_tables(request: web.Request, scope: Scope, month: str, start: dt.datetime,
                           end: dt.datetime) -> list[Table]:
    """Build every dashboard dataset of one month for the viewer's scope."""
    language = lang(request)
    i = 1 if language == "en" else 0
    t = lambda zh, en: en if i else zh  # noqa: E731
    query = Case.filter(created_at__gte=start, created_at__lt=end)
    if not scope.city:
        query = query.filter(lead_unit_id=scope.unit_id)
    cases = await query.values("created_at", "category", "district", "channel")
    by_day: Counter[str] = Counter()
    by_cat: Counter[str] = Counter()
    by_district: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    for c in cases:
        at = c["created_at"] if c["created_at"].tzinfo else c["created_at"].replace(tzinfo=dt.UTC)
        by_day[at.astimezone(SHANGHAI).date().isoformat()] += 1
        by_cat[c["category"] or t("未分类", "Uncategorised")] += 1
        by_district[c["district"] or t("未注明", "Unknown")] += 1
        by_channel[CHANNELS[Channel(c["channel"])][i]] += 1
    tables: list[Table] = []
    day = Table("day", t("每日诉求量", "Cases per day"), [t("日期", "Date"), t("诉求量", "Cases")])
    d = start.astimezone(SHANGHAI).date()
    last = (end.astimezone(SHANGHAI) - dt.timedelta(seconds=1)).date()
    points = []
    while d <= last:
        day.add([d.isoformat(), by_day.get(d.isoformat(), 0)])
        points.append((d.isoformat(), float(by_day.get(d.isoformat(), 0))))
        d += dt.timedelta(days=1)
    day.chart = charts.line_chart(points, day.title)
    tables.append(day)
    for key, title, head, counts in (
        ("category", t("按类别", "By category"), t("类别", "Category"), by_cat),
        ("district", t("按区县", "By district"), t("区县", "District"), by_district),
        ("channel", t("按渠道", "By channel"), t("渠道", "Channel"), by_channel),
    ):
        table = Table(key, title, [head, t("诉求量", "Cases")])
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        for name, n in ordered:
            table.add([name, n])
        table.chart = charts.bar_chart([(k, float(v)) for k, v in ordered], title)
        tables.append(table)

    names = await unit_names(language)
    cards = scope.cards(await kpi_report(now(), ("unit",), start, end))
    cards = [c for c in cards if c.key and c.key[0] is not None]
    deadline = Table("deadline", t("时限执行", "Deadline performance"), [
        t("单位", "Unit"), kpi_label(KPI.SIGN_TIMELY, language), kpi_label(KPI.ON_TIME, language),
        t("按时办结/应办结", "On time / due"), kpi_label(KPI.EXTENSION, language)])
    satisfaction = Table("satisfaction", t("满意度", "Satisfaction"), [
        t("单位", "Unit"), kpi_label(KPI.SATISFACTION, language), t("评价数", "Ratings"),
        kpi_label(KPI.SOLVED, language)])
    ordered_cards = sorted(cards, key=lambda c: names.get(str(c.key[0]), str(c.key[0])))

    def drill(code: str, fig: Figure) -> str | None:
        return f"/analytics/kpi/cases?month={month}&unit={quote(code)}&kpi={fig.kpi.value}" if fig.denominator else None

    for c in ordered_cards:
        code = str(c.key[0])
        name = names.get(code, code)
        f = c.figures
        deadline.add([name, pct(f[KPI.SIGN_TIMELY].value), pct(f[KPI.ON_TIME].value), fraction(f[KPI.ON_TIME]),
                      pct(f[KPI.EXTENSION].value)],
                     [None, drill(code, f[KPI.SIGN_TIMELY]), drill(code, f[KPI.ON_TIME]), drill(code, f[KPI.ON_TIME]),
                      drill(code, f[KPI.EXTENSION])])
        satisfaction.add([name, pct(f[KPI.SATISFACTION].value), f[KPI.SATISFACTION].denominator,
                          pct(f[KPI.SOLVED].value)],
                         [None, drill(code, f[KPI.SATISFACTION]), drill(code, f[KPI.SATISFACTION]),
                          drill(code, f[KPI.SOLVED])])
    deadline.chart = charts.bar_chart([(names.get(str(c.key[0]), str(c.key[0])), c.figures[KPI.ON_TIME].value)
                                       for c in ordered_cards], deadline.title, percent=True)
    satisfaction.chart = charts.bar_chart([(names.get(str(c.key[0]), str(c.key[0])),
                                            c.figures[KPI.SATISFACTION].value) for c in ordered_cards],
                                          satisfaction.title, percent=True)
    tables += [deadline, satisfaction]

    by = ("category",) if scope.city else ("unit", "category")
    cat_cards = scope.cards(await kpi_report(now(), by, start, end))
    returned = sorted(((c.key[-1] or t("未分类", "Uncategorised"), c.figures[KPI.RETURN]) for c in cat_cards
                       if c.figures[KPI.RETURN].numerator > 0),
                      key=lambda kv: (-kv[1].numerator, kv[0]))[:10]
    returns = Table("returns", t("退单最多的类别", "Most returned categories"), [
        t("类别", "Category"), t("退单数", "Returns"), t("派单数", "Dispatches"), kpi_label(KPI.RETURN, language)])
    for name, fig in returned:
        returns.add([name, fraction(fig).split("/")[0], fig.denominator, pct(fig.value)])
    returns.chart = charts.bar_chart([(n, f.numerator) for n, f in returned], returns.title)
    tables.append(returns)
    if scope.city:  # consultations come in city-wide, before any unit is involved
        direct = Table("direct", t("直接答复率", "Direct-answer rate"), [
            t("渠道", "Channel"), t("咨询件数", "Consultations"), t("直接答复", "Answered directly"),
            t("直接答复率", "Rate")])
        figures = await direct_answers(start, end)
        for f in figures:
            direct.add([CHANNELS[Channel(f.channel)][i], f.consultations, f.answered, pct(f.rate)])
        total = sum(f.consultations for f in figures)
        answered = sum(f.answered for f in figures)
        direct.add([t("合计", "Total"), total, answered, pct(answered / total if total else None)])
        direct.chart = charts.bar_chart([(CHANNELS[Channel(f.channel)][i], f.rate) for f in figures],
                                        direct.title, percent=True)
        tables.append(direct)
    return tables


@refusing
async def dashboard(request: web.Request) -> web.StreamResponse:
    """The analytics dashboard: volume, deadlines, satisfaction and returns of one month."""
    scope = await scope_for(request)
    month, start, end = month_of(request)
    tables = await dashboard_tables(request, scope, month, start, end)
    if wants_csv(request):
        chosen = pick_tables(request, tables)
        return csv_response(chosen, f"analytics-{month}-{chosen[0].key if len(chosen) == 1 else 'all'}")
    return await render(request, "analytics_dashboard.html", {
        "month": month, "tables": tables, "scope_unit": scope.name(lang(request))})


# --- KPI assessment and drill-down ------------------------------------------------------------

def kpi_table(cards: Sequence[Scorecard], names: dict[str, str], month: str, language: str) -> Table:
    """The 考核 table: rank, unit, volume, score and every KPI with its drill-down link."""
    t = (lambda zh, en: en) if language == "en" else (lambda zh, en: zh)
    table = Table("kpi", t("单位考核", "Unit assessment"), [
        t("排名", "Rank"), t("单位", "Unit"), t("件数", "Cases"), t("综合得分", "Score"),
        *[kpi_label(k, language) for k in KPI_COLUMNS]])
    for c in cards:
        code = str(c.key[0])
        base = f"/analytics/kpi/cases?month={month}&unit={quote(code)}"
        row: list[object] = [c.rank if c.rank is not None else t("不参与排名", "unranked"), names.get(code, code),
                             c.volume, score_text(c.score)]
        links: list[str | None] = [None, None, None, None]
        for k in KPI_COLUMNS:
            fig = c.figures[k]
            row.append(f"{pct(fig.value)} ({fraction(fig)})")
            links.append(f"{base}&kpi={k.value}" if fig.denominator else None)
        table.add(row, links)
    return table


@refusing
async def kpi_page(request: web.Request) -> web.StreamResponse:
    """The KPI table per unit for a month: composite score, ranking above the volume floor, drill-down."""
    scope = await scope_for(request)
    month, start, end = month_of(request)
    language = lang(request)
    weights = await current_weights()
    cards = [c for c in scope.cards(await kpi_report(now(), ("unit",), start, end, weights)) if c.key[0] is not None]
    names = await unit_names(language)
    table = kpi_table(cards, names, month, language)
    if wants_csv(request):
        return csv_response([table], f"kpi-{month}")
    return await render(request, "analytics_kpi.html", {
        "month": month, "table": table, "scope_unit": scope.name(language),
        "weights": weights, "weight_labels": [(kpi_label(k, language), f"{w:g}") for k, w in weights.weights.items()]})


def case_rows(cases: Sequence[Case], actor: Actor, language: str, names: dict[int, str]) -> list[dict[str, Any]]:
    """Rows for a case list: number, masked title, status, category, place (district only when confidential)."""
    i = 1 if language == "en" else 0
    return [{
        "id": c.id, "number": c.number, "title": text_view(c.title or c.text[:30], masked=True),
        "status": STATUS[CaseStatus(c.status)][i], "category": c.category or "",
        "place": (c.district or "") if hides_citizen(c, actor) or c.confidential else street_level(c),
        "unit": names.get(c.lead_unit_id, "") if c.lead_unit_id else "",  # type: ignore[attr-defined]
        "confidential": c.confidential,
    } for c in cases]


async def visible_rows(actor: Actor, ids: Sequence[Any], language: str) -> tuple[list[dict[str, Any]], int]:
    """Return the rows of the cases among ``ids`` the actor may see, and how many were withheld."""
    wanted = sorted({int(x) for x in ids})[:MAX_DRILL]
    cases = await visible_cases(actor).filter(id__in=wanted).order_by("id") if wanted else []
    names = dict(await Unit.all().values_list("id", "name_en" if language == "en" else "name_zh"))
    return case_rows(cases, actor, language, names), len(set(ids)) - len(cases)


@refusing
async def kpi_cases(request: web.Request) -> web.StreamResponse:
    """The cases behind one figure (all of them, or the hits with ``which=hit``), as the viewer may see them."""
    scope = await scope_for(request)
    month, start, end = month_of(request)
    language = lang(request)
    unit = request.query.get("unit", "")
    try:
        kpi = KPI(request.query.get("kpi", ""))
    except ValueError:
        raise Refused(404, "没有这个指标。", "No such indicator.") from None
    if not scope.city and unit != scope.unit_code:
        raise Refused(404, "没有这个单位的数据。", "No figures for that unit.")
    cards = {c.key[0]: c for c in await kpi_report(now(), ("unit",), start, end)}
    card = cards.get(unit)
    if card is None:
        raise Refused(404, "没有这个单位的数据。", "No figures for that unit.")
    fig = card.figures[kpi]
    hits = request.query.get("which") == "hit"
    rows, withheld = await visible_rows(scope.actor, fig.hit_case_ids if hits else fig.case_ids, language)
    names = await unit_names(language)
    return await render(request, "analytics_cases.html", {
        "month": month, "title": f"{names.get(unit, unit)} · {kpi_label(kpi, language)} · {month}",
        "figure": f"{pct(fig.value)} ({fraction(fig)})", "rows": rows, "withheld": withheld, "hits": hits,
        "all_link": f"/analytics/kpi/cases?month={month}&unit={quote(unit)}&kpi={kpi.value}",
        "hit_link": f"/analytics/kpi/cases?month={month}&unit={quote(unit)}&kpi={kpi.value}&which=hit",
        "back": f"/analytics/kpi?month={month}",
    })


# --- hot issues and risk warnings -------------------------------------------------------------

async def scoped_texts(scope: Scope, start: dt.datetime, end: dt.datetime) -> list[Any]:
    """Load case texts of a period (never confidential or malicious ones), limited to the unit for unit staff."""
    rows = await load_case_texts(start, end)
    if scope.city or not rows:
        return rows
    mine = set(await Case.filter(id__in=[r.id for r in rows], lead_unit_id=scope.unit_id).values_list("id", flat=True))
    return [r for r in rows if r.id in mine]


@refusing
async def hot_page(request: web.Request) -> web.StreamResponse:
    """The hot issues of a month: label, size, distinct citizens, growth, examples and their cases."""
    scope = await scope_for(request)
    month, start, end = month_of(request)
    language = lang(request)
    rows = await scoped_texts(scope, start, end)
    numbers = {r.id: r.number for r in rows}
    messages = [Message(**r.as_message_fields()) for r in rows]
    topics = await asyncio.to_thread(detect, messages, 10, min(end, now())) if messages else []
    t = (lambda zh, en: en) if language == "en" else (lambda zh, en: zh)
    table = Table("hot", t("热点问题", "Hot issues"), [t("排名", "Rank"), t("标签", "Label"), t("件数", "Cases"),
                  t("群众数", "Citizens"), t("增长", "Growth"), t("热度", "Hot index"), t("示例", "Examples")])
    items = []
    for n, topic in enumerate(topics, start=1):
        examples = " / ".join(text_view(e, masked=True) for e in topic.examples)
        table.add([n, topic.label, topic.size, topic.citizens, f"{topic.growth:.2f}", f"{topic.hot_index:.2f}",
                   examples])
        items.append({"cases": [(int(cid), numbers.get(int(cid), str(cid))) for cid in topic.message_ids[:20]],
                      "more": max(0, len(topic.message_ids) - 20),
                      "examples": [text_view(e, masked=True) for e in topic.examples]})
    table.chart = charts.bar_chart([(tp.label, float(tp.size)) for tp in topics], table.title)
    if wants_csv(request):
        return csv_response([table], f"hot-{month}")
    return await render(request, "analytics_hot.html", {
        "month": month, "table": table, "items": list(zip(table.rows, items, strict=True)), "analysed": len(rows),
        "scope_unit": scope.name(language)})


@refusing
async def risks_page(request: web.Request) -> web.StreamResponse:
    """Risk warnings of a month (bursts against the previous 30 days, collective appeals, extreme emotion)."""
    scope = await scope_for(request)
    month, start, end = month_of(request)
    language = lang(request)
    i = 1 if language == "en" else 0
    rows = await scoped_texts(scope, start - dt.timedelta(days=30), end)
    numbers = {r.id: r.number for r in rows}
    signals = [Signal(**r.as_signal_fields()) for r in rows]
    warnings = [w for w in await asyncio.to_thread(scan, signals, start) if w.at < end] if signals else []
    t = (lambda zh, en: en) if language == "en" else (lambda zh, en: zh)
    table = Table("risks", t("风险预警", "Risk warnings"), [
        t("类型", "Kind"), t("对象", "Key"), t("时间", "At"), t("观测值", "Observed"), t("基线", "Expected"),
        t("强度", "Score"), t("说明", "Detail"), t("诉求数", "Cases")])
    items = []
    for w in warnings:
        key = str(w.key)
        if w.kind == "emotion" and key.isdigit():  # an emotion warning is keyed by its case: show the number
            key = numbers.get(int(key), key)
        table.add([RISK_KINDS.get(str(w.kind), (str(w.kind), str(w.kind)))[i], key,
                   w.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"), f"{w.observed:g}", f"{w.expected:.2f}",
                   f"{w.score:.2f}", text_view(w.detail, masked=True), len(w.case_ids)])
        items.append([(int(cid), numbers.get(int(cid), str(cid))) for cid in w.case_ids[:20]])  # type: ignore[call-overload]
    if wants_csv(request):
        return csv_response([table], f"risks-{month}")
    prints = [w.fingerprint for w in warnings]
    acks = {a.fingerprint: a for a in await RiskAck.filter(fingerprint__in=prints).prefetch_related("staff")}
    marks = [{"fingerprint": w.fingerprint, "kind": str(w.kind), "key": str(w.key)[:128],
              "ack": acks.get(w.fingerprint)} for w in warnings]
    _, actor = current_actor(request)
    return await render(request, "analytics_risks.html", {
        "month": month, "table": table, "items": list(zip(table.rows, items, marks, strict=True)),
        "analysed": len(rows), "scope_unit": scope.name(language),
        "can_ack": Role.SUPERVISOR in actor.roles})


async def acknowledge_risk(request: web.Request) -> web.Response:
    """Record a supervisor's acknowledgement of a warning, with a note (logged in the audit log)."""
    staff, actor = current_actor(request)
    if Role.SUPERVISOR not in actor.roles:
        raise web.HTTPForbidden(text=tr(request, "只有督办员可以确认预警。", "Only supervisors acknowledge warnings."))
    form = await request.post()
    fingerprint, note = str(form.get("fingerprint", "")).strip(), str(form.get("note", "")).strip()
    month = str(form.get("month", ""))
    if not fingerprint or len(fingerprint) > 64 or not note:
        raise web.HTTPBadRequest(text=tr(request, "请填写确认说明。", "Please write a note."))
    try:
        async with in_transaction():
            await RiskAck.create(fingerprint=fingerprint, kind=str(form.get("kind", ""))[:16],
                                 key=str(form.get("key", ""))[:128], staff_id=staff.id, note=note[:2000])
            await AuditEntry.create(staff_id=staff.id, action="risk_ack", target=fingerprint, reason=note[:500])
    except IntegrityError:
        pass  # acknowledged already (by someone else a moment ago): the page shows who
    suffix = f"?month={quote(month)}" if re.fullmatch(r"\d{4}-\d{2}", month) else ""
    raise web.HTTPSeeOther(f"/analytics/risks{suffix}")


# --- monthly public report (定期通报) -----------------------------------------------------------

REPORT_KPIS = (KPI.SIGN_TIMELY, KPI.ON_TIME, KPI.RESPONSE, KPI.SOLVED, KPI.SATISFACTION, KPI.RETURN)


@refusing
async def monthly_report(request: web.Request) -> web.StreamResponse:
    """The monthly public report: per-unit figures as a page, CSV or XLSX."""
    scope = await scope_for(request)
    month, start, end = month_of(request)
    language = lang(request)
    t = (lambda zh, en: en) if language == "en" else (lambda zh, en: zh)
    names = await unit_names(language)
    cards = [c for c in scope.cards(await kpi_report(now(), ("unit",), start, end)) if c.key[0] is not None]
    table = Table("report", t(f"{month} 各单位办理情况通报", f"Unit figures, {month}"), [
        t("排名", "Rank"), t("单位", "Unit"), t("件数", "Cases"), *[kpi_label(k, language) for k in REPORT_KPIS],
        t("综合得分", "Score")])
    raw: list[list[object]] = []
    for c in cards:
        code = str(c.key[0])
        values = [c.figures[k].value for k in REPORT_KPIS]
        table.add([c.rank if c.rank is not None else "—", names.get(code, code), c.volume,
                   *[pct(v) for v in values], score_text(c.score)])
        raw.append([c.rank if c.rank is not None else "", names.get(code, code), c.volume,
                    *[round(v, 4) if v is not None else "" for v in values],
                    round(c.score * 100, 1) if c.score is not None else ""])
    if wants_csv(request):
        return csv_response([table], f"report-{month}")
    if request.query.get("format") == "xlsx":
        return web.Response(
            body=xlsx_bytes(month, table.headers, raw),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="report-{month}.xlsx"',
                     "X-Content-Type-Options": "nosniff"})
    return await render(request, "analytics_report.html", {
        "month": month, "table": table, "scope_unit": scope.name(language)})


def add_routes(r: web.UrlDispatcher) -> None:
    """Add the analytics pages."""
    r.add_get("/analytics", dashboard, name="analytics")
    r.add_get("/analytics/kpi", kpi_page, name="analytics_kpi")
    r.add_get("/analytics/kpi/cases", kpi_cases, name="analytics_kpi_cases")
    r.add_get("/analytics/hot", hot_page, name="analytics_hot")
    r.add_get("/analytics/risks", risks_page, name="analytics_risks")
    r.add_post("/analytics/risks/ack", acknowledge_risk, name="acknowledge_risk")
    r.add_get("/reports/monthly", monthly_report, name="monthly_report")
