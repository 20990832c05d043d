"""Rendering shared by every page: language, signed-in staff, CSRF token and queue counts."""

from __future__ import annotations

from typing import Any, TypeVar

import aiohttp_jinja2
from aiohttp import web
from tortoise.models import Model

from storage.labels import ROLE
from storage.lifecycle import Role

from .. import inbox, queues
from ..csrf import login_token
from ..i18n import lang, tr
from ..ids import db_id
from ..keys import ACTOR, SESSION, STAFF
from ..sessions import now

M = TypeVar("M", bound=Model)

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
            {"key": q.key, "label": q.en if language == "en" else q.zh,
             "count": queues.count_label(counts.get(q.key, 0))}
            for q in queues.queues_for(actor)
        ]
        ctx["role_labels"] = [ROLE[r][1 if language == "en" else 0] for r in sorted(actor.roles)]
        ctx["roles"] = {r.value for r in actor.roles}
        ctx["can_export"] = bool(actor.roles & EXPORT_ROLES)
        ctx["unread"] = queues.count_label(await inbox.unread(staff, actor))
    else:
        ctx["csrf_token"] = login_token(request)
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)


async def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """Render a polite error page (the message is escaped like everything else)."""
    title = {400: tr(request, "请求有误", "Bad request"), 403: tr(request, "无权操作", "Forbidden"),
             404: tr(request, "未找到", "Not found"), 409: tr(request, "无法执行", "Not possible now")}
    return await render(request, "error.html", {"status": status, "title": title.get(status, str(status)),
                                                "message": message}, status=status)


async def row_or_404(request: web.Request, model: type[M], key: str, missing: tuple[str, str],
                     **filters: Any) -> M | web.Response:
    """Return the row whose id the URL's ``key`` names (and matching ``filters``), or the 404 page saying
    ``missing`` (zh-CN, English)."""
    ident = db_id(request.match_info[key])
    row = await model.get_or_none(id=ident, **filters) if ident else None
    return row if row is not None else await error_page(request, 404, tr(request, *missing))


def redirect(location: str) -> web.Response:
    """Answer 303 See Other, so a reload never re-posts a form."""
    return web.Response(status=303, headers={"Location": location})
