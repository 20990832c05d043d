"""The case lifecycle: statuses, actions, roles and the one transition table (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class CaseStatus(StrEnum):
    """Where a case stands in the chain 提出 → 受理 → 转办 → 承办 → 办结 → 评价 → 归档."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    MERGED = "merged"
    DISPATCHED = "dispatched"
    RETURNED = "returned"
    IN_PROGRESS = "in_progress"
    PENDING_REVIEW = "pending_review"
    RESOLVED = "resolved"
    EVALUATED = "evaluated"
    REOPENED = "reopened"
    ARCHIVED = "archived"


class Action(StrEnum):
    """Everything that can happen to a case; each one is an event on its timeline."""

    SUBMIT = "submit"
    ACCEPT = "accept"
    REJECT = "reject"
    MERGE = "merge"
    DISPATCH = "dispatch"
    SIGN = "sign"
    RETURN = "return"
    UPHOLD_DISPATCH = "uphold_dispatch"
    PROGRESS_NOTE = "progress_note"
    CONTACT = "contact"
    COORDINATE = "coordinate"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    DENY_EXTENSION = "deny_extension"
    SUPERVISE = "supervise"
    ANSWER_DIRECTLY = "answer_directly"
    SUBMIT_REPLY = "submit_reply"
    APPROVE_REPLY = "approve_reply"
    SEND_BACK = "send_back"
    CALLBACK = "callback"
    CALLBACK_ATTEMPT = "callback_attempt"
    EVALUATE = "evaluate"
    REOPEN = "reopen"
    ARCHIVE = "archive"
    NOTE = "note"
    UNMASK = "unmask"
    LABEL_MALICIOUS = "label_malicious"
    CLEAR_MALICIOUS = "clear_malicious"


class Role(StrEnum):
    """Who acts: the citizen, platform staff, unit staff, or the platform's own scheduler."""

    CITIZEN = "citizen"
    OPERATOR = "operator"
    DISPATCHER = "dispatcher"
    HANDLER = "handler"
    UNIT_HEAD = "unit_head"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    AUDITOR = "auditor"
    SYSTEM = "system"


class Audience(StrEnum):
    """Who is told about an event through the notification outbox."""

    CITIZEN = "citizen"
    LEAD_UNIT = "lead_unit"
    CO_UNITS = "co_units"
    DISPATCHERS = "dispatchers"
    SUPERVISORS = "supervisors"


class Scope(StrEnum):
    """Which cases a role may act on for an action."""

    ANY = "any"  # platform roles: every case
    LEAD_UNIT = "lead_unit"  # unit staff of the case's lead unit
    ANY_UNIT = "any_unit"  # unit staff of the lead unit or a co-unit
    OWNER = "owner"  # the citizen who submitted the case


class RejectClass(StrEnum):
    """Non-acceptance classes (Beijing 接诉即办条例 art. 11); a reason is always given."""

    EMERGENCY = "emergency"
    OTHER_CHANNEL = "other_channel"
    REPEAT_NO_NEW_FACTS = "repeat_no_new_facts"
    SECRETS_OR_PRIVACY = "secrets_or_privacy"
    OUTSIDE_DUTIES = "outside_duties"
    UNLAWFUL = "unlawful"


class Rating(StrEnum):
    """The national five-level satisfaction scale."""

    VERY_SATISFIED = "very_satisfied"
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"
    VERY_DISSATISFIED = "very_dissatisfied"


class SuperviseLevel(StrEnum):
    """The supervision ladder: 催办 → 督办单 → 通报."""

    REMINDER = "reminder"
    ORDER = "order"
    BULLETIN = "bulletin"


