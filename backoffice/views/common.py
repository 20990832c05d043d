"""Rendering shared by every page: language, signed-in staff, CSRF token and queue counts."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from storage.labels import ROLE
from storage.lifecycle import Role

from .. import queues
from ..csrf import login_token
from ..i18n import lang, tr
from ..keys import ACTOR, SESSION, STAFF
from ..sessions import now

EXPORT_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR, Role.HANDLER, Role.UNIT_HEAD})


async def render(request: web.Request, template: str, context: dict[str, Any] | None = None,
                 status: int = 200) -> web.Response:
    """Render a page with the shared context (sidebar queues with counts when signed in)."""
    ctx: dict[str, Any] = dict(context or {})
    language = lang(request)
    staff = request.get(STAFF)
    ctx.update(
        lang=language, en=language == "en",
        t=lambda zh, en: en if language == "en" else zh,
        staff=staff, path=request.path, path_qs=request.path_qs,
    )
    if staff is not None:
        actor = request[ACTOR]
        ctx["csrf_token"] = request[SESSION].csrf_token
        counts = await queues.counts(actor, now())
        ctx["sidebar"] = [
            {"key": q.key, "label": q.en if language == "en" else q.zh, "count": counts.get(q.key, 0)}
            for q in queues.queues_for(actor)
        ]
        ctx["role_labels"] = [ROLE[r][1 if language == "en" else 0] for r in sorted(actor.roles)]
        ctx["roles"] = {r.value for r in actor.roles}
        ctx["can_export"] = bool(actor.roles & EXPORT_ROLES)
    else:
        ctx["csrf_token"] = login_token(request)
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """Render a polite error page (the message is escaped like everything else)."""
    title = {400: tr(request, "请求有误", "Bad request"), 403: tr(request, "无权操作", "Forbidden"),
             404: tr(request, "未找到", "Not found"), 409: tr(request, "无法执行", "Not possible now")}
    return await render(request, "error.html", {"status": status, "title": title.get(status, str(status)),
                                                "message": message}, status=status)


def redirect(location: str) -> web.Response:
    """Answer 303 See Other, so a reload never re-posts a form."""
    return web.Response(status=303, headers={"Location": location})
