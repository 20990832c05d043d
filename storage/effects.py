"""What each lifecycle action writes beyond its event: one effect function per action."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .deadlines import add_limit, add_working_days, is_official, local, policy_for
from .errors import InvalidField
from .labels import label
from .lifecycle import OPEN_STATUSES, Action, Actor, Audience, CaseStatus, Rating, RejectClass, SuperviseLevel
from .models import Case, CaseAssignment, CaseKind, CatalogueEntry, Evaluation, Policy, Unit, Urgency

Effect = Callable[["Change"], Awaitable[None]]


@dataclass
class Change:
    """What one action does: the case, the payload, and what it will write."""

    case: Case
    actor: Actor
    payload: Mapping[str, Any]
    now: dt.datetime
    updates: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # recorded on the event
    params: dict[str, Any] = field(default_factory=dict)  # shown in notifications
    notify: list[Audience] = field(default_factory=list)  # told beyond the table's audiences


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "是", "y"):
        return True
    if text in ("0", "false", "no", "off", "否", "n"):
        return False
    raise InvalidField(name, "请选择“是”或“否”", "choose yes or no")


def text_field(payload: Mapping[str, Any], name: str, limit: int = 4000) -> str:
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


MAX_ROW_ID = 2**31 - 1  # the id columns are 32-bit on PostgreSQL


def _row_id(value: Any) -> int | None:
    """Return ``value`` as a database id if it is one (ASCII digits, in range), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 0 < value <= MAX_ROW_ID else None


async def _unit(name: str, value: Any) -> Unit:
    unit = None
    if _row_id(value) is not None:
        unit = await Unit.get_or_none(id=_row_id(value), active=True)
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

async def catalogue_categories() -> list[str]:
    """Return the categories of the active dispatch catalogue, sorted."""
    return sorted(set(await CatalogueEntry.filter(active=True).values_list("category", flat=True)))


async def catalogue_category(value: str, current: str | None = None) -> str:
    """Return ``value`` if it is a category of the active dispatch catalogue (or the case's own, or no catalogue
    exists yet); refuse a made-up one, which no unit, time limit or statistic would know."""
    value = value.strip()
    if not value or value == current:
        return value
    active = CatalogueEntry.filter(active=True)
    if await active.filter(category=value).exists() or not await active.exists():
        return value
    raise InvalidField("category", "不是派单目录中的类别，请从列表中选择", "not a category of the dispatch catalogue: "
                       "choose one from the list")


async def _accept(c: Change) -> None:
    if c.payload.get("category"):
        c.updates["category"] = await catalogue_category(text_field(c.payload, "category", 32), c.case.category)


async def _reject(c: Change) -> None:
    klass = _enum(RejectClass, "reject_class", c.payload["reject_class"])
    c.data.update(reject_class=klass.value, reason=text_field(c.payload, "reason"))
    c.params.update(reject_class=klass.value, reason=c.data["reason"])
    if klass is RejectClass.EMERGENCY:  # the citizen is told to call 110/119/120; staff are alerted too
        c.notify += [Audience.DISPATCHERS, Audience.SUPERVISORS]


MERGE_PARENTS = OPEN_STATUSES  # the matter is still being handled there


async def _merge(c: Change) -> None:
    ref = str(c.payload["parent"]).strip()
    if "-" in ref:
        parent = await Case.get_or_none(number=ref)
    else:
        row_id = _row_id(ref)
        parent = await Case.get_or_none(id=row_id) if row_id is not None else None
    if parent is None:
        raise InvalidField("parent", "找不到可并入的诉求", "no such case to merge into")
    if parent.id == c.case.id:
        raise InvalidField("parent", "不能并入自身", "cannot merge a case into itself")
    while parent.parent_id is not None and parent.status == CaseStatus.MERGED:
        parent = await Case.get(id=parent.parent_id)
    if parent.id == c.case.id:
        raise InvalidField("parent", "不能并入自身", "cannot merge a case into itself")
    if CaseStatus(parent.status) not in MERGE_PARENTS:  # a closed one would leave this appeal never handled
        status = CaseStatus(parent.status)
        raise InvalidField("parent", f"只能并入正在办理的诉求（{parent.number}：{label(status)}）",
                           f"only an open case can take it ({parent.number}: {label(status, 'en')})")
    c.updates["parent_id"] = parent.id
    c.data.update(parent=parent.number, reason=text_field(c.payload, "reason"))
    c.params.update(parent=parent.number)


async def _dispatch(c: Change) -> None:
    lead = await _unit("lead_unit", c.payload["lead_unit"])
    co_values = c.payload.get("co_units") or []
    if isinstance(co_values, str):
        co_values = [v for v in co_values.replace("，", ",").split(",") if v.strip()]
    co_units = [await _unit("co_units", v) for v in co_values]
    if any(unit.id == lead.id for unit in co_units):  # as 协调 refuses it: one unit cannot help itself
        raise InvalidField("co_units", "协办单位不能是主办单位", "a co-unit cannot be the lead unit")
    if c.payload.get("category"):
        c.case.category = c.updates["category"] = await catalogue_category(text_field(c.payload, "category", 32),
                                                                           c.case.category)
    # A transfer away ends the old units' part: they lose access everywhere.
    await CaseAssignment.filter(case_id=c.case.id, active=True).update(active=False, ended_at=c.now)
    await _assign(c.case, lead, True, c.now)
    for unit in co_units:
        if unit.id != lead.id:
            await _assign(c.case, unit, False, c.now)
    policy = await policy_for(c.case.category, CaseKind(c.case.kind), Urgency(c.case.urgency))
    if policy is None:
        raise InvalidField("category", "没有适用的办理时限规则", "no time-limit policy applies")
    # An emergency's feedback limit runs from the citizen's call, not from our dispatch.
    start = c.case.created_at if Urgency(c.case.urgency) is Urgency.EMERGENCY else c.now
    due = add_limit(start, policy.handle_amount, policy.handle_unit)
    c.updates.update(
        lead_unit_id=lead.id, dispatched_at=c.now, policy_id=policy.id, due_at=due,
        sign_due_at=c.now + dt.timedelta(hours=policy.sign_hours),
        return_due_at=add_working_days(c.now, policy.return_working_days),
        extension_pending_days=None, extended_days=0,
    )
    c.data.update(
        lead_unit=lead.code, co_units=[u.code for u in co_units], policy=policy.name,
        due_at=due.isoformat(), calendar="official" if is_official(due.date()) else "estimated",
        suggested_unit=(c.case.suggestion or {}).get("unit"),
        suggested_category=(c.case.suggestion or {}).get("category"), category=c.case.category,
    )
    c.params.update(unit=lead.name_zh, unit_en=lead.name_en, due_at=local(due))


async def _sign(c: Change) -> None:
    c.data["late"] = c.case.sign_due_at is not None and c.now > c.case.sign_due_at
    unit = await Unit.get_or_none(id=c.case.lead_unit_id) if c.case.lead_unit_id else None
    if unit is not None:  # the citizen is told who took it on
        c.params.update(unit=unit.name_zh, unit_en=unit.name_en)


async def _return(c: Change) -> None:
    c.data.update(reason=text_field(c.payload, "reason"), suggested_unit=text_field(c.payload, "suggested_unit", 64))


async def _uphold(c: Change) -> None:
    policy = await _policy(c.case)
    hours = policy.sign_hours if policy else 2
    c.updates.update(sign_due_at=c.now + dt.timedelta(hours=hours), return_due_at=c.now)
    c.data["reason"] = text_field(c.payload, "reason")


async def _note(c: Change) -> None:
    c.data["note"] = text_field(c.payload, "note")
    if "public" in c.payload:
        c.data["public"] = _bool("public", c.payload["public"])


async def _contact(c: Change) -> None:
    c.data.update(reached=_bool("reached", c.payload["reached"]), note=text_field(c.payload, "note"))


async def _coordinate(c: Change) -> None:
    unit = await _unit("co_unit", c.payload["co_unit"])
    if unit.id == c.case.lead_unit_id:
        raise InvalidField("co_unit", "协办单位不能是主办单位", "the co-unit cannot be the lead unit")
    await _assign(c.case, unit, False, c.now)
    c.data.update(co_unit=unit.code, note=text_field(c.payload, "note"))


def _days(value: Any, limit: int) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise InvalidField("days", "应为整数", "must be a whole number") from None
    if not 1 <= days <= limit:
        raise InvalidField("days", f"应在1到{limit}之间", f"must be between 1 and {limit}")
    return days


async def _request_extension(c: Change) -> None:
    policy = await _policy(c.case)
    limit = (policy.extension_max_working_days if policy else 10) - c.case.extended_days
    if limit < 1:
        raise InvalidField("days", "已达到延期上限", "the extension limit is used up")
    if c.case.due_at is not None and c.now > c.case.due_at:
        raise InvalidField("days", "须在办理期限届满前申请延期", "ask before the deadline passes")
    days = _days(c.payload["days"], limit)
    c.updates["extension_pending_days"] = days
    c.data.update(days=days, reason=text_field(c.payload, "reason"))


async def _approve_extension(c: Change) -> None:
    requested = c.case.extension_pending_days or 0
    days = _days(c.payload.get("days") or requested, requested)
    base = c.case.due_at or c.now
    due = add_working_days(base, days)
    c.updates.update(extension_pending_days=None, extended_days=c.case.extended_days + days, due_at=due)
    c.data.update(days=days, due_at=due.isoformat(), note=text_field(c.payload, "note"))
    c.params.update(days=days, due_at=local(due))


async def _deny_extension(c: Change) -> None:
    c.updates["extension_pending_days"] = None
    c.data["reason"] = text_field(c.payload, "reason")


async def _supervise(c: Change) -> None:
    level = _enum(SuperviseLevel, "level", c.payload["level"])
    c.data.update(level=level.value, note=text_field(c.payload, "note"))
    c.params.update(level=level.value)


async def _submit_reply(c: Change) -> None:
    c.updates["reply"] = c.data["reply"] = text_field(c.payload, "reply", 8000)  # each one stays on the timeline
    if "solved" in c.payload:
        c.data["solved"] = _bool("solved", c.payload["solved"])


async def _approve_reply(c: Change) -> None:
    policy = await _policy(c.case)
    days = policy.callback_working_days if policy else 2
    c.updates.update(resolved_at=c.now, callback_due_at=add_working_days(c.now, days))
    c.data["on_time"] = c.case.due_at is None or c.now <= c.case.due_at
    c.params["reply"] = c.case.reply


async def _answer_directly(c: Change) -> None:
    reply = text_field(c.payload, "reply", 8000)
    policy = await _policy(c.case)
    c.updates.update(reply=reply, resolved_at=c.now,
                     callback_due_at=add_working_days(c.now, policy.callback_working_days if policy else 2))
    c.data.update(source=text_field(c.payload, "source", 255), direct=True)
    c.params["reply"] = reply


async def _send_back(c: Change) -> None:
    c.data["reason"] = text_field(c.payload, "reason")
    c.updates["reply"] = ""  # not the answer any more (it stays on its submit_reply event); the unit writes anew


async def _rate(c: Change, source: str) -> None:
    rating = _enum(Rating, "rating", c.payload["rating"])
    contacted = _bool("contacted", c.payload["contacted"]) if "contacted" in c.payload else None
    solved = _bool("solved", c.payload["solved"]) if "solved" in c.payload else None
    comment = text_field(c.payload, "comment", 1000)
    await Evaluation.create(
        case_id=c.case.id, unit_id=c.case.lead_unit_id, source=source, rating=rating,
        contacted=contacted, solved=solved, comment=comment, staff_id=c.actor.staff_id, created_at=c.now,
    )
    c.data.update(rating=rating.value, contacted=contacted, solved=solved, comment=comment)
    c.params["rating"] = rating.value


async def _callback(c: Change) -> None:
    await _rate(c, "callback")


async def _evaluate(c: Change) -> None:
    await _rate(c, "citizen")


async def _reopen(c: Change) -> None:
    policy = await _policy(c.case)
    due = add_working_days(c.now, policy.reopen_working_days if policy else 5)
    c.updates.update(due_at=due, resolved_at=None, callback_due_at=None, extension_pending_days=None)
    c.data.update(reason=text_field(c.payload, "reason"), due_at=due.isoformat())
    c.params.update(due_at=local(due))


async def _malicious(c: Change) -> None:
    c.updates["malicious"] = c.data["malicious"] = True
    c.data["reason"] = text_field(c.payload, "reason")


async def _clear_malicious(c: Change) -> None:
    c.updates["malicious"] = c.data["malicious"] = False
    c.data["reason"] = text_field(c.payload, "reason")


async def _reason_only(c: Change) -> None:
    c.data["reason"] = text_field(c.payload, "reason")


EFFECTS: dict[Action, Effect] = {
    Action.ACCEPT: _accept, Action.REJECT: _reject, Action.MERGE: _merge, Action.DISPATCH: _dispatch,
    Action.SIGN: _sign, Action.RETURN: _return, Action.UPHOLD_DISPATCH: _uphold,
    Action.PROGRESS_NOTE: _note, Action.CONTACT: _contact, Action.COORDINATE: _coordinate,
    Action.REQUEST_EXTENSION: _request_extension, Action.APPROVE_EXTENSION: _approve_extension,
    Action.DENY_EXTENSION: _deny_extension, Action.SUPERVISE: _supervise, Action.SUBMIT_REPLY: _submit_reply,
    Action.APPROVE_REPLY: _approve_reply, Action.ANSWER_DIRECTLY: _answer_directly, Action.SEND_BACK: _send_back,
    Action.CALLBACK: _callback,
    Action.CALLBACK_ATTEMPT: _note, Action.EVALUATE: _evaluate, Action.REOPEN: _reopen,
    Action.ARCHIVE: _note, Action.NOTE: _note, Action.UNMASK: _reason_only,
    Action.LABEL_MALICIOUS: _malicious, Action.CLEAR_MALICIOUS: _clear_malicious,
}
