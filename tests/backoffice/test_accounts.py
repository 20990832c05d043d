"""Accounts over real HTTP: login, logout, session rotation, lockout, CSRF and password change."""

from __future__ import annotations

import time

from storage.models import AuditEntry, Staff, StaffSession
from tests.backoffice.conftest import PASSWORD, Browser, City


async def test_login_shows_the_role_queues_in_chinese_and_english(browser: Browser, city: City) -> None:
    status, text = await browser.get("/queues")
    assert status == 200 and "工作人员登录" in text  # redirected to the login page
    status, text = await browser.login("dispatcher")
    assert status == 200 and "待受理" in text and "待派单" in text and "dispatcher姓名" in text
    status, text = await browser.get("/queues/submitted?lang=en")
    assert "To accept" in text and "To dispatch" in text
    status, text = await browser.get("/queues/submitted")  # the cookie keeps English
    assert "To accept" in text


async def test_unit_staff_get_unit_queues_only(login_as, city: City) -> None:
    handler = await login_as("handler")
    status, text = await handler.get("/queues")
    assert "待签收" in text and "本单位诉求" in text and "/queues/submitted" not in text
    status, _ = await handler.get("/queues/submitted")
    assert status == 404
