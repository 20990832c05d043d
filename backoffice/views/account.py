"""My account / 安全设置: turn the TOTP second factor on or off, new recovery codes."""

from __future__ import annotations

from aiohttp import web

from storage.models import Staff

from .. import sessions, totp
from ..auth import check_code, current_actor, enrolment_secret
from ..i18n import tr
from ..keys import SESSION
from .common import redirect, render


async def security_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    """Show the second factor's state; while enrolling, the QR code and the confirmation form."""
    staff, _ = current_actor(request)  # read afresh by the session middleware for this request
    context: dict[str, object] = {
        "error": error, "enrolled": totp.enrolled(staff), "required": totp.required_for(staff),
        "remaining": await totp.remaining_recovery_codes(staff), "done": request.query.get("done", ""),
    }
    b32 = None
    if not totp.enrolled(staff) and request[SESSION].data.get(totp.ENROL_KEY):
        b32 = await enrolment_secret(request, request[SESSION])  # this session's own, never another's
    if b32 is not None:
        context.update(totp.enrol_context(b32, staff.username))
    return totp.no_store(await render(request, "account_security.html", context, status=status))


async def enrol(request: web.Request) -> web.Response:
    """Start an enrolment: a new secret kept with this session, shown until it is confirmed with a first code."""
    staff, _ = current_actor(request)  # read afresh by the session middleware for this request
    if totp.enrolled(staff):
        return redirect("/account/security")
    request[SESSION].data.pop(totp.ENROL_KEY, None)
    await enrolment_secret(request, request[SESSION])
    return redirect("/account/security")


async def confirm(request: web.Request) -> web.Response:
    """Confirm the enrolment with a first code; show the recovery codes once."""
    staff, _ = current_actor(request)
    form = await request.post()
    method, codes, message, _ = await check_code(request, staff, request[SESSION], str(form.get("code", "")),
                                                 enrolling=True)
    if not method:
        return await security_page(request, message, 400)
    request[SESSION].data["second_factor"] = method
    await sessions.save_data(request[SESSION])
    return totp.no_store(await render(request, "recovery_codes.html", {"codes": codes, "next": "/account/security"}))


async def _refused_code(request: web.Request, staff: Staff) -> web.Response | None:
    """Check the posted current code; return the security page with the reason when it is not accepted."""
    form = await request.post()
    method, _, message, _ = await check_code(request, staff, request[SESSION], str(form.get("code", "")),
                                             enrolling=False)
    return None if method else await security_page(request, message, 400)


async def disable(request: web.Request) -> web.Response:
    """Turn the second factor off with a current code - not for roles that require it."""
    staff, _ = current_actor(request)  # read afresh by the session middleware for this request
    if totp.required_for(staff):
        message = tr(request, "您的角色必须使用两步验证。", "Your role requires two-step verification.")
        return await security_page(request, message, 403)
    if not totp.enrolled(staff):
        return redirect("/account/security")
    if (failed := await _refused_code(request, staff)) is not None:
        return failed
    await totp.reset(staff, staff, action="totp_disabled")
    return redirect("/account/security?done=off")


async def new_recovery_codes(request: web.Request) -> web.Response:
    """Replace the recovery codes (a current code is needed); the new ones are shown once."""
    staff, _ = current_actor(request)  # read afresh by the session middleware for this request
    if not totp.enrolled(staff):
        return redirect("/account/security")
    if (failed := await _refused_code(request, staff)) is not None:
        return failed
    codes = await totp.replace_recovery_codes(staff)
    return totp.no_store(await render(request, "recovery_codes.html", {"codes": codes, "next": "/account/security"}))


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the account security routes."""
    router.add_get("/account/security", security_page, name="account_security")
    router.add_post("/account/security/enrol", enrol, name="account_totp_enrol")
    router.add_post("/account/security/confirm", confirm, name="account_totp_confirm")
    router.add_post("/account/security/disable", disable, name="account_totp_disable")
    router.add_post("/account/security/recovery", new_recovery_codes, name="account_totp_recovery")
