"""A real browser completes a submission and a query on /chat and shows markup as text."""

from __future__ import annotations

import pytest

from storage.cases import CaseService
from storage.lifecycle import Action, Actor, Role
from storage.models import Case

pytestmark = pytest.mark.browser
XSS = "<img src=x onerror=alert(1)>"


async def submit(page, description: str) -> None:
    """Go through a submission on the open /chat page, up to the case number."""
    await page.get_by_role("button", name="我要反映问题").click()
    await page.get_by_text("请描述您遇到的问题").wait_for()
    await page.fill("#text", description)
    await page.press("#text", "Enter")
    await page.locator("#choices button").first.wait_for()
    await page.locator("#choices button").first.click()
    await page.get_by_text("问题发生在哪里").wait_for()
    await page.fill("#text", "东湖区幸福里小区3栋")
    await page.click("#send")
    await page.get_by_role("button", name="匿名反映（无法回访）").click()
    confirm = page.get_by_role("button", name="确认提交")
    follow_new = page.get_by_role("button", name="继续提交新诉求")
    await confirm.or_(follow_new).wait_for()
    if await follow_new.count():
        await follow_new.click()
    await page.get_by_text("请确认").wait_for()
    tapped = await page.evaluate("""() => {
        const b = [...document.querySelectorAll('#choices button')].find(x => x.textContent === '确认提交');
        b.click();
        return b.disabled;
    }""")
    assert tapped  # disabled by the tap itself: a second tap cannot send it again
    await page.get_by_text("诉求编号").wait_for()


async def test_submit_and_query_in_the_browser(browser, base: str) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 780})  # a phone
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await page.goto(base + "/chat")
    await submit(page, f"{XSS} 东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑")
    case = await Case.get()
    assert case.text.startswith(XSS)
    assert await page.locator(".msg.me", has_text=XSS).count() == 1  # shown as text …
    assert await page.locator("#log img").count() == 0  # … never as an element
    assert dialogs == []

    await page.get_by_role("button", name="查询办理进度").click()
    await page.get_by_role("button", name=case.number, exact=False).click()
    await page.get_by_text("办理经过").wait_for()
    detail = await page.locator(".msg.bot", has_text="办理经过").last.text_content()
    assert case.number in detail and "待受理" in detail
    await page.close()


async def test_reload_resumes_the_conversation(browser, base: str) -> None:
    page = await browser.new_page()
    await page.goto(base + "/chat")
    await page.get_by_role("button", name="我要反映问题").click()
    await page.get_by_text("请描述您遇到的问题").wait_for()
    await page.reload()
    await page.get_by_text("请描述您遇到的问题").wait_for()
    cookies = await page.context.cookies()
    chat_cookie = next(c for c in cookies if c["name"] == "appeals_chat")
    assert chat_cookie["httpOnly"] and chat_cookie["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""
    await page.close()


async def test_the_text_box_grows_with_a_long_description_and_shrinks_back_once_sent(browser, base: str) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 780})  # a phone
    await page.goto(base + "/chat")
    await page.get_by_role("button", name="我要反映问题").click()
    await page.get_by_text("请描述您遇到的问题").wait_for()
    box = page.locator("#text")
    empty = await box.evaluate("e => e.getBoundingClientRect().height")
    hint = await box.evaluate("e => e.placeholder")
    assert await box.evaluate("e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight + 2")  # whole
    long = "东湖区幸福里小区3栋门口的路灯坏了一个多月了，晚上很黑，老人和孩子出门很不方便，" * 3
    await box.fill(long)
    grown = await box.evaluate("e => e.getBoundingClientRect().height")
    assert grown > 2 * empty  # several lines of the description are in view while it is written
    await box.fill(long * 5)
    assert await box.evaluate("e => e.getBoundingClientRect().height") <= 150  # then it scrolls instead
    await page.press("#text", "Enter")
    await page.locator(".msg.me", has_text="路灯坏了一个多月").wait_for()
    assert await box.evaluate("e => e.value") == ""
    assert abs(await box.evaluate("e => e.getBoundingClientRect().height") - empty) < 2  # one line again
    assert await box.evaluate("e => e.scrollTop") == 0 and await box.evaluate("e => e.placeholder") == hint
    await page.close()


async def test_a_pushed_notice_keeps_the_buttons_and_a_reload_keeps_what_was_said(browser, base: str) -> None:
    page = await browser.new_page(viewport={"width": 390, "height": 780})  # a phone
    await page.goto(base + "/chat")
    await page.locator("#choices button").first.wait_for()
    assert await page.locator("#locate").is_hidden()  # the map pin only where a place is asked for
    await submit(page, "东湖区幸福里小区3栋门口路灯坏了一个月，晚上很黑")
    case = await Case.get()
    await page.get_by_role("button", name="查询办理进度").wait_for()
    menu = await page.locator("#choices button").count()
    assert menu >= 3
    assert await page.locator("#choices button:disabled").count() == 0  # the new question's buttons are live

    await CaseService(hotline_prefix="8890").apply(case.id, Action.ACCEPT, Actor(roles=frozenset({Role.DISPATCHER})))
    await page.locator(".msg.notice").first.wait_for(timeout=15_000)  # staff's change, pushed
    assert await page.locator("#choices button").count() == menu  # the menu's buttons are still there

    await page.reload()
    await page.locator("#choices button").first.wait_for()
    log = await page.locator("#log").inner_text()
    assert case.tracking_code in log and case.number in log  # the receipt survives a reload of the tab
    assert await page.locator("#log span.nowrap", has_text=case.number).count() >= 1  # never split across lines
    await page.locator("label[role=button]").focus()  # the camera control is reachable from the keyboard
    assert await page.evaluate("document.activeElement.getAttribute('aria-label')") == "上传照片 / photo"
    assert "路灯坏了一个月" in log and log.count("请选择") <= 2

    await page.fill("#text", "很" * 2100)
    await page.press("#text", "Enter")
    await page.get_by_text("内容太长了").wait_for()
    assert len(await page.locator("#text").input_value()) == 2100  # kept in the box to shorten
    assert await page.locator(".msg.me", has_text="很很很很很很很很很很").count() == 0

    asked: list[str] = []

    async def answer(dialog) -> None:  # noqa: ANN001 - Playwright's Dialog
        asked.append(dialog.message)
        await (dialog.dismiss() if len(asked) == 1 else dialog.accept())

    page.on("dialog", answer)
    async with page.expect_event("dialog") as shown:
        await page.get_by_role("button", name="结束会话").click()  # asked first: "no" keeps everything
    asked_first = (await shown.value).message
    assert "请先记下诉求编号和查询码" in asked_first and case.tracking_code in await page.locator("#log").inner_text()
    async with page.expect_navigation():
        await page.get_by_role("button", name="结束会话").click()
    await page.locator("#choices button").first.wait_for()
    assert case.tracking_code not in await page.locator("#log").inner_text()  # the next person sees nothing
    await page.close()
