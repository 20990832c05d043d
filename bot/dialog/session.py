"""Dialog sessions as rows: create, take a lease (compare-and-set), save and release."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import uuid
from collections import OrderedDict
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from storage.models import Channel, ChannelIdentity, Citizen, DialogSession


async def citizen_for(channel: str, external_id: str, language: str) -> int:
    """Return the citizen known as ``external_id`` on ``channel``, creating one on first contact."""
    identity = await ChannelIdentity.get_or_none(channel=channel, external_id=external_id)
    if identity is not None:
        return identity.citizen_id
    try:
        async with in_transaction():
            citizen = await Citizen.create(language=language)
            await ChannelIdentity.create(citizen=citizen, channel=Channel(channel), external_id=external_id)
            return citizen.id
    except IntegrityError:
        identity = await ChannelIdentity.get(channel=channel, external_id=external_id)
        return identity.citizen_id


async def load_or_create(channel: str, user_key: str, language: str) -> DialogSession:
    """Return the session row of a user, creating it (and the citizen) on first contact."""
    session = await DialogSession.get_or_none(channel=channel, user_key=user_key)
    if session is not None and session.citizen_id is not None:
        return session
    citizen_id = await citizen_for(channel, user_key, language)
    if session is not None:
        await DialogSession.filter(id=session.id).update(citizen_id=citizen_id)
        session.citizen_id = citizen_id
        return session
    try:
        return await DialogSession.create(
            channel=Channel(channel), user_key=user_key, citizen_id=citizen_id, language=language,
            flow="menu", step="start", slots={},
        )
    except IntegrityError:
        return await DialogSession.get(channel=channel, user_key=user_key)


def new_token() -> str:
    """Return a fresh lease token: unique per acquisition, so two holders never match."""
    return uuid.uuid4().hex


class RowCache:
    """The last saved row per user in this process: a hint, always checked against the row's version."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._rows: OrderedDict[tuple[str, str], DialogSession] = OrderedDict()

    def get(self, channel: str, user_key: str) -> DialogSession | None:
        """Return the cached row, if any."""
        return self._rows.get((channel, user_key))

    def put(self, row: DialogSession) -> None:
        """Remember a row as saved (its slots copied, so later edits do not leak in)."""
        key = (str(row.channel), row.user_key)
        row.slots = json.loads(json.dumps(row.slots))
        self._rows[key] = row
        self._rows.move_to_end(key)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def drop(self, channel: str, user_key: str) -> None:
        """Forget a user's row."""
        self._rows.pop((channel, user_key), None)


async def take(
    channel: str, user_key: str, token: str, clock: Any, lease: dt.timedelta, wait: float, language: str,
    cache: RowCache | None = None,
) -> DialogSession | None:
    """Take the user's lease (creating the session on first contact), waiting up to ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.005
    while True:
        now = clock()
        free = Q(locked_until__isnull=True) | Q(locked_until__lt=now)
        mine = Q(channel=channel, user_key=user_key)
        known = cache.get(channel, user_key) if cache else None
        if known is not None and known.citizen_id is not None:
            # The row is unchanged since this process saved it: the lease alone, no read.
            if await DialogSession.filter(mine & free & Q(version=known.version)).update(
                    locked_by=token, locked_until=now + lease) == 1:
                row = copy.copy(known)
                row.slots = json.loads(json.dumps(known.slots))
                return row
            cache.drop(channel, user_key)  # type: ignore[union-attr]
        # One statement in the common case: the row exists and nobody holds it.
        taken = await DialogSession.filter(mine & free).update(locked_by=token, locked_until=now + lease)
        if taken == 1:
            row = await DialogSession.get(channel=channel, user_key=user_key)
            if row.citizen_id is None:
                row.citizen_id = await citizen_for(channel, user_key, language)
                await DialogSession.filter(id=row.id).update(citizen_id=row.citizen_id)
            return row
        if not await DialogSession.exists(channel=channel, user_key=user_key):
            await load_or_create(channel, user_key, language)
            continue
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


async def save(
    session: DialogSession, token: str, *, flow: str, step: str, slots: dict[str, Any], language: str,
    inbound_key: str | None, expires_at: dt.datetime | None,
) -> bool:
    """Write the new state and release the lease, only if this holder still has it."""
    return await DialogSession.filter(id=session.id, locked_by=token).update(
        flow=flow, step=step, slots=slots, language=language, last_inbound_key=inbound_key, expires_at=expires_at,
        version=session.version + 1, locked_by=None, locked_until=None,
    ) == 1


async def release(session: DialogSession, token: str) -> None:
    """Give the lease back without changing the state."""
    await DialogSession.filter(id=session.id, locked_by=token).update(locked_by=None, locked_until=None)
