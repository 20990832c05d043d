"""A unit of work: writes gathered while a dialog step runs, committed together with the step's session save.

Reads happen while the step runs; its writes wait here and commit all at once: on SQLite as one unit of
the group commit (storage.batch: one trip to the database thread, the only connection never held across
turns of the event loop), elsewhere in one transaction. Either every write happens or none does. Hooks
registered with ``after`` run once the writes are committed (say, telling an in-memory index about a
new case), never for writes that were undone.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tortoise.transactions import in_transaction

from . import batch

log = logging.getLogger(__name__)
Values = Sequence[Any] | Callable[[], Sequence[Any]]  # a callable is read when the write runs (ids made earlier)


class NothingChanged(Exception):
    """A write that had to change a row changed none (a compare-and-set lost): the whole unit is undone."""


class UnitOfWork:
    """Writes to commit together (each a database-thread form and an ORM form of the same change)."""

    def __init__(self) -> None:
        self._writes: list[tuple[batch.Work, Callable[[], Awaitable[Any]]]] = []
        self._after: list[Callable[[], None]] = []

    def __len__(self) -> int:
        return len(self._writes)

    def add(self, work: batch.Work, orm: Callable[[], Awaitable[Any]]) -> None:
        """Queue one change: ``work`` runs on the SQLite thread, ``orm`` inside a transaction elsewhere."""
        self._writes.append((work, orm))

    def execute(self, sql: str, values: Values, *, must_change: bool = False) -> None:
        """Queue one statement (``?`` placeholders); ``must_change``: undo everything if it changes no row."""

        def now() -> list[Any]:
            return list(values() if callable(values) else values)

        def checked(changed: int) -> None:
            if must_change and changed == 0:
                raise NothingChanged(sql.split(" WHERE", 1)[0])

        def work(db: sqlite3.Connection) -> None:
            checked(db.execute(sql, now()).rowcount)

        async def orm() -> None:
            changed, _ = await batch.execute(sql, now())  # inside the transaction: runs on it directly
            checked(changed)

        self.add(work, orm)

    def after(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the writes are committed (an error in it is logged, never raised)."""
        self._after.append(hook)

    async def commit(self) -> None:
        """Run every queued write as one unit (or one transaction), then the after-commit hooks."""
        writes = list(self._writes)

        def run(db: sqlite3.Connection) -> None:
            for work, _ in writes:
                work(db)

        async def with_orm() -> None:
            async with in_transaction():
                for _, orm in writes:
                    await orm()

        if writes:
            await batch.unit(run, with_orm)
        self._writes.clear()
        hooks, self._after = self._after, []
        for hook in hooks:
            try:
                hook()
            except Exception:  # the writes are committed: a hook's failure must not report them as failed
                log.exception("an after-commit hook failed")
