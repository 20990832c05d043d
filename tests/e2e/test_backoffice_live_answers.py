"""The phone desk shows knowledge answers while the operator types, as text, and answers directly."""

from __future__ import annotations

import pytest

from storage.lifecycle import CaseStatus
from storage.models import Case, CaseEvent
from tests.backoffice.conftest import build_app, make_city
from tests.backoffice.test_knowledge_pages import SOCIAL, XSS, published
from tests.support.browser import log_in
from tests.support.server import serving

pytestmark = pytest.mark.browser


async def test_answers_appear_while_typing_and_one_click_answers_the_call(database_url: str, browser) -> None:  # noqa: ANN001
    city = await make_city()
    social = await published(city.world.lead, ["社保怎么转移到江澜", "外地社保转入江澜怎么办理"],
                             SOCIAL + XSS, source="《社会保险关系转移接续办法》")
    async with serving(build_app(database_url)) as base:
        page = await (await browser.new_context(locale="zh-CN")).new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        await log_in(page, base, "operator")
        await page.goto(f"{base}/intake")
        await page.locator("textarea[name=text]").press_sequentially("请问外地的社保怎么转到江澜来", delay=20)
        live = page.locator("#live-answers")
        await live.locator("li.kb-answer").first.wait_for(timeout=10_000)
        text = await live.inner_text()
        assert SOCIAL in text and XSS in text  # the markup is shown as text, never run
        assert await live.locator("img").count() == 0 and dialogs == []
        await page.fill("input[name=name]", "李先生")
        await page.select_option("select[name=kind]", "consultation")  # answering directly is for questions
        async with page.expect_navigation():
            await live.locator(f"button[name=answer_with][value='{social.id}']").click()
        assert "直接答复" in await page.inner_text("main")
    case = await Case.get(text="请问外地的社保怎么转到江澜来")
    assert case.status is CaseStatus.RESOLVED
    assert [e.action.value for e in await CaseEvent.filter(case_id=case.id).order_by("id")] == [
        "submit", "answer_directly"]
