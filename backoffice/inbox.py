"""Staff notifications: what the outbox addresses to a role or a unit, shown in the back office and marked read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise.expressions import Q

from storage.labels import SUPERVISE_LEVEL, action_label
from storage.lifecycle import Actor, SuperviseLevel
from storage.models import Channel, Notification, NotificationStatus, Staff

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


SHOWN_STATES = (NotificationStatus.PENDING, NotificationStatus.SENT)  # unread by anyone, read by someone


async def _edge(actor: Actor, status: NotificationStatus, newest: bool, upto: int | None = None) -> int | None:
    """Return the newest (or oldest) id of the actor's notifications in ``status`` (and ``<= upto``), None if none."""
    found: list[int] = []
    for part in _parts(actor):  # one index walk per part, one row each
        qs = Notification.filter(part, status=status, channel=Channel.BACKOFFICE)
        if upto is not None:
            qs = qs.filter(id__lte=upto)
        found += await qs.order_by("-id" if newest else "id").limit(1).values_list("id", flat=True)
    if not found:
        return None
    return max(found) if newest else min(found)


async def _newest(actor: Actor, upto: int | None = None) -> int:
    """Return the id of the actor's newest notification (``<= upto``), 0 if none."""
    ids = [await _edge(actor, status, True, upto) for status in SHOWN_STATES]
    return max((i for i in ids if i is not None), default=0)


async def read_to(staff: Staff, actor: Actor) -> int:
    """Return the id up to which this person has read their notifications.

    Worked out once per account: up to the oldest that nobody of its roles and units has read yet (so a new
    dispatcher sees the alerts still unattended, and accounts from before per-person marks keep what was unread).
    """
    if staff.notifications_read_to is not None:
        return staff.notifications_read_to
    oldest = await _edge(actor, NotificationStatus.PENDING, False)
    mark = oldest - 1 if oldest is not None else await _newest(actor)
    if not await Staff.filter(id=staff.id, notifications_read_to__isnull=True).update(notifications_read_to=mark):
        stored = await Staff.filter(id=staff.id).first().values_list("notifications_read_to", flat=True)
        mark = stored if isinstance(stored, int) else mark  # another request of this person set it first
    staff.notifications_read_to = mark
    return mark


async def unread(staff: Staff, actor: Actor, cap: int = queues.SIDEBAR_CAP) -> int:
    """Count this person's unread notifications, up to ``cap`` (a row goes to a role or to a unit, never both)."""
    mark = await read_to(staff, actor)
    total = 0
    for part in _parts(actor):  # one query per part: each walks its own index, not every staff row
        total += await queues.capped_count(Notification.filter(
            part, status__in=list(SHOWN_STATES), channel=Channel.BACKOFFICE, id__gt=mark), cap - total)
        if total >= cap:
            break
    return total


async def latest(actor: Actor) -> list[Notification]:
    """Return the actor's latest notifications, newest first."""
    found: list[Notification] = []
    for part in _parts(actor):
        for status in SHOWN_STATES:  # each in its index's order
            found += await Notification.filter(part, status=status, channel=Channel.BACKOFFICE).order_by(
                "-id").limit(SHOWN)
    return sorted({n.id: n for n in found}.values(), key=lambda n: -n.id)[:SHOWN]


async def mark_read(staff: Staff, actor: Actor, newest: int, now: dt.datetime) -> int:
    """Mark this person's notifications read up to id ``newest`` (the newest they were shown); return the new mark.

    Older ones beyond the page's hundred go too, so the count can reach 0; ones that came after the page was shown
    stay unread. Others they were addressed to keep their own marks; the rows now count as read by someone.
    """
    mark = await _newest(actor, upto=newest)  # never past what exists: later ones must still count as unread
    if mark > await read_to(staff, actor):
        await Staff.filter(id=staff.id).filter(
            Q(notifications_read_to__isnull=True) | Q(notifications_read_to__lt=mark)).update(
            notifications_read_to=mark)
        staff.notifications_read_to = mark
        await Notification.filter(visible(actor), id__lte=mark, status=NotificationStatus.PENDING).update(
            status=NotificationStatus.SENT, sent_at=now)
    return staff.notifications_read_to or 0


def _named(template: str) -> tuple[str, str]:
    """Return the wording of a template without its own: the lifecycle action's label and the case number."""
    zh, en = action_label(template) or (template, template)
    return f"{zh} {{number}}", f"{en} {{number}}"


def says(row: Notification, english: bool) -> str:
    """Return what a notification says, in the reader's language (parameters missing from it are left out)."""
    zh, en = SAYS.get(row.template) or _named(row.template)
    params: dict[str, Any] = {"number": "", **(row.params or {})}
    if row.template == "submit" and params.get("urgency") == "emergency":
        zh, en = "紧急诉求 {number}，请立即处理", "Emergency appeal {number}: act now"
    if row.template == "supervise" and params.get("level") in SuperviseLevel._value2member_map_:
        kind_zh, kind_en = SUPERVISE_LEVEL[SuperviseLevel(params["level"])]  # 催办, 督办单 or 通报: not all alike
        zh, en = f"{kind_zh} {{number}}", f"{kind_en}: {{number}}"
    try:
        return (en if english else zh).format(**params).strip()
    except (KeyError, IndexError, ValueError):
        return row.template