OPEN_STATUSES = frozenset(
    {
        CaseStatus.SUBMITTED,
        CaseStatus.ACCEPTED,
        CaseStatus.DISPATCHED,
        CaseStatus.RETURNED,
        CaseStatus.IN_PROGRESS,
        CaseStatus.PENDING_REVIEW,
        CaseStatus.REOPENED,
    }
)
TERMINAL_STATUSES = frozenset({CaseStatus.REJECTED, CaseStatus.MERGED, CaseStatus.ARCHIVED})
HANDLING_STATUSES = frozenset({CaseStatus.IN_PROGRESS, CaseStatus.REOPENED})
UNIT_STATUSES = frozenset(
    {CaseStatus.DISPATCHED, CaseStatus.IN_PROGRESS, CaseStatus.PENDING_REVIEW, CaseStatus.REOPENED}
)
NOT_ARCHIVED = frozenset(CaseStatus) - {CaseStatus.ARCHIVED}
EVERY_STATUS = frozenset(CaseStatus)
STAFF_ROLES = frozenset(Role) - {Role.CITIZEN, Role.SYSTEM}
UNIT_ROLES = frozenset({Role.HANDLER, Role.UNIT_HEAD})


class Guard(StrEnum):
    """Conditions beyond status and role that a transition checks on the case."""

    NO_PENDING_EXTENSION = "no_pending_extension"
    PENDING_EXTENSION = "pending_extension"
    WITHIN_RETURN_WINDOW = "within_return_window"
    NOT_MALICIOUS = "not_malicious"
    MALICIOUS = "malicious"
    NOT_CONFIDENTIAL_FOR_UNITS = "not_confidential_for_units"
    NOT_EMERGENCY = "not_emergency"
    CONSULTATION = "consultation"


@dataclass(frozen=True)
class Transition:
    """One row of the transition table."""

    action: Action
    sources: frozenset[CaseStatus]
    target: CaseStatus | None  # None: the status does not change
    roles: Mapping[Role, Scope]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    notify: tuple[Audience, ...] = ()
    guards: tuple[Guard, ...] = ()


def _roles(*pairs: tuple[Role, Scope]) -> Mapping[Role, Scope]:
    return dict(pairs)


_UNIT_LEAD = ((Role.HANDLER, Scope.LEAD_UNIT), (Role.UNIT_HEAD, Scope.LEAD_UNIT))
_UNIT_ANY = ((Role.HANDLER, Scope.ANY_UNIT), (Role.UNIT_HEAD, Scope.ANY_UNIT))
_ALL_STAFF_ACTING = (
    (Role.OPERATOR, Scope.ANY),
    (Role.DISPATCHER, Scope.ANY),
    (Role.SUPERVISOR, Scope.ANY),
    *_UNIT_ANY,
)

