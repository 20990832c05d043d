"""POST webhook outbox rows (status changes, rating requests) to each peer's callback URL, signed, with retries."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Callable

import aiohttp

from storage import outbox
from storage.cases import utcnow
from storage.models import Channel, Notification, NotificationStatus, WebhookPeer

from .. import notifier
from .credentials import signature

log = logging.getLogger("appeals.webhook")
TIMEOUT = aiohttp.ClientTimeout(total=10)


class WebhookSender:
    """Claims Channel.WEBHOOK outbox rows and POSTs them to the peer's callback URL."""

    def __init__(self, language: str = "zh-CN", clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.language = language
        self.clock = clock
        self.worker = f"webhook-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.limit = outbox.rate_limit(Channel.WEBHOOK)  # per-channel pacing of sends
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _dead(self, row: Notification, reason: str) -> None:
        await Notification.filter(id=row.id, claimed_by=row.claimed_by).update(
            status=NotificationStatus.DEAD, attempts=row.attempts + 1, last_error=reason, claimed_until=None)

    async def deliver(self, row: Notification, now: dt.datetime) -> str:
        """POST one claimed row; record sent, failed (retried with backoff) or dead."""
        if row.template in notifier.SILENT:
            await outbox.mark_sent(row, now)
            return "silent"
        name, _, user = row.address.partition(":")
        peer = await WebhookPeer.get_or_none(name=name, active=True)
        if peer is None or not peer.callback_url:
            await self._dead(row, "peer unknown, inactive or without a callback URL")
            return "dead"
        message = notifier.render(row, await notifier.language_for(row, self.language))
        body = json.dumps({"type": "notice", "id": f"n{row.id}", "user": user, "messages": [message.to_json()]},
                          ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Appeals-Timestamp": stamp,
                   "X-Appeals-Signature": signature(peer.secret, stamp, body)}
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=TIMEOUT)
        try:
            async with self._http.post(peer.callback_url, data=body, headers=headers, allow_redirects=False) as reply:
                if reply.status >= 300:
                    raise aiohttp.ClientError(f"HTTP {reply.status} from the callback URL")
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("webhook notification %s to %s failed: %s", row.id, peer.name, exc)
            await outbox.mark_failed(row, now, f"{type(exc).__name__}: {exc}")
            return "failed"
        await outbox.mark_sent(row, now)
        return "sent"

    async def drain_once(self) -> dict[str, int]:
        """Claim due rows once and POST them; return counts by outcome."""
        return await outbox.drain(self.worker, self.clock(), [Channel.WEBHOOK], self.deliver, self.limit)

    async def run(self, interval: float = 1.0) -> None:
        """Drain the outbox until cancelled."""
        await outbox.run_periodically(self.drain_once, interval, "webhook sender")
