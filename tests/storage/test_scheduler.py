"""The scheduler with a controlled clock: every deadline rung, call-backs, ratings, archive, digest — once each."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import textwrap

from storage.cases import CaseService
from storage.deadlines import SHANGHAI
from storage.lifecycle import Action, CaseStatus, Role
from storage.models import Case, CaseEvent, JobRun, Notification
from storage.scheduler import Scheduler, SchedulerConfig, sampled
from tests.support.builders import make_case, make_world


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI).astimezone(dt.UTC)


async def supervision_levels(case_id: int) -> list[str]:
    return [e.data["level"] for e in await CaseEvent.filter(case_id=case_id, action=Action.SUPERVISE).order_by("id")]


async def test_a_case_passes_every_deadline_and_each_rung_happens_once(database_url: str) -> None:
    world = await make_world()
    clock = Clock(at(2026, 11, 16))  # Monday
    case = await make_case(world, CaseStatus.IN_PROGRESS, due_at=at(2026, 11, 20, 23))  # Friday night
    scheduler = Scheduler(CaseService(clock=clock), clock=clock)

    await scheduler.tick()
    assert await supervision_levels(case.id) == []  # four working days left: nothing yet
    clock.now = at(2026, 11, 19, 9)  # Thursday: one working day left
    await scheduler.tick()
    await scheduler.tick()
    assert await supervision_levels(case.id) == ["reminder"]
    clock.now = at(2026, 11, 21, 9)  # Saturday: overdue
    await scheduler.tick()
    await scheduler.tick()
    assert await supervision_levels(case.id) == ["reminder", "order"]
    clock.now = at(2026, 11, 27, 9)  # five working days overdue
    await scheduler.tick()
    await scheduler.tick()
    assert await supervision_levels(case.id) == ["reminder", "order", "bulletin"]
    events = await CaseEvent.filter(case_id=case.id, action=Action.SUPERVISE)
    assert all(e.actor_role == Role.SYSTEM for e in events)
    supervision = await Notification.filter(case_id=case.id, template="supervise").values_list("audience", flat=True)
    assert sorted(supervision) == sorted(["lead_unit", "supervisors"] * 3)
    # The limit expired unresolved: one call-back task to hear the citizen (Beijing art. 23).
    tasks = await Notification.filter(case_id=case.id, template="callback_task")
    assert len(tasks) == 1 and tasks[0].params["overdue"] is True


async def test_a_scheduler_stopped_across_deadlines_catches_up_once(database_url: str) -> None:
    world = await make_world()
    clock = Clock(at(2026, 12, 14))
    late = await make_case(world, CaseStatus.IN_PROGRESS, due_at=at(2026, 12, 1))
    resolved = await make_case(world, CaseStatus.RESOLVED, resolved_at=at(2026, 12, 1),
                               callback_due_at=at(2026, 12, 3))
    evaluated = await make_case(world, CaseStatus.EVALUATED, updated_at=at(2026, 12, 1))
    scheduler = Scheduler(CaseService(clock=clock), clock=clock)
    first = await scheduler.tick()
    second = await scheduler.tick()
    assert await supervision_levels(late.id) == ["order", "bulletin"]
    assert (await Case.get(id=resolved.id)).status == CaseStatus.ARCHIVED  # the rating window closed: 未评价
    note = await CaseEvent.get(case_id=resolved.id, action=Action.ARCHIVE)
    assert "未评价" in note.data["note"]
    assert (await Case.get(id=evaluated.id)).status == CaseStatus.ARCHIVED
    assert first.done["supervise_order"] == 1 and first.done["supervise_bulletin"] == 1
    assert not {k: v for k, v in second.done.items() if k != "digest"}


async def test_resolution_brings_a_call_back_task_and_one_rating_reminder(database_url: str) -> None:
    world = await make_world()
    clock = Clock(at(2026, 12, 1))
    service = CaseService(clock=clock)
    case = await make_case(world, CaseStatus.PENDING_REVIEW, reply="路灯已修复")
    await service.apply(case.id, Action.APPROVE_REPLY, world.actor(Role.SUPERVISOR))
    scheduler = Scheduler(service, SchedulerConfig(callback_rate=1.0), clock=clock)
    await scheduler.tick()
    assert await Notification.filter(case_id=case.id, template="callback_task").count() == 1
    assert await Notification.filter(case_id=case.id, template="rating_reminder").count() == 0
    clock.now += dt.timedelta(hours=25)
    await scheduler.tick()
    await scheduler.tick()
    reminders = await Notification.filter(case_id=case.id, template="rating_reminder")
    assert len(reminders) == 1 and reminders[0].address == "web-abc"
    assert await Notification.filter(case_id=case.id, template="callback_task").count() == 1


def test_call_back_sampling_is_deterministic_and_near_the_rate() -> None:
    numbers = [f"8890-20261201-{i:05d}" for i in range(2000)]
    chosen = [n for n in numbers if sampled(n, 0.3)]
    assert 0.25 < len(chosen) / len(numbers) < 0.35
    assert chosen == [n for n in numbers if sampled(n, 0.3)]
    assert all(sampled(n, 1.0) for n in numbers) and not any(sampled(n, 0.0) for n in numbers)


async def test_the_daily_digest_goes_to_each_busy_unit_once_a_day(database_url: str) -> None:
    world = await make_world()
    clock = Clock(at(2026, 12, 2, 9))
    await make_case(world, CaseStatus.IN_PROGRESS, due_at=at(2026, 12, 1))
    await make_case(world, CaseStatus.IN_PROGRESS, due_at=at(2026, 12, 2, 18))
    scheduler = Scheduler(CaseService(clock=clock), clock=clock)
    await scheduler.tick()
    await scheduler.tick()
    digests = await Notification.filter(template="daily_digest")
    assert len(digests) == 1 and digests[0].unit_id == world.lead.id
    assert (digests[0].params["due_today"], digests[0].params["overdue"]) == (1, 1)
    clock.now += dt.timedelta(days=1)
    await scheduler.tick()
    assert await Notification.filter(template="daily_digest").count() == 2


WORKER = textwrap.dedent(
    """
    import asyncio, datetime as dt, sys
    from storage import db
    from storage.cases import CaseService
    from storage.scheduler import Scheduler
    now = dt.datetime.fromisoformat(sys.argv[2])
    async def main():
        await db.init(sys.argv[1])
        scheduler = Scheduler(CaseService(clock=lambda: now), clock=lambda: now)
        for _ in range(3):
            await scheduler.tick()
        await db.close()
    asyncio.run(main())
    """
)


async def test_two_scheduler_processes_do_no_job_twice(database_url: str) -> None:
    world = await make_world()
    now = at(2026, 12, 14)
    cases = [await make_case(world, CaseStatus.IN_PROGRESS, due_at=at(2026, 12, 1)) for _ in range(8)]
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", WORKER, database_url, now.isoformat(),
                                             stderr=asyncio.subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()[-2000:]
    for case in cases:
        assert await supervision_levels(case.id) == ["order", "bulletin"]
    assert await JobRun.filter(job="supervise").count() == 16


async def test_personal_data_is_minimised_after_the_retention_period(database_url: str) -> None:
    from storage.models import AuditEntry, Citizen

    world = await make_world()
    clock = Clock(at(2027, 9, 1))
    old = await make_case(world, CaseStatus.ARCHIVED, updated_at=at(2027, 1, 1),
                          text="我的电话13812345678，住幸福里3栋", address="东湖区湖滨街道幸福里3栋2单元",
                          district="东湖区", street="湖滨街道", latitude=28.1, longitude=112.9)
    recent = await make_case(world, CaseStatus.ARCHIVED, updated_at=at(2027, 8, 1), address="幸福里5栋")
    mask = lambda s: s.replace("13812345678", "138****5678")  # noqa: E731
    masked = Scheduler(CaseService(clock=clock), clock=clock, mask_text=mask)
    await masked.tick()
    await masked.tick()
    stored = await Case.get(id=old.id)
    assert stored.text == "我的电话138****5678，住幸福里3栋" and stored.address == "东湖区 湖滨街道"
    assert stored.latitude is None and (await Case.get(id=recent.id)).address == "幸福里5栋"
    citizen = await Citizen.get(id=world.citizen.id)
    assert citizen.phone == "13812345678"  # still has a case inside the retention period
    assert await AuditEntry.filter(action="minimise", target=old.number).count() == 1
    clock.now = at(2028, 3, 1)  # now the other case has passed the period too
    await masked.tick()
    assert (await Citizen.get(id=world.citizen.id)).phone is None


async def test_a_dissatisfied_call_back_reopens_the_case_once(database_url: str) -> None:
    world = await make_world()
    clock = Clock(at(2026, 12, 2))
    service = CaseService(clock=clock)
    case = await make_case(world, CaseStatus.RESOLVED)
    await service.apply(case.id, Action.CALLBACK, world.actor(Role.OPERATOR),
                        {"rating": "dissatisfied", "contacted": True, "solved": False})
    happy = await make_case(world, CaseStatus.RESOLVED)
    await service.apply(happy.id, Action.CALLBACK, world.actor(Role.OPERATOR),
                        {"rating": "satisfied", "contacted": True, "solved": True})
    unsolved = await make_case(world, CaseStatus.RESOLVED)  # polite, but the problem is still there
    await service.apply(unsolved.id, Action.CALLBACK, world.actor(Role.OPERATOR),
                        {"rating": "basically_satisfied", "contacted": True, "solved": False})
    scheduler = Scheduler(service, clock=clock)
    await scheduler.tick()
    assert (await Case.get(id=case.id)).status == CaseStatus.EVALUATED  # a grace period for the chat's own reopen
    clock.now += dt.timedelta(minutes=11)
    await scheduler.tick()
    await scheduler.tick()
    stored = await Case.get(id=case.id)
    assert stored.status == CaseStatus.REOPENED and stored.lead_unit_id == world.lead.id
    assert stored.due_at is not None and stored.due_at > clock.now
    reopens = await CaseEvent.filter(case_id=case.id, action=Action.REOPEN)
    assert len(reopens) == 1 and reopens[0].actor_role == Role.SYSTEM
    assert (await Case.get(id=happy.id)).status == CaseStatus.EVALUATED
    assert (await Case.get(id=unsolved.id)).status == CaseStatus.REOPENED  # "unsolved" sends it back too
    reason = (await CaseEvent.get(case_id=unsolved.id, action=Action.REOPEN)).data["reason"]
    assert reason.startswith("回访未解决")
