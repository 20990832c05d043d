"""SQLite transactions take the write lock at BEGIN: a read-then-write never fails on another process's commit."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from tortoise.transactions import in_transaction

from storage.db import sqlite_path
from storage.models import CaseCounter


def write_elsewhere(path: str, day: str) -> bool:
    """Insert a counter row from another connection (another process); False when it had to give up waiting."""
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        other.execute("INSERT INTO case_counter (day, serial) VALUES (?, 1)", (day,))
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


async def test_a_transaction_that_reads_then_writes_survives_another_process_committing(database_url: str) -> None:
    path = sqlite_path(database_url)
    if path is None:
        pytest.skip("the write lock is SQLite's")
    async with in_transaction():
        assert await CaseCounter.all().count() == 0  # a read first, as CaseService.submit does
        # Another process wants to write meanwhile: it waits for our transaction instead of slipping in
        # between our read and our write (which made SQLite refuse our write at once: "database is locked").
        assert not await asyncio.to_thread(write_elsewhere, str(path), "8890-20261126")
        await CaseCounter.create(day="8890-20261127", serial=1)
    assert await asyncio.to_thread(write_elsewhere, str(path), "8890-20261126")  # our commit let it through
    assert sorted(await CaseCounter.all().values_list("day", flat=True)) == ["8890-20261126", "8890-20261127"]
