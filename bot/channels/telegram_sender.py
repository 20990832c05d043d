"""Send Telegram outbox rows: status changes and rating requests, with retries, backoff and dead letters."""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable

from telegram import Bot as TelegramBot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from storage import outbox
from storage.cases import utcnow
from storage.models import Channel, Notification, NotificationStatus

from .. import notifier
from . import telegram_wire as wire
from .telegram_http import call, retry_seconds
from .telegram_inbox import is_blocked, mark_blocked, remember_choices

log = logging.getLogger("appeals.telegram")


def unreachable(error: TelegramError) -> bool:
    """Tell whether an error means the chat can never be written to (blocked, deactivated, deleted)."""
    return isinstance(error, Forbidden) or (isinstance(error, BadRequest) and "chat not found" in str(error).lower())


class TelegramSender:
    """Claims Channel.TELEGRAM outbox rows and sends them through the Bot API."""

    def __init__(self, bot: TelegramBot, language: str = "zh-CN", clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.bot = bot
        self.language = language
        self.clock = clock
        self.worker = f"telegram-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.limit = outbox.rate_limit(Channel.TELEGRAM)  # per-channel pacing of sends

    async def _dead(self, row: Notification, reason: str) -> None:
        """Give up on a row at once: the chat is gone, retrying cannot help."""
        await Notification.filter(id=row.id, claimed_by=row.claimed_by).update(
            status=NotificationStatus.DEAD, attempts=row.attempts + 1, last_error=reason[:2000],
            claimed_until=None, next_attempt_at=None)

    async def deliver(self, row: Notification, now: dt.datetime) -> str:
        """Send one claimed row and record the outcome: sent, retry, blocked or silent."""
        if row.template in notifier.SILENT:
            await outbox.mark_sent(row, now)
            return "silent"
        if not row.address.lstrip("-").isdigit():
            await self._dead(row, f"not a Telegram chat id: {row.address[:40]!r}")
            return "dead"
        if await is_blocked(row.address):
            await self._dead(row, "chat unreachable (blocked or deleted)")
            return "blocked"
        language = await notifier.language_for(row, self.language)
        messages = notifier.render_all(row, language)
        if long := wire.long_choices(messages):
            await remember_choices(long)
        already = int((row.params or {}).get(notifier.PARTS_SENT) or 0)  # of a long message, sent before a failure
        sent = already
        try:
            for chunk in [chunk for message in messages for chunk in wire.chunks(message, language)][already:]:
                await call(self.bot, "sendMessage", chunk.params(int(row.address)))
                sent += 1
        except TelegramError as exc:
            if sent > already:  # the next attempt goes on from the first part not sent
                await Notification.filter(id=row.id, claimed_by=row.claimed_by).update(
                    params={**(row.params or {}), notifier.PARTS_SENT: sent})
            return await self._failed(row, now, exc)
        await outbox.mark_sent(row, now)
        return "sent"

    async def _failed(self, row: Notification, now: dt.datetime, exc: TelegramError) -> str:
        """Record why a row was not sent: wait out a flood limit, give up on a lost chat, or try again later."""
        if isinstance(exc, RetryAfter):
            seconds = retry_seconds(exc)
            await Notification.filter(id=row.id, claimed_by=row.claimed_by).update(
                claimed_until=None, next_attempt_at=now + dt.timedelta(seconds=seconds))
            return "later"
        if unreachable(exc):
            await mark_blocked(row.address, str(exc))
            await self._dead(row, f"chat unreachable: {exc}")
            return "blocked"
        log.warning("telegram notification %s failed: %s", row.id, exc)
        await outbox.mark_failed(row, now, f"{type(exc).__name__}: {exc}")
        return "failed"

    async def drain_once(self) -> dict[str, int]:
        """Claim due rows once and send them; return counts by outcome."""
        return await outbox.drain(self.worker, self.clock(), [Channel.TELEGRAM], self.deliver, self.limit)

    async def run(self, interval: float = 1.0) -> None:
        """Drain the outbox until cancelled."""
        await outbox.run_periodically(self.drain_once, interval, "telegram sender")
