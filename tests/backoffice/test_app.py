"""The application answers health checks and sends protective headers, over a real socket."""

from __future__ import annotations

import aiohttp

from backoffice.app import create_app
from storage.settings import Settings
from tests.support.builders import make_world
from tests.support.server import serving


async def test_healthz_reports_ready_with_the_case_count(database_url: str) -> None:
    await make_world()
    app = create_app(Settings.from_env({"APPEALS_DATABASE_URL": database_url}), manage_orm=False)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok", "cases": 0, "worker": 0}
        async with http.get(f"{base}/") as resp:
            text = await resp.text()
            assert resp.status == 200 and "群众诉求办理平台" in text
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_metrics_show_backlog_dead_letters_and_overdue_cases(database_url: str) -> None:
    import datetime as dt

    from storage.lifecycle import CaseStatus
    from storage.models import Channel, Notification, NotificationStatus
    from tests.support.builders import make_case

    world = await make_world()
    await make_case(world, CaseStatus.IN_PROGRESS, due_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    await Notification.create(audience="supervisors", role="supervisor", channel=Channel.BACKOFFICE,
                              template="callback_task")  # a staff inbox row: no sender consumes it
    await Notification.create(audience="citizen", channel=Channel.TELEGRAM, template="submit",
                              status=NotificationStatus.DEAD)
    app = create_app(Settings.from_env({"APPEALS_DATABASE_URL": database_url}), manage_orm=False)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
    assert 'appeals_outbox_notifications{status="pending",channel="backoffice"} 1' in text
    assert "appeals_outbox_dead_letters 1" in text
    assert 'appeals_overdue_cases{unit="lead"} 1' in text
    assert 'appeals_open_cases{status="in_progress"} 1' in text
    assert "appeals_scheduler_lag_seconds -1" in text
    assert "appeals_dialog_steps_total 0" in text and "appeals_dialog_errors_total 0" in text


async def test_metrics_count_dialog_steps_of_this_process(database_url: str) -> None:
    from bot.channels import webchat
    from bot.messages import Inbound

    await make_world()
    app = create_app(Settings.from_env({"APPEALS_DATABASE_URL": database_url}), manage_orm=False)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        engine = app[webchat.BOT].engine
        await engine.handle(Inbound(channel="webchat", user_key="metrics-user", text="你好"))
        await engine.handle(Inbound(channel="webchat", user_key="metrics-user", text="帮助"))
        async with http.get(f"{base}/metrics") as resp:
            text = await resp.text()
    assert "appeals_dialog_steps_total 2" in text


async def test_a_worker_without_the_scheduler_reports_the_lag_of_the_one_that_runs_it(database_url: str) -> None:
    import re

    from storage.cases import CaseService
    from storage.scheduler import Scheduler

    await make_world()
    await Scheduler(CaseService()).tick()  # worker 0's pass
    sibling = create_app(Settings.from_env({"APPEALS_DATABASE_URL": database_url}), manage_orm=False, worker=1)
    async with serving(sibling) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/metrics") as resp:
            text = await resp.text()
        async with http.get(f"{base}/healthz") as resp:
            assert (await resp.json())["worker"] == 1
    lag = float(re.search(r"^appeals_scheduler_lag_seconds (\S+)$", text, re.M).group(1))
    assert 0 <= lag < 30  # not -1 ("never"), which would page someone for nothing
