"""Drain the outbox to citizens: push to connected web-chat sockets, keep the rest for the next visit."""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

from storage import outbox
from storage.cases import utcnow
from storage.labels import label
from storage.lifecycle import CaseStatus
from storage.models import Channel, DialogSession, Notification

from .messages import Choice, Outbound
from .texts import TEXTS, t

log = logging.getLogger("appeals.notifier")

Send = Callable[[list[Outbound]], Awaitable[None]]
CHAT_REPLY = "chat_reply"  # a dialog's reply kept for a later try (params: its messages as Outbound JSON)
PARTS_SENT = "_parts_sent"  # params key: how many pieces of a message split for a channel's limit went out
SILENT = frozenset({"submit"})  # the dialog already told the citizen the number and code
OFFLINE_RETRY = dt.timedelta(seconds=30)


class _Params(dict):
    def __missing__(self, key: str) -> str:
        return ""


async def language_for(row: Notification, default: str) -> str:
    """Return the language the recipient's conversation is in (a citizen who switched to English reads English)."""
    found = await DialogSession.filter(channel=Channel(row.channel), user_key=row.address).first().values_list(
        "language", flat=True)
    return found if isinstance(found, str) and found else default


async def later(channel: str, address: str, replies: list[Outbound], parts_sent: int = 0) -> None:
    """Queue a dialog's reply that could not be sent now: its messages in one outbox row, so they stay in order.

    ``parts_sent``: how many pieces of the first message (split for a channel's length limit) went out already.
    """
    params: dict[str, object] = {"outbounds": [outbound.to_json() for outbound in replies]}
    if parts_sent:
        params[PARTS_SENT] = parts_sent
    await Notification.create(audience="citizen", channel=Channel(channel), address=address, template=CHAT_REPLY,
                              params=params)


def render_all(row: Notification, language: str = "zh-CN") -> list[Outbound]:
    """Turn an outbox row into its messages: a queued reply's, or the one a notification says."""
    if row.template == CHAT_REPLY:
        return [Outbound.from_json(o) for o in (row.params or {}).get("outbounds") or []]
    return [render(row, language)]


def render(row: Notification, language: str = "zh-CN") -> Outbound:
    """Turn an outbox row into a message in plain words (a queued reply: its first message)."""
    if row.template == CHAT_REPLY:
        return (render_all(row, language) or [Outbound("")])[0]
    params = _Params(row.params or {})
    status = params.get("status")
    if status in CaseStatus._value2member_map_:
        params["status"] = label(CaseStatus(status), language)
    if language == "en" and params.get("unit_en"):
        params["unit"] = params["unit_en"]
    key = f"notify.{row.template}" if f"notify.{row.template}" in TEXTS else "notify.other"
    zh, en = TEXTS[key]
    text = (en if language == "en" else zh).format_map(params)
    choices: tuple[Choice, ...] = ()
    if row.template in ("approve_reply", "rating_reminder") and row.case_id:
        choices = (Choice(f"go:evaluate:{row.case_id}", t("query.rate_it", language)),)
    return Outbound(text, choices, "choice" if choices else "text")


class Hub:
    """The sockets connected to this process, by channel address."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[Send]] = defaultdict(set)

    def add(self, address: str, send: Send) -> None:
        """Register a connected socket."""
        self._sockets[address].add(send)

    def remove(self, address: str, send: Send) -> None:
        """Forget a socket that closed."""
        senders = self._sockets.get(address)
        if senders is not None:
            senders.discard(send)
            if not senders:
                del self._sockets[address]

    def addresses(self) -> list[str]:
        """Return the addresses with a socket here."""
        return list(self._sockets)

    def connected(self, address: str) -> bool:
        """Tell whether the address has a socket here."""
        return address in self._sockets

    async def push(self, address: str, messages: list[Outbound]) -> bool:
        """Send to every socket of the address; return whether one took it."""
        delivered = False
        for send in list(self._sockets.get(address, ())):
            try:
                await send(messages)
                delivered = True
            except (ConnectionError, RuntimeError):
                self.remove(address, send)
        return delivered


class Notifier:
    """Pushes the outbox rows of the citizens connected to this process; the others' rows wait for their visit.

    Only rows whose address has a socket here are claimed: another process never takes (and bounces) a row
    of a citizen connected elsewhere, and the rows of citizens who are away are not touched until they
    come back (``deliver_pending``).
    """

    def __init__(self, hub: Hub, language: str = "zh-CN", clock: Callable[[], dt.datetime] = utcnow,
                 channels: Iterable[Channel] = (Channel.WEBCHAT,)) -> None:
        self.hub = hub
        self.language = language
        self.clock = clock
        self.channels = tuple(channels)
        self.worker = f"notifier-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def _deliver(self, row: Notification, send: Callable[[str, list[Outbound]], Awaitable[bool]]) -> bool:
        now = self.clock()
        if row.template in SILENT or await send(row.address, [render(row, await language_for(row, self.language))]):
            await outbox.mark_sent(row, now)
            return True
        return False

    async def drain_once(self) -> int:
        """Claim the due rows of the citizens connected here and push them; return how many were sent."""
        now = self.clock()
        sent = 0
        addresses = self.hub.addresses()
        for start in range(0, len(addresses), outbox.MAX_ADDRESSES):
            chunk = addresses[start:start + outbox.MAX_ADDRESSES]
            for row in await outbox.claim(self.worker, now, self.channels, addresses=chunk):
                if await self._deliver(row, self.hub.push):
                    sent += 1
                else:  # the socket closed meanwhile: the row waits for the next visit, or a later pass
                    await Notification.filter(id=row.id, claimed_by=self.worker).update(
                        claimed_by=None, claimed_until=None, next_attempt_at=now + OFFLINE_RETRY)
        return sent

    async def deliver_pending(self, address: str, send: Send) -> int:
        """Give a citizen who just connected what arrived while away; return how many."""
        async def direct(_address: str, messages: list[Outbound]) -> bool:
            await send(messages)
            return True

        now = self.clock()
        count = 0
        for row in await outbox.claim(self.worker, now, self.channels, addresses=[address], now_or_later=True):
            if await self._deliver(row, direct):
                count += 1
        return count

    async def run(self, interval: float = 1.0) -> None:
        """Drain the outbox until cancelled."""
        await outbox.run_periodically(self.drain_once, interval, "notifier")
