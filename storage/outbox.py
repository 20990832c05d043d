"""The notification outbox: rows written with each event, claimed and sent after commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from . import batch
from .lifecycle import Action, Audience, CaseStatus, Role
from .models import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseFollower,
    Channel,
    ChannelIdentity,
    Notification,
    NotificationStatus,
)

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BACKOFF_SECONDS = (10, 30, 60, 300, 900, 1800, 3600)
CLAIM_SECONDS = 60
MAX_ADDRESSES = 500  # recipients one claim may name (bound parameters stay well under SQLite's limit)


#: A citizen's channel identities, oldest first (plain rows: no model object per identity on every event).
IDENTITIES_SQL = f"SELECT channel, external_id FROM {ChannelIdentity._meta.db_table} WHERE citizen_id = ? ORDER BY id"


async def enqueue(
    case: Case, event: CaseEvent, audiences: Iterable[Audience], params: Mapping[str, Any]
) -> list[Notification]:
    """Write one outbox row per recipient of an event; call inside the event's transaction."""
    audiences = list(dict.fromkeys(audiences))
    identities: list[tuple[str, str]] = []
    if Audience.CITIZEN in audiences and case.citizen_id is not None:
        identities = await citizen_identities(case.citizen_id)
    assignments: list[CaseAssignment] = []
    if Audience.LEAD_UNIT in audiences or Audience.CO_UNITS in audiences:
        assignments = await CaseAssignment.filter(case_id=case.id, active=True).order_by("id")
    rows = recipients(case, event, audiences, params, identities, assignments)
    if Audience.CITIZEN in audiences and event.action in OUTCOMES:
        rows += await _also_told(case, event, params)
    for row in rows:
        await row.save()
    return rows


#: The events whose news reaches, besides the case's own citizen, those who followed it or whose same appeal was
#: merged into it (办理结果向全体反映人公开答复).
OUTCOMES = frozenset({Action.APPROVE_REPLY, Action.ANSWER_DIRECTLY, Action.REJECT, Action.REOPEN})


async def _also_told(case: Case, event: CaseEvent, params: Mapping[str, Any]) -> list[Notification]:
    """Return the outbox rows telling the case's followers and the citizens of appeals merged into it its outcome."""
    told = {case.citizen_id}
    rows: list[Notification] = []
    common = {"event_id": event.id, "template": f"followed_{event.action.value}", "audience": Audience.CITIZEN.value}
    shared = {k: v for k, v in params.items() if k in ("reply", "reason", "due_at", "status")}
    merged = await Case.filter(parent_id=case.id, status=CaseStatus.MERGED, citizen_id__isnull=False).values_list(
        "id", "number", "citizen_id", "channel")
    followers = await CaseFollower.filter(case_id=case.id).values_list("citizen_id", "channel")
    # Their own appeal, handled as this one, first; then those who chose to follow it. Each citizen is told once.
    for about_id, number, citizen_id, channel in [*merged, *((case.id, case.number, c, ch) for c, ch in followers)]:
        if citizen_id in told:
            continue
        told.add(citizen_id)
        for address_channel, address in _on(channel, await citizen_identities(citizen_id)):
            rows.append(Notification(case_id=about_id, citizen_id=citizen_id, channel=Channel(address_channel),
                                     address=address, params={**shared, "number": number, "parent": case.number},
                                     **common))
    return rows


