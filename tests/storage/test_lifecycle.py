"""The transition table itself: complete, labelled and consistent."""

from __future__ import annotations

from storage import labels
from storage.cases import CaseView
from storage.lifecycle import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    TRANSITIONS,
    Action,
    Actor,
    CaseStatus,
    Rating,
    RejectClass,
    Role,
    Scope,
    SuperviseLevel,
    allowed_actions,
    missing_fields,
)


def view(status: CaseStatus, **kw: object) -> CaseView:
    values = dict(
        status=status, lead_unit_id=1, citizen_id=7, confidential=False, malicious=False,
        extension_pending=False, return_window_open=True, unit_ids=frozenset({1, 2}),
    )
    values.update(kw)
    return CaseView(**values)  # type: ignore[arg-type]


def test_every_action_has_one_row_and_every_enum_member_has_both_labels() -> None:
    assert set(TRANSITIONS) == set(Action)
    for enum in (CaseStatus, Action, Role, RejectClass, Rating, SuperviseLevel):
        for member in enum:
            zh, en = labels.label(member), labels.label(member, "en")
            assert zh and en and zh != en, member


def test_every_field_an_action_names_has_a_label() -> None:
    for t in TRANSITIONS.values():
        for name in t.required + t.optional:
            assert name in labels.FIELD, (t.action, name)


def test_every_status_is_reachable_and_every_open_status_has_a_way_forward() -> None:
    targets = {t.target for t in TRANSITIONS.values() if t.target}
    assert targets == set(CaseStatus)
    for status in OPEN_STATUSES:
        assert any(status in t.sources and t.target and t.target != status for t in TRANSITIONS.values()), status


def test_archived_allows_nothing_but_unmask() -> None:
    movable = [a for a, t in TRANSITIONS.items() if CaseStatus.ARCHIVED in t.sources]
    assert movable == [Action.UNMASK]
    assert CaseStatus.ARCHIVED in TERMINAL_STATUSES


def test_auditor_is_read_only_everywhere() -> None:
    auditor = Actor(roles=frozenset({Role.AUDITOR}))
    for status in CaseStatus:
        assert allowed_actions(view(status), auditor) == []


def test_handler_of_another_unit_gets_nothing_and_co_unit_only_notes() -> None:
    stranger = Actor(roles=frozenset({Role.HANDLER}), unit_ids=frozenset({99}))
    co_handler = Actor(roles=frozenset({Role.HANDLER}), unit_ids=frozenset({2}))
    lead_handler = Actor(roles=frozenset({Role.HANDLER}), unit_ids=frozenset({1}))
    case = view(CaseStatus.IN_PROGRESS)
    assert allowed_actions(case, stranger) == []
    assert allowed_actions(case, co_handler) == [Action.PROGRESS_NOTE, Action.NOTE]
    assert Action.SUBMIT_REPLY in allowed_actions(case, lead_handler)


def test_confidential_case_hides_identity_from_units_but_not_from_the_platform() -> None:
    case = view(CaseStatus.IN_PROGRESS, confidential=True)
    handler = Actor(roles=frozenset({Role.HANDLER}), unit_ids=frozenset({1}))
    supervisor = Actor(roles=frozenset({Role.SUPERVISOR}))
    assert Action.UNMASK not in allowed_actions(case, handler)
    assert Action.UNMASK in allowed_actions(case, supervisor)


def test_only_the_owner_citizen_may_evaluate() -> None:
    case = view(CaseStatus.RESOLVED)
    assert Action.EVALUATE in allowed_actions(case, Actor.citizen(7))
    assert Action.EVALUATE not in allowed_actions(case, Actor.citizen(8))


def test_missing_fields_treats_blank_text_as_missing() -> None:
    assert missing_fields(Action.REJECT, {"reject_class": "unlawful", "reason": "   "}) == ["reason"]
    assert missing_fields(Action.CONTACT, {"reached": False}) == []


def test_scopes_are_only_used_as_designed() -> None:
    for t in TRANSITIONS.values():
        for role, scope in t.roles.items():
            if role is Role.CITIZEN:
                assert scope in (Scope.OWNER, Scope.ANY)
            elif role in (Role.HANDLER, Role.UNIT_HEAD):
                assert scope in (Scope.LEAD_UNIT, Scope.ANY_UNIT), t.action
            else:
                assert scope is Scope.ANY, t.action


def test_an_emergency_is_never_closed_with_a_knowledge_answer() -> None:
    operator = Actor(roles=frozenset({Role.OPERATOR}))
    assert Action.ANSWER_DIRECTLY in allowed_actions(view(CaseStatus.SUBMITTED, consultation=True), operator)
    assert Action.ANSWER_DIRECTLY not in allowed_actions(view(CaseStatus.SUBMITTED, consultation=True,
                                                              emergency=True), operator)
    assert Action.ANSWER_DIRECTLY not in allowed_actions(view(CaseStatus.SUBMITTED), operator)  # a complaint
    dispatcher = Actor(roles=frozenset({Role.DISPATCHER}))
    assert Action.ACCEPT in allowed_actions(view(CaseStatus.SUBMITTED, emergency=True), dispatcher)
