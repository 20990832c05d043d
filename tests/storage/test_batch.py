"""Group commit: concurrent statements get their own results, one failure is nobody else's, transactions stay whole."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from storage import batch
from storage.models import Channel, ChannelIdentity, Citizen

RENAME = "UPDATE citizen SET name = ? WHERE id = ? AND name IS NULL"


async def test_concurrent_statements_each_get_their_own_result(database_url: str) -> None:
    citizens = [await Citizen.create() for _ in range(30)]
    targets = [c.id for c in citizens] + [citizens[0].id, 10**9]  # a second claim on the first, and nobody
    results = await asyncio.gather(*(batch.execute(RENAME, [f"n{i}", cid]) for i, cid in enumerate(targets)))
    assert [changed for changed, _ in results] == [1] * 30 + [0, 0]
    assert sorted(c.name for c in await Citizen.all()) == sorted(f"n{i}" for i in range(30))
    fetched = await asyncio.gather(*(batch.execute("SELECT name FROM citizen WHERE id = ?", [c.id], fetch=True)
                                     for c in citizens[:3]))
    assert [rows for _, rows in fetched] == [[{"name": f"n{i}"}] for i in range(3)]


async def test_a_failing_statement_fails_alone(database_url: str) -> None:
    citizen = await Citizen.create()
    await ChannelIdentity.create(citizen=citizen, channel=Channel.WEBCHAT, external_id="taken")
    duplicate = "UPDATE channel_identity SET external_id = ? WHERE external_id = ?"
    other = await ChannelIdentity.create(citizen=citizen, channel=Channel.WEBCHAT, external_id="free")
    outcomes = await asyncio.gather(
        batch.execute(RENAME, ["kept", citizen.id]),
        batch.execute(duplicate, ["taken", "free"]),  # violates (channel, external_id) uniqueness
        return_exceptions=True,
    )
    assert outcomes[0] == (1, []) and isinstance(outcomes[1], IntegrityError)
    assert (await Citizen.get(id=citizen.id)).name == "kept"
    assert (await ChannelIdentity.get(id=other.id)).external_id == "free"


async def test_inside_a_transaction_the_statement_is_rolled_back_with_it(database_url: str) -> None:
    citizen = await Citizen.create()
    with pytest.raises(RuntimeError):
        async with in_transaction():
            assert await batch.execute(RENAME, ["gone", citizen.id]) == (1, [])
            raise RuntimeError("the step failed")
    assert (await Citizen.get(id=citizen.id)).name is None
    assert await batch.execute(RENAME, ["after", citizen.id]) == (1, [])
    assert (await Citizen.get(id=citizen.id)).name == "after"


async def test_a_failing_unit_is_undone_alone(database_url: str) -> None:
    kept, undone = await Citizen.create(), await Citizen.create()

    def half_then_fail(db) -> None:
        db.execute(RENAME, ["half", undone.id])
        raise RuntimeError("the second half failed")

    async def orm() -> None:
        async with in_transaction():
            await Citizen.filter(id=undone.id).update(name="half")
            raise RuntimeError("the second half failed")

    outcomes = await asyncio.gather(batch.execute(RENAME, ["kept", kept.id]), batch.unit(half_then_fail, orm),
                                    return_exceptions=True)
    assert outcomes[0] == (1, []) and isinstance(outcomes[1], RuntimeError)
    assert (await Citizen.get(id=kept.id)).name == "kept"
    assert (await Citizen.get(id=undone.id)).name is None


@pytest.fixture
def write_lock(other_writer: sqlite3.Connection) -> sqlite3.Connection:
    """Another process's connection holding the SQLite file's write lock; ours waits 0.1 s for it, not 10 s."""
    other_writer.execute("BEGIN IMMEDIATE")
    return other_writer


async def test_a_write_lock_held_elsewhere_fails_every_caller_at_once_then_the_batch_works_again(
        write_lock: sqlite3.Connection) -> None:
    calls = [batch.execute(RENAME, [f"n{i}", i]) for i in range(400)]
    # 400 callers each trying alone would wait the busy timeout 400 times (40 s here, over an hour by default)
    outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
    assert all(isinstance(o, OperationalError) and "locked" in str(o) for o in outcomes), outcomes[:3]
    write_lock.execute("ROLLBACK")  # the other process is done
    citizen = await Citizen.create()
    assert await batch.execute(RENAME, ["after", citizen.id]) == (1, [])
    assert (await Citizen.get(id=citizen.id)).name == "after"


async def test_a_connection_that_cannot_be_had_fails_everyone_waiting_then_the_batch_works_again(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = connections.get("default")
    if client.capabilities.dialect != "sqlite":
        pytest.skip("the group commit is SQLite's")
    citizen = await Citizen.create()

    def unavailable() -> Any:
        raise OperationalError("the database file is gone")

    monkeypatch.setattr(client, "acquire_connection", unavailable)
    outcomes = await asyncio.wait_for(asyncio.gather(*(batch.execute(RENAME, [f"n{i}", citizen.id])
                                                       for i in range(5)), return_exceptions=True), 10)
    assert all(isinstance(o, OperationalError) for o in outcomes)
    monkeypatch.undo()
    assert await batch.execute(RENAME, ["after", citizen.id]) == (1, [])
    assert (await Citizen.get(id=citizen.id)).name == "after"
