"""Telegram updates as rows: stored once by update_id, marked done, replayed after a crash; blocked chats."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict, deque
from typing import Any

from tortoise.exceptions import IntegrityError

from storage.cases import utcnow
from storage.models import JobRun

UPDATES = "telegram"  # JobRun.job of a received update; key "<bot id>:<update_id>"
BLOCKED = "telegram-blocked"  # JobRun.job of a chat that blocked the bot or was deleted; key: chat id
KEEP = dt.timedelta(hours=24)  # Telegram keeps undelivered updates 24 h; so do we


class Inbox:
    """Durable, deduplicated store of one bot's updates."""

    def __init__(self, bot_id: str) -> None:
        self.bot_id = bot_id

    def _key(self, update_id: int) -> str:
        return f"{self.bot_id}:{update_id}"

    async def accept(self, update_id: int, payload: dict[str, Any]) -> bool:
        """Store an update; return False if this update_id was stored before (a redelivery)."""
        try:
            await JobRun.create(job=UPDATES, key=self._key(update_id), data={"update": payload, "done": False})
        except IntegrityError:
            return False
        return True

    async def done(self, update_id: int, outcome: str = "handled") -> None:
        """Mark an update handled and drop its payload (the message text lives on in the dialog)."""
        await JobRun.filter(job=UPDATES, key=self._key(update_id)).update(data={"done": True, "outcome": outcome})

    async def pending(self) -> list[dict[str, Any]]:
        """Return stored updates that were never marked done (a crash in between), oldest first."""
        rows = await JobRun.filter(job=UPDATES, key__startswith=f"{self.bot_id}:",
                                   created_at__gte=utcnow() - KEEP).order_by("id")
        return [r.data["update"] for r in rows if not r.data.get("done") and "update" in r.data]

    async def outcomes(self) -> dict[str, int]:
        """Count stored updates by outcome (handled, throttled, pending)."""
        counts: dict[str, int] = defaultdict(int)
        for row in await JobRun.filter(job=UPDATES, key__startswith=f"{self.bot_id}:"):
            counts[row.data.get("outcome", "pending") if row.data.get("done") else "pending"] += 1
        return dict(counts)


async def mark_blocked(chat_id: str, reason: str) -> None:
    """Record that a chat cannot be written to (bot blocked, chat deleted)."""
    try:
        await JobRun.create(job=BLOCKED, key=chat_id[:96], data={"reason": reason[:500]})
    except IntegrityError:
        pass


async def is_blocked(chat_id: str) -> bool:
    """Tell whether a chat was recorded as unreachable."""
    return await JobRun.exists(job=BLOCKED, key=chat_id[:96])


async def unblock(chat_id: str) -> None:
    """Forget a block: the citizen wrote to the bot again."""
    await JobRun.filter(job=BLOCKED, key=chat_id[:96]).delete()


class Throttle:
    """At most ``limit`` messages per ``window`` seconds per chat; the first refusal in a window is told."""

    def __init__(self, limit: int = 20, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._told: dict[str, float] = {}

    def allow(self, chat: str, now: float | None = None) -> bool:
        """Count one message; return whether it may be handled."""
        now = time.monotonic() if now is None else now
        if len(self._seen) > 10_000:  # forget chats quiet for a whole window
            for quiet in [c for c, s in self._seen.items() if not s or now - s[-1] >= self.window]:
                del self._seen[quiet]
                self._told.pop(quiet, None)
        seen = self._seen[chat]
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True

    def should_tell(self, chat: str, now: float | None = None) -> bool:
        """Return True once per window for a throttled chat: the moment to send the polite notice."""
        now = time.monotonic() if now is None else now
        if now - self._told.get(chat, -1e18) < self.window:
            return False
        self._told[chat] = now
        return True
