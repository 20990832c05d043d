"""Telegram (python-telegram-bot v22): updates in, the engine's replies out; polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import socket
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from telegram import Bot as TelegramBot
from telegram import Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from storage import jsontext
from storage.cases import utcnow
from storage.keys import secret_key
from storage.models import DialogSession
from storage.settings import Settings

from .. import notifier, uploads
from ..dialog.flow import AlreadyRecorded, Receipt
from ..messages import Inbound, Outbound
from ..runtime import Bot
from ..texts import t
from ..throttle import Throttle
from . import telegram_wire as wire
from .telegram_http import AiohttpRequest, call, retry_seconds
from .telegram_inbox import GroupCommit, Inbox, mark_blocked, recall_choice, remember_choices, unblock
from .telegram_sender import TelegramSender, unreachable

log = logging.getLogger("appeals.telegram")

WEBHOOK_PATH = "/channels/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]
SEND_TRIES = 3
RETRY_PAUSE = 0.5  # seconds before a reply that failed in transit is sent again (then twice that)
ANSWER_WAIT = 2.0  # seconds a webhook call waits to carry its update's last reply; later ones go as requests
GIVEN_KEPT = 10_000  # answers kept for a redelivery (Telegram redelivers within minutes)
MAX_CONNECTIONS = 100  # webhook connections Telegram may open at once (its most): each is held while its step runs


def file_base_url(api_base: str) -> str:
    """Return the file-download base URL of a Bot API base URL (``…/bot`` → ``…/file/bot``)."""
    head, _, tail = api_base.rstrip("/").rpartition("/")
    return f"{head}/file/{tail}"


async def send(bot: TelegramBot, chat_id: int | str, replies: list[Outbound], language: str) -> None:
    """Send replies as Bot API messages (split, with keyboards), waiting out flood limits."""
    await send_chunks(bot, chat_id, [chunk for outbound in replies for chunk in wire.chunks(outbound, language)])


async def send_chunks(bot: TelegramBot, chat_id: int | str, chunks: list[wire.Chunk]) -> None:
    """Send messages one after another, waiting out flood limits and trying a failed one again (network, 5xx)."""
    for chunk in chunks:
        for attempt in range(SEND_TRIES):
            try:
                await call(bot, "sendMessage", chunk.params(chat_id))
                break
            except RetryAfter as exc:
                if attempt == SEND_TRIES - 1:
                    raise
                await asyncio.sleep(retry_seconds(exc))
            except NetworkError as exc:  # a timeout, a dropped connection, Telegram's 5xx; not a refusal
                if isinstance(exc, BadRequest) or attempt == SEND_TRIES - 1:
                    raise
                await asyncio.sleep(RETRY_PAUSE * 2 ** attempt)


def _answer(method: dict[str, Any] | None) -> web.Response:
    """Answer a webhook call: 2xx, with a Bot API method for Telegram to carry out if there is one."""
    return web.Response(body=jsontext.dumps_bytes(method if method is not None else {"ok": True}),
                        content_type="application/json")


class TelegramChannel:
    """One bot: a PTB Application whose single handler translates and calls the dialog engine."""

    def __init__(self, settings: Settings, bot: Bot, *, upload_dir: Path, webhook: bool | None = None,
                 throttle: Throttle | None = None, concurrency: int = 64, notify_interval: float = 1.0,
                 primary: bool = True, ordered: bool | None = None, slot: str = "",
                 answer_wait: float = ANSWER_WAIT) -> None:
        token = settings.telegram_bot_token
        if not token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        self.bot = bot
        self.language = bot.language
        self.upload_dir = upload_dir
        self.webhook_url = f"{settings.public_url.rstrip('/')}{WEBHOOK_PATH}" if settings.public_url else None
        self.webhook = bool(self.webhook_url) if webhook is None else webhook
        self.secret = hmac.new(secret_key(settings), b"telegram-webhook", hashlib.sha256).hexdigest()
        self.inbox = Inbox(token.split(":", 1)[0])
        self.throttle = throttle or Throttle()
        self.primary = primary  # the one process of several that polls, registers the webhook and sends the outbox
        # Whether one chat's webhook calls may reach several processes (several workers, or, on PostgreSQL, several
        # machines): then an update waits while an earlier one of its chat is stored by another and not yet handled.
        self.ordered = (settings.workers > 1 or not settings.is_sqlite) if ordered is None else ordered
        self._here: dict[int, set[int]] = {}  # chat → its stored updates this process has taken and not finished
        self.notify_interval = notify_interval
        self.commits = GroupCommit(self.inbox)
        builder = (Application.builder().token(token).base_url(settings.telegram_api_base_url)
                   .base_file_url(file_base_url(settings.telegram_api_base_url)).concurrent_updates(concurrency)
                   .request(AiohttpRequest()).get_updates_request(AiohttpRequest(pool=1)))
        if self.webhook:
            builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.sender = TelegramSender(self.application.bot, self.language)
        self._slots = asyncio.Semaphore(concurrency)  # stored updates handled at once, across chats
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.lease: dt.timedelta = getattr(bot.engine, "lease", dt.timedelta(seconds=30))  # replay what none holds
        # Webhook calls waiting for their update's last reply, to answer with it (see ``receive``).
        self._answers: dict[int, asyncio.Future[dict[str, Any] | None]] = {}
        self.answer_wait = answer_wait
        self._given: dict[int, dict[str, Any]] = {}  # the latest answers given, by update_id, for redeliveries
        self._receipts: dict[int, Receipt] = {}  # the updates being handled that came with theirs (one process)
        self._storing: dict[int, asyncio.Future[bool]] = {}  # an update being stored on its own (see _record)
        self._replayed: set[int] = set()  # update_ids this process replayed since its start
        self._held_elsewhere: dict[int, dict[str, Any]] = {}  # replays another process had taken: tried each pass
        # Which worker this is (host and index: one process at a time), and which start of it: an earlier start's
        # takes are a dead process's.
        self.instance = secrets.token_hex(6)
        self.slot = slot or f"{socket.gethostname()}:{self.instance}"  # no slot given: never another's successor

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect to the Bot API, register the webhook or start polling, replay unfinished updates."""
        await self.application.initialize()
        await self.application.start()
        self._stopping = False
        started = utcnow()
        if not self.primary:
            return  # a sibling worker: it handles the webhook calls it receives; worker 0 does the rest
        await self._replay(started - self.lease)  # each chat's replays queue before any new update of it
        await self._set_commands()
        if self.webhook:
            if self.webhook_url:
                await self.application.bot.set_webhook(self.webhook_url, secret_token=self.secret,
                                                       allowed_updates=ALLOWED_UPDATES,
                                                       max_connections=MAX_CONNECTIONS)
        else:
            await self.application.bot.delete_webhook()
            assert self.application.updater is not None
            await self.application.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=10)
        self._tasks.append(asyncio.create_task(self.sender.run(self.notify_interval), name="telegram-sender"))
        self._tasks.append(asyncio.create_task(self._replay_later(started), name="telegram-replay"))

    async def _set_commands(self) -> None:
        """Show the commands in Telegram's menu: in Chinese, and in English for citizens whose app is in English."""
        for language, code in (("zh-CN", None), ("en", "en")):
            commands = [{"command": name, "description": t(f"telegram.cmd.{name}", language)}
                        for name in ("start", "my", "help", "cancel")]
            try:
                await call(self.application.bot, "setMyCommands",
                           {"commands": commands, **({"language_code": code} if code else {})})
            except TelegramError as exc:  # the bot works without the menu
                log.warning("telegram: setting the command menu failed: %s", exc)

    async def _replay(self, before: dt.datetime, since: dt.datetime | None = None) -> None:
        """Handle again the updates stored before ``before`` (and since ``since``) and never marked done.

        One older than the last update applied to its chat's dialog was applied before (its mark was lost)
        and is skipped; the last one itself the dialog answers as before, changing nothing.
        """
        for payload in await self.inbox.pending(before, since):
            if payload["update_id"] not in self._replayed:
                self._replayed.add(payload["update_id"])
                await self.enqueue(payload, replay=True)

    async def _replay_held(self) -> None:
        """Try again the replays another process had taken (it answers them, or it died and its take goes stale)."""
        held, self._held_elsewhere = self._held_elsewhere, {}
        for payload in held.values():
            await self.enqueue(payload, replay=True)

    async def _replay_later(self, started: dt.datetime) -> None:
        """Replay, one lease after the start, what was younger than a lease then; then what stays unfinished two leases.

        Those may have been in the hands of a running sibling process then; by now it has handled them
        or died with them.
        """
        await asyncio.sleep(self.lease.total_seconds())
        try:
            await self._replay(started)
        except Exception:  # noqa: BLE001 - left pending: replayed at the next start
            log.exception("telegram: replaying unfinished updates failed")
        # Then, as long as this process runs, what a sibling worker that died left behind: updates unfinished
        # two leases after they were stored (each pass reads only the stretch since the last one).
        edge = started
        while True:
            await asyncio.sleep(self.lease.total_seconds())
            before = utcnow() - 2 * self.lease
            if before <= edge:
                continue
            try:
                await self._replay(before, since=edge - self.lease)
                edge = before
                await self._replay_held()
            except Exception:  # noqa: BLE001 - tried again at the next pass
                log.exception("telegram: replaying unfinished updates failed")

    async def stop(self) -> None:
        """Stop polling, the sender and the application; updates not started stay stored for the next start."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        while not self.application.update_queue.empty():  # stored already: replayed at the next start
            self.application.update_queue.get_nowait()
        if self._running:  # the ones in the middle of a dialog step finish it
            await asyncio.wait(set(self._running), timeout=10)
        await self.commits.close()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def enqueue(self, payload: dict[str, Any], *, replay: bool = False, receipt: Receipt | None = None) -> None:
        """Handle a stored update in its own task (one chat at a time, chats side by side).

        ``replay``: it was stored before this process started and never marked done.
        """
        chat = wire.chat_of(payload)
        chat_id = chat["id"] if chat is not None else None
        if chat_id is not None:
            self._here.setdefault(chat_id, set()).add(payload["update_id"])
        since = asyncio.get_running_loop().time()  # stored moments ago (a replay: long ago)
        task = asyncio.create_task(self._guarded(payload, chat_id, replay=replay, since=since, receipt=receipt),
                                   name=f"telegram-{payload['update_id']}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _guarded(self, payload: dict[str, Any], chat_id: int | None, *, replay: bool, since: float,
                       receipt: Receipt | None = None) -> None:
        try:
            await self._process(payload, stored=receipt is None, replay=replay, since=since, receipt=receipt)
        except Exception:  # noqa: BLE001 - left pending: worker 0 replays it, or the next start
            log.exception("telegram update %s failed", payload.get("update_id"))
        finally:
            self._receipts.pop(payload["update_id"], None)
            self._storing.pop(payload["update_id"], None)
            answer = self._answers.pop(payload["update_id"], None)
            if answer is not None and not answer.done():
                answer.set_result(None)  # nothing to carry: the webhook call answers at once
            mine = self._here.get(chat_id) if chat_id is not None else None
            if mine is not None:
                mine.discard(payload["update_id"])
                if not mine:
                    del self._here[chat_id]

    # -- the webhook ----------------------------------------------------------------------------------
    async def receive(self, request: web.Request) -> web.Response:
        """Store a webhook update (2xx only once it is stored), handle it, and answer with its last reply.

        Telegram carries out a Bot API method given as the answer to its webhook call: the reply then needs no
        request of its own (about a fifth of the work per update) and reaches the citizen sooner. Telegram sends
        no result back, which a reply to the citizen's own message does not need (its chat exists and has not
        blocked the bot). A step that takes longer than ``answer_wait`` gets a plain 2xx, and its replies go out
        as requests, as in polling mode.
        """
        sent = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(sent.encode(), self.secret.encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            payload = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "bad json"}, status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            return web.json_response({"error": "no update_id"}, status=400)
        update_id = payload["update_id"]
        if not self.ordered:
            return await self._receive_here(payload)
        if not await self.commits.accept(update_id, payload):
            # A redelivery: handled once already. Telegram delivers again only when it got no answer, so the
            # reply that answer carried never reached the citizen: it is given again (from this process's memory,
            # or, from another process or after a restart, the dialog's last reply while it answers this update).
            return _answer(self._given.get(update_id) or await self._answered_before(payload))
        return await self._handled_and_answered(payload)

    async def _receive_here(self, payload: dict[str, Any]) -> web.Response:
        """``receive`` where this process holds all of a chat's calls: the update is stored with its step.

        Its row is written, already marked handled, in the transaction of the dialog step it causes (one trip to
        the database instead of three: store, step, mark), so the 2xx with the answer still comes after it is
        stored. A duplicate of an update being handled gets a plain 2xx once it is stored; one handled before is
        answered as before (its receipt is there already: the step is undone). A step slower than ``answer_wait``
        has the update stored on its own, then gets its plain 2xx; one that writes no dialog (a throttled update,
        a refused photo, a failed step) has it stored before any reply.
        """
        update_id = payload["update_id"]
        if (handling := self._receipts.get(update_id)) is not None:  # delivered again while it is handled: that
            try:  # call answers, and this one gets its 2xx once the update is stored
                await self._record(payload, handling)
            except Exception:  # noqa: BLE001 - not stored: Telegram delivers it again later
                log.exception("telegram: storing update %s failed", update_id)
                return web.json_response({"error": "not stored"}, status=503)
            return _answer(None)
        if (given := self._given.get(update_id)) is not None:
            return _answer(given)
        return await self._handled_and_answered(payload, self.inbox.receipt(update_id))

    async def _handled_and_answered(self, payload: dict[str, Any], receipt: Receipt | None = None) -> web.Response:
        """Handle an update (stored, or to be stored with its ``receipt``) and answer with its last reply.

        A step slower than ``answer_wait`` gets a plain 2xx and its reply goes out as a request of its own; the
        2xx always comes after the update is stored (503 if it cannot be: Telegram delivers it again).
        """
        update_id = payload["update_id"]
        if receipt is not None:
            self._receipts[update_id] = receipt
        answer = self._answers[update_id] = asyncio.get_running_loop().create_future()
        try:
            await self.enqueue(payload, receipt=receipt)
            await asyncio.wait({answer}, timeout=self.answer_wait)
            if not answer.done():  # too slow: its reply goes out as a request of its own
                answer.cancel()
            if receipt is not None:
                await self._record(payload, receipt)  # stored by the step's receipt, or on its own now
        except asyncio.CancelledError:  # the server is stopping this call: a reply already handed to it is sent
            self._send_if_ready(answer)
            raise
        except Exception:  # noqa: BLE001 - not stored: Telegram delivers it again later
            log.exception("telegram: storing update %s failed", update_id)
            self._send_if_ready(answer)  # the citizen is answered all the same
            return web.json_response({"error": "not stored"}, status=503)
        finally:
            self._answers.pop(update_id, None)
            if not answer.done():
                answer.cancel()
        method = None if answer.cancelled() else answer.result()
        if method is not None:
            self._given[update_id] = method
            if len(self._given) > GIVEN_KEPT:
                del self._given[next(iter(self._given))]  # the oldest
        return _answer(method)

    def _send_if_ready(self, answer: asyncio.Future[dict[str, Any] | None]) -> None:
        """Send as a request of its own a reply handed to a webhook call that will not answer with it."""
        if answer.done() and not answer.cancelled() and answer.result() is not None:
            self._track(asyncio.create_task(self._send_method(answer.result())))

    async def _record(self, payload: dict[str, Any], receipt: Receipt) -> bool:
        """Return once the update is stored: by its step's receipt, or on its own (then marked done after its step).

        Every caller waits for the same insert; one that failed is tried again by the next. True if this stored it
        as new, False if it was there already (a redelivery after a restart) or the receipt stored it.
        """
        if receipt.used:
            return False
        update_id = payload["update_id"]
        storing = self._storing.get(update_id)
        if storing is None or storing.done() and (storing.cancelled() or storing.exception() is not None):
            storing = self._storing[update_id] = asyncio.ensure_future(self._store(payload, receipt))
        return await asyncio.shield(storing)

    async def _store(self, payload: dict[str, Any], receipt: Receipt) -> bool:
        receipt.late = True  # from now on the step's receipt may find the row there: it goes on
        try:
            return await self.commits.accept(payload["update_id"], payload)
        except BaseException:
            receipt.late = False
            raise

    async def _answered_before(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Return the answer to a handled update if it is still the last its chat's dialog had, else None."""
        chat = wire.chat_of(payload)
        if chat is None:
            return None
        row = await DialogSession.filter(channel=wire.CHANNEL, user_key=str(chat["id"])).first().values(
            "last_inbound_key", "slots")
        if not row or row["last_inbound_key"] != f"tg{payload['update_id']}":
            return None  # not handled yet (another process is on it), or the chat has moved on
        slots = json.loads(row["slots"]) if isinstance(row["slots"], str | bytes) else row["slots"] or {}
        replies = wire.merged([Outbound.from_json(o) for o in slots.get("_out", [])])
        chunks = [chunk for outbound in replies for chunk in wire.chunks(outbound, self.language)]
        return chunks[-1].method(chat["id"]) if chunks else None

    async def _send_method(self, method: dict[str, Any]) -> None:
        """Send as a request of its own a sendMessage that was to ride in a webhook answer."""
        try:
            await send_chunks(self.application.bot, method["chat_id"],
                              [wire.Chunk(method["text"], method.get("reply_markup"))])
        except TelegramError as exc:
            log.warning("telegram reply to %s failed: %s", method.get("chat_id"), exc)

    def _track(self, task: asyncio.Task[Any]) -> None:
        """Keep a task referenced until it ends (stop() waits for those in flight)."""
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    # -- handling one update --------------------------------------------------------------------------
    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Handle a polled update (PTB's application calls this)."""
        await self._process(update.to_dict(), stored=False)

    async def _process(self, payload: dict[str, Any], *, stored: bool, replay: bool = False,
                       since: float | None = None, receipt: Receipt | None = None) -> None:
        """Store (unless ``stored``) and handle one update (Bot API JSON), after the earlier ones of its chat."""
        chat = wire.chat_of(payload)
        lock = self._locks.get(chat["id"] if chat else 0)
        if lock is None:
            lock = self._locks[chat["id"] if chat else 0] = asyncio.Lock()
        async with lock:  # one chat's updates in arrival order (a task queues here on its first step)
            try:
                outcome = await self._step(payload, chat, stored=stored, replay=replay, since=since, receipt=receipt)
            except Exception:  # noqa: BLE001 - the database failed (locked, say): the citizen is told to retry
                log.exception("telegram update %s failed", payload.get("update_id"))
                if chat is not None:
                    with contextlib.suppress(TelegramError):
                        await send(self.application.bot, chat["id"], [Outbound(t("error", self.language))],
                                   self.language)
                if receipt is not None and not receipt.used:  # stored now, to be replayed like any other
                    with contextlib.suppress(Exception):
                        await self._record(payload, receipt)
                if stored or receipt is not None:  # the chat's next updates need not wait for it, on any worker
                    with contextlib.suppress(Exception):
                        await self.inbox.mark_failed(payload["update_id"], payload)
                # A stored one stays pending: worker 0 replays it two leases later (or the next start does), unless a
                # later update of the chat supersedes it meanwhile (the citizen sent it again).
                return
            if outcome is not None and (receipt is None or receipt.late or outcome != "handled"):
                self.commits.done(payload["update_id"], outcome)  # (a committed receipt says "handled" already)

    async def _step(self, payload: dict[str, Any], chat: dict[str, Any] | None, *, stored: bool,
                    replay: bool, since: float | None = None, receipt: Receipt | None = None) -> str | None:
        """Store (unless ``stored``) and handle one update; return its outcome, None if there is nothing to mark.

        ``since``: when this process took the stored update (the loop's clock).
        """
        if receipt is not None:
            async with self._slots:
                return await self._handle(payload, chat, receipt)
        if not stored:
            if not await self.commits.accept(payload["update_id"], payload):
                return None  # delivered before: handled once already
            return await self._handle(payload, chat)
        if self.ordered and chat is not None and not replay:
            await self._after_earlier(payload["update_id"], chat["id"])  # before taking a slot: it may wait long
        async with self._slots:
            if self._stopping:
                return None  # stored: handled at the next start
            late = since is not None and asyncio.get_running_loop().time() - since >= self.lease.total_seconds() / 2
            if self.ordered and (replay or late) and not await self._take(payload, replay=replay):
                return None  # another process answers it (or answered it already)
            if replay and await self._applied(payload, chat):
                return "handled"  # before a crash that lost its mark: applying it again would redo it
            return await self._handle(payload, chat)

    async def _take(self, payload: dict[str, Any], *, replay: bool) -> bool:
        """Take a replayed update, or one this process held half a lease (worker 0 may be replaying it by now).

        Only with several processes (``ordered``): a lone one's replays are its dead predecessor's updates. Replays
        reach updates stored a lease ago or earlier, so one whose step starts within half a lease takes nothing;
        only a step that then runs another half lease while worker 0 restarts can still be answered twice.
        """
        update_id = payload["update_id"]
        if not await self.inbox.take(update_id, 2 * self.lease, self.slot, self.instance):
            if replay:
                self._held_elsewhere[update_id] = payload  # tried again at the next pass: its holder may die
            return False
        return not await self.inbox.finished(update_id)

    async def _after_earlier(self, update_id: int, chat_id: int) -> None:
        """Wait while an earlier update of this chat, stored by another worker, is neither applied nor marked done.

        One chat's messages are then answered in the order they were sent. Updates this process took are not waited
        for (they queue on the chat's lock here), nor failed ones. After one dialog lease this one goes ahead: that
        worker has died, and worker 0 replays what it left.
        """
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.lease.total_seconds(), 0.005
        while True:
            waiting = await self.inbox.unfinished_before(chat_id, update_id)  # mostly none: one read
            waiting = [earlier for earlier in waiting if earlier not in self._here.get(chat_id, ())]
            if waiting:  # done marks are written after the step: what the dialog already had is not waited for
                applied = await self._last_applied(chat_id)
                waiting = [earlier for earlier in waiting if applied is None or earlier > applied]
            if not waiting:
                return
            if loop.time() >= deadline:
                log.warning("telegram update %s of chat %s goes ahead of unfinished %s", update_id, chat_id, waiting)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def _applied(self, payload: dict[str, Any], chat: dict[str, Any] | None) -> bool:
        """Tell whether a later update of this chat was applied to its dialog already (so this one was too)."""
        if chat is None:
            return False
        applied = await self._last_applied(chat["id"])
        return applied is not None and applied > payload["update_id"]

    @staticmethod
    async def _last_applied(chat_id: int) -> int | None:
        """Return the update_id of the last update the chat's dialog had (None: none, or not from Telegram)."""
        last = await DialogSession.filter(channel=wire.CHANNEL, user_key=str(chat_id)).first().values_list(
            "last_inbound_key", flat=True)
        rank = wire.key_order(last) if isinstance(last, str) else None
        return rank[0] if rank else None

    async def _handle(self, payload: dict[str, Any], chat: dict[str, Any] | None,
                      receipt: Receipt | None = None) -> str | None:
        if chat is None:
            if receipt is not None:  # no step will commit its receipt: stored before any reply
                await self._record(payload, receipt)
            return "ignored"
        chat_id: int = chat["id"]
        if chat.get("type") != "private":
            if receipt is not None and not await self._record(payload, receipt):
                return None  # a redelivery after a restart: answered then
            await self._reply(chat_id, [Outbound(t("telegram.private", self.language))], payload["update_id"])
            return "not_private"
        if not await self._allowed(chat_id, payload["update_id"]):
            if receipt is not None and not await self._record(payload, receipt):
                return None  # a redelivery after a restart: answered then
            log.warning("telegram chat %s throttled (update %s)", chat_id, payload["update_id"])
            await self.inbox.uncount(chat_id, payload["update_id"])
            if self.throttle.should_tell(str(chat_id)) and await self.inbox.tell_once(chat_id, self.throttle.window):
                await self._reply(chat_id, [Outbound(t("telegram.slow_down", self.language))], payload["update_id"])
            return "throttled"
        key = f"tg{payload['update_id']}"
        query, message = payload.get("callback_query"), payload.get("message")
        if isinstance(query, dict):
            bot = self.application.bot
            with contextlib.suppress(TelegramError):
                await call(bot, "answerCallbackQuery", {"callback_query_id": query.get("id", "")})
                if isinstance(query.get("message"), dict):  # a button works once
                    await call(bot, "editMessageReplyMarkup",
                               {"chat_id": chat_id, "message_id": query["message"].get("message_id")})
            data = str(query.get("data") or "")
            if data.startswith(wire.LONG):
                data = await recall_choice(data)
            inbounds = [wire.inbound_from_tap(chat_id, data, key)]
        elif isinstance(message, dict):
            found = await self._inbounds(message, key)
            if isinstance(found, str):
                if receipt is not None and not await self._record(payload, receipt):
                    return None  # a redelivery after a restart: answered then
                await self._reply(chat_id, [Outbound(t(found, self.language))], payload["update_id"])
                return "rejected"
            inbounds = found
        else:
            if receipt is not None:
                await self._record(payload, receipt)
            return "ignored"
        replies: list[Outbound] = []
        if receipt is not None and len(inbounds) > 1 and not await self._record(payload, receipt):
            return await self._again(payload)  # several steps (a deep link): stored first, so each runs once
        try:
            for inbound in inbounds:  # a deep link's earlier steps stay unsaid
                replies = await self.bot.engine.handle(inbound, receipt if len(inbounds) == 1 else None)
        except AlreadyRecorded:  # handled before this process started: answered as then, if still the last
            return await self._again(payload)
        if receipt is not None and not receipt.used:  # the dialog wrote nothing (it had this message already)
            await self._record(payload, receipt)
        return await self._reply(chat_id, replies, payload["update_id"])

    async def _again(self, payload: dict[str, Any]) -> None:
        """Answer an update stored before this process started (a redelivery): as then, if still its chat's last."""
        answer = self._answers.pop(payload["update_id"], None)
        if answer is not None and not answer.done():
            answer.set_result(await self._answered_before(payload))

    async def _allowed(self, chat_id: int, update_id: int) -> bool:
        """Count the update against the chat's flood limit; tell whether it may be handled.

        Where one process holds all of a chat's calls (not ``ordered``) its own count is the whole count; otherwise
        a busy chat's rows of every process are counted too (see ``Throttle.allowed``).
        """
        if not self.ordered:
            return self.throttle.allow(str(chat_id))
        return await self.throttle.allowed(str(chat_id), *self.inbox.flood_range(chat_id, update_id))

    async def _inbounds(self, message: dict[str, Any], key: str) -> list[Inbound] | str:
        """Translate a message; a photo is fetched and stored first. Return an error text key on refusal."""
        chat_id = str(message["chat"]["id"])
        if str(message.get("text") or "").startswith("/start"):
            await unblock(chat_id)  # a citizen who unblocked the bot presses Start
        photo = wire.picture_of(message)
        if photo is None:
            if wire.unsupported(message):
                return "telegram.unsupported"  # a voice message, a sticker, a video, a file that is no picture
            return wire.inbound_from_message(message, key)
        if (photo.get("file_size") or 0) > uploads.MAX_BYTES:
            return "upload.size"
        data = await (await self.application.bot.get_file(photo["file_id"])).download_as_bytearray()
        name = str(photo.get("file_name") or f"{photo.get('file_unique_id', 'photo')}.jpg")
        try:
            row = await uploads.store(bytes(data), name, self.upload_dir)
        except uploads.UploadRejected as exc:
            return exc.reason
        return [Inbound(wire.CHANNEL, chat_id, text=str(message.get("caption") or ""), attachments=(row.id,),
                        key=key)]

    async def _reply(self, chat_id: int, replies: list[Outbound], update_id: int | None = None) -> str:
        """Send the replies to an update; the last rides in its webhook call's answer if that call still waits.

        A reply Telegram could not take in transit even after ``send_chunks``' tries goes to the outbox, from the
        message that failed on: its sender tries again with backoff, then dead-letters it.
        """
        replies = wire.merged(replies)
        chunks = [(index, chunk) for index, outbound in enumerate(replies)
                  for chunk in wire.chunks(outbound, self.language)]
        if long := wire.long_choices(replies):
            await remember_choices(long)  # before the buttons can be pressed
        answer = self._answers.pop(update_id, None) if update_id is not None and chunks else None
        sent = 0
        try:
            for _, chunk in chunks[:-1] if answer is not None else chunks:
                await send_chunks(self.application.bot, chat_id, [chunk])
                sent += 1
            if answer is not None:
                if answer.done():  # the call stopped waiting meanwhile
                    await send_chunks(self.application.bot, chat_id, [chunks[-1][1]])
                else:  # Telegram carries out a method given as the webhook's answer (no result comes back)
                    answer.set_result(chunks[-1][1].method(chat_id))
        except TelegramError as exc:
            if answer is not None and not answer.done():
                answer.set_result(None)
            if unreachable(exc):
                await mark_blocked(str(chat_id), str(exc))
                return "blocked"
            log.warning("telegram reply to %s failed: %s", chat_id, exc)
            if isinstance(exc, RetryAfter) or isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
                first = chunks[sent][0]  # the message that failed; pieces of it may have gone out
                done = sum(1 for index, _ in chunks[:sent] if index == first)
                await notifier.later(wire.CHANNEL, str(chat_id), replies[first:], parts_sent=done)
                return "reply_queued"
            return "reply_failed"
        return "handled"

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram update failed: %s", context.error, exc_info=context.error)


CHANNEL_KEY = web.AppKey("telegram_channel", TelegramChannel)


async def webhook(request: web.Request) -> web.Response:
    """Receive one Telegram update (route handler)."""
    return await request.app[CHANNEL_KEY].receive(request)


def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    async def run() -> AsyncIterator[None]:
        channel = app[CHANNEL_KEY]
        await channel.start()
        yield
        await channel.stop()

    return run()


def setup(app: web.Application, settings: Settings, bot: Bot, **options: Any) -> TelegramChannel | None:
    """Add the Telegram channel to ``app`` when TELEGRAM_BOT_TOKEN is set; return it."""
    if not settings.telegram_bot_token:
        return None
    channel = TelegramChannel(settings, bot, upload_dir=settings.data_dir / "uploads", **options)
    app[CHANNEL_KEY] = channel
    if channel.webhook:
        app.router.add_post(WEBHOOK_PATH, webhook, name="telegram_webhook")
    app.cleanup_ctx.append(_lifecycle)
    return channel

