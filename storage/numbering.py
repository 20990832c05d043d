"""Readable case numbers (8890-20261126-00042) and unguessable tracking codes."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3

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
    """Hand out the next case number of the local day on the SQLite thread, inside a unit (storage.batch)."""
    key = _day_key(prefix, now)
    return f"{key}-{db.execute(_NEXT_SQL, (key,)).fetchone()[0]:05d}"


async def next_case_number(prefix: str, now: dt.datetime) -> str:
    """Hand out the next case number of the local day (one statement: the day's first creates its counter)."""
    key = _day_key(prefix, now)
    _, rows = await batch.execute(_NEXT_SQL, [key], fetch=True)
    return f"{key}-{int(rows[0]['serial']):05d}"


_TABLE = CaseCounter._meta.db_table
#: Create the day's counter at 1 or add one to it, and read the serial back: one atomic statement, so two writers
#: (processes, or PostgreSQL transactions) never get the same number and need no retry.
_NEXT_SQL = (f"INSERT INTO {_TABLE} (day, serial) VALUES (?, 1) ON CONFLICT (day) DO UPDATE"
             f" SET serial = {_TABLE}.serial + 1 RETURNING serial")
