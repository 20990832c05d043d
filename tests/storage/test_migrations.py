"""Migrations create a database and upgrade an existing one without losing rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from tortoise import connections

from storage import db
from storage.models import CatalogueEntry, Staff, Unit
from tests.conftest import PG_URL, _pg_admin_url


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database with no schema at all."""
    if not PG_URL:
        yield f"sqlite://{tmp_path / 'old.db'}"
        return
    name = f"appeals_mig_{uuid.uuid4().hex[:8]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(_pg_admin_url(PG_URL, "postgres"))
        await conn.execute(sql)
        await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield _pg_admin_url(PG_URL, name)
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_upgrade_from_the_first_release_keeps_rows(empty_database_url: str) -> None:
    url = empty_database_url
    await db.migrate(url, target=f"{db.APP}.0001_initial")
    await db.init(url)
    conn = connections.get("default")
    # Rows written by the first release, in its own schema (no staff.language column yet).
    await conn.execute_query(
        "INSERT INTO unit (code, name_zh, name_en, kind, matters, areas, phone, active, created_at)"
        " VALUES ('zjj', '市住建局', 'Housing', 'bureau', '[]', '[]', '', TRUE, CURRENT_TIMESTAMP)"
    )
    await conn.execute_query(
        "INSERT INTO staff (username, display_name, password_hash, roles, active, failed_logins, created_at)"
        " VALUES ('wang', '王派单', '!', '[\"dispatcher\"]', TRUE, 0, CURRENT_TIMESTAMP)"
    )
    await db.close()

    await db.migrate(url)
    await db.init(url)
    try:
        staff = await Staff.get(username="wang")
        assert staff.display_name == "王派单" and staff.language == "zh-CN"
        unit = await Unit.get(code="zjj")
        await CatalogueEntry.create(category="城乡建设", unit=unit)
        assert await CatalogueEntry.filter(unit=unit).count() == 1
    finally:
        await db.close()


async def test_migrate_twice_is_a_no_op(empty_database_url: str) -> None:
    await db.migrate(empty_database_url)
    await db.migrate(empty_database_url)
    await db.init(empty_database_url)
    try:
        assert await Unit.all().count() == 0
    finally:
        await db.close()


async def test_the_timeline_is_append_only_in_the_database(database_url: str) -> None:
    from storage.lifecycle import CaseStatus
    from storage.models import CaseEvent
    from tests.support.builders import make_case, make_world

    world = await make_world()
    case = await make_case(world, CaseStatus.SUBMITTED)
    event = await CaseEvent.create(case=case, action="note", to_status="submitted", actor_role="dispatcher",
                                   data={"note": "原始记录"}, version=1)
    with pytest.raises(Exception, match="append-only"):  # the driver's own error class differs per database
        await CaseEvent.filter(id=event.id).update(data={"note": "篡改"})
    with pytest.raises(Exception, match="append-only"):
        await CaseEvent.filter(id=event.id).delete()
    assert (await CaseEvent.get(id=event.id)).data == {"note": "原始记录"}


def test_no_model_description_has_a_semicolon() -> None:
    """Tortoise splits schema SQL on ';', so a semicolon in a model docstring breaks migrations."""
    from tortoise import Model

    import storage.models as models

    for name in dir(models):
        obj = getattr(models, name)
        if isinstance(obj, type) and issubclass(obj, Model) and obj is not Model:
            assert ";" not in (obj.__doc__ or ""), f"{name}: use ' - ' instead of ';' in its docstring"
