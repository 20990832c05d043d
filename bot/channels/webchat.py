"""Web chat: the /chat page, its websocket JSON protocol, photo uploads, identity from a signed cookie."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from storage import jsontext
from storage.cases import CaseService
from storage.keys import secret_key
from storage.models import JobRun
from storage.scheduler import TickReport
from storage.settings import Settings

from .. import uploads
from ..messages import Inbound, Outbound
from ..runtime import Bot, build
from ..texts import t
from ..throttle import Throttle
from . import signing

log = logging.getLogger("appeals.webchat")

BOT = web.AppKey("webchat_bot", Bot)
KEY = web.AppKey("webchat_key", bytes)
UPLOAD_DIR = web.AppKey("webchat_uploads", Path)
SECURE = web.AppKey("webchat_secure", bool)
PAGE = web.AppKey("webchat_page", bytes)
UPLOADS_SEEN = web.AppKey("webchat_uploads_seen", Throttle)
OPEN_SOCKETS = web.AppKey("webchat_open_sockets", weakref.WeakSet)  # closed when the server shuts down
UPLOADS_PER_HOUR = 30  # per identity (a few more when spread over several workers): photos are evidence, not storage
UPLOADS_JOB = "webchat-upload"  # JobRun.job of an upload, so every worker counts it; key "<identity>:<time>"
COOKIE = "appeals_chat"
STATIC = Path(__file__).with_name("static")
MAX_FRAME = 64 * 1024
RATE = (20, 10.0)  # at most 20 messages per 10 seconds per connection
CHANNEL = "webchat"


def _identity(request: web.Request) -> str | None:
    return signing.verify(request.app[KEY], "webchat-id", request.cookies.get(COOKIE), signing.IDENTITY_MAX_AGE)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin.split("://", 1)[-1] == request.host


def _set_identity(request: web.Request, response: web.StreamResponse, user: str) -> None:
    response.set_cookie(COOKIE, signing.sign(request.app[KEY], "webchat-id", user), max_age=signing.IDENTITY_MAX_AGE,
                        path="/chat", httponly=True, samesite="Strict", secure=request.app[SECURE])


async def chat_page(request: web.Request) -> web.StreamResponse:
    """Serve the chat page (read once per process: no file or thread work per visit) with a signed identity cookie."""
    response = web.Response(body=request.app[PAGE], headers={"Cache-Control": "no-store",
                                                            "Content-Type": "text/html; charset=utf-8"})
    if _identity(request) is None:
        _set_identity(request, response, signing.new_identity())
    return response


async def chat_logout(request: web.Request) -> web.Response:
    """End this browser's identity, so the next person starts a new conversation."""
    if not _same_origin(request):
        raise web.HTTPForbidden()
    response = web.json_response({"type": "ended", "message": t("session.ended", request.app[BOT].language)})
    _set_identity(request, response, signing.new_identity())
    return response


async def _upload_allowed(seen: Throttle, user: str) -> bool:
    """Count an upload attempt; refuse it past the hourly limit, counted across workers (one row per attempt)."""
    if not seen.allow(user):
        return False  # this process alone has seen too many: no row
    key = f"{user}:{time.time_ns():020d}{secrets.token_hex(2)}"
    await JobRun.create(job=UPLOADS_JOB, key=key)
    # All the identity's rows of the hour, also those of attempts running at the same moment on other workers:
    # two at once near the limit may both be refused, never both let through.
    if await seen.allowed_everywhere(user, UPLOADS_JOB, f"{user}:", f"{user}:{'9' * 24}"):
        return True
    await JobRun.filter(job=UPLOADS_JOB, key=key).delete()  # a refused attempt does not count
    return False


async def forget_uploads(now: dt.datetime, report: TickReport) -> None:
    """Scheduler job: delete the upload counts older than the hour the limit looks back."""
    report.count("upload_counts_forgotten",
                 await JobRun.filter(job=UPLOADS_JOB, created_at__lt=now - dt.timedelta(hours=1)).delete())


async def chat_upload(request: web.Request) -> web.Response:
    """Accept one photo; answer a receipt that only this identity can attach to its dialog."""
    user = _identity(request)
    if user is None or not _same_origin(request):
        raise web.HTTPForbidden()
    language = request.app[BOT].language
    if not await _upload_allowed(request.app[UPLOADS_SEEN], user):
        return web.json_response({"error": "slow_down", "message": t("slow_down", language)}, status=429)
    try:
        reader = await request.multipart()
        part = await reader.next()
    except (AssertionError, ValueError, KeyError):
        part = None
    if part is None or getattr(part, "name", None) != "file":
        return web.json_response({"error": "upload.type", "message": t("upload.type", language)}, status=400)
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):  # type: ignore[union-attr]
        data += chunk
        if len(data) > uploads.MAX_BYTES:
            return web.json_response({"error": "upload.size", "message": t("upload.size", language)}, status=413)
    try:
        row = await uploads.store(bytes(data), part.filename or "photo", request.app[UPLOAD_DIR])  # type: ignore[union-attr]
    except uploads.UploadRejected as exc:
        return web.json_response({"error": exc.reason, "message": t(exc.reason, language)}, status=415)
    receipt = signing.sign(request.app[KEY], "webchat-upload", f"{row.id}:{user}")
    return web.json_response({"attachment": receipt, "filename": row.filename, "size": row.size})


