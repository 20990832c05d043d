"""Analytics pages: roles and unit scope, figures equal to storage.analytics, CSV equal to the tables, escaping."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import zipfile
from xml.etree import ElementTree

from openpyxl import load_workbook

from backoffice.views.analytics import xlsx_bytes
from storage.analytics import kpi_report
from storage.cases import CaseService, NewCase
from storage.deadlines import SHANGHAI
from storage.kpi import KPI
from storage.lifecycle import Action, Role
from storage.models import Channel, Unit
from tests.backoffice.conftest import City

XSS = "<img src=x onerror=alert(1)>"
MONTH = "2026-03"
START = dt.datetime(2026, 3, 1, tzinfo=SHANGHAI).astimezone(dt.UTC)
END = dt.datetime(2026, 4, 1, tzinfo=SHANGHAI).astimezone(dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 09:00 Shanghai

    def __call__(self) -> dt.datetime:
        return self.now


async def seed(city: City) -> dict[str, int]:
    """A small March through CaseService: resolved and rated, extended, returned to the other unit, confidential."""
    world = city.world
    clock = Clock()
    service = CaseService(clock=clock)
    dispatcher, handler = world.actor(Role.DISPATCHER), world.actor(Role.HANDLER)
    head, supervisor = world.actor(Role.UNIT_HEAD), world.actor(Role.SUPERVISOR)
    other_head = world.actor(Role.UNIT_HEAD, world.other)

    async def new(title: str, unit: str = "lead", **kw: object) -> int:
        c = await service.submit(NewCase(text=f"{title}，请尽快处理。", title=title,
                                         channel=kw.pop("channel", Channel.WEBCHAT),  # type: ignore[arg-type]
                                         citizen_id=world.citizen.id, district=kw.pop("district", "东湖区"),  # type: ignore[arg-type]
                                         category=kw.pop("category", "城乡建设"), **kw),  # type: ignore[arg-type]
                                 world.actor(Role.CITIZEN))
        await service.apply(c.id, Action.ACCEPT, dispatcher)
        await service.apply(c.id, Action.DISPATCH, dispatcher, {"lead_unit": unit})
        return c.id

    ids: dict[str, int] = {}
    ids["quick"] = await new(XSS)
    await service.apply(ids["quick"], Action.SIGN, handler)
    await service.apply(ids["quick"], Action.SUBMIT_REPLY, handler, {"reply": "已修复"})
    await service.apply(ids["quick"], Action.APPROVE_REPLY, head)
    await service.apply(ids["quick"], Action.CALLBACK, supervisor,
                        {"rating": "satisfied", "contacted": True, "solved": True})
    ids["slow"] = await new("路面坑洼", channel=Channel.PHONE, district="西山区", category="交通运输")
    clock.now += dt.timedelta(hours=3)
    await service.apply(ids["slow"], Action.SIGN, handler)
    clock.now += dt.timedelta(days=2)
    ids["wrong"] = await new("公交站牌损坏", category="交通运输")
    await service.apply(ids["wrong"], Action.RETURN, head, {"reason": "不属于本单位"})
    await service.apply(ids["wrong"], Action.DISPATCH, dispatcher, {"lead_unit": "other"})
    await service.apply(ids["wrong"], Action.SIGN, world.actor(Role.HANDLER, world.other))
    ids["secret"] = await new("保密件举报", unit="other", confidential=True)
    await service.apply(ids["secret"], Action.RETURN, other_head, {"reason": "不属于本单位"})
    return ids


def tables(page: str) -> dict[str, list[list[str]]]:
    """Parse each data table of a page into header + rows of unescaped cell text."""
    out = {}
    for key, body in re.findall(r'<table class="plain data[^"]*" data-table="([a-z]+)">(.*?)</table>', page, re.S):
        rows = []
        for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S):
            cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
            rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
        out[key] = rows
    return out


def parse_csv(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8").lstrip("\ufeff")
    return [r for r in csv.reader(io.StringIO(text)) if r]


async def test_dashboard_tables_charts_and_csv_match(login_as, city: City) -> None:
    await seed(city)
    supervisor = await login_as("supervisor")
    status, page = await supervisor.get(f"/analytics?month={MONTH}")
    assert status == 200
    assert page.count("<svg class=\"chart\"") == 8
    found = tables(page)
    assert set(found) == {"day", "category", "district", "channel", "deadline", "satisfaction", "returns", "direct"}
    assert len(found["day"]) == 1 + 31 and ["2026-03-02", "2"] in found["day"]
    assert ["东湖区", "3"] in found["district"] and ["西山区", "1"] in found["district"]
    assert ["电话", "1"] in found["channel"] and ["网页", "3"] in found["channel"]
    assert found["returns"][1:] == [["交通运输", "1", "3", "33.3%"], ["城乡建设", "1", "2", "50.0%"]]
    for key, rows in found.items():
        async with supervisor.http.get(f"{supervisor.base}/analytics?month={MONTH}&format=csv&table={key}") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            assert parse_csv(await r.read()) == rows, key
    # figures equal the engine's
    cards = {c.key[0]: c for c in await kpi_report(dt.datetime.now(dt.UTC), ("unit",), START, END)}
    row = next(r for r in found["deadline"] if r[0] == "市住房和城乡建设局")
    on_time = cards["lead"].figures[KPI.ON_TIME]
    assert row[3] == f"{int(on_time.numerator)}/{on_time.denominator}"
    sat = next(r for r in found["satisfaction"] if r[0] == "市住房和城乡建设局")
    assert sat[1] == "100.0%" and sat[2] == str(cards["lead"].figures[KPI.SATISFACTION].denominator)
    status, _ = await supervisor.get(f"/analytics?month={MONTH}&format=csv&table=nope")
    assert status == 404
    status, _ = await supervisor.get("/analytics?month=2026-13")
    assert status == 400
    status, page = await supervisor.get(f"/analytics?month={MONTH}&lang=en")
    assert status == 200 and "Cases per day" in page


async def test_kpi_table_equals_engine_and_drills_down(login_as, city: City) -> None:
    ids = await seed(city)
    cards = {c.key[0]: c for c in await kpi_report(dt.datetime.now(dt.UTC), ("unit",), START, END)}
    auditor = await login_as("auditor")
    status, page = await auditor.get(f"/analytics/kpi?month={MONTH}")
    assert status == 200
    rows = tables(page)["kpi"]
    lead = next(r for r in rows if r[1] == "市住房和城乡建设局")
    assert lead[2] == str(cards["lead"].volume)
    sign = cards["lead"].figures[KPI.SIGN_TIMELY]
    assert lead[4] == f"{sign.value * 100:.1f}% ({int(sign.numerator)}/{sign.denominator})"
    assert lead[0] == "不参与排名"  # 3 cases, below the volume floor of 10
    async with auditor.http.get(f"{auditor.base}/analytics/kpi?month={MONTH}&format=csv") as r:
        assert parse_csv(await r.read()) == rows
    # drill-down: the cases behind 退单率 of the lead unit
    assert f"/analytics/kpi/cases?month={MONTH}&amp;unit=lead&amp;kpi=return" in page
    status, page = await auditor.get(f"/analytics/kpi/cases?month={MONTH}&unit=lead&kpi=return")
    assert status == 200
    listed = {int(x) for x in re.findall(r'<a href="/cases/(\d+)">', page)}
    assert listed == set(cards["lead"].figures[KPI.RETURN].case_ids)
    _, page = await auditor.get(f"/analytics/kpi/cases?month={MONTH}&unit=lead&kpi=return&which=hit")
    assert {int(x) for x in re.findall(r'<a href="/cases/(\d+)">', page)} == {ids["wrong"]}
    assert XSS not in page
    _, page = await auditor.get(f"/analytics/kpi/cases?month={MONTH}&unit=lead&kpi=sign_timely")
    assert html.escape(XSS, quote=False) in page and XSS not in page  # the title is shown as text
    status, _ = await auditor.get(f"/analytics/kpi/cases?month={MONTH}&unit=lead&kpi=bogus")
    assert status == 404


async def test_unit_staff_see_only_their_unit(login_as, city: City) -> None:
    ids = await seed(city)
    handler = await login_as("handler")
    status, page = await handler.get(f"/analytics/kpi?month={MONTH}")
    assert status == 200
    units = [r[1] for r in tables(page)["kpi"][1:]]
    assert units == ["市住房和城乡建设局"] and "市交通运输局" not in page
    assert "仅显示本单位：市住房和城乡建设局" in page  # the page names the viewer's unit
    status, page = await handler.get(f"/analytics?month={MONTH}")
    found = tables(page)
    assert [r[0] for r in found["deadline"][1:]] == ["市住房和城乡建设局"]
    assert sum(int(r[1]) for r in found["day"][1:]) == 2  # quick and slow are still the lead unit's
    assert f"/analytics/kpi/cases?month={MONTH}&amp;unit=lead&amp;kpi=on_time" in page  # drill-down
    assert "unit=other" not in page
    status, _ = await handler.get(f"/analytics/kpi/cases?month={MONTH}&unit=other&kpi=return")
    assert status == 404
    # the lead unit's return of 'wrong': the case now belongs to the other unit, so it is withheld
    _, page = await handler.get(f"/analytics/kpi/cases?month={MONTH}&unit=lead&kpi=return")
    listed = {int(x) for x in re.findall(r'<a href="/cases/(\d+)">', page)}
    assert ids["wrong"] not in listed and listed <= {ids["quick"], ids["slow"]} and "另有 1 件" in page
    other = await login_as("other-handler")
    _, page = await other.get(f"/reports/monthly?month={MONTH}")
    assert [r[1] for r in tables(page)["report"][1:]] == ["市交通运输局"]
    _, page = await other.get(f"/analytics/kpi/cases?month={MONTH}&unit=other&kpi=return")
    assert "张三" not in page and "138" not in page


async def test_roles_without_analytics_are_refused(login_as, browser, city: City) -> None:
    operator = await login_as("operator")
    for path in ("/analytics", "/analytics/kpi", "/analytics/hot", "/analytics/risks", "/reports/monthly",
                 "/reports/bulletin", f"/analytics/kpi/cases?month={MONTH}&unit=lead&kpi=return"):
        status, _ = await operator.get(path)
        assert status == 403, path
        status, _ = await browser.get(path, allow_redirects=False)
        assert status == 303, path
    for user in ("dispatcher", "admin", "head"):
        client = await login_as(user)
        status, page = await client.get("/analytics")
        assert status == 200 and "统计分析" in page, user


async def test_monthly_report_page_csv_and_xlsx(login_as, city: City) -> None:
    await seed(city)
    cards = {c.key[0]: c for c in await kpi_report(dt.datetime.now(dt.UTC), ("unit",), START, END)}
    admin = await login_as("admin")
    _, page = await admin.get(f"/reports/monthly?month={MONTH}")
    rows = tables(page)["report"]
    assert {r[1] for r in rows[1:]} == {"市住房和城乡建设局", "市交通运输局"}
    async with admin.http.get(f"{admin.base}/reports/monthly?month={MONTH}&format=csv") as r:
        assert parse_csv(await r.read()) == rows
    async with admin.http.get(f"{admin.base}/reports/monthly?month={MONTH}&format=xlsx") as r:
        assert r.status == 200 and "spreadsheetml" in r.content_type
        sheet = load_workbook(io.BytesIO(await r.read()), read_only=True).worksheets[0]
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert sheet.title == MONTH and cells[0][:3] == ["排名", "单位", "件数"]
    by_unit = {row[1]: row for row in cells[1:]}
    assert set(by_unit) == {"市住房和城乡建设局", "市交通运输局"}
    assert cards["lead"].volume in [row[2] for row in cells[1:]]
    assert all(isinstance(row[2], int) for row in cells[1:])  # number cells, not text
    lead = (await Unit.get(code="lead")).name_zh
    assert by_unit[lead][2] == cards["lead"].volume  # the lead unit's own row, not any row
    assert {name: str(row[2]) for name, row in by_unit.items()} == {r[1]: r[2] for r in rows[1:]}  # as on the page


async def test_hot_issues_and_risks_pages(login_as, city: City) -> None:
    world = city.world
    service = CaseService(clock=lambda: dt.datetime(2026, 3, 10, 2, tzinfo=dt.UTC))
    from storage.models import Citizen
    for i, text in enumerate(["幸福里小区烧烤店油烟噪音扰民", "幸福里小区烧烤店每晚噪音吵到凌晨油烟很大",
                              "幸福里小区底商烧烤店深夜噪音和油烟扰民", "幸福里小区烧烤店油烟直排噪音扰民严重"]):
        citizen = await Citizen.create(name=f"群众{i}", phone=f"1390000000{i}")
        await service.submit(NewCase(text=text + "，我想死了活不下去", title=text, channel=Channel.WEBCHAT,
                                     citizen_id=citizen.id, street="湖滨街道"), world.actor(Role.CITIZEN))
    await service.submit(NewCase(text=XSS, title=XSS, channel=Channel.WEBCHAT, citizen_id=world.citizen.id),
                         world.actor(Role.CITIZEN))
    supervisor = await login_as("supervisor")
    status, page = await supervisor.get(f"/analytics/hot?month={MONTH}")
    assert status == 200
    rows = tables(page)["hot"]
    assert len(rows) == 2 and rows[1][2] == "4" and rows[1][3] == "4"
    assert "烧烤" in rows[1][1]
    assert len(re.findall(r'<a href="/cases/\d+">', page)) == 4
    async with supervisor.http.get(f"{supervisor.base}/analytics/hot?month={MONTH}&format=csv") as r:
        assert parse_csv(await r.read()) == rows
    status, page = await supervisor.get(f"/analytics/risks?month={MONTH}")
    assert status == 200
    risk_rows = tables(page)["risks"]
    assert any(r[0] == "极端情绪" and r[1].startswith("8890-") for r in risk_rows[1:])
    assert XSS not in page
    # A supervisor acknowledges the first warning with a note; the page then says who and what.
    fingerprint = re.search(r'name="fingerprint" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    ack = {"fingerprint": fingerprint, "kind": "emotion", "key": "x", "note": "已联系街道心理援助", "month": MONTH}
    status, _ = await supervisor.post("/analytics/risks/ack", ack)
    assert status == 200
    _, page = await supervisor.get(f"/analytics/risks?month={MONTH}")
    assert "已联系街道心理援助" in page and page.count('name="fingerprint"') == len(risk_rows) - 2
    from storage.models import AuditEntry, RiskAck
    assert await RiskAck.filter(fingerprint=fingerprint).count() == 1
    assert await AuditEntry.filter(action="risk_ack", target=fingerprint).count() == 1
    dispatcher = await login_as("dispatcher")
    status, _ = await dispatcher.post("/analytics/risks/ack", {"fingerprint": "f" * 16, "note": "试试", "month": MONTH})
    assert status == 403
    handler = await login_as("handler")  # none of these cases is the lead unit's yet
    _, page = await handler.get(f"/analytics/hot?month={MONTH}")
    assert "幸福里" not in page


def test_a_control_character_in_a_name_never_corrupts_the_xlsx() -> None:
    data = xlsx_bytes("2026-03\x07", ["单位"], [["市交通\x07运输局\x00"], [3], ["=HYPERLINK(1)"]])
    book = zipfile.ZipFile(io.BytesIO(data))
    for name in book.namelist():  # a \x07 anywhere would not be XML at all: the file would not open
        if name.endswith((".xml", ".rels")):
            ElementTree.fromstring(book.read(name))
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet.title == "2026-03"
    assert [c.value for c in sheet["A"]] == ["单位", "市交通运输局", 3, "=HYPERLINK(1)"]
    assert sheet["A4"].data_type == "s"  # text, not a formula


async def test_a_long_ranking_opens_unfolded_on_the_report_and_kpi_pages(login_as, city: City) -> None:
    from storage.models import UnitKind

    clock = Clock()
    service = CaseService(clock=clock)
    dispatcher = city.world.actor(Role.DISPATCHER)
    for i in range(13):  # more units than a folded table shows at once
        unit = await Unit.create(code=f"street-{i}", name_zh=f"第{i}街道办事处", name_en=f"Street {i}",
                                 kind=UnitKind.BUREAU)
        case = await service.submit(NewCase(text="路灯不亮，请尽快处理。", channel=Channel.WEBCHAT,
                                            citizen_id=city.world.citizen.id, category="城乡建设"),
                                    city.world.actor(Role.CITIZEN))
        await service.apply(case.id, Action.ACCEPT, dispatcher)
        await service.apply(case.id, Action.DISPATCH, dispatcher, {"lead_unit": unit.code})
    admin = await login_as("admin")
    for path in (f"/reports/monthly?month={MONTH}", f"/analytics/kpi?month={MONTH}"):
        _, page = await admin.get(path)
        assert '<details class="long-table" open>' in page, path  # the page's one table, not a fold to open
    _, page = await admin.get(f"/analytics?month={MONTH}")
    assert '<details class="long-table" open>' not in page  # the dashboard's many tables stay folded
    assert '<details class="long-table">' in page  # (it has a long one, folded)
