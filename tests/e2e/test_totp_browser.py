"""In chromium: a new administrator enrols a TOTP second factor at first login, then logs in with a code."""

from __future__ import annotations

import time

import pytest

from backoffice import totp
from storage.lifecycle import Role
from storage.models import AuditEntry, Staff
from tests.backoffice.conftest import password_hash
from tests.support.browser import log_in, submit_login

pytestmark = pytest.mark.browser


async def test_admin_enrols_with_the_qr_page_and_logs_in_with_a_code(base: str, browser) -> None:  # noqa: ANN001
    await Staff.create(username="chief", display_name="新管理员", password_hash=password_hash(),
                       roles=[Role.ADMIN.value])
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await log_in(page, base, "chief")
    # The enrolment page: a QR code drawn as inline SVG, the key and the otpauth URI as text.
    qr = page.locator("figure.qr svg")
    assert await qr.count() == 1 and (await qr.bounding_box() or {}).get("width", 0) > 100
    secret = (await page.inner_text("#totp-secret")).strip()
    assert (await page.text_content("#totp-uri") or "").startswith("otpauth://totp/")
    assert await page.locator("nav.side").count() == 0  # not signed in yet
    await page.goto(f"{base}/queues")
    assert await page.locator("nav.side").count() == 0 and "两步验证" in await page.content()

    step = totp.step_at(time.time())
    await page.fill("input[name=code]", totp.hotp(totp.secret_bytes(secret), step))
    async with page.expect_navigation():
        await page.click("button[type=submit].primary")
    codes = await page.locator("ul.recovery code").all_inner_texts()
    assert len(codes) == totp.RECOVERY_CODES
    async with page.expect_navigation():
        await page.click("a.button.primary")
    await page.wait_for_selector("nav.side")
    assert "工作队列" in await page.content()

    async with page.expect_navigation():
        await page.click("button:has-text('退出')")
    await submit_login(page, "chief")
    assert await page.locator("figure.qr").count() == 0  # enrolled: only the code now
    await page.fill("input[name=code]", totp.hotp(totp.secret_bytes(secret), step + 1))
    async with page.expect_navigation():
        await page.click("button[type=submit].primary")
    await page.wait_for_selector("nav.side")
    await page.goto(f"{base}/admin/staff")
    assert "工作人员与角色" in await page.content()
    await context.close()
    logins = await AuditEntry.filter(action="login", target="chief").count()
    assert logins == 2 and await AuditEntry.filter(action="totp_enrolled", target="chief").count() == 1
