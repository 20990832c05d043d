"""Group commit on SQLite: small statements of many concurrent tasks share one transaction and one trip to the
database thread.

SQLite is one connection served by one thread: each statement is a trip to that thread and back, and
the connection is locked from the request until the caller resumes, so under load the database does
about one statement per turn of the event loop. ``execute`` queues a statement instead; whoever finds
no flush running starts one, which takes the connection (after any open transaction), runs every
queued statement in one transaction in one trip, commits, and only then hands each caller its result.
A caller therefore sees its change only once it is committed (a kill -9 after the reply loses
nothing), exactly as with a statement of its own. If any statement fails, the batch is rolled back
and every statement runs again on its own, so one caller's error is never another's.

Outside SQLite, or inside an open transaction (whose statements must stay in it), ``execute`` runs
the statement directly. Statements are written with ``?`` placeholders and numbered for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError

MAX_BATCH = 500  # statements per transaction, so one flush never holds the connection long

_numbered: dict[str, str] = {}
_batches: weakref.WeakKeyDictionary[BaseDBAsyncClient, _Batch] = weakref.WeakKeyDictionary()

Item = tuple[str, Sequence[Any], bool]
Result = tuple[int, list[dict[str, Any]]]


def _postgres(sql: str) -> str:
    """Number ``?`` placeholders as $1, $2, … (the statements here have no literal question marks)."""
    numbered = _numbered.get(sql)
    if numbered is None:
        parts = sql.split("?")
        numbered = _numbered[sql] = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    return numbered


def _translate(exc: sqlite3.Error) -> Exception:
    """Raise what Tortoise raises for the same error, so callers need not know the statement was batched."""
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    return OperationalError(exc)


def _one(db: sqlite3.Connection, item: Item) -> Result:
    sql, values, fetch = item
    cursor = db.execute(sql, values)
    if fetch:
        rows = [dict(r) for r in cursor.fetchall()]
        return len(rows), rows
    return cursor.rowcount, []


def _run_batch(db: sqlite3.Connection, items: list[Item]) -> list[Result | Exception]:
    """Run on the database thread: all items in one transaction, or each on its own if any fails."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            results: list[Result | Exception] = [_one(db, item) for item in items]
        except Exception:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return results
    except sqlite3.Error:
        if db.in_transaction:
            db.execute("ROLLBACK")
    alone: list[Result | Exception] = []
    for item in items:
        try:
            alone.append(_one(db, item))
        except sqlite3.Error as exc:
            alone.append(_translate(exc))
    return alone


class _Batch:
    """The statements waiting for one SQLite client, and whether a flush is running."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self.flushing = False

    async def flush(self) -> None:
        try:
            while self.pending:
                async with self.client.acquire_connection() as conn:  # waits for any open transaction
                    taken, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                    try:
                        results = await conn._execute(_run_batch, conn._conn, [item for item, _ in taken])
                    except BaseException as exc:
                        for _, future in taken:
                            if not future.done():
                                future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
                        raise
                for (_, future), result in zip(taken, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.flushing = False


async def execute(sql: str, values: Sequence[Any], *, fetch: bool = False) -> Result:
    """Run one statement (batched with others' on SQLite); return (rows changed or fetched, rows as dicts)."""
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    if dialect != "sqlite" or isinstance(conn, TransactionalDBClient):
        if dialect == "postgres":
            sql = _postgres(sql)
        if fetch:
            rows = await conn.execute_query_dict(sql, list(values))
            return len(rows), rows
        changed, _ = await conn.execute_query(sql, list(values))
        return changed, []
    batch = _batches.get(conn)
    if batch is None:
        batch = _batches[conn] = _Batch(conn)
    future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
    batch.pending.append(((sql, values, fetch), future))
    if not batch.flushing:
        batch.flushing = True
        task = asyncio.create_task(batch.flush())
        task.add_done_callback(_quiet)
    return await future


def _quiet(task: asyncio.Task[None]) -> None:
    """Consume a flush task's exception: its callers already received it."""
    if not task.cancelled():
        task.exception()
