"""Staff sign-in: the session middleware, login (password, then a TOTP code) and logout, and the page guard."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from aiohttp import web

from storage.accounts import MAX_PASSWORD, verify_password
from storage.lifecycle import Actor
from storage.models import AuditEntry, Staff, StaffSession

from . import sessions, throttle, totp
from .access import actor_for
from .i18n import LANG_COOKIE, pick_language, tr
from .keys import ACTOR, LANG, SECURE_COOKIES, SESSION, SETTINGS, STAFF

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GENERIC_FAILURE = ("用户名或密码错误。", "Wrong username or password.")
LOCKED = ("登录失败次数过多，请15分钟后再试。", "Too many failed attempts; try again in 15 minutes.")
WRONG_CODE = ("验证码不正确或已使用过。", "Wrong or already used code.")
PENDING_ENDED = ("验证码错误次数过多，请重新输入密码。", "Too many wrong codes; enter your password again.")
NO_SECRET = ("无法核对第二因素（密钥无法解密），请联系系统管理员重置。",
             "The second factor cannot be checked (its secret cannot be decrypted); ask an administrator to reset it.")
#: Between the password and the code: a session row that is not a login (see session_middleware).
PENDING = web.RequestKey("pending_staff", Staff)
PENDING_SESSION = web.RequestKey("pending_session", StaffSession)
PENDING_LIFETIME = dt.timedelta(minutes=10)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the signed-in staff member (if any) and the page language to the request."""
    loaded = await sessions.load(request.cookies.get(sessions.COOKIE))
    staff = None
    if loaded is not None:
        session, staff = loaded
        if session.data.get("mfa_pending"):
            request[PENDING_SESSION], request[PENDING] = session, staff  # password only: not signed in
        elif totp.required_for(staff) and not session.data.get("second_factor"):
            staff = None  # a session without the second factor its roles require is no login
        else:
            request[SESSION] = session
            request[STAFF] = staff
            request[ACTOR] = actor_for(staff)
    request[LANG] = pick_language(request, staff.language if staff else None, request.app[SETTINGS].language)
    response = await handler(request)
    chosen = request.query.get("lang")
    if chosen in ("zh-CN", "en") and not response.prepared:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


def current_actor(request: web.Request) -> tuple[Staff, Actor]:
    """Return the signed-in staff member and actor, or send the browser to the login page."""
    staff = request.get(STAFF)
    if staff is None:
        if request.path.startswith("/api"):
            raise web.HTTPUnauthorized(text='{"error": "login"}', content_type="application/json")
        raise web.HTTPSeeOther(f"/login?next={request.path_qs if request.method == 'GET' else '/queues'}")
    return staff, request[ACTOR]


def _safe_next(value: str) -> str:
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/queues"


def needs_second_factor(staff: Staff) -> bool:
    """Tell whether signing in asks this account for a TOTP code (enrolled, or its roles require one)."""
    return totp.required_for(staff) or totp.enrolled(staff)


async def attempt_login(request: web.Request, username: str, password: str) -> tuple[Staff | None, str]:
    """Check a password with throttling; return the staff member or the message to show.

    The attempt is counted before the password is checked (so parallel guesses cannot all pass the limit) and
    taken back when the password is right. For an account with a second factor the username's failures are not
    cleared here: only a good code clears them, so re-entering the password never buys more guesses at the code."""
    now = sessions.now()
    address = request.remote or "?"
    limits = throttle.keys(username, address)
    if await throttle.attempt(limits, now):
        # Still verify against the dummy hash so a locked key costs the same time.
        await asyncio.to_thread(verify_password, None, password[:MAX_PASSWORD])
        return None, tr(request, *LOCKED)
    staff = await Staff.get_or_none(username=username.strip()[:64], active=True) if username.strip() else None
    ok = await asyncio.to_thread(verify_password, staff.password_hash if staff else None, password)
    if staff is None or not ok:
        await AuditEntry.create(staff_id=staff.id if staff else None, action="login_failed",
                                target=username.strip()[:128], data={"address": address})
        return None, tr(request, *GENERIC_FAILURE)
    await throttle.uncount(limits)
    if needs_second_factor(staff):
        await AuditEntry.create(staff_id=staff.id, action="login_password_ok", target=staff.username,
                                data={"address": address})
        return staff, ""
    await finish_login(request, staff, "")
    return staff, ""


async def finish_login(request: web.Request, staff: Staff, second_factor: str) -> None:
    """Record a complete login: clear the username's (and the half-login's) throttle, stamp the account, audit."""
    address = request.remote or "?"
    await throttle.succeeded(staff.username)
    pending = request.get(PENDING_SESSION)
    if pending is not None:
        await throttle.forget([throttle.pending_key(pending.token_hash)])
    await Staff.filter(id=staff.id).update(last_login_at=sessions.now(), failed_logins=0)
    data = {"address": address} | ({"second_factor": second_factor} if second_factor else {})
    await AuditEntry.create(staff_id=staff.id, action="login", target=staff.username, data=data)


