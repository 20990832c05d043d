"""The notifications page: alerts, dispatches, supervision and digests addressed to the signed-in staff member."""

from __future__ import annotations

from aiohttp import web

from storage.cases import utcnow

from .. import inbox
from ..auth import current_actor
from ..i18n import lang
from ..ids import db_id
from .common import redirect, render


async def notifications_page(request: web.Request) -> web.Response:
    """List the latest notifications for the staff member's roles and units, unread first marked."""
    staff, actor = current_actor(request)
    english = lang(request) == "en"
    mark = await inbox.read_to(staff, actor)
    rows = [{"id": n.id, "says": inbox.says(n, english), "at": n.created_at, "case_id": n.case_id,
             "unread": n.id > mark}
            for n in await inbox.latest(actor)]
    return await render(request, "notifications.html", {"rows": rows, "newest": rows[0]["id"] if rows else 0,
                                                        "unread_shown": any(r["unread"] for r in rows)})


async def mark_read(request: web.Request) -> web.Response:
    """Mark the reader's own notifications read up to the newest shown (not others'), then show the page again."""
    staff, actor = current_actor(request)
    newest = db_id(str((await request.post()).get("newest", "")))
    if newest:
        await inbox.mark_read(staff, actor, newest, utcnow())
    return redirect("/notifications")


def add_routes(r: web.UrlDispatcher) -> None:
    """Register the notifications page and its form."""
    r.add_get("/notifications", notifications_page, name="notifications")
    r.add_post("/notifications/read", mark_read, name="notifications_read")
