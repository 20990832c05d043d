"""Staff notifications: what the outbox addresses to a role or a unit, shown in the back office and marked read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise.expressions import Q

from storage.labels import ACTION
from storage.lifecycle import Action, Actor
from storage.models import Channel, Notification, NotificationStatus

from . import queues

SHOWN = 100  # the latest notifications listed on the page

#: What a kind of notification says beyond its action's label (zh-CN, English); ``{number}`` and the other parameters
#: are filled in. The others say their lifecycle action's label and the case number (维持派单 8890-…).
SAYS: dict[str, tuple[str, str]] = {
    "submit": ("新诉求 {number}", "New appeal {number}"),
    "dispatch": ("新派单 {number}，请签收", "Dispatched to your unit: {number}, please sign for it"),
    "return": ("单位退单 {number}，请重新派单或维持", "Returned by the unit: {number}, re-dispatch or uphold"),
    "reopen": ("诉求重办 {number}", "Reopened: {number}"),
    "evaluate": ("市民已评价 {number}", "Rated by the citizen: {number}"),
    "submit_reply": ("办理结果待审核 {number}", "Reply waiting for review: {number}"),
    "supervise": ("督办 {number}", "Supervision: {number}"),
    "callback_task": ("待回访 {number}", "Call back the citizen: {number}"),
    "daily_digest": ("{date} 汇总：今日到期 {due_today}，已超期 {overdue}，退单 {returned}，重办 {reopened}",
                     "{date} digest: due today {due_today}, overdue {overdue}, returned {returned}, "
                     "reopened {reopened}"),
}


def _parts(actor: Actor) -> list[Q]:
    """Return one filter per role and unit of the actor: each query then walks one index range in id order."""
    return [Q(role=r.value) for r in sorted(actor.roles)] + [Q(unit_id=u) for u in sorted(actor.unit_ids)]


def visible(actor: Actor) -> Q:
    """Return the filter of the back-office notifications addressed to the actor's roles or units."""
    parts = _parts(actor)
    return Q(channel=Channel.BACKOFFICE) & (Q(*parts, join_type=Q.OR) if parts else Q(id=0))


async def unread(actor: Actor, cap: int = queues.SIDEBAR_CAP) -> int:
    """Count the actor's unread notifications, up to ``cap`` (a row goes to a role or to a unit, never both)."""
    total = 0
    for part in _parts(actor):  # one query per part: each walks its own index, not every unread staff row
        total += await queues.capped_count(
            Notification.filter(part, status=NotificationStatus.PENDING, channel=Channel.BACKOFFICE), cap - total)
        if total >= cap:
            break
    return total


async def latest(actor: Actor) -> list[Notification]:
    """Return the actor's latest notifications, newest first."""
    found: list[Notification] = []
    for part in _parts(actor):
        for status in (NotificationStatus.PENDING, NotificationStatus.SENT):  # each in its index's order
            found += await Notification.filter(part, status=status, channel=Channel.BACKOFFICE).order_by(
                "-id").limit(SHOWN)
    return sorted({n.id: n for n in found}.values(), key=lambda n: -n.id)[:SHOWN]


async def mark_read(actor: Actor, newest: int, now: dt.datetime) -> int:
    """Mark read every unread notification of the actor up to id ``newest`` (the newest it was shown), for everyone
    it was addressed to; return how many. Older ones beyond the page's hundred go too, so the count can reach 0."""
    return await Notification.filter(visible(actor), id__lte=newest, status=NotificationStatus.PENDING).update(
        status=NotificationStatus.SENT, sent_at=now)


def _named(template: str) -> tuple[str, str]:
    """Return the wording of a template without its own: the lifecycle action's label and the case number."""
    try:
        zh, en = ACTION[Action(template)]
    except (ValueError, KeyError):
        zh = en = template
    return f"{zh} {{number}}", f"{en} {{number}}"


def says(row: Notification, english: bool) -> str:
    """Return what a notification says, in the reader's language (parameters missing from it are left out)."""
    zh, en = SAYS.get(row.template) or _named(row.template)
    params: dict[str, Any] = {"number": "", **(row.params or {})}
    if row.template == "submit" and params.get("urgency") == "emergency":
        zh, en = "紧急诉求 {number}，请立即处理", "Emergency appeal {number}: act now"
    try:
        return (en if english else zh).format(**params).strip()
    except (KeyError, IndexError, ValueError):
        return row.template