#: The whole chain as data. ``CaseService.apply`` is the only code that enforces and applies it.
TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(
            Action.SUBMIT, frozenset(), CaseStatus.SUBMITTED,
            _roles((Role.CITIZEN, Scope.ANY), (Role.OPERATOR, Scope.ANY)),
            required=("text",), notify=(Audience.CITIZEN,),
        ),
        Transition(
            Action.ACCEPT, frozenset({CaseStatus.SUBMITTED}), CaseStatus.ACCEPTED,
            _roles((Role.DISPATCHER, Scope.ANY)),
            optional=("note", "category"), notify=(Audience.CITIZEN,),
        ),
        Transition(
            Action.REJECT, frozenset({CaseStatus.SUBMITTED}), CaseStatus.REJECTED,
            _roles((Role.DISPATCHER, Scope.ANY)),
            required=("reject_class", "reason"), notify=(Audience.CITIZEN,),
        ),
        Transition(
            # 直接答复: a consultation answered at intake, counted in the direct-answer rate.
            Action.ANSWER_DIRECTLY, frozenset({CaseStatus.SUBMITTED}), CaseStatus.RESOLVED,
            # SYSTEM: the chat bot served a published knowledge article and the citizen said it answered.
            _roles((Role.OPERATOR, Scope.ANY), (Role.DISPATCHER, Scope.ANY), (Role.SYSTEM, Scope.ANY)),
            required=("reply",), optional=("source",), notify=(Audience.CITIZEN,),
            # Only a question is answered from the knowledge base; an emergency is dispatched at once.
            guards=(Guard.NOT_EMERGENCY, Guard.CONSULTATION),
        ),
        Transition(
            Action.MERGE, frozenset({CaseStatus.SUBMITTED, CaseStatus.ACCEPTED}), CaseStatus.MERGED,
            _roles((Role.DISPATCHER, Scope.ANY)),
            required=("parent",), optional=("reason",), notify=(Audience.CITIZEN,),
        ),
        Transition(
            Action.DISPATCH, frozenset({CaseStatus.ACCEPTED, CaseStatus.RETURNED}), CaseStatus.DISPATCHED,
            _roles((Role.DISPATCHER, Scope.ANY)),
            required=("lead_unit",), optional=("co_units", "category", "note"),
            notify=(Audience.CITIZEN, Audience.LEAD_UNIT, Audience.CO_UNITS),
        ),
        Transition(
            Action.SIGN, frozenset({CaseStatus.DISPATCHED}), CaseStatus.IN_PROGRESS,
            _roles(*_UNIT_LEAD), optional=("note",), notify=(Audience.CITIZEN,),
        ),
        Transition(
            Action.RETURN, frozenset({CaseStatus.DISPATCHED, CaseStatus.IN_PROGRESS}), CaseStatus.RETURNED,
            _roles((Role.UNIT_HEAD, Scope.LEAD_UNIT)),  # the unit head approves returns (DOMAIN.md)
            required=("reason",), optional=("suggested_unit",),
            notify=(Audience.DISPATCHERS,), guards=(Guard.WITHIN_RETURN_WINDOW,),
        ),
        Transition(
            Action.UPHOLD_DISPATCH, frozenset({CaseStatus.RETURNED}), CaseStatus.DISPATCHED,
            _roles((Role.DISPATCHER, Scope.ANY)), required=("reason",), notify=(Audience.LEAD_UNIT,),
        ),
        Transition(
            Action.PROGRESS_NOTE, HANDLING_STATUSES, None,
            _roles(*_UNIT_ANY), required=("note",), optional=("public",),
        ),
        Transition(
            Action.CONTACT, HANDLING_STATUSES, None,
            _roles(*_UNIT_LEAD), required=("reached",), optional=("note",),
        ),
        Transition(
            Action.COORDINATE, frozenset({CaseStatus.DISPATCHED}) | HANDLING_STATUSES, None,
            _roles((Role.DISPATCHER, Scope.ANY), (Role.SUPERVISOR, Scope.ANY), (Role.UNIT_HEAD, Scope.LEAD_UNIT)),
            required=("co_unit", "note"), notify=(Audience.CO_UNITS,),
        ),
        Transition(
            Action.REQUEST_EXTENSION, HANDLING_STATUSES, None,
            _roles(*_UNIT_LEAD), required=("days", "reason"),
            notify=(Audience.SUPERVISORS,), guards=(Guard.NO_PENDING_EXTENSION,),
        ),
        Transition(
            Action.APPROVE_EXTENSION, HANDLING_STATUSES, None,
            _roles((Role.SUPERVISOR, Scope.ANY)), optional=("days", "note"),
            notify=(Audience.CITIZEN, Audience.LEAD_UNIT), guards=(Guard.PENDING_EXTENSION,),
        ),
        Transition(
            Action.DENY_EXTENSION, HANDLING_STATUSES, None,
            _roles((Role.SUPERVISOR, Scope.ANY)), required=("reason",),
            notify=(Audience.LEAD_UNIT,), guards=(Guard.PENDING_EXTENSION,),
        ),
        Transition(
            Action.SUPERVISE, UNIT_STATUSES | {CaseStatus.RETURNED}, None,
            _roles((Role.SUPERVISOR, Scope.ANY), (Role.SYSTEM, Scope.ANY)),
            required=("level", "note"), notify=(Audience.LEAD_UNIT, Audience.SUPERVISORS),
        ),
        Transition(
            Action.SUBMIT_REPLY, HANDLING_STATUSES, CaseStatus.PENDING_REVIEW,
            _roles(*_UNIT_LEAD), required=("reply",), optional=("solved",),
            notify=(Audience.LEAD_UNIT, Audience.SUPERVISORS),
        ),
        Transition(
            Action.APPROVE_REPLY, frozenset({CaseStatus.PENDING_REVIEW}), CaseStatus.RESOLVED,
            _roles((Role.UNIT_HEAD, Scope.LEAD_UNIT), (Role.SUPERVISOR, Scope.ANY)),
            optional=("note",), notify=(Audience.CITIZEN,),
        ),
        Transition(
            Action.SEND_BACK, frozenset({CaseStatus.PENDING_REVIEW}), CaseStatus.IN_PROGRESS,
            _roles((Role.UNIT_HEAD, Scope.LEAD_UNIT), (Role.SUPERVISOR, Scope.ANY)),
            required=("reason",), notify=(Audience.LEAD_UNIT,),
        ),
        Transition(
            Action.CALLBACK, frozenset({CaseStatus.RESOLVED, CaseStatus.EVALUATED}), CaseStatus.EVALUATED,
            _roles((Role.SUPERVISOR, Scope.ANY), (Role.OPERATOR, Scope.ANY)),
            required=("rating", "contacted", "solved"), optional=("comment",),
        ),
        Transition(
            Action.CALLBACK_ATTEMPT, frozenset({CaseStatus.RESOLVED, CaseStatus.EVALUATED}), None,
            _roles((Role.SUPERVISOR, Scope.ANY), (Role.OPERATOR, Scope.ANY)), required=("note",),
        ),
        Transition(
            Action.EVALUATE, frozenset({CaseStatus.RESOLVED}), CaseStatus.EVALUATED,
            _roles((Role.CITIZEN, Scope.OWNER)), required=("rating",), optional=("comment",),
            notify=(Audience.LEAD_UNIT,),
        ),
        Transition(
            Action.REOPEN, frozenset({CaseStatus.RESOLVED, CaseStatus.EVALUATED}), CaseStatus.REOPENED,
            # SYSTEM: the scheduler reopens a case whose call-back recorded 不满意 (重办).
            _roles((Role.CITIZEN, Scope.OWNER), (Role.SUPERVISOR, Scope.ANY), (Role.SYSTEM, Scope.ANY)),
            required=("reason",), notify=(Audience.CITIZEN, Audience.LEAD_UNIT),
        ),
        Transition(
            Action.ARCHIVE,
            frozenset({CaseStatus.EVALUATED, CaseStatus.RESOLVED, CaseStatus.REJECTED, CaseStatus.MERGED}),
            CaseStatus.ARCHIVED, _roles((Role.SUPERVISOR, Scope.ANY), (Role.SYSTEM, Scope.ANY)),
            optional=("note",),
        ),
        Transition(Action.NOTE, NOT_ARCHIVED, None, _roles(*_ALL_STAFF_ACTING), required=("note",)),
        Transition(
            Action.UNMASK, EVERY_STATUS, None,
            _roles(
                (Role.OPERATOR, Scope.ANY), (Role.DISPATCHER, Scope.ANY), (Role.SUPERVISOR, Scope.ANY),
                (Role.HANDLER, Scope.LEAD_UNIT), (Role.UNIT_HEAD, Scope.LEAD_UNIT),
            ),
            required=("reason",), guards=(Guard.NOT_CONFIDENTIAL_FOR_UNITS,),
        ),
        Transition(
            Action.LABEL_MALICIOUS, NOT_ARCHIVED, None, _roles((Role.SUPERVISOR, Scope.ANY)),
            required=("reason",), guards=(Guard.NOT_MALICIOUS,),
        ),
        Transition(
            Action.CLEAR_MALICIOUS, NOT_ARCHIVED, None, _roles((Role.SUPERVISOR, Scope.ANY)),
            required=("reason",), guards=(Guard.MALICIOUS,),
        ),
    )
}


