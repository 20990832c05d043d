"""Dialog sessions as rows: create, take a lease (compare-and-set), save and release."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import uuid
from collections import OrderedDict
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage import batch, jsontext
from storage.models import Channel, ChannelIdentity, Citizen, DialogSession


async def citizen_for(channel: str, external_id: str, language: str) -> tuple[int, bool]:
    """Return the citizen known as ``external_id`` on ``channel`` (creating one on first contact) and whether
    this call created the identity."""
    identity = await ChannelIdentity.get_or_none(channel=channel, external_id=external_id)
    if identity is not None:
        return identity.citizen_id, False
    try:
        async with in_transaction():
            citizen = await Citizen.create(language=language)
            await ChannelIdentity.create(citizen=citizen, channel=Channel(channel), external_id=external_id)
            return citizen.id, True
    except IntegrityError:
        identity = await ChannelIdentity.get(channel=channel, external_id=external_id)
        return identity.citizen_id, False


def new_token() -> str:
    """Return a fresh lease token: unique per acquisition, so two holders never match."""
    return uuid.uuid4().hex


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


TAKE_SQL = ("UPDATE dialog_session SET locked_by = ?, locked_until = ? WHERE channel = ? AND user_key = ?"
            " AND (locked_until IS NULL OR locked_until < ?)")
SAVE_SQL = ("UPDATE dialog_session SET flow = ?, step = ?, slots = ?, language = ?, last_inbound_key = ?,"
            " expires_at = ?, version = ?, locked_by = NULL, locked_until = NULL, updated_at = ? WHERE id = ?")
SAVE_HELD = SAVE_SQL + " AND locked_by = ?"
SAVE_FREE = SAVE_SQL + " AND version = ? AND (locked_until IS NULL OR locked_until < ?)"
RELEASE_SQL = "UPDATE dialog_session SET locked_by = NULL, locked_until = NULL WHERE id = ? AND locked_by = ?"


class RowCache:
    """The last saved row per user in this process: a hint, always checked against the row's version."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[str, str], DialogSession] = OrderedDict()

    def get(self, channel: str, user_key: str) -> DialogSession | None:
        """Return the cached row, if any."""
        return self._rows.get((channel, user_key))

    def put(self, row: DialogSession) -> None:
        """Remember a row as saved; the caller hands it over (a step works on a copy: see DialogEngine.handle)."""
        key = (str(row.channel), row.user_key)
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def drop(self, channel: str, user_key: str) -> None:
        """Forget a user's row."""
        self._rows.pop((channel, user_key), None)


def _first_contact(channel: str, user_key: str, language: str, token: str | None, now: dt.datetime,
                   until: dt.datetime | None) -> Any:
    """Return the work (on the SQLite thread) that finds or creates the citizen and creates the session (leased to
    ``token`` until ``until``, or free when they are None)."""

    def run(db: sqlite3.Connection) -> tuple[int, int, bool]:
        known = db.execute("SELECT citizen_id FROM channel_identity WHERE channel = ? AND external_id = ?",
                           (channel, user_key)).fetchone()
        if known is not None:
            citizen_id = known[0]
        else:
            citizen_id = db.execute("INSERT INTO citizen (language, created_at) VALUES (?, ?)",
                                    (language, now)).lastrowid
            db.execute("INSERT INTO channel_identity (channel, external_id, created_at, citizen_id)"
                       " VALUES (?, ?, ?, ?)", (channel, user_key, now, citizen_id))
        session_id = db.execute(
            "INSERT INTO dialog_session (channel, user_key, flow, step, slots, language, locked_by, locked_until,"
            " version, created_at, updated_at, citizen_id) VALUES (?, ?, 'menu', 'start', '{}', ?, ?, ?, 1, ?, ?, ?)",
            (channel, user_key, language, token, until, now, now, citizen_id)).lastrowid
        return citizen_id, session_id, known is None

    return run


