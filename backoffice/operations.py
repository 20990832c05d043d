"""What pages and the JSON API both do: list, show, act on and record cases (one function per step)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from storage.accounts import staff_names
from storage.cases import Applied, CaseService, CaseView, NewCase
from storage.deadlines import local
from storage.labels import ACTION, STATUS, field_label, label
from storage.lifecycle import OPEN_STATUSES, Action, Actor, CaseStatus, Rating, RejectClass, Role, SuperviseLevel
from storage.lifecycle import allowed_actions as lifecycle_allowed
from storage.models import Case, CaseEvent, CaseFollower, Channel, Citizen, StaffSession, Unit

from . import sessions
from .access import hides_citizen, visible_case, visible_cases
from .forms import ActionForm, action_form
from .ids import check_payload_ids
from .masking import citizen_view, text_view
from .suggest import Proposal, Suggester, similar_cases

UNMASK_MINUTES = 10
_ENUM_FIELDS = {"rating": Rating, "reject_class": RejectClass, "level": SuperviseLevel, "channel": Channel}
#: Labels of what effects record on events beyond the action's own fields; internal keys are not shown.
EVENT_KEYS: dict[str, tuple[str, str]] = {
    "policy": ("时限规则", "Time-limit rule"), "due_at": ("办理时限", "Due"),
    "suggested_category": ("建议类别", "Suggested category"), "late": ("超时签收", "Signed late"),
    "channel": ("渠道", "Channel"), "on_time": ("按时办结", "On time"), "malicious": ("恶意标记", "Malicious"),
    "direct": ("直接答复", "Answered directly"), "source": ("依据", "Source"),
}
HIDDEN_KEYS = frozenset({"calendar"})
UNIT_KEYS = frozenset({"lead_unit", "co_units", "co_unit", "suggested_unit"})


async def unit_choices(lang: str) -> list[tuple[str, str]]:
    """Return the active units as (id, name) choices."""
    rows = await Unit.filter(active=True).order_by("id").values_list("id", "name_zh", "name_en")
    return [(str(i), (en or zh) if lang == "en" else zh) for i, zh, en in rows]


def _key_text(name: str, lang: str) -> str:
    if name in EVENT_KEYS:
        zh, en = EVENT_KEYS[name]
        return en if lang == "en" else zh
    return field_label(name, lang)


def _value_text(name: str, value: Any, lang: str, units: dict[str, str] | None = None) -> str:
    units = units or {}
    if name in UNIT_KEYS:
        values = value if isinstance(value, list) else [value]
        return "、".join(units.get(str(v), str(v)) for v in values)
    if name.endswith("_at") and isinstance(value, str):
        try:
            return local(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, bool):
        return ("Yes" if value else "No") if lang == "en" else ("是" if value else "否")
    if name in _ENUM_FIELDS and isinstance(value, str):
        try:
            return label(_ENUM_FIELDS[name](value), lang)
        except ValueError:
            return value
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


async def timeline(case: Case, lang: str, hidden: bool) -> list[dict[str, Any]]:
    """Return the case's events with labels in the page language."""
    events = await CaseEvent.filter(case_id=case.id).order_by("id")
    units: dict[str, str] = {}
    for ident, code, zh, en in await Unit.all().values_list("id", "code", "name_zh", "name_en"):
        units[code] = units[str(ident)] = (en or zh) if lang == "en" else zh  # forms send ids, effects store codes
    names = await staff_names(e.staff_id for e in events)  # type: ignore[attr-defined]
    out = []
    for e in events:
        data = {k: v for k, v in (e.data or {}).items() if v not in (None, "", []) and k not in HIDDEN_KEYS}
        if hidden and e.action == Action.UNMASK:
            data.pop("reason", None)
        out.append({
            "id": e.id, "action": e.action.value, "action_label": label(Action(e.action), lang),
            "from": label(CaseStatus(e.from_status), lang) if e.from_status else "",
            "to": label(CaseStatus(e.to_status), lang), "changed": e.from_status != e.to_status,
            "role": label(Role(e.actor_role), lang), "staff": names.get(e.staff_id, ""),  # type: ignore[attr-defined]
            "at": local(e.created_at), "at_iso": e.created_at.isoformat(),
            "data": [(_key_text(k, lang), _value_text(k, v, lang, units)) for k, v in data.items()],
        })
    return out


