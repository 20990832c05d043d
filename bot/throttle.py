"""Per-key sliding-window limits: flood limits of the chat channels, in memory and, for a busy sender, shared."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict, deque

from storage import batch
from storage.cases import utcnow

#: A sender's rows of a flood job: keys from the sender's prefix up to a last key that starts with it. The key range
#: finds them through the (job, key) index (SQLite cannot use it for LIKE); substr then keeps the sender's own, since
#: under a collation that ignores punctuation (PostgreSQL's en_US, ICU) another sender's key can sort inside the range.
SHARED_SQL = ("SELECT COUNT(*) AS n FROM job_run WHERE job = ? AND key >= ? AND key <= ? AND substr(key, 1, ?) = ?"
              " AND created_at >= ?")


class Throttle:
    """At most ``limit`` messages per ``window`` seconds per chat; the first refusal in a window is told.

    This object counts what this process sees; ``allowed`` adds the count of every process (a channel's
    job_run rows, one per message) once a chat has sent ``shared_after`` messages here within the window, so
    a chat whose messages are spread over P processes gets at most ``limit + P * (shared_after - 1)`` handled.
    """

    def __init__(self, limit: int = 20, window: float = 60.0, shared_after: int = 3) -> None:
        self.limit = limit
        self.window = window
        self.shared_after = shared_after
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._told: dict[str, float] = {}
        self._sweep_at = 10_000  # chats tracked before the quiet ones are forgotten

    def recent(self, chat: str) -> int:
        """Return how many of the chat's messages this process let through within the window."""
        return len(self._seen.get(chat, ()))

    def allow(self, chat: str, now: float | None = None) -> bool:
        """Count one message; return whether it may be handled."""
        now = time.monotonic() if now is None else now
        if len(self._seen) > self._sweep_at:  # forget chats quiet for a whole window
            for quiet in [c for c, s in self._seen.items() if not s or now - s[-1] >= self.window]:
                del self._seen[quiet]
                self._told.pop(quiet, None)
            # With more chats than that all active, sweep again only once their number doubled, so a busy
            # process does not scan every chat on every message.
            self._sweep_at = max(10_000, 2 * len(self._seen))
        seen = self._seen[chat]
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True

    async def allowed(self, chat: str, job: str, prefix: str, last: str) -> bool:
        """Count one message; tell whether it may be handled: this process's count first, then, for a busy
        chat, every process's rows of ``job`` from ``prefix`` up to ``last`` written within the window."""
        if not self.allow(chat):
            return False  # this process alone has seen too many
        return await self.allowed_everywhere(chat, job, prefix, last)

    async def allowed_everywhere(self, chat: str, job: str, prefix: str, last: str) -> bool:
        """Tell whether a message ``allow`` let through is within the limit of every process's rows (busy chats only).

        Only a chat that sent ``shared_after`` here within the window is counted in the database; a quiet one is not.
        """
        if self.recent(chat) < self.shared_after:
            return True
        return await shared_count(job, prefix, last, self.window) <= self.limit

    def should_tell(self, chat: str, now: float | None = None) -> bool:
        """Return True once per window for a throttled chat: the moment to send the polite notice."""
        now = time.monotonic() if now is None else now
        if now - self._told.get(chat, -1e18) < self.window:
            return False
        self._told[chat] = now
        return True


async def shared_count(job: str, prefix: str, last: str, window: float) -> int:
    """Count the rows of ``job`` keyed from ``prefix`` up to ``last`` that any process wrote within ``window`` s."""
    since = utcnow() - dt.timedelta(seconds=window)
    rows = await batch.read(SHARED_SQL, [job, prefix, last, len(prefix), prefix, since])
    return int(rows[0]["n"])
