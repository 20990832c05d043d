"""Bulk export as CSV or XLSX: needs a reason, is logged, masks personal data and hides confidential citizens.

Rows are read in batches by id and written as they come (CSV streamed, XLSX through openpyxl's
write-only mode into a temporary file), so a large export uses bounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import IO, Any

from aiohttp import web
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from tortoise.queryset import QuerySet

from storage.deadlines import SHANGHAI, local
from storage.labels import STATUS, label
from storage.lifecycle import Actor, CaseStatus
from storage.models import AuditEntry, Case, Channel, Citizen, Unit

from .. import queues
from ..access import hides_citizen, visible_cases
from ..auth import current_actor
from ..i18n import lang, tr
from ..masking import citizen_view, text_view
from .common import EXPORT_ROLES, error_page, render

MAX_ROWS = 50_000
BATCH = 1_000
FORMULA = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_MAX_CELL = 32_767  # Excel's limit on characters in one cell
SHEET_NAME_DROPS = re.compile(ILLEGAL_CHARACTERS_RE.pattern + r"|[\\/*?:\[\]]")  # not XML, or not allowed by Excel
DATE_FORMAT = "yyyy-mm-dd hh:mm"
HEADERS = ("编号", "标题", "内容", "状态", "类别", "区县", "街道", "渠道", "主办单位", "诉求人", "电话",
           "登记时间", "办理时限")
WIDTHS = (22, 24, 60, 10, 14, 10, 12, 10, 24, 10, 16, 18, 18)
CHUNK = 64 * 1024


def cell(value: object) -> str:
    """Make a value safe for a spreadsheet: no formula can start a cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA) else text


def _statuses(request: web.Request) -> list[tuple[str, str]]:
    i = 1 if lang(request) == "en" else 0
    return [(s.value, STATUS[s][i]) for s in CaseStatus]


async def export_form(request: web.Request) -> web.Response:
    """Show the export form."""
    _, actor = current_actor(request)
    if not actor.roles & EXPORT_ROLES:
        return await error_page(request, 403, tr(request, "您的角色不能导出。", "Your role may not export."))
    return await render(request, "export.html", {"statuses": _statuses(request)})


async def _batches(qs: QuerySet[Case], limit: int) -> AsyncIterator[list[Case]]:
    """Yield the cases in id order, a batch at a time (keyset paging: no OFFSET scans)."""
    last, sent = 0, 0
    while sent < limit:
        rows = await qs.filter(id__gt=last).order_by("id").limit(min(BATCH, limit - sent))
        if not rows:
            return
        yield rows
        last, sent = rows[-1].id, sent + len(rows)


async def _rows(qs: QuerySet[Case], limit: int, actor: Actor) -> AsyncIterator[list[list[Any]]]:
    """Yield export rows (masked, confidential citizens hidden), times as aware datetimes."""
    units = dict(await Unit.all().values_list("id", "name_zh"))
    async for batch in _batches(qs, limit):
        ids = {c.citizen_id for c in batch if c.citizen_id}  # type: ignore[attr-defined]
        citizens = {c.id: c for c in await Citizen.filter(id__in=ids)} if ids else {}
        out = []
        for c in batch:
            person = citizen_view(c, citizens.get(c.citizen_id), hidden=hides_citizen(c, actor),  # type: ignore[attr-defined]
                                  unmasked=False)
            out.append([
                c.number, text_view(c.title, masked=True), text_view(c.text, masked=True),
                STATUS[CaseStatus(c.status)][0], c.category, c.district, "" if person["hidden"] else c.street,
                label(Channel(c.channel)), units.get(c.lead_unit_id, ""), person["name"], person["phone"],  # type: ignore[attr-defined]
                c.created_at, c.due_at,
            ])
        yield out


