"""Login, logout and password change pages."""

from __future__ import annotations

import asyncio

from aiohttp import web

from storage.accounts import AccountError, check_password_rules, hash_password, verify_password
from storage.models import AuditEntry, Staff

from .. import sessions
from ..auth import _safe_next, attempt_login, current_actor, logout, set_session_cookie
from ..i18n import tr
from ..keys import SESSION, STAFF
from .common import redirect, render


async def login_form(request: web.Request) -> web.Response:
    """Show the login form (or go to the queues when already signed in)."""
    if request.get(STAFF) is not None:
        return redirect("/queues")
    return await render(request, "login.html", {"next": _safe_next(request.query.get("next", "/queues"))})


async def login(request: web.Request) -> web.Response:
    """Sign in: same answer for unknown users and wrong passwords; a new session id every time."""
    form = await request.post()
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/queues")))
    staff, message = await attempt_login(request, username, password)
    if staff is None:
        return await render(request, "login.html", {"error": message, "username": username, "next": target},
                            status=401)
    token, _ = await sessions.start(staff, old_token=request.cookies.get(sessions.COOKIE))
    response = redirect(target)
    set_session_cookie(request, response, token)
    return response


async def logout_view(request: web.Request) -> web.Response:
    """End the session server-side and return to the login page."""
    return await logout(request)


async def password_form(request: web.Request) -> web.Response:
    """Show the password change form."""
    current_actor(request)
    return await render(request, "password.html", {"done": "done" in request.query})


async def change_password(request: web.Request) -> web.Response:
    """Change the password: the current one is required; other sessions of this account end."""
    staff, _ = current_actor(request)
    form = await request.post()
    current, new, again = (str(form.get(k, "")) for k in ("current", "new", "again"))
    error = ""
    if not await asyncio.to_thread(verify_password, staff.password_hash, current):
        error = tr(request, "当前密码不正确。", "The current password is wrong.")
    elif new != again:
        error = tr(request, "两次输入的新密码不一致。", "The new passwords differ.")
    else:
        try:
            check_password_rules(new)
        except AccountError as exc:
            error = str(exc)
    if error:
        await AuditEntry.create(staff_id=staff.id, action="password_change_failed", target=staff.username)
        return await render(request, "password.html", {"error": error}, status=400)
    await Staff.filter(id=staff.id).update(password_hash=await asyncio.to_thread(hash_password, new))
    await sessions.end_others(staff.id, request[SESSION].id)
    await AuditEntry.create(staff_id=staff.id, action="password_changed", target=staff.username)
    return redirect("/account/password?done=1")


async def set_language(request: web.Request) -> web.Response:
    """Remember the staff member's language choice."""
    staff, _ = current_actor(request)
    form = await request.post()
    chosen = str(form.get("language", ""))
    if chosen not in ("zh-CN", "en"):
        raise web.HTTPBadRequest(text="language")
    await Staff.filter(id=staff.id).update(language=chosen)
    back = _safe_next(str(form.get("next", "/queues")))
    response = redirect(back)
    response.set_cookie("appeals_lang", chosen, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response
