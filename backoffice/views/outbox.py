"""Dead letters: notifications that could not be delivered, visible to supervisors and admins, retryable."""

from __future__ import annotations

from aiohttp import web

from storage import outbox
from storage.deadlines import local
from storage.labels import action_label, label
from storage.lifecycle import Role
from storage.models import Channel, Notification, NotificationStatus

from ..auth import current_actor
from ..i18n import lang, tr
from ..ids import db_id
from .common import error_page, redirect, render

ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
#: What a notification was, for templates that are no lifecycle action.
KINDS: dict[str, tuple[str, str]] = {
    "rating_reminder": ("评价提醒", "Rating reminder"), "callback_task": ("回访任务", "Call-back task"),
    "daily_digest": ("每日汇总", "Daily digest"), "chat_reply": ("机器人回复（补发）", "Bot reply (sent later)"),
}


def kind_label(template: str, english: bool) -> str:
    """Return what a notification was in words: its lifecycle action, or its kind (a follower's copy says so)."""
    followed = template.startswith("followed_")
    name = template.removeprefix("followed_")
    zh, en = action_label(name) or KINDS.get(name, (name, name))
    if followed:
        zh, en = f"{zh}（告知关注者）", f"{en} (to a follower)"
    return en if english else zh


async def dead_letters(request: web.Request) -> web.Response:
    """List failed and dead notifications, newest first."""
    _, actor = current_actor(request)
    if not actor.roles & ROLES:
        return await error_page(request, 403, tr(request, "只有督办员和管理员可以查看。", "Supervisors, admins only."))
    rows = await Notification.filter(
        status__in=[NotificationStatus.FAILED, NotificationStatus.DEAD]
    ).order_by("-id").limit(200).prefetch_related("case")
    english = lang(request) == "en"
    return await render(request, "outbox.html", {"rows": [
        {"id": n.id, "status": n.status.value, "channel": label(Channel(n.channel), "en" if english else "zh-CN"),
         "template": kind_label(n.template, english),
         "attempts": n.attempts, "error": n.last_error[:300], "created": local(n.created_at),
         "next": local(n.next_attempt_at), "case_id": n.case_id, "number": n.case.number if n.case else ""}
        for n in rows
    ], "done": request.query.get("done") == "1"})


async def retry_dead_letter(request: web.Request) -> web.Response:
    """Send one failed or dead notification again now (the reason goes to the audit log)."""
    staff, actor = current_actor(request)
    if not actor.roles & ROLES:
        return await error_page(request, 403, tr(request, "只有督办员和管理员可以重发。", "Supervisors, admins only."))
    notification_id = db_id(request.match_info["notification_id"])
    form = await request.post()
    reason = str(form.get("reason", "")).strip()
    if notification_id is None:
        return await error_page(request, 404, tr(request, "未找到该通知。", "No such notification."))
    if not reason:
        return await error_page(request, 400, tr(request, "请填写重发理由。", "Please give a reason."))
    if not await outbox.retry(notification_id, staff.id, reason):
        return await error_page(request, 409, tr(request, "该通知已不在失败状态。", "It is no longer failed."))
    return redirect("/outbox?done=1")


def add_routes(r: web.UrlDispatcher) -> None:
    """Add the dead-letter pages."""
    r.add_get("/outbox", dead_letters, name="dead_letters")
    r.add_post("/outbox/{notification_id}/retry", retry_dead_letter, name="retry_dead_letter")