CLOCKS = (
    ("accept_due_at", "受理时限", "Accept by", {CaseStatus.SUBMITTED}),
    ("sign_due_at", "签收时限", "Sign for by", {CaseStatus.DISPATCHED}),
    ("return_due_at", "退单时限", "Return window", {CaseStatus.DISPATCHED, CaseStatus.IN_PROGRESS}),
    ("due_at", "办理时限", "Due", {CaseStatus.DISPATCHED, CaseStatus.IN_PROGRESS, CaseStatus.REOPENED,
                                   CaseStatus.PENDING_REVIEW, CaseStatus.RETURNED}),
    ("callback_due_at", "回访时限", "Call back by", {CaseStatus.RESOLVED}),
)


def clocks(case: Case, now: dt.datetime, lang: str) -> list[dict[str, Any]]:
    """Return the deadlines that matter in the case's status, with time left or overdue."""
    out = []
    for attr, zh, en, statuses in CLOCKS:
        moment = getattr(case, attr)
        if moment is None or CaseStatus(case.status) not in statuses:
            continue
        left = moment - now
        if attr == "return_due_at" and left.total_seconds() < 0:
            continue  # a return window that closed is no one's lateness: the unit simply can no longer return it
        hours = abs(left.total_seconds()) / 3600
        span = f"{hours:.0f} h" if hours < 48 else (f"{hours / 24:.1f} d" if lang == "en" else f"{hours / 24:.1f} 天")
        state = "overdue" if left.total_seconds() < 0 else ("soon" if left < dt.timedelta(hours=24) else "ok")
        if lang == "en":
            text = f"overdue by {span}" if state == "overdue" else f"{span} left"
        else:
            text = f"已超期 {span}" if state == "overdue" else f"剩余 {span}"
        short = (en if lang == "en" else zh).removesuffix("时限").removesuffix(" by")
        out.append({"name": attr, "label": en if lang == "en" else zh, "short": short, "at": local(moment),
                    "left": text, "state": state, "at_iso": moment.isoformat()})
    return out


def is_unmasked(session: StaffSession | None, case_id: int, now: dt.datetime) -> bool:
    """Tell whether this session unmasked the case within the last few minutes."""
    if session is None:
        return False
    until = (session.data or {}).get("unmasked", {}).get(str(case_id))
    return bool(until) and dt.datetime.fromisoformat(until) > now


async def remember_unmask(session: StaffSession | None, case_id: int, now: dt.datetime) -> None:
    """Let this session see the case's personal data for a few minutes."""
    if session is None:
        return
    data = dict(session.data or {})
    unmasked = {k: v for k, v in data.get("unmasked", {}).items() if dt.datetime.fromisoformat(v) > now}
    unmasked[str(case_id)] = (now + dt.timedelta(minutes=UNMASK_MINUTES)).isoformat()
    data["unmasked"] = unmasked
    session.data = data
    await sessions.save_data(session)


@dataclass
class CaseDetail:
    """Everything a case page or the API shows about one case for one actor."""

    case: Case
    status_label: str
    lead_unit: str
    units: list[str]
    citizen: dict[str, Any]
    text: str
    events: list[dict[str, Any]]
    clocks: list[dict[str, Any]]
    forms: list[ActionForm]
    proposal: Proposal
    similar: list[dict[str, Any]] = field(default_factory=list)
    earlier: list[dict[str, Any]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)  # appeals of the same matter merged into this one
    followers: int = 0  # citizens who chose to follow this case instead of submitting it again

    def as_json(self) -> dict[str, Any]:
        """Return the detail as JSON-ready data."""
        c = self.case
        return {
            "id": c.id, "number": c.number, "title": c.title, "text": self.text, "status": c.status.value,
            "status_label": self.status_label, "category": c.category, "kind": c.kind.value,
            "urgency": c.urgency.value, "channel": c.channel.value, "district": c.district, "street": c.street,
            "confidential": c.confidential, "malicious": c.malicious, "version": c.version,
            "lead_unit": self.lead_unit, "units": self.units, "citizen": self.citizen, "reply": c.reply,
            "timeline": self.events, "clocks": self.clocks, "allowed_actions": [f.action for f in self.forms],
            "suggestions": {"categories": self.proposal.categories, "units": self.proposal.units},
            "similar": self.similar, "earlier": self.earlier, "merged": self.merged, "followers": self.followers,
        }


async def allowed(case: Case, actor: Actor, now: dt.datetime) -> list[Action]:
    """Return exactly the lifecycle's allowed actions for this actor on this case now."""
    return lifecycle_allowed(await CaseView.load(case, now), actor)


