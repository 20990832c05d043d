"""``/metrics`` in the Prometheus text format: outbox backlog, dead letters, overdue cases, scheduler lag.

The database figures are the city's. The dialog counters live in each process; with several workers on one
port (backoffice/workers.py) a scrape reaches any one of them, so each worker writes its counters to a file
beside its siblings' every second and the one scraped reports the sum: the same series whichever answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from pathlib import Path

from aiohttp import web
from tortoise.functions import Count

from bot.uploads import write_whole
from storage.lifecycle import CaseStatus
from storage.models import Case, Notification, NotificationStatus, Unit
from storage.scheduler import SUPERVISED, last_pass

log = logging.getLogger("appeals.metrics")
FLUSH_EVERY = 1.0  # seconds: how stale a sibling worker's counters can be in a scrape


class SharedCounters:
    """One worker's counters in a directory its sibling workers share, so that any of them can report the sum.

    A scrape first writes the scraped worker's own counters, then sums every worker's file: each file only grows,
    and a restarted worker continues from its predecessor's file, so the reported sum never goes down (what a
    killed worker counted after its last write was never reported).
    """

    def __init__(self, directory: Path, worker: int, workers: int, counters: MutableMapping[str, int]) -> None:
        self.directory, self.worker, self.workers, self.counters = directory, worker, workers, counters
        self._written: dict[str, int] = {}

    def _file(self, worker: int) -> Path:
        """Return where worker ``worker`` keeps its counters."""
        return self.directory / f"dialog-{worker}.json"

    def _read(self, worker: int) -> dict[str, int]:
        """Return a worker's last written counters (none yet: empty)."""
        try:
            data = json.loads(self._file(worker).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)} if isinstance(data, dict) \
            else {}

    def resume(self) -> None:
        """Continue from what this worker's predecessor wrote."""
        for name, value in self._read(self.worker).items():
            self.counters[name] = self.counters.get(name, 0) + value
        self._written = dict(self.counters)

    def flush(self) -> None:
        """Write this worker's counters, if they changed since the last write (the directory made again if gone)."""
        now = dict(self.counters)
        if now != self._written:
            data = json.dumps(now).encode()
            try:
                write_whole(self._file(self.worker), data)
            except FileNotFoundError:  # a temp cleaner removed the directory of a long-idle server
                self.directory.mkdir(parents=True, exist_ok=True)
                write_whole(self._file(self.worker), data)
            self._written = now

    def total(self) -> dict[str, int]:
        """Write this worker's counters, then return the sum of every worker's written ones."""
        try:
            self.flush()
            own = self._read(self.worker)
        except OSError:
            log.exception("metrics: cannot write %s", self.directory)
            own = dict(self.counters)
        out = dict(own)
        for other in range(self.workers):
            if other != self.worker:
                for name, value in self._read(other).items():
                    out[name] = out.get(name, 0) + value
        return out


SHARED = web.AppKey("metrics_shared", SharedCounters)


def share(app: web.Application, counters: SharedCounters) -> None:
    """Report the server's summed counters from this worker, writing its own every second (and when it stops)."""
    app[SHARED] = counters

    async def keep_written(_app: web.Application) -> AsyncIterator[None]:
        """Resume at start, write every second while serving, and once more when stopping."""
        counters.resume()

        async def loop() -> None:
            """Write the counters every second, so a scrape of a sibling sees them."""
            while True:
                await asyncio.sleep(FLUSH_EVERY)
                try:
                    counters.flush()
                except OSError:
                    log.exception("metrics: cannot write %s", counters.directory)

        task = asyncio.create_task(loop(), name="metrics-flush")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(OSError):
            counters.flush()

    app.cleanup_ctx.append(keep_written)


def _label(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


async def render(now: dt.datetime, dialog: Mapping[str, int] | None = None) -> str:
    """Collect the figures an operator alerts on, as Prometheus exposition text."""
    lines = [
        "# HELP appeals_outbox_notifications Outbox rows by status and channel.",
        "# TYPE appeals_outbox_notifications gauge",
    ]
    rows = await Notification.annotate(n=Count("id")).group_by("status", "channel").values("status", "channel", "n")
    for row in sorted(rows, key=lambda r: (str(r["status"]), str(r["channel"]))):
        lines.append(f"appeals_outbox_notifications{{status={_label(row['status'])},"
                     f"channel={_label(row['channel'])}}} {row['n']}")
    dead = await Notification.filter(status=NotificationStatus.DEAD).count()
    lines += ["# HELP appeals_outbox_dead_letters Notifications given up after the last attempt.",
              "# TYPE appeals_outbox_dead_letters gauge", f"appeals_outbox_dead_letters {dead}"]
    lines += ["# HELP appeals_overdue_cases Open cases past their deadline, by lead unit.",
              "# TYPE appeals_overdue_cases gauge"]
    overdue = await Case.filter(status__in=SUPERVISED, due_at__lt=now).annotate(n=Count("id")) \
        .group_by("lead_unit_id").values("lead_unit_id", "n")
    codes = dict(await Unit.all().values_list("id", "code"))
    for row in sorted(overdue, key=lambda r: codes.get(r["lead_unit_id"], "")):
        lines.append(f"appeals_overdue_cases{{unit={_label(codes.get(row['lead_unit_id'], 'none'))}}} {row['n']}")
    lines += ["# HELP appeals_open_cases Cases by status.", "# TYPE appeals_open_cases gauge"]
    by_status = dict(await Case.annotate(n=Count("id")).group_by("status").values_list("status", "n"))
    for status in CaseStatus:
        lines.append(f"appeals_open_cases{{status={_label(status.value)}}} {by_status.get(status, 0)}")
    last = await last_pass()  # from the database: the scheduler runs in one worker of several
    lag = (now - last).total_seconds() if last is not None else -1
    lines += ["# HELP appeals_scheduler_lag_seconds Seconds since the scheduler's last pass (-1: none yet).",
              "# TYPE appeals_scheduler_lag_seconds gauge", f"appeals_scheduler_lag_seconds {lag:.1f}"]
    if dialog is not None:
        for name, kind, help_text in (
            ("steps", "counter", "Citizen messages handled by the dialog engine (of every worker of this server)."),
            ("errors", "counter", "Dialog steps that failed with an unexpected error."),
            ("busy", "counter", "Messages answered 'busy' because another step held the session."),
            ("retried", "counter", "Steps run again because another process changed the session meanwhile."),
        ):
            metric = f"appeals_dialog_{name}_total"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}", f"{metric} {dialog.get(name, 0)}"]
    return "\n".join(lines) + "\n"


def handler(dialog_stats: Callable[[web.Application], Mapping[str, int] | None] = lambda app: None):  # noqa: ANN201
    """Return the ``/metrics`` handler; it answers loopback clients only."""

    async def metrics(request: web.Request) -> web.Response:
        if not _loopback(request):
            raise web.HTTPForbidden(text="metrics are served to loopback clients only")
        shared = request.app.get(SHARED)
        dialog = shared.total() if shared is not None else dialog_stats(request.app)
        body = await render(dt.datetime.now(dt.UTC), dialog)
        return web.Response(text=body, content_type="text/plain", charset="utf-8")

    return metrics
