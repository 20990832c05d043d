"""Shared fixtures: a migrated database per test, on SQLite or (APPEALS_TEST_DATABASE_URL) PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tortoise import Tortoise, connections

from storage import db

PG_URL = os.environ.get("APPEALS_TEST_DATABASE_URL", "")


def _pg_admin_url(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate one database per test session: a SQLite file to copy, or a PostgreSQL database."""
    if PG_URL:
        import asyncpg

        name = f"appeals_test_{uuid.uuid4().hex[:10]}"

        async def create() -> None:
            conn = await asyncpg.connect(_pg_admin_url(PG_URL, "postgres"))
            await conn.execute(f'CREATE DATABASE "{name}"')
            await conn.close()
            await db.migrate(_pg_admin_url(PG_URL, name))

        async def drop() -> None:
            conn = await asyncpg.connect(_pg_admin_url(PG_URL, "postgres"))
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()

        asyncio.run(create())
        yield _pg_admin_url(PG_URL, name)
        asyncio.run(drop())
    else:
        path = tmp_path_factory.mktemp("template") / "appeals.db"
        asyncio.run(db.migrate(f"sqlite://{path}"))
        yield str(path)


async def _truncate_all() -> None:
    conn = connections.get("default")
    tables = [m._meta.db_table for m in Tortoise.apps[db.APP].values()]
    quoted = ", ".join(f'"{t}"' for t in tables)
    await conn.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")


@pytest.fixture
async def database_url(database_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """Give each test an empty, migrated database and an initialised ORM."""
    if PG_URL:
        url = database_template
        await db.init(url)
        await _truncate_all()
    else:
        target = tmp_path / "appeals.db"
        shutil.copyfile(database_template, target)
        url = f"sqlite://{target}"
        await db.init(url)
    try:
        yield url
    finally:
        await db.close()


@pytest.fixture
def is_postgres() -> bool:
    """Tell whether this run uses PostgreSQL."""
    return bool(PG_URL)


@pytest.fixture
async def other_writer(database_url: str) -> AsyncIterator[sqlite3.Connection]:
    """Another process's connection to the SQLite file (its BEGIN IMMEDIATE holds the write lock); while it is
    open this process waits 0.1 s for the lock, not 10 s. Skips on PostgreSQL."""
    path = db.sqlite_path(database_url)
    if path is None:
        pytest.skip("the write lock is SQLite's")
    await connections.get("default").execute_script("PRAGMA busy_timeout = 100")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
        await connections.get("default").execute_script(f"PRAGMA busy_timeout = {db.SQLITE_BUSY_TIMEOUT_MS}")