def _on(channel: str, identities: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the identities on ``channel``, else the oldest one."""
    return [i for i in identities if i[0] == channel] or list(identities[:1])


def preferred(case: Case, identities: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the identities a case's citizen is told through: those on the case's channel, else the oldest."""
    return _on(case.channel, identities)


async def citizen_identities(citizen_id: int) -> list[tuple[str, str]]:
    """Return a citizen's (channel, external_id) pairs, oldest first."""
    return [(r["channel"], r["external_id"]) for r in await batch.read(IDENTITIES_SQL, [citizen_id])]


def recipients(
    case: Case, event: CaseEvent, audiences: Iterable[Audience], params: Mapping[str, Any],
    identities: Sequence[tuple[str, str]], assignments: Sequence[CaseAssignment] = (),
) -> list[Notification]:
    """Return the unsaved outbox rows of an event, one per recipient.

    ``identities`` are the citizen's (channel, external_id) pairs in the order they were made; ``assignments``
    the case's active unit assignments (only needed for the lead and co-handling units' audiences).
    """
    rows: list[Notification] = []
    common = {"case_id": case.id, "event_id": event.id, "template": event.action.value}
    # The tracking code is the citizen's credential: it goes to the citizen and to nobody else.
    staff_params = {k: v for k, v in params.items() if k != "tracking_code"}
    for audience in dict.fromkeys(audiences):
        if audience is Audience.CITIZEN:
            if case.citizen_id is None:
                continue
            for channel, external_id in preferred(case, identities):
                rows.append(Notification(
                    audience=audience.value, citizen_id=case.citizen_id, channel=Channel(channel),
                    address=external_id, params=dict(params), **common,
                ))
        elif audience in (Audience.LEAD_UNIT, Audience.CO_UNITS):
            for a in assignments:
                if bool(a.lead) == (audience is Audience.LEAD_UNIT):
                    rows.append(Notification(
                        audience=audience.value, unit_id=a.unit_id, channel=Channel.BACKOFFICE,
                        params=staff_params, **common,
                    ))
        else:
            role = Role.DISPATCHER if audience is Audience.DISPATCHERS else Role.SUPERVISOR
            rows.append(Notification(
                audience=audience.value, role=role.value, channel=Channel.BACKOFFICE, params=staff_params, **common
            ))
    return rows


async def claim(
    worker: str, now: dt.datetime, channels: Iterable[Channel], limit: int = 50,
    addresses: Collection[str] | None = None, now_or_later: bool = False,
) -> list[Notification]:
    """Claim due rows for ``worker`` so that no other process sends them; return the claimed rows.

    ``addresses`` keeps to those recipients (at most ``MAX_ADDRESSES``); ``now_or_later`` also takes rows still
    waiting out their backoff (a citizen who just came back online gets them at once).
    """
    due = (
        Q(status__in=[NotificationStatus.PENDING, NotificationStatus.FAILED])
        & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        & Q(channel__in=list(channels))
    )
    if not now_or_later:
        due &= Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    if addresses is not None:
        if not addresses:
            return []
        if len(addresses) > MAX_ADDRESSES:
            raise ValueError(f"claim at most {MAX_ADDRESSES} addresses at once, not {len(addresses)}")
        due &= Q(address__in=list(addresses))
    # No transaction: each claim is one compare-and-set UPDATE, which is exclusive on SQLite and
    # PostgreSQL alike, and a reader never has to upgrade to a writer (SQLite's BUSY_SNAPSHOT).
    claimed: list[Notification] = []
    until = now + dt.timedelta(seconds=CLAIM_SECONDS)
    for row in await Notification.filter(due).order_by("id").limit(limit):
        # The whole due-condition is re-checked: a row sent or failed since we read it is not taken.
        taken = await Notification.filter(due, id=row.id, claimed_until=row.claimed_until).update(
            claimed_by=worker, claimed_until=until
        )
        if taken:
            row.claimed_by, row.claimed_until = worker, until
            claimed.append(row)
    return claimed


def _still_ours(row: Notification) -> Q:
    """Match the row only while it is unsent and its claim by ``row.claimed_by`` is still open."""
    return Q(
        id=row.id, claimed_by=row.claimed_by, claimed_until__isnull=False,
        status__in=[NotificationStatus.PENDING, NotificationStatus.FAILED],
    )


async def mark_sent(row: Notification, now: dt.datetime) -> bool:
    """Record a successful delivery; False if the row was no longer this claimer's to send."""
    return bool(await Notification.filter(_still_ours(row)).update(
        status=NotificationStatus.SENT, sent_at=now, attempts=row.attempts + 1, claimed_until=None
    ))


async def mark_failed(row: Notification, now: dt.datetime, error: str) -> bool:
    """Record a failed delivery and schedule a retry with backoff, or give up after the last."""
    attempts = row.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        status, next_at = NotificationStatus.DEAD, None
    else:
        delay = BACKOFF_SECONDS[min(attempts - 1, len(BACKOFF_SECONDS) - 1)]
        status, next_at = NotificationStatus.FAILED, now + dt.timedelta(seconds=delay)
    return bool(await Notification.filter(_still_ours(row)).update(
        status=status, attempts=attempts, next_attempt_at=next_at, last_error=error[:2000], claimed_until=None
    ))


class RateLimit:
    """A token bucket: at most ``rate`` sends per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.rate, self.burst = rate, burst
        self.clock, self.sleep = clock, sleep
        self.tokens = float(burst)
        self.at = clock()

    async def acquire(self) -> None:
        """Wait until one send is allowed, then take it (one sender loop per limiter)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            # Sleep exactly as long as the missing part of a token takes to refill, then spend it.
            await self.sleep((1 - self.tokens) / self.rate)
            self.at = self.clock()
            self.tokens = 1.0
        self.tokens -= 1


#: Default send rates per channel (per process): Telegram allows about 30 messages a second per bot.
CHANNEL_RATES: dict[Channel, tuple[float, int]] = {
    Channel.TELEGRAM: (25.0, 25), Channel.WEBHOOK: (20.0, 20),
}


def rate_limit(channel: Channel) -> RateLimit | None:
    """Return a fresh limiter for a channel's default rate, or None where the channel has none."""
    rate = CHANNEL_RATES.get(channel)
    return RateLimit(*rate) if rate else None


async def drain(
    worker: str, now: dt.datetime, channels: Iterable[Channel],
    deliver: Callable[[Notification, dt.datetime], Awaitable[str]], limit: RateLimit | None = None,
) -> dict[str, int]:
    """Claim due rows once and hand each to ``deliver`` (paced by ``limit``); count the outcomes."""
    counts: dict[str, int] = {}
    for row in await claim(worker, now, channels):
        if limit is not None:
            await limit.acquire()
        outcome = await deliver(row, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def run_periodically(job: Callable[[], Awaitable[object]], interval: float, name: str) -> None:
    """Run ``job`` every ``interval`` seconds until cancelled; a failing pass is logged, never fatal."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a database hiccup must not stop a background sender
            log.exception("%s pass failed", name)
        await asyncio.sleep(interval)


async def retry(notification_id: int, staff_id: int, reason: str) -> bool:
    """Put a failed or dead notification back in the queue for an immediate attempt (logged)."""
    from .models import AuditEntry

    async with in_transaction():
        done = await Notification.filter(
            id=notification_id, status__in=[NotificationStatus.FAILED, NotificationStatus.DEAD]
        ).update(status=NotificationStatus.PENDING, attempts=0, next_attempt_at=None, claimed_until=None)
        if done:
            await AuditEntry.create(staff_id=staff_id, action="outbox_retry", target=str(notification_id),
                                    reason=reason[:500])
    return bool(done)
