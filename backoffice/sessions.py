"""Server-side staff sessions: a random cookie token, only its hash stored, ended at logout."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from storage.models import Staff, StaffSession

COOKIE = "appeals_staff"
LIFETIME = dt.timedelta(hours=12)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def now() -> dt.datetime:
    """Return the current UTC time."""
    return dt.datetime.now(dt.UTC)


async def start(staff: Staff, old_token: str | None = None, data: dict[str, Any] | None = None,
                lifetime: dt.timedelta = LIFETIME) -> tuple[str, StaffSession]:
    """Open a new session for ``staff`` (fresh token and CSRF token, ``data`` kept with it), ending any old one."""
    if old_token:
        await end(old_token)
    token = secrets.token_urlsafe(32)
    moment = now()
    await StaffSession.filter(staff_id=staff.id, expires_at__lte=moment).delete()  # tidy this account's old rows
    session = await StaffSession.create(
        token_hash=_hash(token), staff_id=staff.id, csrf_token=secrets.token_urlsafe(32), data=data or {},
        created_at=moment, last_seen_at=moment, expires_at=moment + lifetime,
    )
    return token, session


async def load(token: str | None) -> tuple[StaffSession, Staff] | None:
    """Return the live session and its active staff member for a cookie token, or None."""
    if not token or len(token) > 128:
        return None
    session = await StaffSession.get_or_none(token_hash=_hash(token))
    if session is None or session.expires_at <= now():
        return None
    staff = await Staff.get_or_none(id=session.staff_id, active=True)
    if staff is None:
        return None
    return session, staff


async def end(token: str) -> None:
    """End the session of a cookie token on the server."""
    await StaffSession.filter(token_hash=_hash(token)).delete()


async def end_others(staff_id: int, keep_id: int | None) -> int:
    """End every other session of a staff member (after a password change)."""
    query = StaffSession.filter(staff_id=staff_id)
    if keep_id is not None:
        query = query.exclude(id=keep_id)
    return await query.delete()


async def save_data(session: StaffSession) -> None:
    """Persist the session's small state dictionary."""
    await StaffSession.filter(id=session.id).update(data=session.data)
