"""The scheduler: finds due work in the database and does each piece once, across restarts and processes."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from . import outbox
from .cases import CaseService, utcnow
from .deadlines import RULES_MAX_AGE, SHANGHAI, add_working_days, local, refresh_rules, working_days_between
from .errors import CaseError
from .lifecycle import Action, Actor, CaseStatus, Rating, SuperviseLevel
from .models import AuditEntry, Case, Channel, Citizen, Evaluation, JobRun, Notification, Unit
from .outbox import run_periodically

log = logging.getLogger(__name__)
REOPENING = (Rating.DISSATISFIED, Rating.VERY_DISSATISFIED)  # a rating that sends the case back (重办)
SUPERVISED = (CaseStatus.DISPATCHED, CaseStatus.IN_PROGRESS, CaseStatus.REOPENED)
HEARTBEAT, HEARTBEAT_KEY = "scheduler", "last_pass"  # the job_run row of the last completed pass


async def last_pass() -> dt.datetime | None:
    """Return when any process's scheduler last completed a pass (None: never)."""
    data = await JobRun.filter(job=HEARTBEAT, key=HEARTBEAT_KEY).first().values_list("data", flat=True)
    at = data.get("at") if isinstance(data, dict) else None
    return dt.datetime.fromisoformat(at) if isinstance(at, str) else None


@dataclass(frozen=True)
class SchedulerConfig:
    """Windows and rates of the automatic follow-up (defaults from DOMAIN.md)."""

    bulletin_after_working_days: int = 5
    rating_reminder_after: dt.timedelta = dt.timedelta(hours=24)
    evaluation_window: dt.timedelta = dt.timedelta(days=7)
    archive_after: dt.timedelta = dt.timedelta(days=7)
    callback_rate: float = 1.0  # share of resolved cases called back (回访率 target 100%)
    callback_rates: Mapping[str, float] = field(default_factory=dict)  # per category
    digest_hour: int = 8  # local hour from which the daily digest goes out
    retention: dt.timedelta = dt.timedelta(days=180)  # after archiving, personal data is minimised
    interval_seconds: float = 60.0


@dataclass
class TickReport:
    """What one pass did, job by job."""

    done: dict[str, int] = field(default_factory=dict)

    def count(self, job: str, n: int = 1) -> None:
        """Count ``n`` pieces of work done by ``job`` (none: nothing is recorded)."""
        if n:
            self.done[job] = self.done.get(job, 0) + n


def _rung(case: Case, level: SuperviseLevel) -> str:
    return f"{case.id}:{level.value}:{case.due_at.isoformat() if case.due_at else ''}"


def _due_key(case: Case) -> str:
    return f"{case.id}:{case.due_at.isoformat() if case.due_at else ''}"


async def _nothing() -> None:
    return None