class CaseLike(Protocol):
    """What the lifecycle needs to know about a case."""

    status: CaseStatus
    lead_unit_id: int | None
    citizen_id: int | None
    confidential: bool
    malicious: bool
    extension_pending: bool
    return_window_open: bool
    emergency: bool
    consultation: bool

    @property
    def unit_ids(self) -> frozenset[int]:
        """Return the lead unit and active co-units."""
        ...


@dataclass(frozen=True)
class Actor:
    """Someone acting on a case: a staff member with roles and units, a citizen, or the system."""

    roles: frozenset[Role]
    staff_id: int | None = None
    citizen_id: int | None = None
    unit_ids: frozenset[int] = field(default_factory=frozenset)
    name: str = ""

    @classmethod
    def system(cls) -> Actor:
        """Return the platform's own scheduler as an actor."""
        return cls(roles=frozenset({Role.SYSTEM}), name="system")

    @classmethod
    def citizen(cls, citizen_id: int) -> Actor:
        """Return a citizen actor."""
        return cls(roles=frozenset({Role.CITIZEN}), citizen_id=citizen_id)



def _in_scope(scope: Scope, case: CaseLike, actor: Actor) -> bool:
    if scope is Scope.ANY:
        return True
    if scope is Scope.OWNER:
        return actor.citizen_id is not None and actor.citizen_id == case.citizen_id
    if scope is Scope.LEAD_UNIT:
        return case.lead_unit_id is not None and case.lead_unit_id in actor.unit_ids
    return bool(case.unit_ids & actor.unit_ids)