async def start_pending(request: web.Request, staff: Staff, target: str) -> str:
    """Open the short-lived half-login between password and code; return its cookie token."""
    await throttle.tidy(sessions.now())
    token, _ = await sessions.start(staff, old_token=request.cookies.get(sessions.COOKIE),
                                    data={"mfa_pending": True, "next": target}, lifetime=PENDING_LIFETIME)
    return token


async def start_full(request: web.Request, staff: Staff, second_factor: str) -> str:
    """Open a real session (a new token, replacing any half-login) and mark how it was proven."""
    token, _ = await sessions.start(staff, old_token=request.cookies.get(sessions.COOKIE),
                                    data={"second_factor": second_factor} if second_factor else None)
    return token


class CodeCheck(NamedTuple):
    """The outcome of a code: how it was proven ("" when not), new recovery codes, the message, half-login ended."""

    method: str
    codes: list[str]
    message: str
    ended: bool = False


async def check_code(request: web.Request, staff: Staff, session: StaffSession, code: str,
                     enrolling: bool) -> CodeCheck:
    """Check a TOTP or recovery code (or an enrolment's first code) of ``session`` with the login throttle.

    The attempt is counted (per username, address and half-login) before the code is looked at and taken back
    only when it is right; a half-login ends after ``throttle.PENDING_LIMIT`` wrong codes."""
    address = request.remote or "?"
    key = totp.key_for(request.app[SETTINGS])
    half = bool(session.data.get("mfa_pending"))
    limits = throttle.keys(staff.username, address)
    if half:
        limits.append(throttle.pending_key(session.token_hash))
    refused = await throttle.attempt(limits, sessions.now())
    if refused:
        ended = half and limits[-1][0] in refused
        if ended:
            await end_pending(session)
        locked = any(k in refused for k, _ in limits[:2])
        return CodeCheck("", [], tr(request, *(LOCKED if locked or not ended else PENDING_ENDED)), ended=ended)
    moment = sessions.now().timestamp()
    fresh = await Staff.get(id=staff.id)  # the used-step marker must be current
    try:
        if enrolling:
            sealed = session.data.get(totp.ENROL_KEY)
            codes = await totp.confirm_enrolment(fresh, sealed, code[:32], key, moment) if sealed else None
            method = "totp" if codes else ""
        else:
            codes, method = [], await totp.verify(fresh, code[:32], key, moment) or ""
    except totp.SecretUnavailable:
        return CodeCheck("", [], tr(request, *NO_SECRET))
    if not method:
        await AuditEntry.create(staff_id=staff.id, action="totp_failed", target=staff.username,
                                data={"address": address})
        if half and await throttle.exhausted(limits[-1]):
            await end_pending(session)
            return CodeCheck("", [], tr(request, *WRONG_CODE) + " " + tr(request, *PENDING_ENDED), ended=True)
        return CodeCheck("", [], tr(request, *WRONG_CODE))
    await throttle.uncount(limits)
    if enrolling:
        session.data.pop(totp.ENROL_KEY, None)
        await sessions.save_data(session)
    return CodeCheck(method, codes or [], "")


async def end_pending(session: StaffSession) -> None:
    """End a half-login on the server (its cookie then opens nothing); its throttle key stays until it expires."""
    await StaffSession.filter(id=session.id).delete()


async def enrolment_secret(request: web.Request, session: StaffSession) -> str:
    """Return the secret this session is enrolling (base32), starting a new one kept only with the session.

    The secret lives encrypted in this session's server-side data: no other session, not even another login
    with the same password, ever sees it; a confirmed enrolment stores it on the account."""
    key = totp.key_for(request.app[SETTINGS])
    sealed = session.data.get(totp.ENROL_KEY)
    if sealed:
        try:
            return totp.unseal(sealed, key)
        except totp.SecretUnavailable:
            pass  # sealed with another key: simply start again
    b32 = totp.new_secret()
    session.data[totp.ENROL_KEY] = totp.seal(b32, key)
    await sessions.save_data(session)
    return b32


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """Send the session cookie: HttpOnly, SameSite=Lax, Secure behind https."""
    response.set_cookie(sessions.COOKIE, token, httponly=True, samesite="Lax", path="/",
                        secure=request.app[SECURE_COOKIES], max_age=int(sessions.LIFETIME.total_seconds()))


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session on the server and forget the cookie."""
    token = request.cookies.get(sessions.COOKIE)
    if token:
        await sessions.end(token)
    staff = request.get(STAFF)
    if staff is not None:
        await AuditEntry.create(staff_id=staff.id, action="logout", target=staff.username)
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(sessions.COOKIE, path="/")
    return response
