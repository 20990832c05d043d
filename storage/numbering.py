"""Readable case numbers (8890-20261126-00042) and unguessable tracking codes."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from . import batch
from .deadlines import SHANGHAI
from .models import CaseCounter

#: Unambiguous characters only: no 0/O, 1/I/L, so a code read over the phone survives.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TRACKING_CODE_LENGTH = 10  # 31**10 ≈ 8e14 codes


def tracking_code() -> str:
    """Return a fresh random 10-character tracking code."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(TRACKING_CODE_LENGTH))


def _day_key(prefix: str, now: dt.datetime) -> str:
    return f"{prefix}-{now.astimezone(SHANGHAI):%Y%m%d}"


def next_case_number_on(db: sqlite3.Connection, prefix: str, now: dt.datetime) -> str:
    """Hand out the next case number of the local day on the SQLite thread, inside a unit (storage.batch).

    The unit's transaction holds SQLite's write lock, so no other writer can create the day's row meanwhile.
    """
    key = _day_key(prefix, now)
    row = db.execute(_BUMP_SQL, (key,)).fetchone()
    if row is None:
        db.execute(f"INSERT INTO {CaseCounter._meta.db_table} (day, serial) VALUES (?, 1)", (key,))
    return f"{key}-{row[0] if row else 1:05d}"


async def next_case_number(prefix: str, now: dt.datetime) -> str:
    """Hand out the next case number of the local day; call inside the submitting transaction."""
    key = _day_key(prefix, now)
    serial = await _bump(key)
    if serial is None:
        try:
            async with in_transaction():
                await CaseCounter.create(day=key, serial=1)
            serial = 1
        except IntegrityError:
            # Another writer created the day's row first; take the next serial after theirs.
            serial = await _bump(key)
    return f"{key}-{serial:05d}"


async def _bump(key: str) -> int | None:
    """Add one to the day's counter and read it back in the same statement; None when the day has no row yet."""
    _, rows = await batch.execute(_BUMP_SQL, [key], fetch=True)
    return int(rows[0]["serial"]) if rows else None


_BUMP_SQL = f"UPDATE {CaseCounter._meta.db_table} SET serial = serial + 1 WHERE day = ? RETURNING serial"
