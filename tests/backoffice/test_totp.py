"""TOTP second factor: the RFC 6238 algorithm, enrolment and codes at login, recovery codes, lockout and reset."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator

import pytest

from backoffice import totp
from storage.lifecycle import Role
from storage.models import AuditEntry, RecoveryCode, Staff, StaffSession
from tests.backoffice.conftest import (
    CSRF,
    PASSWORD,
    TOTP_SECRET,
    Browser,
    City,
    build_app,
    next_code,
    password_hash,
)
from tests.support.server import serving

SECRET_ON_PAGE = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
RECOVERY = re.compile(r"<code>([a-z2-7]{5}-[a-z2-7]{5})</code>")

RFC6238_KEYS = {"sha1": b"12345678901234567890", "sha256": b"12345678901234567890" * 2,
                "sha512": b"12345678901234567890" * 4}
RFC6238_VECTORS = [  # RFC 6238 appendix B: (time, sha1, sha256, sha512), 8 digits
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("moment", "sha1", "sha256", "sha512"), RFC6238_VECTORS)
def test_rfc6238_test_vectors(moment: int, sha1: str, sha256: str, sha512: str) -> None:
    for digest, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        key = RFC6238_KEYS[digest][: {"sha1": 20, "sha256": 32, "sha512": 64}[digest]]
        assert totp.totp(key, moment, digits=8, digest=digest) == expected


def test_rfc4226_hotp_values_and_the_window() -> None:
    key = b"12345678901234567890"
    assert [totp.hotp(key, c) for c in range(3)] == ["755224", "287082", "359152"]  # RFC 4226 appendix D
    moment = 1_111_111_111.0
    step = totp.step_at(moment)
    for delta in (-1, 0, 1):
        assert totp.match_step(key, totp.hotp(key, step + delta), moment, None) == step + delta
    assert totp.match_step(key, totp.hotp(key, step + 2), moment, None) is None  # outside ±1 step
    assert totp.match_step(key, totp.hotp(key, step), moment, step) is None  # already used
    assert totp.match_step(key, totp.hotp(key, step - 1), moment, step) is None  # older than the last used
    assert totp.match_step(key, "12345", moment, None) is None and totp.match_step(key, "abcdef", moment, None) is None


def test_secrets_are_encrypted_with_the_secret_key() -> None:
    sealed = totp.seal(TOTP_SECRET, "k" * 40)
    assert sealed.startswith("fernet:") and TOTP_SECRET not in sealed
    assert totp.unseal(sealed, "k" * 40) == TOTP_SECRET
    with pytest.raises(totp.SecretUnavailable):
        totp.unseal(sealed, "another key of at least 32 characters!")
    assert totp.unseal(totp.seal(TOTP_SECRET, None), None) == TOTP_SECRET


def code_now(b32: str, offset: int = 0) -> str:
    """The code an authenticator app shows now (or ``offset`` steps later)."""
    return totp.hotp(totp.secret_bytes(b32), totp.step_at(time.time()) + offset)


def wrong_code(b32: str) -> str:
    """A well-formed code that no step of the window accepts."""
    valid = {code_now(b32, d) for d in (-1, 0, 1)}
    return next(c for c in ("123456", "654321", "111111", "222222") if c not in valid)


@pytest.fixture
async def keyed_server(database_url: str, city: City) -> AsyncIterator[str]:
    """The application with APPEALS_SECRET_KEY set, so second-factor secrets are encrypted at rest."""
    async with serving(build_app(database_url, secret_key="s" * 40)) as base:
        yield base


async def test_a_new_admin_enrols_at_first_login_and_codes_work_once(keyed_server: str, city: City) -> None:
    await Staff.create(username="newadmin", display_name="新管理员", password_hash=password_hash(),
                       roles=[Role.ADMIN.value])
    b = Browser(keyed_server)
    try:
        await b.get("/login")
        async with b.http.post(b.base + "/login", data={"username": "newadmin", "password": PASSWORD,
                                                         "csrf_token": b.csrf}) as r:
            status, page = r.status, await r.text()
            assert r.headers["Cache-Control"] == "no-store"  # the secret stays out of caches
        b.csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
        assert status == 200 and "两步验证" in page and "<svg" in page and "otpauth://totp/" in page
        secret = SECRET_ON_PAGE.search(page).group(1)  # type: ignore[union-attr]
        half = await StaffSession.get(staff__username="newadmin")
        stored = half.data[totp.ENROL_KEY]  # kept with this half-login only, until confirmed
        assert stored.startswith("fernet:") and secret not in stored  # encrypted at rest
        assert (await Staff.get(username="newadmin")).totp_secret is None
        # Between password and code nothing is open: not the pages, not the API.
        status, page = await b.get("/queues")
        assert "两步验证" in page and "工作队列" not in page
        assert (await b.api("GET", "/api/me"))[0] == 401
        assert "工作人员与角色" not in (await b.get("/admin/staff"))[1]
        status, page = await b.post("/login", {"step": "enrol", "code": wrong_code(secret)})
        assert status == 401 and "验证码不正确" in page
        status, page = await b.post("/login", {"step": "enrol", "code": code_now(secret)})
        assert status == 200 and "只显示这一次" in page
        recovery = RECOVERY.findall(page)
        assert len(recovery) == totp.RECOVERY_CODES
        assert await RecoveryCode.filter(staff__username="newadmin").count() == totp.RECOVERY_CODES
        assert not any(r.code_hash in recovery for r in await RecoveryCode.all())  # hashed
        status, page = await b.get("/admin/staff")
        assert status == 200 and "工作人员与角色" in page
        assert await AuditEntry.filter(action="totp_enrolled").count() == 1
        assert (await AuditEntry.filter(action="login").first()).data["second_factor"] == "totp"  # type: ignore
    finally:
        await b.close()

    again = Browser(keyed_server)
    try:
        await again.get("/login")
        _, page = await again.post("/login", {"username": "newadmin", "password": PASSWORD})
        assert 'name="step" value="code"' in page and "<svg" not in page
        spent = (await Staff.get(username="newadmin")).totp_last_step
        used = totp.hotp(totp.secret_bytes(secret), spent or 0)  # the code that confirmed the enrolment
        status, page = await again.post("/login", {"step": "code", "code": used})
        assert status == 401 and "已使用过" in page
        status, page = await again.post("/login", {"step": "code", "code": recovery[0].upper()})
        assert status == 200 and "工作队列" in page
        assert (await AuditEntry.filter(action="login").order_by("-id").first()).data[  # type: ignore[union-attr]
            "second_factor"] == "recovery"
    finally:
        await again.close()

    third = Browser(keyed_server)
    try:
        await third.get("/login")
        await third.post("/login", {"username": "newadmin", "password": PASSWORD})
        status, page = await third.post("/login", {"step": "code", "code": recovery[0]})
        assert status == 401  # each recovery code works once
        status, page = await third.post("/login", {"step": "code", "code": code_now(secret, 1)})
        assert status == 200 and "工作队列" in page
    finally:
        await third.close()


async def test_wrong_codes_lock_the_account_and_the_password_does_not_unlock_it(browser: Browser,
                                                                               city: City) -> None:
    await browser.get("/login")
    await browser.post("/login", {"username": "supervisor", "password": PASSWORD})
    good, wrong = code_now(TOTP_SECRET), wrong_code(TOTP_SECRET)
    for _ in range(3):
        status, page = await browser.post("/login", {"step": "code", "code": wrong})
        assert status == 401 and "验证码不正确" in page
    await browser.post("/login", {"username": "supervisor", "password": PASSWORD})  # a new half-login
    for _ in range(2):
        status, page = await browser.post("/login", {"step": "code", "code": wrong})
        assert status == 401
    assert "登录失败次数过多" in page or "验证码不正确" in page
    status, page = await browser.post("/login", {"step": "code", "code": good})
    assert status == 401 and "登录失败次数过多" in page  # locked: even the right code waits
    sessions = await StaffSession.filter(staff_id=city.staff["supervisor"].id)
    assert all(s.data.get("mfa_pending") for s in sessions)  # no real login
    assert await AuditEntry.filter(action="totp_failed").count() == 5


async def test_an_operator_turns_the_second_factor_on_and_off(login_as, city: City) -> None:
    operator = await login_as("operator")
    status, page = await operator.get("/account/security")
    assert status == 200 and "安全设置" in page and "未启用" in page
    status, page = await operator.post("/account/security/enrol", {})
    secret = SECRET_ON_PAGE.search(page).group(1)  # type: ignore[union-attr]
    assert "<svg" in page
    status, page = await operator.post("/account/security/confirm", {"code": code_now(secret)})
    assert status == 200 and len(RECOVERY.findall(page)) == totp.RECOVERY_CODES
    status, page = await operator.get("/account/security?lang=en")
    assert "Recovery codes left" in page and re.search(r'id="totp-state">[^<]*Recovery codes left：10<', page)

    fresh = Browser(operator.base)
    try:
        await fresh.get("/login")
        _, page = await fresh.post("/login", {"username": "operator", "password": PASSWORD})
        assert 'name="step" value="code"' in page  # the operator is now asked for a code too
        status, page = await fresh.post("/login", {"step": "code", "code": code_now(secret, 1)})
        assert status == 200 and "工作队列" in page
    finally:
        await fresh.close()

    status, page = await operator.post("/account/security/disable", {"code": wrong_code(secret)})
    assert status == 400 and "Wrong or already used code" in page  # English since ?lang=en above
    # Codes up to one step ahead are spent, and no test waits for the clock: a recovery code also works.
    staff = await Staff.get(username="operator")
    codes = await totp.replace_recovery_codes(staff)
    status, page = await operator.post("/account/security/disable", {"code": codes[0]})
    assert status == 200 and "Two-step verification is off" in page
    assert (await Staff.get(username="operator")).totp_secret is None
    assert await AuditEntry.filter(action="totp_disabled").exists()


async def test_supervisors_cannot_turn_it_off(login_as, city: City) -> None:
    supervisor = await login_as("supervisor")
    status, page = await supervisor.get("/account/security")
    assert "不能关闭" in page
    status, _ = await supervisor.post("/account/security/disable", {"code": code_now(TOTP_SECRET, 1)})
    assert status == 403 and (await Staff.get(username="supervisor")).totp_confirmed_at is not None
    status, page = await supervisor.post("/account/security/recovery", {"code": await next_code("supervisor")})
    assert status == 200 and len(RECOVERY.findall(page)) == totp.RECOVERY_CODES
    assert await totp.remaining_recovery_codes(await Staff.get(username="supervisor")) == totp.RECOVERY_CODES
    assert await AuditEntry.filter(action="recovery_codes_replaced", target="supervisor").exists()


async def test_admin_resets_a_lost_second_factor(login_as, city: City) -> None:
    supervisor = await login_as("supervisor")
    admin = await login_as("admin")
    target = city.staff["supervisor"]
    status, page = await admin.post(f"/admin/staff/{target.id}/reset-totp", {})
    assert status == 200
    reset = await Staff.get(id=target.id)
    assert reset.totp_secret is None and reset.totp_confirmed_at is None
    entry = await AuditEntry.get(action="totp_reset")
    assert entry.staff_id == city.staff["admin"].id and entry.target == "supervisor"  # type: ignore[attr-defined]
    assert entry.data == {"before": {"second_factor": True}, "after": {"second_factor": False}}
    status, page = await supervisor.get("/queues")
    assert "工作人员登录" in page  # the supervisor's sessions ended
    await supervisor.get("/login")
    _, page = await supervisor.post("/login", {"username": "supervisor", "password": PASSWORD})
    assert "<svg" in page and SECRET_ON_PAGE.search(page)  # enrols again
    other = await login_as("dispatcher")
    status, _ = await other.post(f"/admin/staff/{target.id}/reset-totp", {})
    assert status == 403


async def test_a_session_without_the_required_factor_opens_nothing(database_url: str, city: City) -> None:
    """A supervisor session opened by password alone (e.g. from before the second factor) is no login."""
    from backoffice import sessions

    token, _ = await sessions.start(city.staff["supervisor"])
    async with serving(build_app(database_url)) as base:
        b = Browser(base)
        try:
            b.http.cookie_jar.update_cookies({sessions.COOKIE: token})
            status, page = await b.get("/queues")
            assert "工作人员登录" in page
        finally:
            await b.close()