def _created(made: tuple[int, int, bool], channel: str, user_key: str, language: str, token: str | None,
             until: dt.datetime | None) -> DialogSession:
    """Return the row ``_first_contact`` just inserted (it is not read back: every value is known)."""
    citizen_id, session_id, new_identity = made
    row = DialogSession(
        id=session_id, channel=Channel(channel), user_key=user_key, citizen_id=citizen_id, language=language,
        flow="menu", step="start", slots={}, last_inbound_key=None, locked_by=token, locked_until=until,
        version=1, expires_at=None,
    )
    row.new_identity = new_identity  # type: ignore[attr-defined]  # nobody can have sent this address anything
    return row


async def _create_with_orm(channel: str, user_key: str, language: str, token: str | None,
                           until: dt.datetime | None) -> DialogSession:
    """Create a first-contact session (and its citizen) through the ORM, leased to ``token`` until ``until``."""
    citizen_id, new_identity = await citizen_for(channel, user_key, language)
    row = await DialogSession.create(
        channel=Channel(channel), user_key=user_key, citizen_id=citizen_id, language=language,
        flow="menu", step="start", slots={}, locked_by=token, locked_until=until,
    )
    row.new_identity = new_identity  # type: ignore[attr-defined]  # see _created
    return row


TAKE_ROW_SQL = TAKE_SQL + " RETURNING *"  # the taken row comes back with the update
HELD = object()  # the session exists and another holder has its lease


def _take_or_create(channel: str, user_key: str, language: str, token: str, now: dt.datetime,
                    until: dt.datetime) -> Any:
    """Return the work (on the SQLite thread) that takes the free lease, or creates the session on first contact.

    Its result: ("taken", the row's columns), ("created", what ``_first_contact`` returns) or ("held", None).
    """
    create = _first_contact(channel, user_key, language, token, now, until)

    def run(db: sqlite3.Connection) -> tuple[str, Any]:
        taken = db.execute(TAKE_ROW_SQL, (token, until, channel, user_key, now)).fetchone()
        if taken is not None:
            return "taken", dict(taken)
        if db.execute("SELECT 1 FROM dialog_session WHERE channel = ? AND user_key = ?",
                      (channel, user_key)).fetchone():
            return "held", None
        return "created", create(db)

    return run


async def _attempt(channel: str, user_key: str, token: str, now: dt.datetime, lease: dt.timedelta,
                   language: str) -> DialogSession | object | None:
    """Try once: the taken or created row, HELD, or None when the attempt should simply be made again."""

    async def with_orm() -> DialogSession | object | None:
        # One statement in the common case: the row exists and nobody holds it (and comes back with the update).
        _, taken = await batch.execute(TAKE_ROW_SQL, [token, now + lease, channel, user_key, now], fetch=True)
        if taken:
            return DialogSession._init_from_db(**taken[0])
        if await DialogSession.exists(channel=channel, user_key=user_key):
            return HELD
        return await _create_with_orm(channel, user_key, language, token, now + lease)

    try:  # on SQLite one trip to the database thread, whichever of the three it turns out to be
        done = await batch.unit(_take_or_create(channel, user_key, language, token, now, now + lease), with_orm)
    except IntegrityError:
        return None  # another process created it between our look and our insert: look again
    if not isinstance(done, tuple):
        return done
    outcome, value = done
    if outcome == "taken":
        return DialogSession._init_from_db(**value)
    if outcome == "created":
        return _created(value, channel, user_key, language, token, now + lease)
    return HELD