def sampled(case_number: str, rate: float) -> bool:
    """Decide deterministically whether a case is in the call-back sample."""
    digest = hashlib.sha256(case_number.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < rate


class Scheduler:
    """Runs the deadline ladder, call-backs, rating requests, archiving and digests."""

    def __init__(self, service: CaseService, config: SchedulerConfig | None = None,
                 clock: Callable[[], dt.datetime] = utcnow, mask_text: Callable[[str], str] = str) -> None:
        self.service = service
        self.config = config or SchedulerConfig()
        self.clock = clock
        self.mask_text = mask_text  # e.g. intents.extract.mask_pii, given by the composition root
        self.extra_jobs: list[Callable[[dt.datetime, TickReport], Awaitable[None]]] = []  # added by upper layers

    async def _done(self, job: str, keys: Iterable[str]) -> set[str]:
        """Return which keys ``job`` has already done, in one query per chunk (not one claim per row per pass)."""
        wanted = list(dict.fromkeys(keys))
        done: set[str] = set()
        for i in range(0, len(wanted), 500):
            done.update(await JobRun.filter(job=job, key__in=wanted[i:i + 500]).values_list("key", flat=True))
        return done

    async def _once(self, job: str, key: str, work: Callable[[], Awaitable[object]],
                    data: Mapping[str, object] | None = None) -> bool:
        """Do ``work`` and record (job, key) in one transaction; False when it was done already.

        A second process either waits on the unique key and finds it taken, or, for transitions, finds
        the case version moved on (CaseError, raised to the caller). A crash leaves neither half.
        """
        try:
            async with in_transaction():
                await JobRun.create(job=job, key=key, data=dict(data or {}))
                await work()
        except IntegrityError:
            return False
        return True

    async def _supervise(self, case: Case, level: SuperviseLevel, note: str, report: TickReport) -> None:
        apply = partial(self.service.apply, case.id, Action.SUPERVISE, Actor.system(),
                        {"level": level.value, "note": note}, case.version)
        try:
            if await self._once("supervise", _rung(case, level), apply):
                report.count(f"supervise_{level.value}")
        except CaseError:
            pass  # another process moved the case first: it is looked at again next pass

    async def deadlines(self, now: dt.datetime, report: TickReport) -> None:
        """Remind before the deadline, supervise when overdue, publish after five working days overdue."""
        soon = now + dt.timedelta(days=5)
        cases = await Case.filter(status__in=SUPERVISED, due_at__isnull=False, due_at__lte=soon)
        done = await self._done("supervise", (_rung(c, lv) for c in cases for lv in SuperviseLevel))
        for case in cases:
            due = case.due_at
            assert due is not None
            if due < now:
                # Climb the ladder: a scheduler that was stopped catches up on every rung, once each.
                if _rung(case, SuperviseLevel.ORDER) not in done:
                    note = f"已超过办理期限 {local(due)}，请立即办理"
                    await self._supervise(case, SuperviseLevel.ORDER, note, report)
                    case = await Case.get(id=case.id)
                late = working_days_between(due, now)
                if late >= self.config.bulletin_after_working_days and _rung(case, SuperviseLevel.BULLETIN) not in done:
                    await self._supervise(case, SuperviseLevel.BULLETIN,
                                          f"已超期{late}个工作日，予以通报（期限 {local(due)}）", report)
            elif add_working_days(now, 1) >= due and _rung(case, SuperviseLevel.REMINDER) not in done:
                await self._supervise(case, SuperviseLevel.REMINDER, f"将于 {local(due)} 到期，请抓紧办理", report)

    async def callbacks(self, now: dt.datetime, report: TickReport) -> None:
        """Decide which resolved cases are called back, and tell supervisors when one is due."""
        resolved = await Case.filter(status=CaseStatus.RESOLVED, callback_due_at__isnull=False)
        done = await self._done("callback_task", (str(c.id) for c in resolved))
        for case in resolved:
            if str(case.id) in done:
                continue
            rate = self.config.callback_rates.get(case.category or "", self.config.callback_rate)
            chosen = sampled(case.number, rate)
            params = {"number": case.number, "due_at": local(case.callback_due_at)}
            work = partial(self._notify_role, case, "supervisor", "callback_task", params) if chosen else _nothing
            if await self._once("callback_task", str(case.id), work, {"sampled": chosen}) and chosen:
                report.count("callback_task")
        # Beijing art. 23: a case whose limit expired unresolved is called back too, to hear the citizen.
        overdue = await Case.filter(status__in=SUPERVISED, due_at__lt=now)
        done = await self._done("callback_overdue", (_due_key(c) for c in overdue))
        for case in overdue:
            if _due_key(case) in done:
                continue
            params = {"number": case.number, "due_at": local(now), "overdue": True}
            if await self._once("callback_overdue", _due_key(case),
                                partial(self._notify_role, case, "supervisor", "callback_task", params)):
                report.count("callback_overdue")

    async def ratings(self, now: dt.datetime, report: TickReport) -> None:
        """Remind the citizen once to rate, and close the window as 未评价 when it passes."""
        resolved = await Case.filter(status=CaseStatus.RESOLVED, resolved_at__isnull=False)
        reminded = await self._done("rating_reminder", (str(c.id) for c in resolved))
        for case in resolved:
            when = case.resolved_at
            assert when is not None
            if now >= when + self.config.evaluation_window:
                try:
                    await self.service.apply(case.id, Action.ARCHIVE, Actor.system(),
                                             {"note": "评价期已过，未评价 / not evaluated"},
                                             expected_version=case.version)
                    report.count("unevaluated")
                except CaseError:
                    pass
            elif (now >= when + self.config.rating_reminder_after and case.citizen_id is not None
                  and str(case.id) not in reminded):
                remind = partial(self._notify_citizen, case, "rating_reminder", {"number": case.number})
                if await self._once("rating_reminder", str(case.id), remind):
                    report.count("rating_reminder")

    async def reopen_dissatisfied(self, now: dt.datetime, report: TickReport) -> None:
        """Send a case back to its unit (重办) when its latest rating is 不满意 or 非常不满意, or says unsolved."""
        # The chat reopens a citizen's 不满意 itself right after the rating: ratings younger than the
        # grace period are left to it.
        candidates = await Evaluation.filter(
            Q(rating__in=list(REOPENING)) | Q(solved=False),
            case__status=CaseStatus.EVALUATED, created_at__lte=now - dt.timedelta(minutes=10),
        )
        if not candidates:
            return
        latest: dict[int, int] = {}
        for case_id, eval_id in await Evaluation.filter(case_id__in=[e.case_id for e in candidates]).values_list(
                "case_id", "id"):
            latest[case_id] = max(latest.get(case_id, 0), eval_id)
        done = await self._done("reopen", (str(e.id) for e in candidates))
        for evaluation in candidates:
            if latest.get(evaluation.case_id) != evaluation.id or str(evaluation.id) in done:
                continue
            case = await Case.get(id=evaluation.case_id)
            reason = ("回访不满意，重新办理 / dissatisfied at call-back" if evaluation.rating in REOPENING
                      else "回访未解决，重新办理 / unsolved at call-back")
            reopen = partial(self.service.apply, case.id, Action.REOPEN, Actor.system(), {"reason": reason},
                             case.version)
            try:
                if await self._once("reopen", str(evaluation.id), reopen):
                    report.count("reopen")
            except CaseError:
                continue

    async def archive(self, now: dt.datetime, report: TickReport) -> None:
        """Archive evaluated cases once the window in which the citizen may reopen has passed."""
        for case in await Case.filter(status=CaseStatus.EVALUATED, updated_at__lte=now - self.config.archive_after):
            try:
                await self.service.apply(case.id, Action.ARCHIVE, Actor.system(), {}, expected_version=case.version)
                report.count("archive")
            except CaseError:
                pass

    async def minimise(self, now: dt.datetime, report: TickReport) -> None:
        """Minimise personal data of cases archived longer than the retention period."""
        old = await Case.filter(status=CaseStatus.ARCHIVED, updated_at__lte=now - self.config.retention)
        done = await self._done("minimise", (str(c.id) for c in old))
        for case in old:
            if str(case.id) not in done and await self._once("minimise", str(case.id),
                                                             partial(self._minimise, case, now)):
                report.count("minimise")

    async def _minimise(self, case: Case, now: dt.datetime) -> None:
        await Case.filter(id=case.id).update(
            text=self.mask_text(case.text), title=self.mask_text(case.title),
            address=" ".join(p for p in (case.district, case.street) if p), latitude=None, longitude=None,
        )
        still_needed = Q(status__not=CaseStatus.ARCHIVED) | Q(updated_at__gt=now - self.config.retention)
        if case.citizen_id is not None and not await Case.filter(still_needed, citizen_id=case.citizen_id).exists():
            await Citizen.filter(id=case.citizen_id).update(name=None, phone=None, id_number=None)
        await AuditEntry.create(action="minimise", target=case.number, reason="retention period passed")

    async def digests(self, now: dt.datetime, report: TickReport) -> None:
        """Send each unit, once a day, what is due today, overdue, returned and reopened."""
        today = now.astimezone(SHANGHAI)
        if today.hour < self.config.digest_hour:
            return
        end_of_day = dt.datetime.combine(today.date(), dt.time(23, 59, 59), tzinfo=SHANGHAI)
        units = await Unit.filter(active=True)
        done = await self._done("digest", (f"{today.date().isoformat()}:{u.id}" for u in units))
        for unit in units:
            key = f"{today.date().isoformat()}:{unit.id}"
            if key in done:
                continue
            cases = Case.filter(lead_unit_id=unit.id)
            counts = {
                "due_today": await cases.filter(status__in=SUPERVISED, due_at__gte=now, due_at__lte=end_of_day).count(),
                "overdue": await cases.filter(status__in=SUPERVISED, due_at__lt=now).count(),
                "returned": await cases.filter(status=CaseStatus.RETURNED).count(),
                "reopened": await cases.filter(status=CaseStatus.REOPENED).count(),
            }
            if not any(counts.values()):
                continue
            digest = partial(Notification.create, audience="lead_unit", unit_id=unit.id, channel=Channel.BACKOFFICE,
                             template="daily_digest", params={"date": today.date().isoformat(), **counts})
            if await self._once("digest", key, digest, counts):
                report.count("digest")

    async def _notify_role(self, case: Case, role: str, template: str, params: dict[str, object]) -> None:
        await Notification.create(case_id=case.id, audience=f"{role}s", role=role, channel=Channel.BACKOFFICE,
                                  template=template, params=params)

    async def _notify_citizen(self, case: Case, template: str, params: dict[str, object]) -> None:
        if case.citizen_id is None:
            return
        for channel, address in outbox.preferred(case, await outbox.citizen_identities(case.citizen_id)):
            await Notification.create(case_id=case.id, audience="citizen", citizen_id=case.citizen_id,
                                      channel=Channel(channel), address=address, template=template, params=params)

    async def tick(self) -> TickReport:
        """Do everything that is due now, once."""
        now = self.clock()
        report = TickReport()
        await refresh_rules(RULES_MAX_AGE)  # another process's holiday overrides, for the working-day arithmetic below
        for job in (self.deadlines, self.callbacks, self.ratings, self.reopen_dissatisfied, self.archive,
                    self.minimise, self.digests, *self.extra_jobs):
            await job(now, report)
        await self._beat(now)
        return report

    @staticmethod
    async def _beat(now: dt.datetime) -> None:
        """Record the pass in the database, where every process's /metrics reads it (see ``last_pass``)."""
        data = {"at": now.isoformat()}
        if not await JobRun.filter(job=HEARTBEAT, key=HEARTBEAT_KEY).update(data=data):
            try:
                await JobRun.create(job=HEARTBEAT, key=HEARTBEAT_KEY, data=data)
            except IntegrityError:  # another process's scheduler wrote it first: the later pass wins next time
                pass

    async def run_forever(self) -> None:
        """Tick every interval until cancelled; a failing pass is logged and retried next interval."""
        await run_periodically(self._tick_and_log, self.config.interval_seconds, "scheduler")

    async def _tick_and_log(self) -> None:
        report = await self.tick()
        if report.done:
            log.info("scheduler: %s", report.done)

