"""Login (password, then a TOTP code or enrolment), logout and password change pages."""

from __future__ import annotations

import asyncio

from aiohttp import web

from storage.accounts import AccountError, check_password_rules, hash_password, verify_password
from storage.models import AuditEntry, Staff

from .. import sessions, totp
from ..auth import (
    PENDING,
    PENDING_SESSION,
    _safe_next,
    attempt_login,
    check_code,
    current_actor,
    enrolment_secret,
    finish_login,
    logout,
    needs_second_factor,
    set_session_cookie,
    start_full,
    start_pending,
)
from ..i18n import tr
from ..keys import SESSION, STAFF
from .common import redirect, render


async def second_factor_page(request: web.Request, staff: Staff, error: str = "", status: int = 200) -> web.Response:
    """Ask for a code, or (first time) show this half-login's own new secret as a QR code, base32 and URI."""
    context: dict[str, object] = {"error": error, "account": staff.username}
    if not totp.enrolled(staff):
        context.update(totp.enrol_context(await enrolment_secret(request, request[PENDING_SESSION]), staff.username))
    return totp.no_store(await render(request, "login_totp.html", context, status=status))


async def login_form(request: web.Request) -> web.Response:
    """Show the login form, the code step of a half-done login, or go to the queues when signed in."""
    if request.get(STAFF) is not None:
        return redirect("/queues")
    pending = request.get(PENDING)
    if pending is not None and "restart" not in request.query:
        return await second_factor_page(request, pending)
    return await render(request, "login.html", {"next": _safe_next(request.query.get("next", "/queues"))})


async def login(request: web.Request) -> web.Response:
    """Sign in: same answer for unknown users and wrong passwords; a new session id every time.

    Staff with a second factor (required for admins and supervisors) get only a half-login after the
    password, which opens nothing but the code step."""
    form = await request.post()
    if str(form.get("step", "")) in ("code", "enrol"):
        return await login_code(request, str(form.get("code", "")), enrolling=form.get("step") == "enrol")
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/queues")))
    staff, message = await attempt_login(request, username, password)
    if staff is None:
        return await render(request, "login.html", {"error": message, "username": username, "next": target},
                            status=401)
    if needs_second_factor(staff):
        token = await start_pending(request, staff, target)
        response = redirect("/login")
    else:
        token = await start_full(request, staff, "")
        response = redirect(target)
    set_session_cookie(request, response, token)
    return response


async def login_code(request: web.Request, code: str, enrolling: bool) -> web.Response:
    """Second step: a TOTP code (or a recovery code), or the first code of an enrolment."""
    staff = request.get(PENDING)
    if staff is None:
        return await render(request, "login.html", {
            "error": tr(request, "登录已过期，请重新输入密码。", "The login expired; enter your password again."),
            "next": "/queues"}, status=401)
    if enrolling == totp.enrolled(staff):
        return await second_factor_page(request, staff, status=409)  # the form is out of date
    method, codes, message, ended = await check_code(request, staff, request[PENDING_SESSION], code, enrolling)
    if ended:
        response = await render(request, "login.html", {"error": message, "next": "/queues"}, status=401)
        response.del_cookie(sessions.COOKIE, path="/")
        return response
    if not method:
        return await second_factor_page(request, await Staff.get(id=staff.id), message, 401)
    await finish_login(request, staff, method)
    target = _safe_next(str(request[PENDING_SESSION].data.get("next", "/queues")))
    token = await start_full(request, staff, method)
    if codes:
        response = totp.no_store(await render(request, "recovery_codes.html", {"codes": codes, "next": target}))
    else:
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
