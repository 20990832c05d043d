"""CSRF protection: one token per session, sent as a hidden field or an X-CSRF-Token header."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from .i18n import tr
from .keys import LOGIN_CSRF, SESSION

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
LOGIN_COOKIE = "appeals_login_csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The citizens' channels guard their own routes (web chat: same origin and its signed cookie; Telegram: the secret
#: token; messenger peers: their HMAC; Open311: the api_key). Every other unsafe request is the back office's and
#: needs the session's token, so a page added later is protected without being listed anywhere.
CHANNELS = ("/chat", "/channels", "/open311")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def protected(path: str) -> bool:
    """Tell whether a path belongs to the back-office (not a citizens' channel) and needs a CSRF token when unsafe."""
    return not any(path == p or path.startswith(p + "/") for p in CHANNELS)


def login_token(request: web.Request) -> str:
    """Return the pre-login token (double-submit cookie), creating one when absent."""
    token = request.cookies.get(LOGIN_COOKIE, "")
    if len(token) < 20 or len(token) > 64:
        token = request.get(LOGIN_CSRF) or secrets.token_urlsafe(24)
        request[LOGIN_CSRF] = token
    return token


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse unsafe back-office requests whose token does not match the session's (403)."""
    if request.method in UNSAFE and protected(request.path):
        sent = request.headers.get(HEADER, "")
        if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            value = form.get(FIELD, "")
            sent = value if isinstance(value, str) else ""
        session = request.get(SESSION)
        if session is not None:
            expected = session.csrf_token
        elif request.path == "/login":
            expected = request.cookies.get(LOGIN_COOKIE, "")
        else:
            expected = ""
        if not _same(sent, expected):
            if request.path.startswith("/api/"):
                return web.json_response({"error": "csrf", "message": tr(
                    request, "请求校验失败，请刷新页面后重试。", "Security check failed; reload and try again.")},
                    status=403)
            raise web.HTTPForbidden(text=tr(request, "请求校验失败，请刷新页面后重试。",
                                            "Security check failed; reload the page and try again."))
    response = await handler(request)
    new = request.get(LOGIN_CSRF)
    if new:
        response.set_cookie(LOGIN_COOKIE, new, httponly=True, samesite="Strict", path="/login")
    return response
