"""Telegram updates as rows: stored once by update_id, marked done, replayed after a crash; blocked chats."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import sqlite3
import time
from collections import defaultdict
from typing import Any

from tortoise.connection import get_connection
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from storage import batch, jsontext
from storage.cases import utcnow
from storage.models import DialogSession, JobRun

from ..dialog.flow import Receipt
from .telegram_wire import CHANNEL, chat_of

UPDATES = "telegram"  # JobRun.job of a received update; key "<bot id>:<update_id>"
BLOCKED = "telegram-blocked"  # JobRun.job of a chat that blocked the bot or was deleted; key: chat id
CHATS = "telegram-chat"  # JobRun.job of an update by chat, for the shared throttle; key "<bot>:<chat>:<update_id>"
TOLD = "telegram-told"  # JobRun.job of a slow-down notice sent; key "<bot>:<chat>"
CHOICES = "telegram-choice"  # JobRun.job of a button whose choice is too long for callback_data; key: its token
KEEP_CHOICES = dt.timedelta(days=7)  # a button pressed later than this is asked again
TAKEN = "telegram-taken"  # JobRun.job of an update handled late (a replay, or held long): key "<bot>:<update_id>"
KEEP = dt.timedelta(hours=24)  # Telegram keeps undelivered updates 24 h; so do we
KEEP_CHATS = dt.timedelta(minutes=10)  # longer than any throttle window
BATCH = 500  # rows per group commit
HANDLED = jsontext.dumps({"done": True, "outcome": "handled"})
INSERT_SQL = "INSERT INTO job_run (job, key, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (job, key) DO NOTHING"

log = logging.getLogger("appeals.telegram")


class Inbox:
    """Durable, deduplicated store of one bot's updates."""

    def __init__(self, bot_id: str) -> None:
        self.bot_id = bot_id

    def _key(self, update_id: int) -> str:
        return f"{self.bot_id}:{update_id}"

    def _chat_prefix(self, chat_id: int | str) -> str:
        return f"{self.bot_id}:{chat_id}:"

    def _count_key(self, chat_id: int | str, update_id: int) -> str:
        """Return the key of a chat's update in the shared flood count (zero-padded: keys sort as update ids)."""
        return f"{self._chat_prefix(chat_id)}{update_id:015d}"

    def _chat_key(self, update_id: int, payload: dict[str, Any]) -> str | None:
        """Return the key of an update's row for the shared throttle; None for an update of no chat."""
        chat = chat_of(payload)
        return None if chat is None else self._count_key(chat["id"], update_id)

    def _chat_row(self, update_id: int, payload: dict[str, Any]) -> JobRun | None:
        key = self._chat_key(update_id, payload)
        return None if key is None else JobRun(job=CHATS, key=key)

    async def accept(self, update_id: int, payload: dict[str, Any]) -> bool:
        """Store an update; return False if this update_id was stored before (a redelivery)."""
        chat_row = self._chat_row(update_id, payload)
        try:
            async with in_transaction():
                await JobRun.create(job=UPDATES, key=self._key(update_id), data={"update": payload, "done": False})
                if chat_row is not None:
                    await chat_row.save()
        except IntegrityError:
            return False
        return True

    def receipt(self, update_id: int) -> Receipt:
        """Return the update's row, already marked handled, to commit with the dialog step it causes (one process)."""
        return Receipt(INSERT_SQL, [UPDATES, self._key(update_id), HANDLED, utcnow()])

    def flood_range(self, chat_id: int | str, update_id: int) -> tuple[str, str, str]:
        """Return the job, key prefix and last key of the chat's updates up to this one (see Throttle.allowed)."""
        return CHATS, self._chat_prefix(chat_id), self._count_key(chat_id, update_id)

    async def uncount(self, chat_id: int | str, update_id: int) -> None:
        """Take a refused update out of the chat's shared flood count (only handled updates count)."""
        await JobRun.filter(job=CHATS, key=self._count_key(chat_id, update_id)).delete()

    async def tell_once(self, chat_id: int | str, window: float) -> bool:
        """Return True for one caller per chat and ``window`` seconds, whichever process asks."""
        key = f"{self.bot_id}:{chat_id}"[:96]
        await JobRun.filter(job=TOLD, key=key, created_at__lt=utcnow() - dt.timedelta(seconds=window)).delete()
        try:
            await JobRun.create(job=TOLD, key=key)
        except IntegrityError:
            return False
        return True

    async def unfinished_before(self, chat_id: int | str, update_id: int) -> list[int]:
        """Return this chat's update_ids stored before ``update_id`` and not marked done (the latest 50 of ten minutes).

        Those are being handled, by this or another process, or were left by a dead one. On SQLite one trip to the
        database thread (both reads in it); on PostgreSQL two reads.
        """
        job, prefix, mine = self.flood_range(chat_id, update_id)
        # The key range finds the rows through the (job, key) index; substr keeps this chat's own, since under a
        # collation that ignores punctuation another chat's keys can sort inside the range (see bot/throttle.py).
        chats_sql = ("SELECT key FROM job_run WHERE job = ? AND key > ? AND key < ? AND substr(key, 1, ?) = ?"
                     " ORDER BY key DESC LIMIT 50")
        values = [job, prefix, mine, len(prefix), prefix]

        def ids(keys: list[str]) -> list[int]:
            return [int(key[len(prefix):]) for key in keys]

        def run(db: sqlite3.Connection) -> list[int]:
            earlier = ids([r[0] for r in db.execute(chats_sql, values)])
            return self._unfinished(earlier, [tuple(r) for r in db.execute(self._done_sql(len(earlier)), [
                UPDATES, *map(self._key, earlier)])] if earlier else [])

        async def with_orm() -> list[int]:
            earlier = ids([r["key"] for r in await batch.read(chats_sql, values)])
            if not earlier:
                return []
            rows = await batch.read(self._done_sql(len(earlier)), [UPDATES, *map(self._key, earlier)])
            return self._unfinished(earlier, [(r["key"], r["data"]) for r in rows])

        return await batch.unit(run, with_orm)

    async def take(self, update_id: int, stale: dt.timedelta, slot: str, instance: str) -> bool:
        """Take an update to handle it late (a replay, or one a worker held long); False while another holds it.

        Worker 0 replays what stays unfinished; the worker that stored it may still be about to handle it. Whichever
        takes it first handles it, the other leaves it, so the citizen is answered once. ``slot`` names the worker
        (host and index: one process at a time) and ``instance`` this start of it. A take older than ``stale``, or
        one by an earlier instance of the same slot, was a process's that died with it: it is taken over.
        """
        key, mine = self._key(update_id), {"slot": slot, "instance": instance}
        try:
            await JobRun.create(job=TAKEN, key=key, data=mine)
            return True
        except IntegrityError:
            pass
        row = await JobRun.filter(job=TAKEN, key=key).first()
        if row is None:
            return False  # let go meanwhile: the next pass tries again
        held = row.data if isinstance(row.data, dict) else {}
        dead = row.created_at < utcnow() - stale or (held.get("slot") == slot and held.get("instance") != instance)
        return dead and await JobRun.filter(id=row.id, created_at=row.created_at).update(
            created_at=utcnow(), data=mine) == 1

    async def finished(self, update_id: int) -> bool:
        """Tell whether an update is marked done (or no longer stored)."""
        data = await JobRun.filter(job=UPDATES, key=self._key(update_id)).first().values_list("data", flat=True)
        fields = json.loads(data) if isinstance(data, str | bytes) else data
        return not isinstance(fields, dict) or bool(fields.get("done"))

    async def mark_failed(self, update_id: int, payload: dict[str, Any]) -> None:
        """Note a failed update (the citizen was told): its chat's next ones need not wait; it stays to be replayed."""
        data = jsontext.dumps({"update": payload, "done": False, "failed": True})
        await batch.execute("UPDATE job_run SET data = ? WHERE job = ? AND key = ?",
                            [data, UPDATES, self._key(update_id)])

    @staticmethod
    def _done_sql(n: int) -> str:
        return f"SELECT key, data FROM job_run WHERE job = ? AND key IN ({', '.join('?' * n)})"

    def _unfinished(self, earlier: list[int], rows: list[tuple[Any, Any]]) -> list[int]:
        """Keep the update_ids whose stored row is neither marked done nor failed."""
        done = set()
        for key, data in rows:
            fields = json.loads(data) if isinstance(data, str | bytes) else data or {}
            if fields.get("done") or fields.get("failed"):
                done.add(key)
        return [update_id for update_id in earlier if self._key(update_id) not in done]

    async def forget_old(self) -> None:
        """Delete the throttle's rows older than any window, takes older than any handling, old long choices."""
        since = utcnow() - KEEP_CHATS
        await JobRun.filter(job__in=[CHATS, TOLD, TAKEN], created_at__lt=since).delete()
        await JobRun.filter(job=CHOICES, created_at__lt=utcnow() - KEEP_CHOICES).delete()

    async def accept_many(self, updates: list[tuple[int, dict[str, Any]]]) -> list[bool]:
        """Store several updates atomically; return, for each, whether it is new (the first of its id).

        On SQLite the inserts are one unit of the shared group commit (``storage.batch``): one trip to
        the database thread with the dialog's statements; on PostgreSQL one executemany.
        """
        stamp = utcnow()  # a datetime, written as the ORM writes created_at (Tortoise's sqlite3 adapter)
        rows = [(self._key(update_id), jsontext.dumps({"update": payload, "done": False}),
                 self._chat_key(update_id, payload)) for update_id, payload in updates]

        def run(db: sqlite3.Connection) -> list[bool]:
            fresh = []
            for key, data, chat_key in rows:
                new = db.execute(INSERT_SQL, (UPDATES, key, data, stamp)).rowcount == 1
                if new and chat_key is not None:
                    db.execute(INSERT_SQL, (CHATS, chat_key, "{}", stamp))
                fresh.append(new)
            return fresh

        return await batch.unit(run, lambda: self._accept_many_orm(updates))

    async def _accept_many_orm(self, updates: list[tuple[int, dict[str, Any]]]) -> list[bool]:
        """``accept_many`` through the ORM: one executemany; a batch holding a redelivery goes row by row."""
        keys = [self._key(update_id) for update_id, _ in updates]
        fresh: list[bool] = []
        seen: set[str] = set()
        rows: list[JobRun] = []
        for key, (update_id, payload) in zip(keys, updates, strict=True):
            fresh.append(key not in seen)
            if key not in seen:
                seen.add(key)
                rows.append(JobRun(job=UPDATES, key=key, data={"update": payload, "done": False}))
                chat_row = self._chat_row(update_id, payload)
                if chat_row is not None:
                    rows.append(chat_row)
        try:
            await JobRun.bulk_create(rows)  # one executemany: all rows or none (SQLite and asyncpg alike)
        except IntegrityError:  # a redelivery (or another process stored one meanwhile): row by row decides
            stored = {row.key: await self.accept(int(row.key.rsplit(":", 1)[1]), row.data["update"])
                      for row in rows if row.job == UPDATES}
            fresh = [was and stored.get(key, False) for was, key in zip(fresh, keys, strict=True)]
        return fresh

    async def done_many(self, outcomes: dict[int, str]) -> None:
        """Mark several updates handled and drop their payloads (the message text lives on in the dialog).

        One statement per outcome (group-committed on SQLite).
        """
        by_outcome: dict[str, list[str]] = defaultdict(list)
        for update_id, outcome in outcomes.items():
            by_outcome[outcome].append(self._key(update_id))
        for outcome, keys in by_outcome.items():
            data = jsontext.dumps({"done": True, "outcome": outcome})
            for start in range(0, len(keys), BATCH):
                chunk = keys[start:start + BATCH]
                marks = ", ".join("?" * len(chunk))
                await batch.execute(f"UPDATE job_run SET data = ? WHERE job = ? AND key IN ({marks})",
                                    [data, UPDATES, *chunk])

    async def pending(self, before: dt.datetime | None = None,
                      since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Return stored updates never marked done (a crash in between), oldest first; only those stored
        before ``before`` if given (younger ones may be in the hands of a running process), and since ``since``."""
        oldest = utcnow() - KEEP if since is None else max(since, utcnow() - KEEP)
        query = JobRun.filter(job=UPDATES, key__startswith=f"{self.bot_id}:", created_at__gte=oldest)
        if before is not None:
            query = query.filter(created_at__lt=before)
        rows = await query.order_by("id")
        return [r.data["update"] for r in rows if not r.data.get("done") and "update" in r.data]

    async def outcomes(self) -> dict[str, int]:
        """Count stored updates by outcome (handled, throttled, pending)."""
        counts: dict[str, int] = defaultdict(int)
        for row in await JobRun.filter(job=UPDATES, key__startswith=f"{self.bot_id}:"):
            counts[row.data.get("outcome", "pending") if row.data.get("done") else "pending"] += 1
        return dict(counts)


class GroupCommit:
    """Group commit of an inbox: concurrent accepts share one transaction, done marks are written in batches.

    ``accept`` returns only once its row is committed (the webhook answers 2xx after that). On SQLite
    each accept goes straight to the shared group commit (``storage.batch``), which already puts all
    concurrent writers in the next trip to the database thread; on PostgreSQL the accepts waiting
    meanwhile become one executemany. ``done`` returns at once; the marks follow in their own flush,
    which never holds up an accept (a crash before it replays those updates at the next start, where
    the dialog's last message key, ranked by update_id, makes each a no-op: see ``TelegramChannel.start``).
    """

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self._accepts: list[tuple[int, dict[str, Any], asyncio.Future[bool]]] = []
        self._dones: dict[int, str] = {}
        self._accepting: asyncio.Task[None] | None = None
        self._marking: asyncio.Task[None] | None = None
        self._cleaned = time.monotonic()

    async def accept(self, update_id: int, payload: dict[str, Any]) -> bool:
        """Store an update with whatever else is waiting; return False for a redelivery."""
        if get_connection("default").capabilities.dialect == "sqlite":
            return (await self.inbox.accept_many([(update_id, payload)]))[0]
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._accepts.append((update_id, payload, future))
        if self._accepting is None or self._accepting.done():
            self._accepting = asyncio.get_running_loop().create_task(self._flush_accepts(), name="telegram-inbox")
        return await future

    def done(self, update_id: int, outcome: str = "handled") -> None:
        """Queue the done mark of an update."""
        self._dones[update_id] = outcome
        if self._marking is None or self._marking.done():
            self._marking = asyncio.get_running_loop().create_task(self._flush_dones(), name="telegram-done")

    async def _flush_accepts(self) -> None:
        while self._accepts:
            batch, self._accepts = self._accepts[:BATCH], self._accepts[BATCH:]
            try:
                fresh = await self.inbox.accept_many([(update_id, payload) for update_id, payload, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiting webhook call answers 5xx
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), new in zip(batch, fresh, strict=True):
                if not future.done():
                    future.set_result(new)

    async def _flush_dones(self) -> None:
        while self._dones:
            dones, self._dones = self._dones, {}
            try:
                await self.inbox.done_many(dones)
            except Exception:  # noqa: BLE001 - left pending: replayed at the next start, a no-op for the dialog
                log.exception("telegram: marking %d updates done failed", len(dones))
            if time.monotonic() - self._cleaned > 60:
                self._cleaned = time.monotonic()
                try:
                    await self.inbox.forget_old()
                except Exception:  # noqa: BLE001 - tried again in a minute
                    log.exception("telegram: deleting old throttle rows failed")

    async def close(self) -> None:
        """Write what is queued."""
        for task in (self._accepting, self._marking):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._accepts:
            await self._flush_accepts()
        if self._dones:
            await self._flush_dones()


async def mark_blocked(chat_id: str, reason: str) -> None:
    """Record that a chat cannot be written to (bot blocked, chat deleted)."""
    try:
        await JobRun.create(job=BLOCKED, key=chat_id[:96], data={"reason": reason[:500]})
    except IntegrityError:
        pass


async def is_blocked(chat_id: str) -> bool:
    """Tell whether a chat was recorded as unreachable and has not written to the bot since.

    Any message proves the chat reachable again (the citizen unblocked the bot): its dialog was saved after the
    record, which is then forgotten.
    """
    row = await JobRun.filter(job=BLOCKED, key=chat_id[:96]).first()
    if row is None:
        return False
    if await DialogSession.filter(channel=CHANNEL, user_key=chat_id, updated_at__gt=row.created_at).exists():
        await unblock(chat_id)
        return False
    return True


async def unblock(chat_id: str) -> None:
    """Forget a block: the citizen wrote to the bot again."""
    await JobRun.filter(job=BLOCKED, key=chat_id[:96]).delete()


async def remember_choices(tokens: dict[str, str]) -> None:
    """Keep the choices behind buttons whose callback_data is a token (their choice is longer than Telegram keeps)."""
    for token, value in tokens.items():
        try:
            await JobRun.create(job=CHOICES, key=token, data={"value": value})
        except IntegrityError:
            await JobRun.filter(job=CHOICES, key=token).update(created_at=utcnow())  # offered again: kept longer


async def recall_choice(token: str) -> str:
    """Return the choice behind a button's token ("" once forgotten: the dialog asks again)."""
    data = await JobRun.filter(job=CHOICES, key=token[:96]).first().values_list("data", flat=True)
    fields = json.loads(data) if isinstance(data, str | bytes) else data
    return str(fields.get("value") or "") if isinstance(fields, dict) else ""