async def case_detail(actor: Actor, case_id: int, session: StaffSession | None, lang: str, now: dt.datetime,
                      suggester: Suggester | None = None) -> CaseDetail:
    """Load a visible case with masked personal data, timeline, clocks, suggestions and allowed actions."""
    case = await visible_case(actor, case_id)
    hidden = hides_citizen(case, actor)
    unmasked = not hidden and is_unmasked(session, case.id, now)
    citizen = await Citizen.get_or_none(id=case.citizen_id) if case.citizen_id and not hidden else None
    view = await CaseView.load(case, now)
    unit_names = dict(await Unit.filter(id__in=sorted(view.unit_ids | ({case.lead_unit_id} - {None})))  # type: ignore[operator]
                      .values_list("id", "name_en" if lang == "en" else "name_zh"))
    units = await unit_choices(lang)
    forms = [action_form(a, lang, units) for a in lifecycle_allowed(view, actor)]
    proposal = Proposal()
    similar: list[dict[str, Any]] = []
    if suggester is not None and CaseStatus(case.status) in OPEN_STATUSES:
        proposal = await suggester.propose(case.text, case.district, case.category)  # units of staff's category
        similar = await _similar(actor, case, hidden or not unmasked)
    earlier: list[dict[str, Any]] = []
    if case.citizen_id and not hidden and not case.anonymous:
        rows = await visible_cases(actor).filter(citizen_id=case.citizen_id).exclude(id=case.id) \
            .order_by("-id").limit(10)
        earlier = [{"id": c.id, "number": c.number, "title": text_view(c.title, masked=not unmasked),
                    "status": c.status.value, "status_label": label(CaseStatus(c.status), lang),
                    "channel": label(Channel(c.channel), lang), "at": local(c.created_at)} for c in rows]
    merged = [{"id": c.id, "number": c.number, "at": local(c.created_at), "channel": label(Channel(c.channel), lang)}
              for c in await visible_cases(actor).filter(parent_id=case.id, status=CaseStatus.MERGED).order_by("id")]
    return CaseDetail(
        earlier=earlier, merged=merged, followers=await CaseFollower.filter(case_id=case.id).count(),
        case=case, status_label=label(CaseStatus(case.status), lang),
        lead_unit=unit_names.get(case.lead_unit_id, "") if case.lead_unit_id else "",  # type: ignore[arg-type]
        units=[unit_names[u] for u in sorted(view.unit_ids) if u in unit_names],
        citizen=citizen_view(case, citizen, hidden=hidden, unmasked=unmasked),
        text=text_view(case.text, masked=hidden or not unmasked), events=await timeline(case, lang, hidden),
        clocks=clocks(case, now, lang), forms=forms, proposal=proposal, similar=similar,
    )


async def _similar(actor: Actor, case: Case, masked: bool) -> list[dict[str, Any]]:
    rows = await visible_cases(actor).filter(status__in=[s.value for s in OPEN_STATUSES | {CaseStatus.RESOLVED}]) \
        .exclude(id=case.id).order_by("-id").limit(500).values_list("id", "text", "district", "street", "created_at")
    matches = await similar_cases(case.id, case.text, case.district, case.street, list(rows))
    if not matches:
        return []
    found = {c.id: c for c in await Case.filter(id__in=[m[0] for m in matches])}
    return [
        {"id": cid, "number": found[cid].number, "title": text_view(found[cid].title, masked=masked),
         "status": found[cid].status.value, "score": round(score, 2), "reasons": list(reasons)}
        for cid, score, reasons in matches if cid in found
    ]


async def act(service: CaseService, actor: Actor, session: StaffSession | None, case_id: int, action: Action,
              payload: dict[str, Any], expected_version: int | None) -> Applied:
    """Apply an action to a case the actor can see (404 otherwise), through CaseService only."""
    await visible_case(actor, case_id)
    check_payload_ids(payload)
    applied = await service.apply(case_id, action, actor, payload, expected_version=expected_version)
    if action is Action.UNMASK:
        await remember_unmask(session, case_id, service.clock())
    return applied


async def record_call(service: CaseService, actor: Actor, new: NewCase, name: str, phone: str) -> Case:
    """Record a phone call as a case (代录), creating the caller's record when they gave name or phone."""
    citizen_id = None
    if (name or phone) and not new.anonymous:
        citizen = await Citizen.create(name=name[:64] or None, phone=phone[:32] or None)
        citizen_id = citizen.id
    return await service.submit(NewCase(**{**new.__dict__, "citizen_id": citizen_id}), actor)


def action_title(action: Action, lang: str) -> str:
    """Return the label of an action."""
    zh, en = ACTION[action]
    return en if lang == "en" else zh


def status_title(status: CaseStatus, lang: str) -> str:
    """Return the label of a status."""
    zh, en = STATUS[status]
    return en if lang == "en" else zh
