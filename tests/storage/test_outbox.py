"""The outbox: claimed once, retried with backoff, given up after the last attempt."""

from __future__ import annotations

import asyncio
import datetime as dt

from storage import outbox
from storage.cases import CaseService
from storage.lifecycle import Action, CaseStatus, Role
from storage.models import Channel, Notification, NotificationStatus
from tests.support.builders import make_case, make_world


async def _pending(n: int) -> None:
    world = await make_world()
    service = CaseService()
    for _ in range(n):
        case = await make_case(world, CaseStatus.SUBMITTED)
        await service.apply(case.id, Action.ACCEPT, world.actor(Role.DISPATCHER))


async def test_each_row_is_claimed_by_one_worker_only(database_url: str) -> None:
    await _pending(12)
    now = dt.datetime.now(dt.UTC)
    first, second = await asyncio.gather(
        outbox.claim("worker-a", now, [Channel.WEBCHAT], limit=8),
        outbox.claim("worker-b", now, [Channel.WEBCHAT], limit=8),
    )
    ids_a, ids_b = {r.id for r in first}, {r.id for r in second}
    assert ids_a and not ids_a & ids_b
    rest = {r.id for r in await outbox.claim("worker-c", now, [Channel.WEBCHAT])}
    assert not rest & (ids_a | ids_b)
    assert len(ids_a | ids_b | rest) == 12 == await Notification.all().count()
    assert await outbox.claim("worker-e", now, [Channel.WEBCHAT]) == []
    # Rows for another channel are not claimed by this sender.
    assert await outbox.claim("worker-d", now, [Channel.TELEGRAM]) == []


async def test_sent_rows_are_never_claimed_again(database_url: str) -> None:
    await _pending(2)
    now = dt.datetime.now(dt.UTC)
    rows = await outbox.claim("w", now, [Channel.WEBCHAT])
    for row in rows:
        await outbox.mark_sent(row, now)
    later = now + dt.timedelta(hours=1)
    assert await outbox.claim("w", later, [Channel.WEBCHAT]) == []
    assert await Notification.filter(status=NotificationStatus.SENT).count() == 2


async def test_a_failed_row_waits_for_its_backoff_and_dies_after_the_last_attempt(database_url: str) -> None:
    await _pending(1)
    now = dt.datetime.now(dt.UTC)
    (row,) = await outbox.claim("w", now, [Channel.WEBCHAT])
    await outbox.mark_failed(row, now, "connection refused")
    assert await outbox.claim("w", now + dt.timedelta(seconds=5), [Channel.WEBCHAT]) == []
    for attempt in range(2, outbox.MAX_ATTEMPTS + 1):
        now += dt.timedelta(hours=2)
        (row,) = await outbox.claim("w", now, [Channel.WEBCHAT])
        assert row.attempts == attempt - 1
        await outbox.mark_failed(row, now, "still down")
    stored = await Notification.get(id=row.id)
    assert stored.status == NotificationStatus.DEAD and stored.last_error == "still down"
    assert await outbox.claim("w", now + dt.timedelta(days=1), [Channel.WEBCHAT]) == []


async def test_a_claim_that_expired_is_taken_over(database_url: str) -> None:
    await _pending(1)
    now = dt.datetime.now(dt.UTC)
    (row,) = await outbox.claim("crashed-worker", now, [Channel.WEBCHAT])
    assert await outbox.claim("other", now + dt.timedelta(seconds=10), [Channel.WEBCHAT]) == []
    (again,) = await outbox.claim("other", now + dt.timedelta(seconds=outbox.CLAIM_SECONDS + 1), [Channel.WEBCHAT])
    assert again.id == row.id and again.claimed_by == "other"


async def test_a_worker_that_read_a_row_before_it_was_sent_cannot_claim_or_send_it(database_url: str) -> None:
    await _pending(1)
    now = dt.datetime.now(dt.UTC)
    stale = await Notification.get(channel=Channel.WEBCHAT)  # worker B read the row, then paused
    (row,) = await outbox.claim("worker-a", now, [Channel.WEBCHAT])
    assert await outbox.mark_sent(row, now)
    # B now tries the compare-and-set it prepared from its old read: nothing is taken.
    assert await Notification.filter(id=stale.id, claimed_until=stale.claimed_until).count() == 1
    assert await outbox.claim("worker-b", now, [Channel.WEBCHAT]) == []
    assert not await outbox.mark_sent(stale, now)  # and cannot mark a row it never claimed
    stored = await Notification.get(id=row.id)
    assert (stored.status, stored.claimed_by, stored.attempts) == (NotificationStatus.SENT, "worker-a", 1)


async def test_a_failed_row_cannot_be_claimed_before_its_backoff_even_by_a_stale_reader(database_url: str) -> None:
    await _pending(1)
    now = dt.datetime.now(dt.UTC)
    (row,) = await outbox.claim("worker-a", now, [Channel.WEBCHAT])
    assert await outbox.mark_failed(row, now, "timeout")
    assert await outbox.claim("worker-b", now + dt.timedelta(seconds=1), [Channel.WEBCHAT]) == []
    assert not await outbox.mark_failed(row, now, "late report from a worker whose claim ended")


async def test_a_rate_limit_paces_sends_after_its_burst() -> None:
    clock = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        clock[0] += seconds

    limit = outbox.RateLimit(rate=10.0, burst=3, clock=lambda: clock[0], sleep=sleep)
    for _ in range(5):
        await limit.acquire()
    assert slept == [0.1, 0.1]  # three at once, then one every tenth of a second
    clock[0] += 10  # a quiet spell refills the bucket, but never beyond the burst
    for _ in range(3):
        await limit.acquire()
    assert slept == [0.1, 0.1]
    await limit.acquire()
    assert slept == [0.1, 0.1, 0.1]


async def test_drain_paces_each_delivery_through_the_limit(database_url: str) -> None:
    await _pending(3)
    taken: list[int] = []

    class Counting(outbox.RateLimit):
        async def acquire(self) -> None:
            taken.append(1)

    async def deliver(row: Notification, now: dt.datetime) -> str:
        await outbox.mark_sent(row, now)
        return "sent"

    counts = await outbox.drain("w", dt.datetime.now(dt.UTC), [Channel.WEBCHAT], deliver, Counting(1.0))
    assert counts == {"sent": 3} and len(taken) == 3
    assert outbox.rate_limit(Channel.TELEGRAM) is not None and outbox.rate_limit(Channel.PHONE) is None


async def test_a_returning_citizen_gets_rows_still_waiting_out_their_backoff_but_never_a_sent_one(
    database_url: str,
) -> None:
    await _pending(2)
    now = dt.datetime.now(dt.UTC)
    first, second = await outbox.claim("w", now, [Channel.WEBCHAT])
    await outbox.mark_failed(first, now, "offline")  # waits for its backoff
    await outbox.mark_sent(second, now)
    assert await outbox.claim("w", now, [Channel.WEBCHAT], addresses=["web-abc"]) == []
    back = await outbox.claim("w", now, [Channel.WEBCHAT], addresses=["web-abc"], now_or_later=True)
    assert [r.id for r in back] == [first.id]
    assert await outbox.claim("w", now, [Channel.WEBCHAT], addresses=["someone-else"], now_or_later=True) == []
