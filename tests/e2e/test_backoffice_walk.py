"""One case walked through every role in headless chromium, with screenshots of queues and the case page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storage.lifecycle import CaseStatus, Role
from storage.models import Case, CaseEvent, Staff
from tests.backoffice.conftest import build_app, make_city, password_hash
from tests.support.browser import log_in, second_factor
from tests.support.server import serving

pytestmark = pytest.mark.browser


async def test_one_case_through_every_role(database_url: str, browser, artefacts: Path) -> None:  # noqa: ANN001
    city = await make_city()
    await Staff.create(username="other-head", display_name="交通局负责人", password_hash=password_hash(),
                       roles=[Role.UNIT_HEAD.value], unit=city.world.other)
    lead, other = city.world.lead, city.world.other
    async with serving(build_app(database_url, suggestions=True)) as base:
        shots: list[str] = []

        async def as_user(username: str):  # noqa: ANN202
            context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
            page = await context.new_page()
            await log_in(page, base, username)
            await second_factor(page, username)
            await page.wait_for_selector("nav.side")
            return context, page

        async def shot(page, name: str) -> None:  # noqa: ANN001
            path = artefacts / f"{len(shots) + 1:02d}-{name}.png"
            await page.screenshot(path=str(path), full_page=True)
            shots.append(path.name)

        async def act(page, action: str, **fields: str) -> None:  # noqa: ANN001
            box = f"details[data-action={action}]"
            await page.click(f"{box} summary")
            for name, value in fields.items():
                control = page.locator(f"{box} [name={name}]")
                if await control.evaluate("e => e.tagName") == "SELECT":
                    await control.select_option(value)
                else:
                    await control.fill(value)
            async with page.expect_navigation():  # wait for the new page, never the old one's banner
                await page.click(f"{box} button[type=submit]")
            await page.wait_for_selector("p.ok, p.alert")
            assert await page.locator("p.alert").count() == 0, await page.locator("p.alert").inner_text()

        async def open_case(page, queue: str, case_id: int, name: str) -> None:  # noqa: ANN001
            await page.goto(f"{base}/queues/{queue}")
            await shot(page, f"queue-{queue}-{name}")
            async with page.expect_navigation():
                await page.click(f"a[href='/cases/{case_id}']")
            await page.wait_for_selector("section.timeline")

        # 1. The operator records a call (代录) with the classifier's suggestion.
        ctx, page = await as_user("operator")
        await page.goto(f"{base}/intake")
        await page.fill("textarea[name=text]", "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑，老人出门不安全。")
        await page.fill("input[name=name]", "王阿姨")
        await page.fill("input[name=phone]", "13912345678")
        async with page.expect_navigation():
            await page.click("button[value=suggest]")
        await page.wait_for_selector("section.suggest")
        await shot(page, "intake-suggestions")
        async with page.expect_navigation():
            await page.click("button[value=record]")
        await page.wait_for_selector("section.timeline")
        case_id = int(re.search(r"/cases/(\d+)", page.url).group(1))  # type: ignore[union-attr]
        assert "139****5678" in await page.content()
        await ctx.close()

        # 2. The dispatcher accepts and dispatches to the wrong unit.
        ctx, page = await as_user("dispatcher")
        await open_case(page, "submitted", case_id, "dispatcher")
        await shot(page, "case-submitted")
        await act(page, "accept")
        await act(page, "dispatch", lead_unit=str(other.id))
        await ctx.close()

        # 3. That unit's head returns it (退单).
        ctx, page = await as_user("other-head")
        await open_case(page, "to_sign", case_id, "other-head")
        await act(page, "return", reason="路灯属于住建局管理，不属于本单位职责。")
        await ctx.close()

        # 4. The dispatcher re-dispatches to the right unit.
        ctx, page = await as_user("dispatcher")
        await open_case(page, "to_dispatch", case_id, "dispatcher-again")
        await act(page, "dispatch", lead_unit=str(lead.id))
        await ctx.close()

        # 5. The handler signs for it and asks for an extension.
        ctx, page = await as_user("handler")
        await open_case(page, "to_sign", case_id, "handler")
        await act(page, "sign", note="已签收，安排维修")
        await act(page, "request_extension", days="3", reason="需要采购灯具")
        await shot(page, "case-extension-requested")
        await ctx.close()

        # 6. The supervisor approves the extension.
        ctx, page = await as_user("supervisor")
        await open_case(page, "in_progress", case_id, "supervisor")
        await act(page, "approve_extension", note="同意延期")
        await ctx.close()

        # 7. The handler replies.
        ctx, page = await as_user("handler")
        await open_case(page, "in_progress", case_id, "handler-reply")
        await act(page, "submit_reply", reply="已更换路灯灯具，经现场核实恢复照明。", solved="1")
        await ctx.close()

        # 8. The unit head approves the reply.
        ctx, page = await as_user("head")
        await open_case(page, "review", case_id, "head")
        await act(page, "approve_reply", note="同意")
        await ctx.close()

        # 9. The operator calls back and records the evaluation.
        ctx, page = await as_user("operator")
        await open_case(page, "callback", case_id, "operator")
        await act(page, "callback", rating="satisfied", contacted="1", solved="1", comment="修好了，谢谢")
        await shot(page, "case-evaluated")
        await page.goto(f"{base}/cases/{case_id}?lang=en")
        await shot(page, "case-evaluated-en")
        assert "Timeline" in await page.content()
        await ctx.close()

        # A tablet-sized view of the queue.
        context = await browser.new_context(viewport={"width": 820, "height": 1180})
        page = await context.new_page()
        await log_in(page, base, "supervisor")
        await second_factor(page, "supervisor")
        await page.wait_for_selector("nav.side")
        await shot(page, "tablet-queue")
        await context.close()

    case = await Case.get(id=case_id)
    assert case.status == CaseStatus.EVALUATED and case.lead_unit_id == lead.id
    actions = [e.action.value for e in await CaseEvent.filter(case_id=case_id).order_by("id")]
    assert actions == ["submit", "accept", "dispatch", "return", "dispatch", "sign", "request_extension",
                       "approve_extension", "submit_reply", "approve_reply", "callback"]
    assert len(shots) >= 14 and all((artefacts / s).stat().st_size > 5000 for s in shots)
    print(f"screenshots: {artefacts}")
