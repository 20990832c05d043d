"""Tortoise's SQLite backend, except that a transaction takes the write lock when it begins.

SQLite in WAL mode starts a plain ``BEGIN`` as a reader. A transaction that reads and then writes
while another process has committed in between cannot be upgraded: SQLite answers "database is
locked" at once, without waiting for the busy timeout. Every transaction of ours is there to
write, so ``BEGIN IMMEDIATE`` takes the write lock first (waiting up to the busy timeout for another
process to finish) and the upgrade never happens. Several app processes on one SQLite file then
queue for the lock instead of failing.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError

from . import writelock


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    """A transaction that begins with ``BEGIN IMMEDIATE``, holding the cross-process writer lock throughout."""

    async def begin(self) -> None:
        """Commit anything pending on the connection, then take the writer lock and SQLite's write lock."""
        raw = self._connection._conn
        await self._connection._execute(writelock.acquire, raw)  # queued by the kernel, not by busy polling
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            await self._connection._execute(writelock.release, raw)
            raise TransactionManagementError(exc) from exc
        except BaseException:
            await self._connection._execute(writelock.release, raw)
            raise

    async def commit(self) -> None:
        """Commit, then let the next writer of any process go."""
        try:
            await super().commit()
        finally:
            await self._connection._execute(writelock.release, self._connection._conn)

    async def rollback(self) -> None:
        """Roll back, then let the next writer of any process go."""
        try:
            await super().rollback()
        finally:
            await self._connection._execute(writelock.release, self._connection._conn)


class ImmediateSqliteClient(SqliteClient):
    """The SQLite client whose transactions take the write lock when they begin."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient
