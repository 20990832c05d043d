"""CaseService: the only writer of a case's status, one transaction per state change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from . import outbox
from .deadlines import add_limit, add_working_days, local, policy_for
from .errors import CaseNotFound, Conflict, InvalidField, MissingFields, NotAllowed
from .lifecycle import (
    TRANSITIONS,
    Action,
    Actor,
    Audience,
    CaseStatus,
    Rating,
    RejectClass,
    Role,
    SuperviseLevel,
    missing_fields,
    refusal,
)
from .models import Case, CaseAssignment, CaseEvent, CaseKind, Channel, Evaluation, Policy, Unit, Urgency
from .numbering import next_case_number, tracking_code

Clock = Callable[[], dt.datetime]
Effect = Callable[["_Change"], Awaitable[None]]


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
        )


@dataclass
class _Change:
    """What one action does: the case, the payload, and what it will write."""

    case: Case
    actor: Actor
    payload: Mapping[str, Any]
    now: dt.datetime
    updates: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # recorded on the event
    params: dict[str, Any] = field(default_factory=dict)  # shown in notifications


@dataclass(frozen=True)
class Applied:
    """The result of a successful transition."""

    case: Case
    event: CaseEvent
    notifications: int


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "是", "y"):
        return True
    if text in ("0", "false", "no", "off", "否", "n"):
        return False
    raise InvalidField(name, "请选择“是”或“否”", "choose yes or no")


def _text(payload: Mapping[str, Any], name: str, limit: int = 4000) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidField(name, "应为文字", "must be text")
    value = value.replace("\x00", "").strip()
    if len(value) > limit:
        raise InvalidField(name, f"不能超过{limit}字", f"must be at most {limit} characters")
    return value


def _enum(enum: type, name: str, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise InvalidField(name, "不是有效的选项", "is not one of the choices") from None


async def _unit(name: str, value: Any) -> Unit:
    unit = None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        unit = await Unit.get_or_none(id=int(value), active=True)
    elif isinstance(value, str) and value:
        unit = await Unit.get_or_none(code=value, active=True)
    if unit is None:
        raise InvalidField(name, "单位不存在或已停用", "no such active unit")
    return unit


async def _policy(case: Case) -> Policy | None:
    if case.policy_id is not None:
        found = await Policy.get_or_none(id=case.policy_id)
        if found is not None:
            return found
    return await policy_for(case.category, CaseKind(case.kind), Urgency(case.urgency))


async def _assign(case: Case, unit: Unit, lead: bool, now: dt.datetime) -> None:
    exists = await CaseAssignment.filter(case_id=case.id, unit_id=unit.id, active=True).first()
    if exists is None:
        await CaseAssignment.create(case_id=case.id, unit_id=unit.id, lead=lead, created_at=now)
    elif lead and not exists.lead:
        await CaseAssignment.filter(id=exists.id).update(lead=True)


# --- one effect per action that writes more than its event -----------------------------------

async def _accept(c: _Change) -> None:
    if c.payload.get("category"):
        c.updates["category"] = _text(c.payload, "category", 32)


async def _reject(c: _Change) -> None:
    klass = _enum(RejectClass, "reject_class", c.payload["reject_class"])
    c.data.update(reject_class=klass.value, reason=_text(c.payload, "reason"))
    c.params.update(reject_class=klass.value, reason=c.data["reason"])


async def _merge(c: _Change) -> None:
    ref = str(c.payload["parent"]).strip()
    if "-" in ref:
        parent = await Case.get_or_none(number=ref)
    else:
        parent = await Case.get_or_none(id=int(ref)) if ref.isdigit() else None
    if parent is None or parent.id == c.case.id:
        raise InvalidField("parent", "找不到可并入的诉求", "no such case to merge into")
    while parent.parent_id is not None and parent.status == CaseStatus.MERGED:
        parent = await Case.get(id=parent.parent_id)
    if parent.id == c.case.id:
        raise InvalidField("parent", "不能并入自身", "cannot merge a case into itself")
    c.updates["parent_id"] = parent.id
    c.data.update(parent=parent.number, reason=_text(c.payload, "reason"))
    c.params.update(parent=parent.number)


async def _dispatch(c: _Change) -> None:
    lead = await _unit("lead_unit", c.payload["lead_unit"])
    co_values = c.payload.get("co_units") or []
    if isinstance(co_values, str):
        co_values = [v for v in co_values.replace("，", ",").split(",") if v.strip()]
    co_units = [await _unit("co_units", v) for v in co_values]
    if c.payload.get("category"):
        c.case.category = c.updates["category"] = _text(c.payload, "category", 32)
    # A transfer away ends the old units' part: they lose access everywhere.
    await CaseAssignment.filter(case_id=c.case.id, active=True).update(active=False, ended_at=c.now)
    await _assign(c.case, lead, True, c.now)
    for unit in co_units:
        if unit.id != lead.id:
            await _assign(c.case, unit, False, c.now)
    policy = await policy_for(c.case.category, CaseKind(c.case.kind), Urgency(c.case.urgency))
    if policy is None:
        raise InvalidField("category", "没有适用的办理时限规则", "no time-limit policy applies")
    due = add_limit(c.now, policy.handle_amount, policy.handle_unit)
    c.updates.update(
        lead_unit_id=lead.id, dispatched_at=c.now, policy_id=policy.id, due_at=due,
        sign_due_at=c.now + dt.timedelta(hours=policy.sign_hours),
        return_due_at=add_working_days(c.now, policy.return_working_days),
        extension_pending_days=None, extended_days=0,
    )
    c.data.update(
        lead_unit=lead.code, co_units=[u.code for u in co_units], policy=policy.name,
        due_at=due.isoformat(), suggested_unit=(c.case.suggestion or {}).get("unit"),
        suggested_category=(c.case.suggestion or {}).get("category"), category=c.case.category,
    )
    c.params.update(unit=lead.name_zh, unit_en=lead.name_en, due_at=local(due))


async def _sign(c: _Change) -> None:
    c.data["late"] = c.case.sign_due_at is not None and c.now > c.case.sign_due_at


async def _return(c: _Change) -> None:
    c.data.update(reason=_text(c.payload, "reason"), suggested_unit=_text(c.payload, "suggested_unit", 64))


async def _uphold(c: _Change) -> None:
    policy = await _policy(c.case)
    hours = policy.sign_hours if policy else 2
    c.updates.update(sign_due_at=c.now + dt.timedelta(hours=hours), return_due_at=c.now)
    c.data["reason"] = _text(c.payload, "reason")


async def _note(c: _Change) -> None:
    c.data["note"] = _text(c.payload, "note")
    if "public" in c.payload:
        c.data["public"] = _bool("public", c.payload["public"])


async def _contact(c: _Change) -> None:
    c.data.update(reached=_bool("reached", c.payload["reached"]), note=_text(c.payload, "note"))


async def _coordinate(c: _Change) -> None:
    unit = await _unit("co_unit", c.payload["co_unit"])
    if unit.id == c.case.lead_unit_id:
        raise InvalidField("co_unit", "协办单位不能是主办单位", "the co-unit cannot be the lead unit")
    await _assign(c.case, unit, False, c.now)
    c.data.update(co_unit=unit.code, note=_text(c.payload, "note"))


def _days(value: Any, limit: int) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise InvalidField("days", "应为整数", "must be a whole number") from None
    if not 1 <= days <= limit:
        raise InvalidField("days", f"应在1到{limit}之间", f"must be between 1 and {limit}")
    return days


async def _request_extension(c: _Change) -> None:
    policy = await _policy(c.case)
    limit = (policy.extension_max_working_days if policy else 10) - c.case.extended_days
    if limit < 1:
        raise InvalidField("days", "已达到延期上限", "the extension limit is used up")
    if c.case.due_at is not None and c.now > c.case.due_at:
        raise InvalidField("days", "须在办理期限届满前申请延期", "ask before the deadline passes")
    days = _days(c.payload["days"], limit)
    c.updates["extension_pending_days"] = days
    c.data.update(days=days, reason=_text(c.payload, "reason"))


async def _approve_extension(c: _Change) -> None:
    requested = c.case.extension_pending_days or 0
    days = _days(c.payload.get("days") or requested, requested)
    base = c.case.due_at or c.now
    due = add_working_days(base, days)
    c.updates.update(extension_pending_days=None, extended_days=c.case.extended_days + days, due_at=due)
    c.data.update(days=days, due_at=due.isoformat(), note=_text(c.payload, "note"))
    c.params.update(days=days, due_at=local(due))


async def _deny_extension(c: _Change) -> None:
    c.updates["extension_pending_days"] = None
    c.data["reason"] = _text(c.payload, "reason")


async def _supervise(c: _Change) -> None:
    level = _enum(SuperviseLevel, "level", c.payload["level"])
    c.data.update(level=level.value, note=_text(c.payload, "note"))
    c.params.update(level=level.value)


async def _submit_reply(c: _Change) -> None:
    c.updates["reply"] = _text(c.payload, "reply", 8000)
    if "solved" in c.payload:
        c.data["solved"] = _bool("solved", c.payload["solved"])


async def _approve_reply(c: _Change) -> None:
    policy = await _policy(c.case)
    days = policy.callback_working_days if policy else 2
    c.updates.update(resolved_at=c.now, callback_due_at=add_working_days(c.now, days))
    c.data["on_time"] = c.case.due_at is None or c.now <= c.case.due_at
    c.params["reply"] = c.case.reply


async def _send_back(c: _Change) -> None:
    c.data["reason"] = _text(c.payload, "reason")


async def _rate(c: _Change, source: str) -> None:
    rating = _enum(Rating, "rating", c.payload["rating"])
    contacted = _bool("contacted", c.payload["contacted"]) if "contacted" in c.payload else None
    solved = _bool("solved", c.payload["solved"]) if "solved" in c.payload else None
    comment = _text(c.payload, "comment", 1000)
    await Evaluation.create(
        case_id=c.case.id, unit_id=c.case.lead_unit_id, source=source, rating=rating,
        contacted=contacted, solved=solved, comment=comment, staff_id=c.actor.staff_id, created_at=c.now,
    )
    c.data.update(rating=rating.value, contacted=contacted, solved=solved, comment=comment)
    c.params["rating"] = rating.value


async def _callback(c: _Change) -> None:
    await _rate(c, "callback")


async def _evaluate(c: _Change) -> None:
    await _rate(c, "citizen")


async def _reopen(c: _Change) -> None:
    policy = await _policy(c.case)
    due = add_working_days(c.now, policy.reopen_working_days if policy else 5)
    c.updates.update(due_at=due, resolved_at=None, callback_due_at=None, extension_pending_days=None)
    c.data.update(reason=_text(c.payload, "reason"), due_at=due.isoformat())
    c.params.update(due_at=local(due))


async def _malicious(c: _Change) -> None:
    c.updates["malicious"] = c.data["malicious"] = True
    c.data["reason"] = _text(c.payload, "reason")


async def _clear_malicious(c: _Change) -> None:
    c.updates["malicious"] = c.data["malicious"] = False
    c.data["reason"] = _text(c.payload, "reason")


async def _reason_only(c: _Change) -> None:
    c.data["reason"] = _text(c.payload, "reason")


EFFECTS: dict[Action, Effect] = {
    Action.ACCEPT: _accept, Action.REJECT: _reject, Action.MERGE: _merge, Action.DISPATCH: _dispatch,
    Action.SIGN: _sign, Action.RETURN: _return, Action.UPHOLD_DISPATCH: _uphold,
    Action.PROGRESS_NOTE: _note, Action.CONTACT: _contact, Action.COORDINATE: _coordinate,
    Action.REQUEST_EXTENSION: _request_extension, Action.APPROVE_EXTENSION: _approve_extension,
    Action.DENY_EXTENSION: _deny_extension, Action.SUPERVISE: _supervise, Action.SUBMIT_REPLY: _submit_reply,
    Action.APPROVE_REPLY: _approve_reply, Action.SEND_BACK: _send_back, Action.CALLBACK: _callback,
    Action.CALLBACK_ATTEMPT: _note, Action.EVALUATE: _evaluate, Action.REOPEN: _reopen,
    Action.ARCHIVE: _note, Action.NOTE: _note, Action.UNMASK: _reason_only,
    Action.LABEL_MALICIOUS: _malicious, Action.CLEAR_MALICIOUS: _clear_malicious,
}


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


class CaseService:
    """Creates cases and applies lifecycle actions, each in one transaction with event and outbox."""

    def __init__(self, hotline_prefix: str = "8890", clock: Clock = utcnow) -> None:
        self.hotline_prefix = hotline_prefix
        self.clock = clock

    async def submit(self, new: NewCase, actor: Actor) -> Case:
        """Record a new appeal: case number, tracking code, event and the citizen's receipt."""
        if not actor.roles & set(TRANSITIONS[Action.SUBMIT].roles):
            raise NotAllowed("role")
        text = _text({"text": new.text}, "text", 8000)
        if not text:
            raise MissingFields(["text"])
        now = self.clock()
        policy = await policy_for(new.category, new.kind, new.urgency)
        async with in_transaction():
            # The first statement is a write (the day's counter), so SQLite takes its write lock
            # at once, honouring busy_timeout, instead of failing to upgrade a read snapshot.
            number = await next_case_number(self.hotline_prefix, now)
            case = await Case.create(
                number=number, tracking_code=tracking_code(),
                title=_text({"title": new.title}, "title", 200) or text[:30], text=text,
                category=new.category, kind=new.kind, urgency=new.urgency, status=CaseStatus.SUBMITTED,
                address=new.address[:255], district=new.district, street=new.street,
                latitude=new.latitude, longitude=new.longitude, channel=new.channel,
                citizen_id=new.citizen_id, anonymous=new.anonymous, confidential=new.confidential,
                suggestion=dict(new.suggestion), policy_id=policy.id if policy else None,
                accept_due_at=now + dt.timedelta(hours=policy.accept_hours if policy else 2),
                created_at=now,
            )
            event = await CaseEvent.create(
                case_id=case.id, action=Action.SUBMIT, from_status=None, to_status=CaseStatus.SUBMITTED,
                actor_role=_actor_role(actor, Action.SUBMIT), staff_id=actor.staff_id,
                citizen_id=actor.citizen_id, data={"channel": new.channel.value}, version=case.version,
                created_at=now,
            )
            audiences = [Audience.CITIZEN]
            if new.urgency is Urgency.EMERGENCY:
                audiences += [Audience.DISPATCHERS, Audience.SUPERVISORS]
            await outbox.enqueue(case, event, audiences, {
                "number": case.number, "tracking_code": case.tracking_code, "urgency": new.urgency.value,
            })
        return case

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
            if expected_version is not None and case.version != expected_version:
                raise Conflict()
            why = refusal(await CaseView.load(case, now), action, actor)
            if why is not None:
                raise NotAllowed(why)
            if missing := missing_fields(action, payload):
                raise MissingFields(missing)
            change = _Change(case=case, actor=actor, payload=payload, now=now)
            await EFFECTS[action](change)
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
            rows = await outbox.enqueue(case, event, transition.notify, params)
        return Applied(case=case, event=event, notifications=len(rows))