def _guard_holds(guard: Guard, case: CaseLike, granting: frozenset[Role]) -> bool:
    if guard is Guard.NO_PENDING_EXTENSION:
        return not case.extension_pending
    if guard is Guard.PENDING_EXTENSION:
        return case.extension_pending
    if guard is Guard.WITHIN_RETURN_WINDOW:
        return case.return_window_open
    if guard is Guard.NOT_MALICIOUS:
        return not case.malicious
    if guard is Guard.MALICIOUS:
        return case.malicious
    if guard is Guard.NOT_EMERGENCY:
        return not case.emergency
    if guard is Guard.CONSULTATION:
        return case.consultation
    # A confidential case never shows the citizen's identity to the handling unit: only a role
    # that grants the action on its own, beyond unit membership, may see it.
    return not (case.confidential and granting <= UNIT_ROLES)


def refusal(case: CaseLike, action: Action, actor: Actor) -> str | None:
    """Return why ``actor`` may not take ``action`` on ``case`` (a message key), or None if allowed."""
    transition = TRANSITIONS[action]
    if case.status not in transition.sources:
        return "status"
    granting = [r for r in actor.roles if r in transition.roles]
    if not granting:
        return "role"
    in_scope = frozenset(r for r in granting if _in_scope(transition.roles[r], case, actor))
    if not in_scope:
        return "scope"
    for guard in transition.guards:
        if not _guard_holds(guard, case, in_scope):
            return f"guard:{guard.value}"
    return None


def allowed_actions(case: CaseLike, actor: Actor) -> list[Action]:
    """List the actions ``actor`` may take on ``case`` now, in table order."""
    return [a for a in TRANSITIONS if a is not Action.SUBMIT and refusal(case, a, actor) is None]


def missing_fields(action: Action, payload: Mapping[str, object]) -> list[str]:
    """Return the required fields of ``action`` that ``payload`` lacks or leaves blank."""
    out = []
    for name in TRANSITIONS[action].required:
        value = payload.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append(name)
    return out