def _xlsx_cell(ws: WriteOnlyWorksheet, value: object) -> object:
    """Return one XLSX cell: numbers as numbers, times as date cells in Asia/Shanghai, text always as text
    (never a formula)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, dt.datetime):
        out = WriteOnlyCell(ws, value.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0))
        out.number_format = DATE_FORMAT
        return out
    text = ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value))[:XLSX_MAX_CELL]
    if not text.startswith(FORMULA):
        return text or None  # a plain string is a text cell; styled cells cost far more to write
    cell = WriteOnlyCell(ws, text)
    cell.data_type = "s"  # openpyxl would store "=…" as a formula
    cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    return cell


class XlsxWriter:
    """An .xlsx being written row by row into a temporary file (openpyxl write-only mode)."""

    def __init__(self, sheet: str, headers: Sequence[str], widths: Sequence[int]) -> None:
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(SHEET_NAME_DROPS.sub("", sheet)[:31] or "Sheet1")
        for i, width in enumerate(widths):
            self.sheet.column_dimensions[get_column_letter(i + 1)].width = width
        self.sheet.freeze_panes = "A2"
        self.sheet.append([_xlsx_cell(self.sheet, h) for h in headers])

    def append(self, rows: Sequence[Sequence[object]]) -> None:
        """Write rows."""
        for row in rows:
            self.sheet.append([_xlsx_cell(self.sheet, v) for v in row])

    def discard(self) -> None:
        """Remove the rows written so far (an export cut short): openpyxl would keep them until the process exits."""
        with contextlib.suppress(Exception):
            self.sheet.close()
            self.sheet._writer.cleanup()  # type: ignore[attr-defined]

    def finish(self) -> IO[bytes]:
        """Close the workbook into a temporary file and return it, rewound."""
        out = tempfile.TemporaryFile()
        self.book.save(out)
        out.seek(0)
        return out


def _csv_line(row: Sequence[object]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([cell(local(v) if isinstance(v, dt.datetime) else v) for v in row])
    return buffer.getvalue().encode("utf-8")


async def _send_csv(request: web.Request, rows: AsyncIterator[list[list[Any]]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": 'attachment; filename="cases.csv"',
        "X-Content-Type-Options": "nosniff"})
    await response.prepare(request)
    await response.write("\ufeff".encode() + _csv_line(HEADERS))
    async for batch in rows:
        await response.write(b"".join(_csv_line(r) for r in batch))
    await response.write_eof()
    return response


async def _send_xlsx(request: web.Request, rows: AsyncIterator[list[list[Any]]]) -> web.StreamResponse:
    book = XlsxWriter("诉求", HEADERS, WIDTHS)
    try:
        async for batch in rows:
            await asyncio.to_thread(book.append, batch)
    except BaseException:
        book.discard()
        raise
    file = await asyncio.to_thread(book.finish)
    try:
        size = file.seek(0, io.SEEK_END)
        file.seek(0)
        response = web.StreamResponse(headers={
            "Content-Type": XLSX_TYPE, "Content-Disposition": 'attachment; filename="cases.xlsx"',
            "X-Content-Type-Options": "nosniff"})
        response.content_length = size
        await response.prepare(request)
        while chunk := await asyncio.to_thread(file.read, CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        file.close()


async def export_cases(request: web.Request) -> web.StreamResponse:
    """Export the cases the user may see, filtered, as CSV or XLSX; the reason and format go to the audit log."""
    staff, actor = current_actor(request)
    if not actor.roles & EXPORT_ROLES:
        return await error_page(request, 403, tr(request, "您的角色不能导出。", "Your role may not export."))
    form = await request.post()
    reason = str(form.get("reason", "")).strip()[:500]
    kind = str(form.get("format", "") or "csv")
    if kind not in FORMATS:
        return await error_page(request, 400, tr(request, "不支持的导出格式。", "Unsupported export format."))
    params = {k: str(form.get(k, "")) for k in ("status", "since", "until", "q") if form.get(k)}
    try:
        filters = queues.parse_filters(params)
    except queues.BadFilter as exc:
        return await error_page(request, 400, tr(request, f"筛选条件有误：{exc}", f"Invalid filter: {exc}"))
    if not reason:
        return await render(request, "export.html", {
            "error": tr(request, "请填写导出理由。", "Please give a reason."), "statuses": _statuses(request)},
            status=400)
    qs = queues.apply_filters(visible_cases(actor), filters)
    count = min(await qs.count(), MAX_ROWS)
    # Logged before any row leaves the server: an export cut short is still on the record.
    await AuditEntry.create(staff_id=staff.id, action=f"export_{kind}", target=f"{count} cases", reason=reason,
                            data={"filters": params, "rows": count, "format": kind})
    rows = _rows(qs, count, actor)
    return await (_send_xlsx(request, rows) if kind == "xlsx" else _send_csv(request, rows))
