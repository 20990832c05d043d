"""Slow down password and code guessing: per username (known or not), per address and per half-login, with a lockout.

Every attempt is counted before it is checked, with one atomic increment per key (UPDATE … SET failures =
failures + 1, read back in the same transaction: PostgreSQL holds the row lock until commit, SQLite's one
connection serialises the transaction), so parallel requests cannot all slip under the limit. An attempt
that turns out right is un-counted again; so a key's count is its failures plus the attempts in flight."""

from __future__ import annotations

import datetime as dt

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from storage.models import LoginThrottle

WINDOW = dt.timedelta(minutes=15)
LOCKOUT = dt.timedelta(minutes=15)
USER_LIMIT = 5
ADDRESS_LIMIT = 30
#: Wrong codes one half-login may try before it ends and the password is asked again.
PENDING_LIMIT = 3


def keys(username: str, address: str) -> list[tuple[str, int]]:
    """Return the throttle keys of one attempt with their failure limits."""
    return [(f"user:{username.strip().lower()[:64]}", USER_LIMIT), (f"addr:{address[:64]}", ADDRESS_LIMIT)]


def pending_key(token_hash: str) -> tuple[str, int]:
    """Return the throttle key of one half-login (by its session's token hash) with its limit."""
    return f"pending:{token_hash[:64]}", PENDING_LIMIT


async def _count(key: str, limit: int, now: dt.datetime) -> bool:
    """Count one attempt on ``key`` atomically; tell whether it is within the limit and the key not locked."""
    await LoginThrottle.get_or_create(key=key, defaults={"failures": 0, "window_start": now})
    async with in_transaction():
        # A finished window or lockout starts again (idempotent: once reset, the row no longer matches).
        await LoginThrottle.filter(
            Q(window_start__isnull=True) | Q(window_start__lt=now - WINDOW) | Q(locked_until__lte=now),
            Q(locked_until__isnull=True) | Q(locked_until__lte=now), key=key,
        ).update(failures=0, window_start=now, locked_until=None)
        await LoginThrottle.filter(key=key).update(failures=F("failures") + 1)
        row = await LoginThrottle.get(key=key)
        locked = row.locked_until is not None and row.locked_until > now
        if row.failures > limit and not locked:
            await LoginThrottle.filter(key=key).update(locked_until=now + LOCKOUT)
            locked = True
    return not locked


async def attempt(limits: list[tuple[str, int]], now: dt.datetime) -> list[str]:
    """Count an attempt on every key before it is checked; return the keys that refuse it (none: go ahead)."""
    return [key for key, limit in limits if not await _count(key, limit, now)]


async def exhausted(limit: tuple[str, int]) -> bool:
    """Tell whether a key has used up its attempts (reached its limit, or locked out)."""
    key, most = limit
    row = await LoginThrottle.get_or_none(key=key)
    return row is not None and (row.failures >= most or row.locked_until is not None)


async def uncount(limits: list[tuple[str, int]]) -> None:
    """Take back the count of an attempt that turned out right (never below zero)."""
    for key, _ in limits:
        await LoginThrottle.filter(key=key, failures__gt=0).update(failures=F("failures") - 1)


async def forget(limits: list[tuple[str, int]]) -> None:
    """Drop keys entirely (a finished login's username, an ended half-login)."""
    await LoginThrottle.filter(key__in=[k for k, _ in limits]).delete()


async def tidy(now: dt.datetime) -> None:
    """Drop the keys of half-logins long over (they last minutes; their window and lockout have passed)."""
    await LoginThrottle.filter(key__startswith="pending:", window_start__lt=now - WINDOW - LOCKOUT).delete()


async def succeeded(username: str) -> None:
    """Forget the username's failures after a complete login."""
    await forget([keys(username, "")[0]])
