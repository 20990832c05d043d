"""Group commit on SQLite: small writes of many concurrent tasks share one transaction and one trip to the
database thread.

SQLite is one connection served by one thread: each statement is a trip to that thread and back, and
the connection is locked from the request until the caller resumes, so under load the database does
about one statement per turn of the event loop. ``execute`` (one statement) and ``unit`` (a few
dependent statements) queue their work instead; whoever finds no flush running starts one, which
takes the connection (after any open transaction), runs every queued item in one transaction in one
trip, each behind a savepoint of its own, commits, and only then hands each caller its result. A
caller therefore sees its change only once it is committed (a kill -9 after the reply loses
nothing), exactly as with a transaction of its own; an item that fails is undone alone and only its
caller gets the error; if the transaction itself fails, every item runs again on its own. If the
transaction cannot begin because another process holds the write lock for longer than the busy
timeout, every item of the batch gets that error at once (each trying alone would wait the timeout
again, on the only database thread). No caller is ever left waiting: whatever fails, each gets an error.

On PostgreSQL, or inside an open transaction (whose statements must stay in it), the statement runs
directly. Statements are written with ``?`` placeholders and numbered for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model

from .writelock import writing

MAX_BATCH = 500  # statements per transaction, so one flush never holds the connection long

_numbered: dict[str, str] = {}
_batches: weakref.WeakKeyDictionary[BaseDBAsyncClient, _Batch] = weakref.WeakKeyDictionary()

Result = tuple[int, list[dict[str, Any]]]
Work = Callable[[sqlite3.Connection], Any]  # runs on the database thread, inside the batch's transaction


def _postgres(sql: str) -> str:
    """Number ``?`` placeholders as $1, $2, … (the statements here have no literal question marks)."""
    numbered = _numbered.get(sql)
    if numbered is None:
        parts = sql.split("?")
        numbered = _numbered[sql] = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    return numbered


def _failure(exc: Exception) -> Exception:
    """Return what Tortoise raises for the same error, so callers need not know the statement was batched."""
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    return OperationalError(exc) if isinstance(exc, sqlite3.Error) else exc


def _statement(sql: str, values: Sequence[Any], fetch: bool) -> Work:
    """Return the work of one statement: (rows changed or fetched, rows as dicts)."""

    def run(db: sqlite3.Connection) -> Result:
        cursor = db.execute(sql, values)
        if fetch:
            rows = [dict(r) for r in cursor.fetchall()]
            return len(rows), rows
        return cursor.rowcount, []

    run.single = True  # type: ignore[attr-defined]  # one statement: SQLite undoes it alone if it fails
    return run


def _locked(exc: sqlite3.Error) -> bool:
    """Tell whether an error is SQLite's busy one: another connection kept the lock past the busy timeout."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) if code is not None else "locked" in str(exc)


def _run_batch(db: sqlite3.Connection, items: list[Work]) -> list[Any]:
    """Run ``_in_batch`` holding the cross-process writer lock (see storage/writelock.py)."""
    with writing(db):
        return _in_batch(db, items)


