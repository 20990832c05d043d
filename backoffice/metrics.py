"""``/metrics`` in the Prometheus text format: outbox backlog, dead letters, overdue cases, scheduler lag."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Mapping

from aiohttp import web
from tortoise.functions import Count

from storage.lifecycle import CaseStatus
from storage.models import Case, Notification, NotificationStatus, Unit
from storage.scheduler import SUPERVISED, last_pass


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
            ("steps", "counter", "Citizen messages handled by this process's dialog engine."),
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
        body = await render(dt.datetime.now(dt.UTC), dialog_stats(request.app))
        return web.Response(text=body, content_type="text/plain", charset="utf-8")

    return metrics
