"""Staff sign-in: the session middleware, login and logout, and the guard every page calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from storage.accounts import MAX_PASSWORD, verify_password
from storage.lifecycle import Actor
from storage.models import AuditEntry, Staff

from . import sessions, throttle
from .access import actor_for
from .i18n import LANG_COOKIE, pick_language, tr
from .keys import ACTOR, LANG, SECURE_COOKIES, SESSION, SETTINGS, STAFF

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GENERIC_FAILURE = ("用户名或密码错误。", "Wrong username or password.")
LOCKED = ("登录失败次数过多，请15分钟后再试。", "Too many failed attempts; try again in 15 minutes.")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the signed-in staff member (if any) and the page language to the request."""
    loaded = await sessions.load(request.cookies.get(sessions.COOKIE))
    staff = None
    if loaded is not None:
        request[SESSION], staff = loaded
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


async def attempt_login(request: web.Request, username: str, password: str) -> tuple[Staff | None, str]:
    """Check a login attempt with throttling; return the staff member or the message to show."""
    now = sessions.now()
    address = request.remote or "?"
    if await throttle.locked(username, address, now):
        # Still verify against the dummy hash so a locked key costs the same time.
        await asyncio.to_thread(verify_password, None, password[:MAX_PASSWORD])
        return None, tr(request, *LOCKED)
    staff = await Staff.get_or_none(username=username.strip()[:64], active=True) if username.strip() else None
    ok = await asyncio.to_thread(verify_password, staff.password_hash if staff else None, password)
    if staff is None or not ok:
        await throttle.failed(username, address, now)
        await AuditEntry.create(staff_id=staff.id if staff else None, action="login_failed",
                                target=username.strip()[:128], data={"address": address})
        return None, tr(request, *GENERIC_FAILURE)
    await throttle.succeeded(username)
    await Staff.filter(id=staff.id).update(last_login_at=now, failed_logins=0)
    await AuditEntry.create(staff_id=staff.id, action="login", target=staff.username, data={"address": address})
    return staff, ""


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
