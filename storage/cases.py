"""CaseService: the only writer of a case's status, one transaction per state change."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from . import batch, outbox
from .deadlines import policy_for
from .effects import EFFECTS, Change, text_field
from .errors import CaseNotFound, Conflict, MissingFields, NotAllowed
from .lifecycle import (
    TRANSITIONS,
    Action,
    Actor,
    Audience,
    CaseStatus,
    Role,
    missing_fields,
    refusal,
)
from .models import Case, CaseAssignment, CaseEvent, CaseKind, Channel, Notification, Urgency
from .numbering import next_case_number, next_case_number_on, tracking_code
from .unit_of_work import UnitOfWork

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass
class CaseView:
    """A case as the lifecycle sees it: status, units and flags."""

    status: CaseStatus
    lead_unit_id: int | None
    citizen_id: int | None
    confidential: bool
    malicious: bool
    extension_pending: bool
    return_window_open: bool
    unit_ids: frozenset[int] = field(default_factory=frozenset)
    emergency: bool = False
    consultation: bool = False

    @classmethod
    async def load(cls, case: Case, now: dt.datetime) -> CaseView:
        """Build the view of a case, reading its active unit assignments."""
        units = await CaseAssignment.filter(case_id=case.id, active=True).values_list("unit_id", flat=True)
        return cls(
            status=CaseStatus(case.status),
            lead_unit_id=case.lead_unit_id,
            citizen_id=case.citizen_id,
            confidential=case.confidential,
            malicious=case.malicious,
            extension_pending=case.extension_pending_days is not None,
            return_window_open=case.return_due_at is None or now <= case.return_due_at,
            unit_ids=frozenset(units),
            emergency=Urgency(case.urgency) is Urgency.EMERGENCY,
            consultation=CaseKind(case.kind) is CaseKind.CONSULTATION,
        )


async def _only_viewed_since(case_id: int, version: int) -> bool:
    """Tell whether everything done to the case after ``version`` only looked at it (unmasking the citizen's data):
    a colleague reading the phone number does not make a form out of date."""
    actions = await CaseEvent.filter(case_id=case_id, version__gt=version).values_list("action", flat=True)
    return bool(actions) and all(a == Action.UNMASK for a in actions)


@dataclass(frozen=True)
class Applied:
    """The result of a successful transition."""

    case: Case
    event: CaseEvent
    notifications: int



def _actor_role(actor: Actor, action: Action) -> Role:
    allowed = TRANSITIONS[action].roles
    for role in sorted(actor.roles):
        if role in allowed:
            return role
    return next(iter(sorted(actor.roles)))


@dataclass(frozen=True)
class NewCase:
    """What a submission carries (from a channel or an operator's call record)."""

    text: str
    channel: Channel
    title: str = ""
    citizen_id: int | None = None
    category: str | None = None
    kind: CaseKind = CaseKind.COMPLAINT
    urgency: Urgency = Urgency.NORMAL
    address: str = ""
    district: str | None = None
    street: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    anonymous: bool = False
    confidential: bool = False
    suggestion: Mapping[str, Any] = field(default_factory=dict)


def _receipt(case: Case) -> dict[str, Any]:
    """Return the parameters of a new case's notifications (the citizen's receipt)."""
    return {"number": case.number, "tracking_code": case.tracking_code, "urgency": Urgency(case.urgency).value}


def _submission(prefix: str, now: dt.datetime, case: Case, event: CaseEvent, audiences: list[Audience],
                reserved: str | None = None) -> batch.Work:
    """Return the work (on the SQLite thread) that numbers and inserts a new case with its event and outbox rows.

    ``reserved``: the number handed out already (a unit of work's replies name it). The work may run twice
    (the group commit runs it again alone when its batch's transaction fails), so it numbers afresh each time.
    """
    inserts = {model: batch.Insert.of(model) for model in (Case, CaseEvent, Notification)}

    def run(db: sqlite3.Connection) -> Case:
        case.number = reserved or next_case_number_on(db, prefix, now)
        inserts[Case].run(db, case)
        event.case_id = case.id
        inserts[CaseEvent].run(db, event)
        identities = [] if case.citizen_id is None else db.execute(outbox.IDENTITIES_SQL, (case.citizen_id,)).fetchall()
        for row in outbox.recipients(case, event, audiences, _receipt(case), [tuple(i) for i in identities]):
            inserts[Notification].run(db, row)
        return case

    return run


class CaseService:
    """Creates cases and applies lifecycle actions, each in one transaction with event and outbox."""

    def __init__(self, hotline_prefix: str = "8890", clock: Clock = utcnow) -> None:
        self.hotline_prefix = hotline_prefix
        self.clock = clock

    async def submit(self, new: NewCase, actor: Actor, writes: UnitOfWork | None = None) -> Case:
        """Record a new appeal: case number, tracking code, event and the citizen's receipt.

        With ``writes`` the case is numbered now and its rows are queued there, to commit with the caller's
        other writes (its id is set once they are); a unit that is then undone leaves a gap in the day's numbers.
        """
        if not actor.roles & set(TRANSITIONS[Action.SUBMIT].roles):
            raise NotAllowed("role")
        text = text_field({"text": new.text}, "text", 8000)
        place = {"category": new.category, "district": new.district, "street": new.street, "address": new.address}
        category, district, street = (text_field(place, k, 32 if k == "category" else 64) or None
                                      for k in ("category", "district", "street"))
        address = text_field(place, "address", 255)
        if not text:
            raise MissingFields(["text"])
        now = self.clock()
        policy = await policy_for(category, new.kind, new.urgency)
        case = Case(
            number="", tracking_code=tracking_code(),
            title=text_field({"title": new.title}, "title", 200) or text[:30], text=text,
            category=category, kind=new.kind, urgency=new.urgency, status=CaseStatus.SUBMITTED,
            address=address, district=district, street=street,
            latitude=new.latitude, longitude=new.longitude, channel=new.channel,
            citizen_id=new.citizen_id, anonymous=new.anonymous, confidential=new.confidential,
            suggestion=dict(new.suggestion), policy_id=policy.id if policy else None,
            accept_due_at=now + dt.timedelta(hours=policy.accept_hours if policy else 2),
            created_at=now,
        )
        event = CaseEvent(
            action=Action.SUBMIT, from_status=None, to_status=CaseStatus.SUBMITTED,
            actor_role=_actor_role(actor, Action.SUBMIT), staff_id=actor.staff_id,
            citizen_id=actor.citizen_id, data={"channel": new.channel.value}, version=case.version,
            created_at=now,
        )
        audiences = [Audience.CITIZEN]
        if new.urgency is Urgency.EMERGENCY:
            audiences += [Audience.DISPATCHERS, Audience.SUPERVISORS]

        async def insert() -> Case:  # inside a transaction
            if not case.number:
                # The first statement is a write (the day's counter), so SQLite takes its write lock
                # at once, honouring busy_timeout, instead of failing to upgrade a read snapshot.
                case.number = await next_case_number(self.hotline_prefix, now)
            await case.save()
            event.case_id = case.id
            await event.save()
            await outbox.enqueue(case, event, audiences, _receipt(case))
            return case

        if writes is not None:
            case.number = await next_case_number(self.hotline_prefix, now)
            writes.add(_submission(self.hotline_prefix, now, case, event, audiences, case.number), insert)
            return case
        work = _submission(self.hotline_prefix, now, case, event, audiences)

        async def alone() -> Case:
            async with in_transaction():
                return await insert()

        # On SQLite the whole submission is one unit of the group commit: one trip to the database thread
        # instead of seven statements holding the only connection across turns of a busy event loop.
        return await batch.unit(work, alone)

    async def apply(
        self,
        case_id: int,
        action: Action,
        actor: Actor,
        payload: Mapping[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> Applied:
        """Apply one lifecycle action: check, update with a version check, write event and outbox."""
        if action is Action.SUBMIT:
            raise NotAllowed("status")
        payload = dict(payload or {})
        transition = TRANSITIONS[action]
        now = self.clock()
        async with in_transaction():
            # A no-op write first: it takes SQLite's write lock (honouring busy_timeout) and
            # PostgreSQL's row lock before we read, so the read below is the one we update.
            if not await Case.filter(id=case_id).update(version=F("version")):
                raise CaseNotFound()
            case = await Case.get(id=case_id)
            if expected_version is not None and case.version != expected_version and not await _only_viewed_since(
                    case.id, expected_version):
                raise Conflict()
            why = refusal(await CaseView.load(case, now), action, actor)
            if why is not None:
                raise NotAllowed(why)
            if missing := missing_fields(action, payload):
                raise MissingFields(missing)
            change = Change(case=case, actor=actor, payload=payload, now=now)
            await EFFECTS[action](change)
            if "note" not in change.data and "note" in transition.optional + transition.required:
                if note := text_field(payload, "note"):  # what staff typed beside any action is kept on its event
                    change.data["note"] = note
            before = CaseStatus(case.status)
            after = transition.target or before
            updates = {**change.updates, "status": after, "version": case.version + 1, "updated_at": now}
            if await Case.filter(id=case.id, version=case.version).update(**updates) != 1:
                raise Conflict()
            await case.refresh_from_db()
            event = await CaseEvent.create(
                case_id=case.id, action=action, from_status=before, to_status=after,
                actor_role=_actor_role(actor, action), staff_id=actor.staff_id, citizen_id=actor.citizen_id,
                data=change.data, version=case.version, created_at=now,
            )
            params = {"number": case.number, "status": after.value, **change.params}
            rows = await outbox.enqueue(case, event, [*transition.notify, *change.notify], params)
        return Applied(case=case, event=event, notifications=len(rows))