async def take(
    channel: str, user_key: str, token: str, clock: Any, lease: dt.timedelta, wait: float, language: str,
) -> DialogSession | None:
    """Take the user's lease (creating the session on first contact), waiting up to ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.005
    while True:
        row = await _attempt(channel, user_key, token, _utc(clock()), lease, language)
        if isinstance(row, DialogSession):
            if row.citizen_id is None:  # a session from before citizens were recorded
                row.citizen_id, _ = await citizen_for(channel, user_key, language)
                await DialogSession.filter(id=row.id).update(citizen_id=row.citizen_id)
            return row
        if row is None:
            continue  # created meanwhile by someone else: take it as usual
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


PEEK_SQL = ("SELECT flow, step, slots, language, citizen_id, expires_at FROM dialog_session"
            " WHERE channel = ? AND user_key = ?")


def _peek_or_create(channel: str, user_key: str, language: str, now: dt.datetime) -> Any:
    """Return the work (on the SQLite thread) that reads the session, or creates it unleased on first contact."""
    create = _first_contact(channel, user_key, language, None, now, None)

    def run(db: sqlite3.Connection) -> tuple[str, Any]:
        found = db.execute(PEEK_SQL, (channel, user_key)).fetchone()
        return ("found", dict(found)) if found is not None else ("created", create(db))

    return run


async def peek_or_create(channel: str, user_key: str, language: str,
                         now: dt.datetime) -> tuple[DialogSession, bool] | None:
    """Read the session without its lease, or create it (unleased, at the menu) on first contact: one trip.

    Return the row and whether it was created now; None if another process created it meanwhile.
    """
    now = _utc(now)

    async def with_orm() -> tuple[str, Any]:
        found = await peek(channel, user_key)
        if found is not None:
            return "found", found
        return "created", await _create_with_orm(channel, user_key, language, None, None)

    try:
        outcome, value = await batch.unit(_peek_or_create(channel, user_key, language, now), with_orm)
    except IntegrityError:
        return None
    if isinstance(value, DialogSession):
        return value, outcome == "created"
    if outcome == "created":
        return _created(value, channel, user_key, language, None, None), True
    return _peeked(channel, user_key, value), False


async def peek(channel: str, user_key: str) -> DialogSession | None:
    """Read a user's session without taking its lease (flow, step, slots, language, citizen and expiry only)."""
    _, found = await batch.execute(PEEK_SQL, [channel, user_key], fetch=True)
    if not found:
        return None
    return _peeked(channel, user_key, found[0])


def _peeked(channel: str, user_key: str, r: dict[str, Any]) -> DialogSession:
    """Return the partial row ``PEEK_SQL`` read."""
    slots, expires = r["slots"], r["expires_at"]
    return DialogSession(
        channel=Channel(channel), user_key=user_key, flow=r["flow"], step=r["step"], language=r["language"],
        citizen_id=r["citizen_id"], slots=json.loads(slots) if isinstance(slots, str | bytes) else slots or {},
        expires_at=dt.datetime.fromisoformat(expires) if isinstance(expires, str) else expires,
    )


def _state(session: DialogSession, flow: str, step: str, slots: dict[str, Any], language: str,
           inbound_key: str | None, expires_at: dt.datetime | None, now: dt.datetime) -> list[Any]:
    return [flow, step, jsontext.dumps(slots), language, inbound_key,
            None if expires_at is None else _utc(expires_at), session.version + 1, _utc(now), session.id]


def save_statement(
    session: DialogSession, token: str | None, *, flow: str, step: str, slots: dict[str, Any], language: str,
    inbound_key: str | None, expires_at: dt.datetime | None, now: dt.datetime | None = None,
) -> tuple[str, list[Any]]:
    """Return the statement that writes the new state and releases the lease, only if this holder still has it.

    It changes one row, or none when the holder lost the session. Without a token (a step run on this process's
    cached row, no lease taken) it is a compare-and-set: only if nobody saved since (same version) and nobody
    holds the lease now.
    """
    moment = _utc(now or dt.datetime.now(dt.UTC))
    values = _state(session, flow, step, slots, language, inbound_key, expires_at, moment)
    if token is None:
        return SAVE_FREE, [*values, session.version, moment]
    return SAVE_HELD, [*values, token]


async def release(session: DialogSession, token: str | None) -> None:
    """Give the lease back without changing the state (nothing to give back without a token)."""
    if token is not None:
        await batch.execute(RELEASE_SQL, [session.id, token])
