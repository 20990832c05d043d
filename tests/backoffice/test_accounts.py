"""Accounts over real HTTP: login, language, logout, session rotation, CSRF on login, password change."""

from __future__ import annotations

from storage.models import AuditEntry, StaffSession
from tests.backoffice.conftest import Browser, City


async def test_login_shows_the_role_queues_in_chinese_and_english(browser: Browser, city: City) -> None:
    status, text = await browser.get("/queues")
    assert status == 200 and "工作人员登录" in text  # sent to the login page
    status, text = await browser.login("dispatcher")
    assert status == 200 and "待受理" in text and "待派单" in text and "dispatcher姓名" in text
    status, text = await browser.get("/queues/submitted?lang=en")
    assert "To accept" in text and "To dispatch" in text
    status, text = await browser.get("/queues/submitted")  # the cookie keeps English
    assert "To accept" in text
    assert await AuditEntry.filter(action="login").count() == 1


async def test_staff_language_setting_is_used_after_login(browser: Browser, city: City) -> None:
    await browser.login("supervisor")
    status, _ = await browser.post("/account/language", {"language": "en", "next": "/queues"})
    assert status == 200
    fresh = Browser(browser.base)
    try:
        _, text = await fresh.login("supervisor")
        assert "Queues" in text and "Log out" in text
    finally:
        await fresh.close()


async def test_unit_staff_get_unit_queues_only(login_as, city: City) -> None:
    handler = await login_as("handler")
    status, text = await handler.get("/queues")
    assert "待签收" in text and "本单位诉求" in text and "/queues/submitted" not in text
    status, _ = await handler.get("/queues/submitted")
    assert status == 404


async def test_login_needs_the_login_form_token(browser: Browser, city: City) -> None:
    status, _ = await browser.post("/login", {"username": "dispatcher", "password": "x"}, csrf=False)
    assert status == 403
    assert not await StaffSession.exists()


async def test_open_redirect_after_login_is_refused(browser: Browser, city: City) -> None:
    await browser.get("/login")
    async with browser.http.post(browser.base + "/login", allow_redirects=False, data={
        "username": "dispatcher", "password": "correct horse battery", "next": "//evil.example/x",
        "csrf_token": browser.csrf,
    }) as r:
        assert r.status == 303 and r.headers["Location"] == "/queues"


async def test_password_change_ends_the_other_sessions(login_as, city: City) -> None:
    first = await login_as("operator")
    second = await login_as("operator")
    status, text = await first.post("/account/password", {
        "current": "correct horse battery", "new": "a brand new secret", "again": "a brand new secret"})
    assert status == 200 and "密码已修改" in text
    status, text = await second.get("/queues")
    assert "工作人员登录" in text  # the other session ended
    assert await StaffSession.filter(staff_id=city.staff["operator"].id).count() == 1
    fresh = Browser(first.base)
    try:
        status, text = await fresh.login("operator", "a brand new secret")
        assert "工作队列" in text
    finally:
        await fresh.close()
