"""Slow down password guessing: per username (known or not) and per address, with a lockout."""

from __future__ import annotations

import datetime as dt

from storage.models import LoginThrottle

WINDOW = dt.timedelta(minutes=15)
LOCKOUT = dt.timedelta(minutes=15)
USER_LIMIT = 5
ADDRESS_LIMIT = 30


def keys(username: str, address: str) -> list[tuple[str, int]]:
    """Return the throttle keys of one attempt with their failure limits."""
    return [(f"user:{username.strip().lower()[:64]}", USER_LIMIT), (f"addr:{address[:64]}", ADDRESS_LIMIT)]


async def locked(username: str, address: str, now: dt.datetime) -> bool:
    """Tell whether either key of this attempt is locked out now."""
    names = [k for k, _ in keys(username, address)]
    rows = await LoginThrottle.filter(key__in=names, locked_until__gt=now).count()
    return rows > 0


async def failed(username: str, address: str, now: dt.datetime) -> None:
    """Count a failed attempt; lock a key out when it reaches its limit within the window."""
    for key, limit in keys(username, address):
        row, _ = await LoginThrottle.get_or_create(key=key, defaults={"failures": 0, "window_start": now})
        failures = row.failures + 1
        start = row.window_start
        if start is None or now - start > WINDOW:
            failures, start = 1, now
        until = now + LOCKOUT if failures >= limit else row.locked_until
        if failures >= limit:
            failures, start = 0, now
        await LoginThrottle.filter(id=row.id).update(failures=failures, window_start=start, locked_until=until)


async def succeeded(username: str) -> None:
    """Forget the username's failures after a successful login."""
    await LoginThrottle.filter(key=keys(username, "")[0][0]).delete()
