"""Messenger webhook: a signed JSON message in, the bot's replies in the response; notices to a callback."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from storage import batch
from storage.cases import utcnow
from storage.models import JobRun, WebhookPeer
from storage.scheduler import TickReport

from ..messages import Inbound
from ..runtime import Bot
from ..texts import t
from ..throttle import Throttle
from .credentials import signed
from .webhook_sender import WebhookSender

log = logging.getLogger("appeals.webhook")

CHANNEL = "webhook"
TIMESTAMP = "X-Appeals-Timestamp"
SIGNATURE = "X-Appeals-Signature"
MAX_BODY = 64 * 1024
MAX_USER = 63  # "<peer>:<user>" fits ChannelIdentity.external_id (128)

USERS = "webhook-user"  # JobRun.job of a message by sender, for the flood limit of every process
#: A message's id (its replay guard) and its row in the sender's flood count, both or neither (a replay is refused).
MESSAGE_SQL = "INSERT INTO job_run (job, key, data, created_at) VALUES (?, ?, '{}', ?), (?, ?, '{}', ?)"
KEEP = dt.timedelta(days=7)  # message ids are remembered (a redelivery is answered once) this long

BOT = web.AppKey("webhook_bot", Bot)
THROTTLE = web.AppKey("webhook_throttle", Throttle)
SENDER = web.AppKey("webhook_sender", WebhookSender)


def _error(status: int, code: str, message: str = "") -> web.Response:
    return web.json_response({"error": code, "message": message or code}, status=status)


def _inbound(peer: str, frame: Any) -> Inbound | str:
    """Translate a peer's JSON message into an Inbound, or return what is wrong with it."""
    if not isinstance(frame, dict):
        return "body must be a JSON object"
    key, user = frame.get("id"), frame.get("user")
    if not isinstance(key, str | int) or isinstance(key, bool) or not 0 < len(str(key)) <= 64:
        return "id must be a string or number of 1-64 characters"
    if not isinstance(user, str) or not 0 < len(user) <= MAX_USER:
        return f"user must be a string of 1-{MAX_USER} characters"
    text, choice, contact = frame.get("text", ""), frame.get("choice"), frame.get("contact")
    if not isinstance(text, str) or not isinstance(choice, str | None) or not isinstance(contact, str | None):
        return "text, choice and contact must be strings"
    location = frame.get("location")
    point: tuple[float, float] | None = None
    if location is not None:
        lat, lon = (location.get("lat"), location.get("lon")) if isinstance(location, dict) else (None, None)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)):
            return "location must be {\"lat\": number, \"lon\": number}"
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
            return "location out of range: lat -90..90, lon -180..180"
        point = (float(lat), float(lon))  # type: ignore[arg-type]
    if not (text.strip() or choice or point or contact):
        return "a message needs text, choice, location or contact"
    return Inbound(CHANNEL, f"{peer}:{user}", text=text, choice=choice[:200] if choice else None,
                   location=point, contact=contact[:32] if contact else None, key=f"wh:{key}")


async def receive(request: web.Request) -> web.Response:
    """Handle one signed message from a peer; answer the bot's replies."""
    peer = await WebhookPeer.get_or_none(name=request.match_info["peer"][:64], active=True)
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, "too_large")
    body = await request.read()
    stamp, sent = request.headers.get(TIMESTAMP, ""), request.headers.get(SIGNATURE, "")
    if peer is None or not stamp.isdigit() or not signed(peer.secret, stamp, body, sent):
        return _error(401, "unauthorized", "unknown peer or bad signature")
    if abs(time.time() - int(stamp)) > peer.replay_window:
        return _error(401, "stale", f"timestamp outside the {peer.replay_window} s replay window")
    try:
        frame = json.loads(body)
    except ValueError:
        return _error(400, "bad_json")
    inbound = _inbound(peer.name, frame)
    if isinstance(inbound, str):
        return _error(400, "bad_message", inbound)
    sender = _sender_prefix(peer.id, frame["user"])
    counted = sender + hashlib.sha256(str(frame["id"]).encode()).hexdigest()[:16]
    try:  # one statement, so one trip in the group commit: the message id and the sender's flood count row
        now = utcnow()
        await batch.execute(MESSAGE_SQL, [f"webhook:{peer.id}", str(frame["id"]), now, USERS, counted, now])
    except IntegrityError:
        return web.json_response({"duplicate": True, "messages": []})  # a replay: handled once already
    bot = request.app[BOT]
    if not await request.app[THROTTLE].allowed(inbound.user_key, USERS, sender, sender + "g"):  # hex digests < g
        # Refused: forgotten, so the same message sent again later is handled (not taken for a replay), and it
        # does not count against the next.
        log.warning("webhook peer %s: user flood, message %s refused", peer.name, frame["id"])
        await JobRun.filter(job=f"webhook:{peer.id}", key=str(frame["id"])).delete()
        await JobRun.filter(job=USERS, key=counted).delete()
        return _error(429, "slow_down", t("slow_down", bot.language))
    replies = await bot.engine.handle(inbound)
    return web.json_response({"messages": [o.to_json() for o in replies]},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _sender_prefix(peer_id: int, user: str) -> str:
    """Return the start of a sender's flood-count keys (a digest of each message id follows).

    The user is digested too: a user name may hold ":" and then start another user's keys.
    """
    return f"{peer_id}:{hashlib.sha256(user.encode()).hexdigest()[:16]}:"


async def forget_old(now: dt.datetime, report: TickReport, chunk: int = 5000) -> None:
    """Scheduler job: delete remembered message ids older than KEEP and flood-count rows older than a day.

    The jobs are found by an index range ("webhook:" up to "webhook;", the next character), not LIKE,
    which would read the whole job_run table every tick; rows go in chunks, so no delete holds the
    database long.
    """
    for old in (JobRun.filter(job__gte="webhook:", job__lt="webhook;", created_at__lt=now - KEEP),
                JobRun.filter(job=USERS, created_at__lt=now - dt.timedelta(days=1))):
        while ids := await old.limit(chunk).values_list("id", flat=True):
            report.count("webhook_rows_forgotten", await JobRun.filter(id__in=list(ids)).delete())


def _sender(interval: float):
    async def run_sender(app: web.Application) -> AsyncIterator[None]:
        sender = app[SENDER]
        task = asyncio.create_task(sender.run(interval), name="webhook-sender")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sender.close()

    return run_sender


def setup(app: web.Application, bot: Bot, *, notify_interval: float = 1.0, sender: bool = True) -> None:
    """Add the messenger-webhook route and (unless ``sender`` is False) its outbox sender to ``app``."""
    app[BOT] = bot
    app[THROTTLE] = Throttle()
    app[SENDER] = WebhookSender(bot.language)
    app.router.add_post("/channels/webhook/{peer}", receive, name="webhook_receive")
    if sender:
        app.cleanup_ctx.append(_sender(notify_interval))
