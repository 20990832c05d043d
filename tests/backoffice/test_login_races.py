"""Login under parallel requests: every guess is counted before it is checked, and enrolment secrets stay private."""

from __future__ import annotations

import asyncio
import re

from backoffice import throttle, totp
from storage.lifecycle import Role
from storage.models import AuditEntry, LoginThrottle, Staff, StaffSession
from tests.backoffice.conftest import CODE_STEP, PASSWORD, TOTP_SECRET, Browser, City, password_hash
from tests.backoffice.test_totp import code_now

SECRET_ON_PAGE = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


def wrong_codes(count: int) -> list[str]:
    """Well-formed codes that no step of the window accepts."""
    valid = {code_now(TOTP_SECRET, d) for d in (-1, 0, 1)}
    return [c for c in (f"{n:06d}" for n in range(100000, 100000 + count + 3)) if c not in valid][:count]


async def test_sixty_parallel_wrong_codes_get_only_a_few_checks(browser: Browser, city: City) -> None:
    await browser.get("/login")
    _, page = await browser.post("/login", {"username": "supervisor", "password": PASSWORD})
    assert CODE_STEP in page
    results = await asyncio.gather(*(browser.post("/login", {"step": "code", "code": c}) for c in wrong_codes(60)))
    assert all(status == 401 for status, _ in results)
    checked = await AuditEntry.filter(action="totp_failed").count()
    assert checked <= throttle.PENDING_LIMIT  # the rest were refused before being looked at (maybe all)
    assert sum("验证码不正确" in page for _, page in results) == checked
    assert not await StaffSession.filter(staff_id=city.staff["supervisor"].id).exists()  # the half-login ended
    # Every refused guess counted too: the username is locked, the right password and code wait.
    await browser.get("/login")
    status, page = await browser.post("/login", {"username": "supervisor", "password": PASSWORD})
    assert status == 401 and "登录失败次数过多" in page
    assert not await StaffSession.filter(staff_id=city.staff["supervisor"].id).exists()


async def test_parallel_wrong_passwords_get_only_the_limit_of_checks(browser: Browser, city: City) -> None:
    await browser.get("/login")
    results = await asyncio.gather(*(browser.post("/login", {"username": "dispatcher", "password": f"guess {n}!"})
                                     for n in range(20)))
    assert all(status == 401 for status, _ in results)
    assert await AuditEntry.filter(action="login_failed").count() <= throttle.USER_LIMIT
    assert sum("登录失败次数过多" in page for _, page in results) >= 20 - throttle.USER_LIMIT
    status, page = await browser.post("/login", {"username": "dispatcher", "password": PASSWORD})
    assert status == 401 and "登录失败次数过多" in page
    assert not await StaffSession.exists()


async def test_a_right_password_or_code_is_not_counted_against_the_user(browser: Browser, city: City) -> None:
    for _ in range(throttle.USER_LIMIT + 2):  # more good logins than the limit
        b = Browser(browser.base)
        try:
            status, page = await b.login("dispatcher")
            assert status == 200 and "工作队列" in page
        finally:
            await b.close()
    status, page = await browser.login("supervisor")  # password, then a code
    assert status == 200 and "工作队列" in page
    assert not await LoginThrottle.filter(key__startswith="user:").exists()
    assert not await LoginThrottle.filter(key="addr:127.0.0.1", failures__gt=0).exists()
    assert not await LoginThrottle.filter(key__startswith="pending:").exists()


async def test_a_half_login_ends_after_a_few_wrong_codes(browser: Browser, city: City) -> None:
    await browser.get("/login")
    await browser.post("/login", {"username": "supervisor", "password": PASSWORD})
    for code in wrong_codes(throttle.PENDING_LIMIT):
        status, page = await browser.post("/login", {"step": "code", "code": code})
        assert status == 401 and "验证码不正确" in page
    assert "请重新输入密码" in page and 'name="password"' in page and CODE_STEP not in page
    assert not await StaffSession.exists()
    status, page = await browser.post("/login", {"step": "code", "code": code_now(TOTP_SECRET)})
    assert status == 401 and "工作队列" not in page  # the ended half-login opens nothing, even with a right code
    _, page = await browser.get("/queues")
    assert "工作人员登录" in page


async def test_an_enrolment_secret_is_seen_only_by_its_own_half_login(server: str, city: City) -> None:
    await Staff.create(username="newadmin", display_name="新管理员", password_hash=password_hash(),
                       roles=[Role.ADMIN.value])
    first, second = Browser(server), Browser(server)
    try:
        secrets_shown = []
        for b in (first, second):
            await b.get("/login")
            _, page = await b.post("/login", {"username": "newadmin", "password": PASSWORD})
            secrets_shown.append(SECRET_ON_PAGE.search(page).group(1))  # type: ignore[union-attr]
        _, again = await first.get("/login")
        assert SECRET_ON_PAGE.search(again).group(1) == secrets_shown[0]  # type: ignore[union-attr]
        assert secrets_shown[0] != secrets_shown[1]
        _, other = await second.get("/login")
        assert secrets_shown[0] not in other  # another login with the same password never sees it
        # The second half-login cannot confirm with the first one's secret, only with its own.
        status, _ = await second.post("/login", {"step": "enrol", "code": code_now(secrets_shown[0])})
        assert status == 401 and (await Staff.get(username="newadmin")).totp_confirmed_at is None
        status, page = await first.post("/login", {"step": "enrol", "code": code_now(secrets_shown[0])})
        assert status == 200 and "只显示这一次" in page
        stored = await Staff.get(username="newadmin")
        assert totp.enrolled(stored) and secrets_shown[0] not in (stored.totp_secret or "")  # sealed at rest
        # Once enrolled, the other half-login is asked for a code of the confirmed secret; its own never counts.
        status, page = await second.post("/login", {"step": "enrol", "code": code_now(secrets_shown[1])})
        assert status == 409 and CODE_STEP in page and secrets_shown[1] not in page
    finally:
        await first.close()
        await second.close()


async def test_an_account_page_enrolment_is_private_to_its_session(login_as, city: City) -> None:
    mine, other = await login_as("operator"), await login_as("operator")
    _, page = await mine.post("/account/security/enrol", {})
    secret = SECRET_ON_PAGE.search(page).group(1)  # type: ignore[union-attr]
    _, page = await other.get("/account/security")
    assert secret not in page and "<svg" not in page
    assert (await Staff.get(username="operator")).totp_secret is None  # nothing on the account until confirmed
    status, _ = await other.post("/account/security/confirm", {"code": code_now(secret)})
    assert status == 400 and not totp.enrolled(await Staff.get(username="operator"))
    status, page = await mine.post("/account/security/confirm", {"code": code_now(secret)})
    assert status == 200 and "只显示这一次" in page and totp.enrolled(await Staff.get(username="operator"))
