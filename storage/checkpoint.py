"""WAL checkpoints off the write path: a thread of its own copies the log back into the database file.

By default the connection whose commit grows the write-ahead log past 1,000 pages copies it back on the spot,
holding the write lock (and the writer lock of storage/writelock.py) for that whole copy and its fsync: every
writer of every process then waits behind it. This thread runs a PASSIVE checkpoint every second on a connection
of its own instead: it takes no write lock, so writers go on meanwhile, and once the log is fully copied the next
writer starts it over from the beginning (``journal_size_limit`` trims the file). The app's connections keep an
automatic checkpoint only as a backstop, at 10,000 pages, should this thread ever fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("appeals.checkpoint")
INTERVAL = 1.0  # seconds between checkpoints

_running: dict[str, tuple[threading.Thread, threading.Event]] = {}
_guard = threading.Lock()


def _loop(path: str, stop: threading.Event, interval: float) -> None:
    db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    try:
        while not stop.wait(interval):
            try:
                db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # busy (another process checkpoints) or the file went away: next time
                log.debug("checkpoint of %s skipped: %s", path, exc)
    finally:
        db.close()


def start(path: Path, interval: float = INTERVAL) -> None:
    """Start checkpointing a database file in the background (once per file per process)."""
    key = str(path.resolve())
    with _guard:
        if key in _running and _running[key][0].is_alive():
            return
        stop = threading.Event()
        thread = threading.Thread(target=_loop, args=(key, stop, interval), name="sqlite-checkpoint", daemon=True)
        _running[key] = (thread, stop)
        thread.start()


def stop_all() -> None:
    """Stop every checkpoint thread of this process and wait for it (a last checkpoint is left to the next start)."""
    with _guard:
        running = list(_running.values())
        _running.clear()
    for _, stop in running:
        stop.set()
    for thread, _ in running:
        thread.join(timeout=5)
