"""Per-key sliding-window limits kept in memory: flood limits of the chat channels."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class Throttle:
    """At most ``limit`` messages per ``window`` seconds per chat; the first refusal in a window is told.

    This object counts what this process sees; ``TelegramChannel`` adds the count of every process (the
    ``telegram-chat`` rows) once a chat has sent ``shared_after`` messages here within the window, so a
    chat whose updates are spread over P processes gets at most ``limit + P * (shared_after - 1)`` handled.
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

    def should_tell(self, chat: str, now: float | None = None) -> bool:
        """Return True once per window for a throttled chat: the moment to send the polite notice."""
        now = time.monotonic() if now is None else now
        if now - self._told.get(chat, -1e18) < self.window:
            return False
        self._told[chat] = now
        return True
