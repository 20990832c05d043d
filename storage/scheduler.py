"""The scheduler: finds due work in the database and does each piece once, across restarts and processes."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from .cases import CaseService, utcnow
from .deadlines import SHANGHAI, add_working_days, local, working_days_between
from .errors import CaseError
from .lifecycle import Action, Actor, CaseStatus, Rating, SuperviseLevel
from .models import AuditEntry, Case, Channel, ChannelIdentity, Citizen, Evaluation, JobRun, Notification, Unit
from .outbox import run_periodically

log = logging.getLogger(__name__)
SUPERVISED = (CaseStatus.DISPATCHED, CaseStatus.IN_PROGRESS, CaseStatus.REOPENED)


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

    def count(self, job: str) -> None:
        """Count one piece of work done by ``job``."""
        self.done[job] = self.done.get(job, 0) + 1


async def claim_once(job: str, key: str, data: Mapping[str, object] | None = None) -> bool:
    """Record that ``job`` ran for ``key``; False when another pass or process already did."""
    try:
        async with in_transaction():
            await JobRun.create(job=job, key=key, data=dict(data or {}))
    except IntegrityError:
        return False
    return True


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
        self.last_tick: dt.datetime | None = None

    async def _supervise(self, case: Case, level: SuperviseLevel, note: str, report: TickReport) -> None:
        key = f"{case.id}:{level.value}:{case.due_at.isoformat() if case.due_at else ''}"
        try:
            # The claim row and the transition commit together: a second process either waits on
            # the unique key and finds it taken, or finds the case version moved on.
            async with in_transaction():
                await JobRun.create(job="supervise", key=key)
                await self.service.apply(case.id, Action.SUPERVISE, Actor.system(),
                                         {"level": level.value, "note": note}, expected_version=case.version)
        except (IntegrityError, CaseError):
            return
        report.count(f"supervise_{level.value}")

    async def deadlines(self, now: dt.datetime, report: TickReport) -> None:
        """Remind before the deadline, supervise when overdue, publish after five working days overdue."""
        soon = now + dt.timedelta(days=5)
        for case in await Case.filter(status__in=SUPERVISED, due_at__isnull=False, due_at__lte=soon):
            due = case.due_at
            assert due is not None
            if due < now:
                # Climb the ladder: a scheduler that was stopped catches up on every rung, once each.
                await self._supervise(case, SuperviseLevel.ORDER, f"已超过办理期限 {local(due)}，请立即办理", report)
                late = working_days_between(due, now)
                if late >= self.config.bulletin_after_working_days:
                    case = await Case.get(id=case.id)
                    await self._supervise(case, SuperviseLevel.BULLETIN,
                                          f"已超期{late}个工作日，予以通报（期限 {local(due)}）", report)
            elif add_working_days(now, 1) >= due:
                await self._supervise(case, SuperviseLevel.REMINDER, f"将于 {local(due)} 到期，请抓紧办理", report)

    async def callbacks(self, now: dt.datetime, report: TickReport) -> None:
        """Decide which resolved cases are called back, and tell supervisors when one is due."""
        for case in await Case.filter(status=CaseStatus.RESOLVED, callback_due_at__isnull=False):
            rate = self.config.callback_rates.get(case.category or "", self.config.callback_rate)
            chosen = sampled(case.number, rate)
            if await claim_once("callback_task", str(case.id), {"sampled": chosen}) and chosen:
                await self._notify_role(case, "supervisor", "callback_task",
                                        {"number": case.number, "due_at": local(case.callback_due_at)})
                report.count("callback_task")
        # Beijing art. 23: a case whose limit expired unresolved is called back too, to hear the citizen.
        for case in await Case.filter(status__in=SUPERVISED, due_at__lt=now):
            key = f"{case.id}:{case.due_at.isoformat() if case.due_at else ''}"
            if await claim_once("callback_overdue", key):
                await self._notify_role(case, "supervisor", "callback_task",
                                        {"number": case.number, "due_at": local(now), "overdue": True})
                report.count("callback_overdue")

    async def ratings(self, now: dt.datetime, report: TickReport) -> None:
        """Remind the citizen once to rate, and close the window as 未评价 when it passes."""
        for case in await Case.filter(status=CaseStatus.RESOLVED, resolved_at__isnull=False):
            resolved = case.resolved_at
            assert resolved is not None
            if now >= resolved + self.config.evaluation_window:
                try:
                    await self.service.apply(case.id, Action.ARCHIVE, Actor.system(),
                                             {"note": "评价期已过，未评价 / not evaluated"},
                                             expected_version=case.version)
                    report.count("unevaluated")
                except CaseError:
                    pass
            elif now >= resolved + self.config.rating_reminder_after and case.citizen_id is not None:
                if await claim_once("rating_reminder", str(case.id)):
                    await self._notify_citizen(case, "rating_reminder", {"number": case.number})
                    report.count("rating_reminder")

    async def reopen_dissatisfied(self, now: dt.datetime, report: TickReport) -> None:
        """Send a case back to its unit (重办) when its latest rating is 不满意 or 非常不满意."""
        for case in await Case.filter(status=CaseStatus.EVALUATED):
            latest = await Evaluation.filter(case_id=case.id).order_by("-id").first()
            if latest is None or latest.rating not in (Rating.DISSATISFIED, Rating.VERY_DISSATISFIED):
                continue
            if latest.created_at > now - dt.timedelta(minutes=10):
                continue  # the chat reopens a citizen's 不满意 itself, right after the rating: let it
            try:
                async with in_transaction():
                    await JobRun.create(job="reopen", key=str(latest.id))
                    await self.service.apply(case.id, Action.REOPEN, Actor.system(),
                                             {"reason": "回访不满意，重新办理 / dissatisfied at call-back"},
                                             expected_version=case.version)
            except (IntegrityError, CaseError):
                continue
            report.count("reopen")

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
        for case in old:
            async with in_transaction():
                try:
                    await JobRun.create(job="minimise", key=str(case.id))
                except IntegrityError:
                    continue
                await Case.filter(id=case.id).update(
                    text=self.mask_text(case.text), title=self.mask_text(case.title),
                    address=" ".join(p for p in (case.district, case.street) if p), latitude=None, longitude=None,
                )
                still_needed = Q(status__not=CaseStatus.ARCHIVED) | Q(updated_at__gt=now - self.config.retention)
                if case.citizen_id is not None and not await Case.filter(
                    still_needed, citizen_id=case.citizen_id
                ).exists():
                    await Citizen.filter(id=case.citizen_id).update(name=None, phone=None, id_number=None)
                await AuditEntry.create(action="minimise", target=case.number, reason="retention period passed")
            report.count("minimise")

    async def digests(self, now: dt.datetime, report: TickReport) -> None:
        """Send each unit, once a day, what is due today, overdue, returned and reopened."""
        today = now.astimezone(SHANGHAI)
        if today.hour < self.config.digest_hour:
            return
        end_of_day = dt.datetime.combine(today.date(), dt.time(23, 59, 59), tzinfo=SHANGHAI)
        for unit in await Unit.filter(active=True):
            cases = Case.filter(lead_unit_id=unit.id)
            counts = {
                "due_today": await cases.filter(status__in=SUPERVISED, due_at__gte=now, due_at__lte=end_of_day).count(),
                "overdue": await cases.filter(status__in=SUPERVISED, due_at__lt=now).count(),
                "returned": await cases.filter(status=CaseStatus.RETURNED).count(),
                "reopened": await cases.filter(status=CaseStatus.REOPENED).count(),
            }
            if not any(counts.values()):
                continue
            if await claim_once("digest", f"{today.date().isoformat()}:{unit.id}", counts):
                await Notification.create(audience="lead_unit", unit_id=unit.id, channel=Channel.BACKOFFICE,
                                          template="daily_digest", params={"date": today.date().isoformat(), **counts})
                report.count("digest")

    async def _notify_role(self, case: Case, role: str, template: str, params: dict[str, object]) -> None:
        await Notification.create(case_id=case.id, audience=f"{role}s", role=role, channel=Channel.BACKOFFICE,
                                  template=template, params=params)

    async def _notify_citizen(self, case: Case, template: str, params: dict[str, object]) -> None:
        identities = await ChannelIdentity.filter(citizen_id=case.citizen_id).order_by("id")
        chosen = [i for i in identities if i.channel == case.channel] or identities[:1]
        for identity in chosen:
            await Notification.create(case_id=case.id, audience="citizen", citizen_id=case.citizen_id,
                                      channel=identity.channel, address=identity.external_id,
                                      template=template, params=params)

    async def tick(self) -> TickReport:
        """Do everything that is due now, once."""
        now = self.clock()
        report = TickReport()
        for job in (self.deadlines, self.callbacks, self.ratings, self.reopen_dissatisfied, self.archive,
                    self.minimise, self.digests):
            await job(now, report)
        self.last_tick = now
        return report

    async def run_forever(self) -> None:
        """Tick every interval until cancelled; a failing pass is logged and retried next interval."""
        await run_periodically(self._tick_and_log, self.config.interval_seconds, "scheduler")

    async def _tick_and_log(self) -> None:
        report = await self.tick()
        if report.done:
            log.info("scheduler: %s", report.done)