def _in_batch(db: sqlite3.Connection, items: list[Work]) -> list[Any]:
    """Run on the database thread: every item in one transaction, each behind a savepoint of its own.

    A single statement needs none: SQLite undoes a statement that fails, and the transaction goes on.

    An item that fails is undone alone and gets its error; if the transaction itself fails (commit, or
    an error that ends it), nothing of it stays and every item runs again on its own. If it cannot
    begin for the write lock, every item gets that error.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        if _locked(exc):
            return [_failure(exc)] * len(items)
        return _alone(db, items)
    results: list[Any] = []
    for work in items:
        if getattr(work, "single", False):  # SQLite undoes a failed statement alone: no savepoint needed
            try:
                results.append(work(db))
            except Exception as exc:  # noqa: BLE001 - handed to the caller of this item
                if not db.in_transaction:  # the error ended the transaction itself
                    return _alone(db, items)
                results.append(_failure(exc))
            continue
        try:
            db.execute("SAVEPOINT item")
            try:
                results.append(work(db))
            except Exception as exc:  # noqa: BLE001 - handed to the caller of this item
                db.execute("ROLLBACK TO item")
                results.append(_failure(exc))
            db.execute("RELEASE item")
        except sqlite3.Error:  # the transaction itself is gone
            if db.in_transaction:
                db.execute("ROLLBACK")
            return _alone(db, items)
    try:
        db.execute("COMMIT")
    except sqlite3.Error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        return _alone(db, items)
    return results


def _alone(db: sqlite3.Connection, items: list[Work]) -> list[Any]:
    """Run each item in a transaction of its own; if one cannot begin for the write lock, the rest fail with it."""
    results: list[Any] = []
    for done, work in enumerate(items):
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if _locked(exc):
                return results + [_failure(exc)] * (len(items) - done)
            results.append(_failure(exc))
            continue
        try:
            results.append(work(db))
            db.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - handed to the caller of this item
            if db.in_transaction:
                db.execute("ROLLBACK")
            results.append(_failure(exc))
    return results


class _Batch:
    """The statements waiting for one SQLite client in one event loop, and the flush running, if any."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self.task: asyncio.Task[None] | None = None

    async def flush(self) -> None:
        """Run what is queued, batch after batch, until nothing is; every caller gets a result or an error."""
        while self.pending:
            taken: list[tuple[Work, asyncio.Future[Any]]] = []
            results: list[Any] | None = None
            try:
                async with self.client.acquire_connection() as conn:  # waits for any open transaction
                    taken, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                    results = await conn._execute(_run_batch, conn._conn, [work for work, _ in taken])
            except Exception as exc:  # noqa: BLE001 - the connection failed (closed, say): each caller gets it
                if not taken:  # no connection to be had: everything queued fails with it
                    taken, self.pending = self.pending, []
                if results is None:  # (an error giving the connection back leaves the results standing)
                    results = [exc] * len(taken)
            except BaseException:  # cancelled: nobody is left to flush what waits
                for _, future in taken + self.pending:
                    if not future.done():
                        future.set_exception(RuntimeError("the database batch was cancelled"))
                self.pending = []
                raise
            for (_, future), result in zip(taken, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


def _sqlite_batch() -> _Batch | None:
    """Return the batch of the default SQLite connection, or None on PostgreSQL or inside a transaction."""
    conn = get_connection("default")
    if conn.capabilities.dialect != "sqlite" or isinstance(conn, TransactionalDBClient):
        return None
    loop = asyncio.get_running_loop()
    batch = _batches.get(conn)
    if batch is None or batch.loop is not loop:  # a client outlives an event loop in tests: start afresh
        batch = _batches[conn] = _Batch(conn, loop)
    return batch


async def _queue(batch: _Batch, work: Work) -> Any:
    future: asyncio.Future[Any] = batch.loop.create_future()
    batch.pending.append((work, future))
    if batch.task is None or batch.task.done():  # a flush in progress takes this item in its next round
        batch.task = asyncio.create_task(batch.flush())
        batch.task.add_done_callback(_quiet)
    return await future


async def execute(sql: str, values: Sequence[Any], *, fetch: bool = False) -> Result:
    """Run one statement (batched with others' on SQLite); return (rows changed or fetched, rows as dicts)."""
    batch = _sqlite_batch()
    if batch is not None:
        return await _queue(batch, _statement(sql, values, fetch))
    if fetch:
        rows = await read(sql, values)
        return len(rows), rows
    conn = get_connection("default")
    changed, _ = await conn.execute_query(_postgres(sql) if conn.capabilities.dialect == "postgres" else sql,
                                          list(values))
    return changed, []


async def read(sql: str, values: Sequence[Any]) -> list[dict[str, Any]]:
    """Run one read directly, outside the group commit; return its rows.

    On SQLite it takes no write lock and joins no batch, so it is a trip to the database thread of its own
    (behind whatever holds the connection); a read that many concurrent steps make (the similar case shown,
    the session resumed) is cheaper queued with the others through ``execute(fetch=True)``.
    """
    conn = get_connection("default")
    if conn.capabilities.dialect == "postgres":
        sql = _postgres(sql)
    return await conn.execute_query_dict(sql, list(values))


async def unit(work: Work, otherwise: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` atomically on the SQLite thread, batched with others (its errors undo it alone).

    On PostgreSQL, or inside an open transaction, ``otherwise()`` does the same through the ORM.
    """
    batch = _sqlite_batch()
    if batch is None:
        return await otherwise()
    return await _queue(batch, work)


@dataclass(frozen=True, slots=True)
class Insert:
    """The ORM's own INSERT of one model (its statement and columns), to run on the SQLite thread in a unit."""

    sql: str
    columns: tuple[str, ...]

    @classmethod
    def of(cls, model: type[Model]) -> Insert:
        """Take the statement Tortoise's executor built for ``model`` (call on the event loop: it needs the client)."""
        conn = get_connection("default")
        executor = conn.executor_class(model=model, db=conn)
        return cls(executor.insert_query, tuple(executor.regular_columns))

    def run(self, db: sqlite3.Connection, instance: Model) -> None:
        """Insert ``instance`` with the values the ORM would write (defaults, auto_now, JSON) and set its id."""
        fields = instance._meta.fields_map
        values = [fields[name].to_db_value(getattr(instance, name), instance) for name in self.columns]
        instance.pk = db.execute(self.sql, values).lastrowid
        instance._saved_in_db = True


def _quiet(task: asyncio.Task[None]) -> None:
    """Consume a flush task's exception: its callers already received it."""
    if not task.cancelled():
        task.exception()
