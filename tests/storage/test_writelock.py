"""Writers of several processes on one SQLite file wait in line on a lock the kernel hands on, and a dead holder
never keeps it; committed rows reach the database file through the background checkpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import batch, db

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _path(url: str) -> Path:
    path = db.sqlite_path(url)
    if path is None:
        pytest.skip("SQLite only: PostgreSQL queues its writers itself")
    return path


def _holder(lock: Path, seconds: float) -> subprocess.Popen[str]:
    """Start another process that takes the writer lock and keeps it ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


async def test_a_write_waits_for_another_process_writing_then_goes_ahead(database_url: str) -> None:
    path = _path(database_url)
    holder = _holder(Path(f"{path}-writer.lock"), 1.5)
    started = time.perf_counter()
    changed, _ = await batch.execute("UPDATE case_counter SET serial = serial WHERE 1 = 0", [])
    waited = time.perf_counter() - started
    holder.wait(timeout=10)
    assert changed == 0 and waited >= 0.4  # in line behind the other writer, then done (no "database is locked")
    assert waited >= 1.0  # for most of the holder's 1.5 s, with room for a slow start


async def test_a_writer_killed_while_holding_the_lock_never_blocks_the_others(database_url: str) -> None:
    path = _path(database_url)
    holder = _holder(Path(f"{path}-writer.lock"), 600)
    task = asyncio.create_task(batch.execute("UPDATE case_counter SET serial = serial WHERE 1 = 0", []))
    await asyncio.sleep(0.3)
    assert not task.done()  # waiting in line
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    await asyncio.wait_for(task, timeout=5)  # the kernel dropped the dead process's lock at once


async def test_committed_rows_reach_the_database_file_through_the_background_checkpoint(database_url: str) -> None:
    from storage.models import Citizen

    path = _path(database_url)
    await Citizen.bulk_create([Citizen(name=f"市民{i}") for i in range(200)])
    deadline = time.monotonic() + 10
    while True:  # the database file alone (its log ignored) holds them once the log was copied back
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as plain:
            count = plain.execute("SELECT COUNT(*) FROM citizen").fetchone()[0]
        if count == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert count == 200  # far below the writers' own automatic checkpoint: this thread copied them
