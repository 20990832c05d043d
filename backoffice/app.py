"""The aiohttp application factory: one process hosts the back-office and the channels' routes."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from bot import uploads
from bot.channels import open311, telegram, webchat, webhook
from intents.extract import mask_pii
from storage import db
from storage.cases import CaseService
from storage.models import Case, Unit
from storage.scheduler import Scheduler
from storage.settings import Settings

from . import metrics
from . import routes as backoffice_routes
from .keys import CASES, READY, SETTINGS

log = logging.getLogger("appeals.app")

SCHEDULER = web.AppKey("scheduler", Scheduler)
WORKER = web.AppKey("worker", int)  # this process's index among the workers of one server (0 alone)


def _database(manage_orm: bool):
    async def database(app: web.Application) -> AsyncIterator[None]:
        if manage_orm:
            await db.init(app[SETTINGS].database_url)
        app[READY]["database"] = True
        yield
        app[READY]["database"] = False
        if manage_orm:
            await db.close()

    return database


async def _sweep_leftovers(directory: Path) -> None:
    """Remove the partial files a crash left beside the uploads (on a thread: the directory may be large)."""
    try:
        removed = await asyncio.to_thread(uploads.remove_leftovers, directory)
    except OSError:
        log.exception("could not sweep %s for partial files", directory)
        return
    if removed:
        log.warning("removed %d partial files a crash left in %s", removed, directory)


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    """Run the city's background work: the scheduler, and once at start the sweep of crash-left partial uploads."""
    sweep = asyncio.create_task(_sweep_leftovers(app[SETTINGS].data_dir / "uploads"), name="upload-leftovers")
    task = asyncio.create_task(app[SCHEDULER].run_forever(), name="scheduler")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await sweep


async def healthz(request: web.Request) -> web.Response:
    """Answer 200 once the database is open and a query succeeds, 503 before."""
    if not request.app[READY].get("database"):
        return web.json_response({"status": "starting"}, status=503)
    try:
        cases = await Case.all().count()
    except Exception as exc:  # noqa: BLE001 - report any database failure as not ready
        return web.json_response({"status": "database error", "error": type(exc).__name__}, status=503)
    return web.json_response({"status": "ok", "cases": cases, "worker": request.app[WORKER]})


async def index(request: web.Request) -> web.Response:
    """Show what this server is and where its parts live."""
    units = await Unit.all().count()
    settings = request.app[SETTINGS]
    body = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>群众诉求办理平台</title></head>
<body><h1>群众诉求办理平台 <small>Citizen Appeals Platform</small></h1>
<p>热线 {html.escape(settings.hotline_prefix)} · 已登记单位 {units} 个 / {units} units</p>
<p>健康检查 Health: <a href="/healthz">/healthz</a></p></body></html>"""
    return web.Response(text=body, content_type="text/html")


@web.middleware
async def security_headers(request: web.Request, handler) -> web.StreamResponse:
    """Add headers that keep untrusted content inert in browsers."""
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
    return response


def create_app(settings: Settings, *, manage_orm: bool = True, background: bool | None = None,
               worker: int = 0) -> web.Application:
    """Build the application; ``manage_orm=False`` when the caller has already opened the ORM.

    ``background`` (default: same as ``manage_orm``) runs the scheduler inside this process. A ``worker`` other
    than 0 is a sibling process of the same server (backoffice/workers.py): no Telegram polling, webhook
    registration or outbox senders for Telegram and webhook peers; it serves requests and pushes to its own
    web-chat sockets.
    """
    app = web.Application(middlewares=[security_headers], client_max_size=12 * 1024 * 1024)
    app[SETTINGS] = settings
    app[WORKER] = worker
    primary = worker == 0
    app[CASES] = CaseService(hotline_prefix=settings.hotline_prefix)
    app[READY] = {}
    app[SCHEDULER] = Scheduler(app[CASES], mask_text=mask_pii)
    app.cleanup_ctx.append(_database(manage_orm))
    if manage_orm if background is None else background:
        app.cleanup_ctx.append(_scheduler)
    app.router.add_get("/", index, name="index")
    app.router.add_get("/healthz", healthz, name="healthz")
    backoffice_routes.setup(app, settings)
    app.router.add_get("/metrics", metrics.handler(lambda a: a[webchat.BOT].engine.stats), name="metrics")
    webchat.setup(app, settings, app[CASES])
    app[SCHEDULER].extra_jobs.append(uploads.sweep_orphans)  # day-old uploads no case claimed
    app[SCHEDULER].extra_jobs.append(webhook.forget_old)  # week-old webhook message ids, day-old flood counts
    app[SCHEDULER].extra_jobs.append(webchat.forget_uploads)  # hour-old web-chat upload counts
    backoffice_routes.share_knowledge(app, app[webchat.BOT].knowledge)  # one KnowledgeBase per process
    telegram.setup(app, settings, app[webchat.BOT], primary=primary, slot=f"{socket.gethostname()}:{worker}")
    webhook.setup(app, app[webchat.BOT], sender=primary)
    open311.setup(app, settings, app[CASES])
    return app
