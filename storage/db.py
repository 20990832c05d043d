"""Database configuration, start-up and migrations (SQLite with WAL, or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate as _migrate

from . import checkpoint, deadlines, writelock

APP = "appeals"
MODELS = ["storage.models"]
MIGRATIONS = "storage.migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def sqlite_path(url: str) -> Path | None:
    """Return the file path of a sqlite:// URL, or None for another database or memory."""
    if not url.startswith("sqlite://"):
        return None
    path = url[len("sqlite://"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def tortoise_config(database_url: str) -> dict[str, Any]:
    """Build the Tortoise configuration for a database URL."""
    path = sqlite_path(database_url)
    if database_url.startswith("sqlite://"):
        connection: dict[str, Any] | str = {
            "engine": "storage.sqlite_engine",
            "credentials": {
                "file_path": str(path) if path else ":memory:",
                "journal_mode": "WAL",
                "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
                "synchronous": "NORMAL",
                "foreign_keys": "ON",
                # storage/checkpoint.py copies the log back off the write path; this is only the backstop
                "wal_autocheckpoint": 10_000,
            },
        }
    else:
        parts = urlsplit(database_url)
        connection = parts._replace(scheme="asyncpg").geturl()
    return {
        "connections": {"default": connection},
        "apps": {APP: {"models": MODELS, "migrations": MIGRATIONS, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _ensure_parent(database_url: str) -> None:
    path = sqlite_path(database_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


#: The timeline is append-only in the database itself. SQLite drops a table's triggers when a
#: migration rebuilds the table (AlterField), so they are (re)asserted after every migrate.
APPEND_ONLY = {
    "sqlite": """
CREATE TRIGGER IF NOT EXISTS case_event_no_update BEFORE UPDATE ON case_event
BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END;
CREATE TRIGGER IF NOT EXISTS case_event_no_delete BEFORE DELETE ON case_event
BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END;
""",
    "postgres": """
CREATE OR REPLACE FUNCTION case_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'case_event is append-only'; END $$;
DROP TRIGGER IF EXISTS case_event_no_change ON case_event;
CREATE TRIGGER case_event_no_change BEFORE UPDATE OR DELETE ON case_event
FOR EACH ROW EXECUTE FUNCTION case_event_append_only();
""",
}


async def migrate(database_url: str, target: str | None = None) -> None:
    """Create or upgrade the schema to the latest (or the named) migration."""
    _ensure_parent(database_url)
    await _migrate(config=tortoise_config(database_url), target=target)
    try:
        conn = connections.get("default")
        if target is None and await _has_table(conn, "case_event"):
            await conn.execute_script(APPEND_ONLY[conn.capabilities.dialect])
    finally:
        await Tortoise.close_connections()


async def _has_table(conn: Any, table: str) -> bool:
    if conn.capabilities.dialect == "sqlite":
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table' AND name=?", [table])
    else:
        rows = await conn.execute_query_dict("SELECT to_regclass($1) AS name", [table])
        rows = [r for r in rows if r["name"]]
    return bool(rows)


async def init(database_url: str) -> None:
    """Open the ORM's connections for an already migrated database."""
    _ensure_parent(database_url)
    deadlines.forget_rules()  # policies cached from another database must not leak into this one
    await Tortoise.init(config=tortoise_config(database_url))
    path = sqlite_path(database_url)
    if path is not None:
        checkpoint.start(path)


async def close() -> None:
    """Close every database connection (and stop the checkpoint thread)."""
    await Tortoise.close_connections()
    checkpoint.stop_all()
    writelock.close_all()
