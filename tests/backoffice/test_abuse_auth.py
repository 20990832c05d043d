"""DOMAIN.md abuse cases 17, 18, 19 and 22: login, sessions, passwords and cross-site requests."""

from __future__ import annotations

import statistics
import time

from yarl import URL

from storage.lifecycle import CaseStatus
from storage.models import AuditEntry, Case, CaseEvent, StaffSession
from tests.backoffice.conftest import PASSWORD, Browser, City
from tests.support.builders import make_case


async def _timed_login(b: Browser, username: str, password: str) -> tuple[float, str]:
    start = time.perf_counter()
    _, text = await b.post("/login", {"username": username, "password": password})
    return time.perf_counter() - start, text


async def test_17_same_message_similar_timing_then_lockout(browser: Browser, city: City) -> None:
    await browser.get("/login")
    known, unknown = [], []
    for _ in range(3):
        t, text_known = await _timed_login(browser, "dispatcher", "wrong password!")
        known.append(t)
        t, text_unknown = await _timed_login(browser, "nobody-here", "wrong password!")
        unknown.append(t)
    assert "用户名或密码错误。" in text_known and "用户名或密码错误。" in text_unknown
    ratio = statistics.median(known) / statistics.median(unknown)
    assert 0.5 < ratio < 2.0, (known, unknown)
    for _ in range(2):
        await browser.post("/login", {"username": "dispatcher", "password": "wrong password!"})
        await browser.post("/login", {"username": "nobody-here", "password": "wrong password!"})
    # Five failures: both names are locked the same way, even with the right password.
    status, text = await browser.post("/login", {"username": "dispatcher", "password": PASSWORD})
    assert status == 401 and "登录失败次数过多" in text
    _, text = await browser.post("/login", {"username": "nobody-here", "password": PASSWORD})
    assert "登录失败次数过多" in text
    assert not await StaffSession.exists()
    assert await AuditEntry.filter(action="login_failed").count() >= 10


async def test_18_session_rotates_at_login_and_logout_ends_it(browser: Browser, city: City) -> None:
    browser.http.cookie_jar.update_cookies({"appeals_staff": "attacker-chosen-session-id-123456"},
                                          URL(browser.base))
    await browser.login("dispatcher")
    first = browser.cookie("appeals_staff")
    assert first and first != "attacker-chosen-session-id-123456"
    await browser.login("dispatcher")
    second = browser.cookie("appeals_staff")
    assert second and second != first
    assert await StaffSession.all().count() == 1  # logging in again ended the old session
    status, _ = await browser.post("/logout", {})
    assert status == 200
    assert await StaffSession.all().count() == 0
    replay = Browser(browser.base)
    try:
        replay.http.cookie_jar.update_cookies({"appeals_staff": second}, URL(replay.base))
        _, text = await replay.get("/queues")
        assert "工作人员登录" in text
        status, _ = await replay.api("GET", "/api/me")
        assert status == 401
    finally:
        await replay.close()


async def test_19_password_change_needs_the_current_one_and_is_bounded(login_as, city: City) -> None:
    b = await login_as("handler")
    status, text = await b.post("/account/password", {"current": "not it at all", "new": "another secret 1",
                                                      "again": "another secret 1"})
    assert status == 400 and "当前密码不正确" in text
    huge = "x" * 100_000
    status, text = await b.post("/account/password", {"current": PASSWORD, "new": huge, "again": huge})
    assert status == 400 and "256" in text
    fresh = Browser(b.base)
    try:
        await fresh.get("/login")
        start = time.perf_counter()
        status, _ = await fresh.post("/login", {"username": "handler", "password": huge})
        assert status == 401 and time.perf_counter() - start < 2
        _, text = await fresh.login("handler", PASSWORD)
        assert "工作队列" in text  # nothing changed
    finally:
        await fresh.close()


async def test_22b_every_back_office_form_refuses_a_cross_site_post(login_as, city: City) -> None:
    """Not only the case actions: knowledge, dead letters, risk acknowledgements, notifications and any page added
    later (only the citizens' channels, which guard themselves, are exempt)."""
    supervisor = await login_as("supervisor")
    for path in ("/knowledge/new", "/outbox/1/retry", "/analytics/risks/ack", "/a-page-added-later"):
        status, _ = await supervisor.post(path, {"title": "x", "reason": "x", "id": "1"}, csrf=False)
        assert status == 403, path
    status, page = await supervisor.post("/outbox/1/retry", {"reason": "x"})  # with the token: through to the page
    assert status == 409 and "请求校验失败" not in page  # (no such dead letter)


async def test_22_cross_site_posts_are_refused_and_get_changes_nothing(login_as, city: City) -> None:
    case = await make_case(city.world, CaseStatus.SUBMITTED)
    dispatcher = await login_as("dispatcher")
    other = await login_as("supervisor")
    url = f"/cases/{case.id}/actions/accept"
    status, _ = await dispatcher.post(url, {"expected_version": "1"}, csrf=False)
    assert status == 403
    status, _ = await dispatcher.post(url, [("expected_version", "1"), ("csrf_token", "forged")], csrf=False)
    assert status == 403
    status, _ = await dispatcher.post(url, [("expected_version", "1"), ("csrf_token", other.csrf)], csrf=False)
    assert status == 403
    status, _ = await dispatcher.api("POST", f"/api/cases/{case.id}/actions/accept", {"payload": {}}, csrf=False)
    assert status == 403
    async with dispatcher.http.get(dispatcher.base + url) as r:
        assert r.status == 405
    status, _ = await dispatcher.post("/logout", {}, csrf=False)
    assert status == 403
    assert (await Case.get(id=case.id)).status == CaseStatus.SUBMITTED
    assert not await CaseEvent.filter(case_id=case.id).exists()
    status, _ = await dispatcher.post(url, {"expected_version": "1"})
    assert status == 200 and (await Case.get(id=case.id)).status == CaseStatus.ACCEPTED