def _frames(messages: list[Outbound]) -> list[dict[str, Any]]:
    return [m.to_json() for m in messages]


def _inbound(request: web.Request, user: str, frame: Any) -> Inbound | str:
    """Translate a client frame into an Inbound, or return an error code."""
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return "bad_frame"
    kind, key = frame["type"], frame.get("id")
    key = str(key)[:64] if isinstance(key, str | int) and key != "" else None
    text = frame.get("text", "")
    if not isinstance(text, str):
        return "bad_frame"
    if kind == "hello":
        return Inbound(CHANNEL, user, resume=True)
    if kind == "message":
        return Inbound(CHANNEL, user, text=text, key=key)
    if kind == "choice" and isinstance(frame.get("value"), str):
        return Inbound(CHANNEL, user, choice=frame["value"][:200], key=key)
    if kind == "location":
        lat, lon = frame.get("lat"), frame.get("lon")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
            return "bad_frame"
        return Inbound(CHANNEL, user, location=(float(lat), float(lon)), key=key)  # type: ignore[arg-type]
    if kind == "attachment":
        receipts = frame.get("attachments")
        if not isinstance(receipts, list) or not 1 <= len(receipts) <= 10:
            return "bad_frame"
        ids = []
        for receipt in receipts:
            value = signing.verify(request.app[KEY], "webchat-upload", receipt if isinstance(receipt, str) else None,
                                   24 * 3600)
            if value is None or value.split(":", 1)[1] != user:
                return "bad_attachment"
            ids.append(int(value.split(":", 1)[0]))
        return Inbound(CHANNEL, user, text=text, attachments=tuple(ids), key=key)
    return "bad_frame"


async def chat_socket(request: web.Request) -> web.StreamResponse:
    """Run one websocket conversation: frames in, replies and pushed notices out."""
    user = _identity(request)
    if user is None or not _same_origin(request):
        raise web.HTTPForbidden(text="no valid chat identity: open /chat first")
    bot = request.app[BOT]
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    lock = asyncio.Lock()

    async def send(frame: dict[str, Any]) -> None:
        async with lock:
            await ws.send_str(jsontext.dumps(frame))

    async def push(messages: list[Outbound]) -> None:
        await send({"type": "notice", "messages": _frames(messages)})

    bot.hub.add(user, push)
    request.app[OPEN_SOCKETS].add(ws)
    stamps: list[float] = []
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            now = time.monotonic()
            stamps[:] = [s for s in stamps if now - s < RATE[1]] + [now]
            try:
                frame = json.loads(msg.data)
            except ValueError:
                frame = None
            inbound = _inbound(request, user, frame)
            reply_to = frame.get("id") if isinstance(frame, dict) else None
            if isinstance(inbound, str):
                await send({"type": "error", "code": inbound, "in_reply_to": reply_to})
                continue
            if len(stamps) > RATE[0] and not inbound.resume:
                await send({"type": "error", "code": "slow_down", "in_reply_to": reply_to,
                            "message": t("slow_down", bot.language)})
                continue
            replies = await bot.engine.handle(inbound)
            try:
                await send({"type": "reply", "in_reply_to": reply_to, "messages": _frames(replies)})
            except ConnectionError:  # closed meanwhile (the server stopping, the page gone): the step is saved, and
                break  # the page resends the frame after reconnecting and gets this reply again (same message id)
            if inbound.resume and not bot.engine.new_identity(CHANNEL, user):  # a new identity has nothing waiting
                await bot.notifier.deliver_pending(user, push)
    finally:
        bot.hub.remove(user, push)
        request.app[OPEN_SOCKETS].discard(ws)
    return ws


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, close the open conversations' sockets ("going away"): the page reconnects, to another
    process or to this one restarted, and resumes where it stood; the server need not wait for them."""
    async def close(ws: web.WebSocketResponse) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server restarting")

    sockets = list(app[OPEN_SOCKETS])
    if sockets:  # all at once, and not longer than a few seconds for clients that do not answer
        await asyncio.wait([asyncio.create_task(close(ws)) for ws in sockets], timeout=5)


def _notifier(interval: float):
    async def run_notifier(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(app[BOT].notifier.run(interval))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return run_notifier


def setup(app: web.Application, settings: Settings, cases: CaseService, *, bot: Bot | None = None,
          notify_interval: float = 1.0) -> None:
    """Add the web-chat routes and the outbox pusher to ``app``."""
    app[BOT] = bot or build(settings, cases)
    app[KEY] = secret_key(settings)
    app[UPLOAD_DIR] = settings.data_dir / "uploads"
    app[UPLOADS_SEEN] = Throttle(limit=UPLOADS_PER_HOUR, window=3600.0)
    app[PAGE] = (STATIC / "chat.html").read_bytes()
    app[SECURE] = bool(settings.public_url and settings.public_url.startswith("https://"))
    app.router.add_get("/chat", chat_page, name="chat_page")
    app.router.add_get("/chat/ws", chat_socket, name="chat_socket")
    app.router.add_post("/chat/upload", chat_upload, name="chat_upload")
    app.router.add_post("/chat/logout", chat_logout, name="chat_logout")
    app.router.add_static("/chat/static", STATIC, name="chat_static")
    app.cleanup_ctx.append(_notifier(notify_interval))
    app[OPEN_SOCKETS] = weakref.WeakSet()
    app.on_shutdown.append(_close_sockets)
