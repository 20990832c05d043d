"""One SQLite writer at a time across processes, queued by the kernel instead of SQLite's busy polling.

SQLite's busy handler waits for another process's write lock by sleeping and retrying (1, 2, 5, 10 … 100 ms):
with several workers on one file, a transaction that loses the race can sleep far longer than the lock is held,
which is most of the tail latency. Holding an exclusive ``flock`` on a file beside the database around each write
transaction makes the writers of all processes wait in line and wake the moment the lock is free. The kernel
drops the lock of a process that dies, so a kill -9 never leaves it held.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_fds: dict[str, int] = {}
_guard = threading.Lock()
_paths: dict[int, str | None] = {}  # by id() of the connection: a process has one per database, kept open


def _lock_path(db: sqlite3.Connection) -> str | None:
    """Return the lock file of a connection's database file (None for an in-memory database)."""
    key = id(db)
    if key not in _paths:
        row = db.execute("PRAGMA database_list").fetchone()
        _paths[key] = f"{row[2]}-writer.lock" if row and row[2] else None
    return _paths[key]


def _fd(path: str) -> int:
    with _guard:
        fd = _fds.get(path)
        if fd is None:
            fd = _fds[path] = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return fd


def acquire(db: sqlite3.Connection) -> None:
    """Wait for and take the writer lock of the connection's database (on its thread: this blocks)."""
    path = _lock_path(db)
    if path is not None:
        fcntl.flock(_fd(path), fcntl.LOCK_EX)


def release(db: sqlite3.Connection) -> None:
    """Give the writer lock back (harmless when not held)."""
    path = _lock_path(db)
    if path is not None:
        fcntl.flock(_fd(path), fcntl.LOCK_UN)


@contextmanager
def writing(db: sqlite3.Connection) -> Iterator[None]:
    """Hold this database's cross-process writer lock (on the database thread) while the block writes."""
    acquire(db)
    try:
        yield
    finally:
        release(db)


def close_all() -> None:
    """Close the lock files of this process (its database connections are closed)."""
    with _guard:
        for fd in _fds.values():
            os.close(fd)
        _fds.clear()
        _paths.clear()
