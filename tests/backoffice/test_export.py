"""Bulk export as XLSX and CSV through the real server: reason, audit with format, masking, no formulas."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest

from backoffice.views import export
from storage.lifecycle import CaseStatus
from storage.models import AuditEntry, Case, CaseAssignment
from tests.backoffice.conftest import Browser, City
from tests.support.builders import make_case

FORMULA_TEXT = '=HYPERLINK("http://evil.example/x","点我领补贴") 13812345678'


async def download(b: Browser, fmt: str, reason: str = "季度统计", **filters: str) -> tuple[int, bytes, dict[str, str]]:
    """Post the export form like a browser and return status, body and headers."""
    await b.get("/export")
    data = {"reason": reason, "format": fmt, "csrf_token": b.csrf, **filters}
    async with b.http.post(b.base + "/export", data=data) as r:
        return r.status, await r.read(), dict(r.headers)


def sheet_rows(body: bytes) -> list[list[object]]:
    """Open an .xlsx with openpyxl and return the first sheet's values."""
    book = openpyxl.load_workbook(io.BytesIO(body))
    return [[c.value for c in row] for row in book.worksheets[0].iter_rows()]


async def test_xlsx_opens_with_chinese_headers_local_dates_masked_data_and_is_audited(login_as, city: City) -> None:
    created = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)  # 09:30 in Shanghai
    case = await make_case(city.world, CaseStatus.IN_PROGRESS, created_at=created, title="路灯不亮",
                           text="东湖区幸福里小区路灯坏了，电话13812345678", street="湖滨街道", district="东湖区")
    supervisor = await login_as("supervisor")
    status, body, headers = await download(supervisor, "xlsx")
    assert status == 200
    assert headers["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert headers["Content-Disposition"] == 'attachment; filename="cases.xlsx"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    rows = sheet_rows(body)
    assert rows[0][:4] == ["编号", "标题", "内容", "状态"] and "登记时间" in rows[0]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["编号"] == case.number and row["状态"] == "办理中" and row["区县"] == "东湖区"
    assert "138****5678" in str(row["内容"]) and "13812345678" not in str(row["内容"])
    assert row["诉求人"] == "张*" and row["电话"] == "138****5678"
    assert row["渠道"] in ("网页", "电话", "Telegram", "接口", "Open311", "后台")  # a label, not "webchat"
    assert row["渠道"] == "网页"  # the builders' cases come by web chat
    assert row["登记时间"] == dt.datetime(2026, 3, 2, 9, 30)  # a real date cell, in Asia/Shanghai
    assert isinstance(row["办理时限"], dt.datetime)
    entry = await AuditEntry.get(action="export_xlsx")
    assert entry.reason == "季度统计" and entry.data["format"] == "xlsx" and entry.data["rows"] == 1


async def test_a_formula_looking_complaint_comes_back_as_text_in_xlsx_and_csv(login_as, city: City) -> None:
    await make_case(city.world, CaseStatus.IN_PROGRESS, title="@SUM(1+1)", text=FORMULA_TEXT)
    supervisor = await login_as("supervisor")
    _, body, _ = await download(supervisor, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    title, text = sheet["B2"], sheet["C2"]
    assert title.data_type == "s" and title.value == "@SUM(1+1)"
    assert text.data_type == "s" and text.value.startswith('=HYPERLINK("http://evil.example/x"')
    assert text.quotePrefix  # Excel keeps it as text even when the cell is edited
    _, raw, headers = await download(supervisor, "csv")
    assert headers["Content-Type"].startswith("text/csv")
    line = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))[1]
    assert line[1] == "'@SUM(1+1)" and line[2].startswith("'=HYPERLINK")
    assert {e.data["format"] for e in await AuditEntry.filter(action__startswith="export_")} == {"xlsx", "csv"}


async def test_unit_staff_xlsx_holds_only_their_cases_and_hides_confidential_citizens(login_as, city: City) -> None:
    await make_case(city.world, CaseStatus.IN_PROGRESS, title="保密的诉求", confidential=True, street="湖滨街道")
    theirs = await make_case(city.world, CaseStatus.IN_PROGRESS, title="别的单位的诉求")
    await CaseAssignment.filter(case_id=theirs.id).update(unit_id=city.world.other.id)
    await Case.filter(id=theirs.id).update(lead_unit_id=city.world.other.id)
    handler = await login_as("handler")
    status, body, _ = await download(handler, "xlsx")
    assert status == 200
    rows = sheet_rows(body)
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["标题"] == "保密的诉求" and not (row["诉求人"] or row["电话"] or row["街道"])
    assert "别的单位的诉求" not in str(rows)


async def test_export_without_reason_or_with_an_unknown_format_is_refused_and_not_logged(login_as,
                                                                                        city: City) -> None:
    await make_case(city.world, CaseStatus.IN_PROGRESS)
    supervisor = await login_as("supervisor")
    status, body, _ = await download(supervisor, "xlsx", reason="  ")
    assert status == 400 and "请填写导出理由" in body.decode()
    status, body, _ = await download(supervisor, "xls<script>")
    assert status == 400 and "<script>" not in body.decode()
    assert not await AuditEntry.filter(action__startswith="export_").exists()


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_rows_read_in_batches_all_arrive_once_in_order_and_filters_apply(login_as, city: City,
                                                                              monkeypatch, fmt: str) -> None:
    monkeypatch.setattr(export, "BATCH", 2)
    made = [await make_case(city.world, CaseStatus.IN_PROGRESS, title=f"批次{i}") for i in range(5)]
    await make_case(city.world, CaseStatus.RESOLVED, title="已办结的不导出")
    supervisor = await login_as("supervisor")
    status, body, _ = await download(supervisor, fmt, status="in_progress")
    assert status == 200
    if fmt == "xlsx":
        numbers = [r[0] for r in sheet_rows(body)[1:]]
    else:
        numbers = [r[0] for r in list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]]
    assert numbers == [c.number for c in made]
    assert (await AuditEntry.get(action=f"export_{fmt}")).data["rows"] == 5


def test_a_sheet_wider_than_26_columns_keeps_every_column_and_its_width() -> None:
    headers = [f"列{i}" for i in range(30)]
    book = export.XlsxWriter("宽表", headers, [8 + i for i in range(30)])
    book.append([list(range(30))])
    sheet = openpyxl.load_workbook(book.finish()).worksheets[0]
    assert [c.value for c in sheet[1]] == headers and sheet["AD2"].value == 29
    assert (sheet.column_dimensions["Z"].width, sheet.column_dimensions["AA"].width) == (33, 34)
