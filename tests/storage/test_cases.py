"""CaseService over the full status × action × role grid, concurrency and atomicity."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from storage import cases as cases_module
from storage.cases import CaseService, NewCase
from storage.errors import CaseError, CaseNotFound, Conflict, InvalidField, MissingFields, NotAllowed
from storage.lifecycle import TRANSITIONS, Action, Actor, CaseStatus, Role
from storage.models import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseKind,
    Channel,
    Evaluation,
    Notification,
    Urgency,
)
from tests.support.builders import UNASSIGNED, World, make_case, make_world

PAYLOADS: dict[Action, dict[str, Any]] = {
    Action.ACCEPT: {},
    Action.REJECT: {"reject_class": "outside_duties", "reason": "属于民事纠纷，请通过法院解决"},
    Action.MERGE: {"parent": "PARENT"},
    Action.DISPATCH: {"lead_unit": "lead", "co_units": ["co"]},
    Action.SIGN: {},
    Action.RETURN: {"reason": "不属于本单位职责"},
    Action.UPHOLD_DISPATCH: {"reason": "属于贵单位职责，维持原派单"},
    Action.PROGRESS_NOTE: {"note": "已现场查看"},
    Action.CONTACT: {"reached": "true", "note": "电话联系诉求人"},
    Action.COORDINATE: {"co_unit": "spare", "note": "需环保部门配合"},
    Action.REQUEST_EXTENSION: {"days": 3, "reason": "需协调施工单位"},
    Action.APPROVE_EXTENSION: {},
    Action.DENY_EXTENSION: {"reason": "理由不充分"},
    Action.SUPERVISE: {"level": "reminder", "note": "即将到期"},
    Action.ANSWER_DIRECTLY: {"reply": "社保转移可在网上办理。", "source": "人社局办事指南"},
    Action.SUBMIT_REPLY: {"reply": "已更换路灯，恢复照明。"},
    Action.APPROVE_REPLY: {},
    Action.SEND_BACK: {"reason": "答复不完整"},
    Action.CALLBACK: {"rating": "satisfied", "contacted": True, "solved": True},
    Action.CALLBACK_ATTEMPT: {"note": "电话无人接听"},
    Action.EVALUATE: {"rating": "very_satisfied", "comment": "很快"},
    Action.REOPEN: {"reason": "问题没有解决"},
    Action.ARCHIVE: {},
    Action.NOTE: {"note": "内部备注"},
    Action.UNMASK: {"reason": "需电话回访"},
    Action.LABEL_MALICIOUS: {"reason": "同一内容一天提交五十次"},
    Action.CLEAR_MALICIOUS: {"reason": "经复核不属于恶意诉求"},
}

GRID_ACTIONS = [a for a in Action if a is not Action.SUBMIT]


def guard_fields(action: Action) -> dict[str, Any]:
    """Case fields that make the action's guards hold, so the grid tests status and role alone."""
    if action in (Action.APPROVE_EXTENSION, Action.DENY_EXTENSION):
        return {"extension_pending_days": 3}
    if action is Action.CLEAR_MALICIOUS:
        return {"malicious": True}
    if action is Action.ANSWER_DIRECTLY:
        return {"kind": CaseKind.CONSULTATION}
    return {}


async def snapshot(case_id: int) -> tuple[Any, ...]:
    """Everything a refused action must leave untouched."""
    case = await Case.get(id=case_id)
    return (
        case.status, case.version, case.updated_at, case.due_at, case.lead_unit_id, case.malicious,
        case.extension_pending_days, await CaseEvent.filter(case_id=case_id).count(),
        await Notification.filter(case_id=case_id).count(), await Evaluation.filter(case_id=case_id).count(),
        await CaseAssignment.filter(case_id=case_id, active=True).count(),
    )


def payload_for(action: Action, parent_number: str) -> dict[str, Any]:
    payload = dict(PAYLOADS[action])
    if action is Action.MERGE:
        payload["parent"] = parent_number
    return payload


@pytest.mark.parametrize("action", GRID_ACTIONS, ids=lambda a: a.value)
async def test_grid(database_url: str, action: Action) -> None:
    """Every (status, role) cell for one action: allowed cells work fully, others change nothing."""
    world = await make_world()
    service = CaseService()
    parent = await make_case(world, CaseStatus.IN_PROGRESS)
    transition = TRANSITIONS[action]
    failures: list[str] = []
    for status in CaseStatus:
        refused_case = await make_case(world, status, **guard_fields(action))
        for role in Role:
            actor = world.actor(role)
            in_scope = role not in (Role.HANDLER, Role.UNIT_HEAD) or status not in UNASSIGNED
            expected = status in transition.sources and role in transition.roles and in_scope
            if not expected:
                before = await snapshot(refused_case.id)
                try:
                    await service.apply(refused_case.id, action, actor, payload_for(action, parent.number))
                    failures.append(f"{status}/{role}: allowed but the table forbids it")
                except NotAllowed:
                    pass
                if await snapshot(refused_case.id) != before:
                    failures.append(f"{status}/{role}: refused but changed something")
                continue
            case = await make_case(world, status, **guard_fields(action))
            try:
                result = await service.apply(case.id, action, actor, payload_for(action, parent.number))
            except CaseError as exc:
                failures.append(f"{status}/{role}: refused ({exc.message('en')})")
                continue
            target = transition.target or status
            stored = await Case.get(id=case.id)
            if stored.status != target or stored.version != case.version + 1:
                failures.append(f"{status}/{role}: status {stored.status} version {stored.version}")
            events = await CaseEvent.filter(case_id=case.id)
            if [(e.action, e.from_status, e.to_status, e.actor_role) for e in events] != [
                (action, status, target, role)
            ]:
                failures.append(f"{status}/{role}: wrong events {events}")
            audiences = set(
                await Notification.filter(event_id=result.event.id).values_list("audience", flat=True)
            )
            if audiences != {a.value for a in transition.notify}:
                failures.append(f"{status}/{role}: notified {audiences}, table says {transition.notify}")
    assert not failures, "\n".join(failures)


async def test_submit_gives_number_tracking_code_event_and_receipt(database_url: str) -> None:
    world = await make_world()
    fixed = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
    service = CaseService(hotline_prefix="8890", clock=lambda: fixed)
    first = await service.submit(
        NewCase(text="幸福里小区楼下烧烤店油烟扰民", channel=Channel.WEBCHAT, citizen_id=world.citizen.id),
        Actor.citizen(world.citizen.id),
    )
    second = await service.submit(NewCase(text="路灯不亮", channel=Channel.PHONE), world.actor(Role.OPERATOR))
    assert (first.number, second.number) == ("8890-20261126-00001", "8890-20261126-00002")
    assert first.tracking_code != second.tracking_code and len(first.tracking_code) == 10
    assert first.status == CaseStatus.SUBMITTED and first.accept_due_at == fixed + dt.timedelta(hours=2)
    receipt = await Notification.get(case_id=first.id)
    assert (receipt.channel, receipt.address, receipt.template) == (Channel.WEBCHAT, "web-abc", "submit")
    assert receipt.params["tracking_code"] == first.tracking_code
    # The operator's phone record has no channel identity to notify, and that is not an error.
    assert await Notification.filter(case_id=second.id).count() == 0


async def test_emergency_submission_alerts_dispatchers_and_supervisors(database_url: str) -> None:
    world = await make_world()
    case = await CaseService().submit(
        NewCase(text="楼道里燃气味很重", channel=Channel.WEBCHAT, citizen_id=world.citizen.id,
                urgency=Urgency.EMERGENCY),
        Actor.citizen(world.citizen.id),
    )
    audiences = set(await Notification.filter(case_id=case.id).values_list("audience", flat=True))
    assert audiences == {"citizen", "dispatchers", "supervisors"}


async def test_submit_refuses_empty_text_and_staff_without_the_role(database_url: str) -> None:
    world = await make_world()
    with pytest.raises(MissingFields):
        await CaseService().submit(NewCase(text="   ", channel=Channel.PHONE), world.actor(Role.OPERATOR))
    with pytest.raises(NotAllowed):
        await CaseService().submit(NewCase(text="路灯", channel=Channel.PHONE), world.actor(Role.AUDITOR))
    assert await Case.all().count() == 0


async def test_two_concurrent_applies_exactly_one_wins(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.DISPATCHED)
    service = CaseService()
    handler = world.actor(Role.UNIT_HEAD)  # a unit head may both sign and return
    results = await asyncio.gather(
        service.apply(case.id, Action.SIGN, handler, {}, expected_version=case.version),
        service.apply(case.id, Action.RETURN, handler, {"reason": "非本单位"}, expected_version=case.version),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], Conflict)
    assert "刷新" in losses[0].message() and "reload" in losses[0].message("en")
    assert await CaseEvent.filter(case_id=case.id).count() == 1


async def test_concurrent_applies_without_version_serialise_and_the_second_is_refused(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.DISPATCHED)
    service = CaseService()
    results = await asyncio.gather(
        *(service.apply(case.id, Action.SIGN, world.actor(Role.HANDLER)) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, NotAllowed) for r in results if isinstance(r, BaseException))
    assert (await Case.get(id=case.id)).version == case.version + 1


async def test_failure_after_the_status_write_leaves_no_trace(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.ACCEPTED)
    before = await snapshot(case.id)

    async def broken_outbox(*args: object, **kwargs: object) -> None:
        assert (await Case.get(id=case.id)).status == CaseStatus.DISPATCHED  # the write did happen
        raise RuntimeError("outbox down")

    monkeypatch.setattr(cases_module.outbox, "enqueue", broken_outbox)
    with pytest.raises(RuntimeError):
        await CaseService().apply(case.id, Action.DISPATCH, world.actor(Role.DISPATCHER), {"lead_unit": "lead"})
    assert await snapshot(case.id) == before
    assert await CaseAssignment.filter(case_id=case.id).count() == 0


async def test_stale_version_is_a_conflict_and_changes_nothing(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.SUBMITTED)
    before = await snapshot(case.id)
    with pytest.raises(Conflict):
        await CaseService().apply(case.id, Action.ACCEPT, world.actor(Role.DISPATCHER), expected_version=0)
    assert await snapshot(case.id) == before


async def test_a_colleague_viewing_the_citizens_data_does_not_make_a_form_stale(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.SUBMITTED)
    seen = case.version  # the dispatcher's form was drawn at this version
    service = CaseService()
    await service.apply(case.id, Action.UNMASK, world.actor(Role.OPERATOR), {"reason": "回拨核实"})
    await service.apply(case.id, Action.ACCEPT, world.actor(Role.DISPATCHER), expected_version=seen)
    assert (await Case.get(id=case.id)).status == CaseStatus.ACCEPTED
    other = await make_case(world, CaseStatus.SUBMITTED)
    seen = other.version
    await service.apply(other.id, Action.UNMASK, world.actor(Role.OPERATOR), {"reason": "回拨核实"})
    await service.apply(other.id, Action.NOTE, world.actor(Role.OPERATOR), {"note": "来电人补充了地址"})
    with pytest.raises(Conflict):  # a note is news: the form is out of date
        await service.apply(other.id, Action.ACCEPT, world.actor(Role.DISPATCHER), expected_version=seen)


async def test_unknown_case_is_not_found(database_url: str) -> None:
    world = await make_world()
    with pytest.raises(CaseNotFound):
        await CaseService().apply(424242, Action.ACCEPT, world.actor(Role.DISPATCHER))


async def test_handler_of_another_unit_is_refused_and_nothing_changes(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.DISPATCHED)
    before = await snapshot(case.id)
    with pytest.raises(NotAllowed) as refused:
        await CaseService().apply(case.id, Action.SIGN, world.actor(Role.HANDLER, world.other))
    assert refused.value.key == "scope"
    assert "不属于您的单位" in refused.value.message()
    assert await snapshot(case.id) == before


async def test_redispatch_ends_the_old_units_access(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.RETURNED)
    service = CaseService()
    await service.apply(case.id, Action.DISPATCH, world.actor(Role.DISPATCHER), {"lead_unit": "other"})
    active = set(await CaseAssignment.filter(case_id=case.id, active=True).values_list("unit_id", flat=True))
    assert active == {world.other.id}
    with pytest.raises(NotAllowed):
        await service.apply(case.id, Action.SIGN, world.actor(Role.HANDLER, world.lead))
    await service.apply(case.id, Action.SIGN, world.actor(Role.HANDLER, world.other))


async def test_return_after_the_window_is_refused(database_url: str) -> None:
    world = await make_world()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    case = await make_case(world, CaseStatus.DISPATCHED, return_due_at=past)
    with pytest.raises(NotAllowed) as refused:
        await CaseService().apply(case.id, Action.RETURN, world.actor(Role.UNIT_HEAD), {"reason": "非本单位"})
    assert "退单时限" in refused.value.message()


async def test_missing_and_invalid_fields_are_explained_in_both_languages(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.SUBMITTED)
    service = CaseService()
    with pytest.raises(MissingFields) as missing:
        await service.apply(case.id, Action.REJECT, world.actor(Role.DISPATCHER), {"reason": ""})
    assert missing.value.message() == "请填写：不予受理类别、理由"
    assert missing.value.message("en") == "Please fill in: Non-acceptance class, Reason"
    with pytest.raises(InvalidField) as invalid:
        await service.apply(
            case.id, Action.REJECT, world.actor(Role.DISPATCHER), {"reject_class": "nope", "reason": "x"}
        )
    assert "不予受理类别" in invalid.value.message()
    assert (await Case.get(id=case.id)).status == CaseStatus.SUBMITTED


async def test_merge_refuses_itself_and_unknown_parents(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.ACCEPTED)
    service = CaseService()
    for parent, says in ((case.number, "不能并入自身"), ("8890-19990101-00001", "找不到"), ("<script>", "找不到")):
        with pytest.raises(InvalidField) as refused:
            await service.apply(case.id, Action.MERGE, world.actor(Role.DISPATCHER), {"parent": parent})
        assert says in refused.value.message(), parent
    closed = await make_case(world, CaseStatus.RESOLVED)
    with pytest.raises(InvalidField) as refused:  # the matter is no longer handled there: it would be lost
        await service.apply(case.id, Action.MERGE, world.actor(Role.DISPATCHER), {"parent": closed.number})
    assert "只能并入正在办理的诉求" in refused.value.message() and "已办结" in refused.value.message()
    assert (await Case.get(id=case.id)).status == CaseStatus.ACCEPTED


# Facts written from DOMAIN.md, independent of the table: (status, action, who, allowed).
DOMAIN_FACTS = [
    (CaseStatus.SUBMITTED, Action.ACCEPT, "dispatcher", True),
    (CaseStatus.SUBMITTED, Action.ACCEPT, "operator", False),
    (CaseStatus.SUBMITTED, Action.ACCEPT, "handler", False),
    (CaseStatus.SUBMITTED, Action.ANSWER_DIRECTLY, "operator", True),
    (CaseStatus.SUBMITTED, Action.ANSWER_DIRECTLY, "handler", False),
    (CaseStatus.ACCEPTED, Action.DISPATCH, "dispatcher", True),
    (CaseStatus.ACCEPTED, Action.DISPATCH, "supervisor", False),
    (CaseStatus.DISPATCHED, Action.SIGN, "handler", True),
    (CaseStatus.DISPATCHED, Action.SIGN, "co_handler", False),
    (CaseStatus.DISPATCHED, Action.SIGN, "dispatcher", False),
    (CaseStatus.DISPATCHED, Action.RETURN, "handler", False),
    (CaseStatus.DISPATCHED, Action.RETURN, "unit_head", True),
    (CaseStatus.RETURNED, Action.UPHOLD_DISPATCH, "dispatcher", True),
    (CaseStatus.IN_PROGRESS, Action.PROGRESS_NOTE, "co_handler", True),
    (CaseStatus.IN_PROGRESS, Action.REQUEST_EXTENSION, "handler", True),
    (CaseStatus.IN_PROGRESS, Action.SUBMIT_REPLY, "handler", True),
    (CaseStatus.IN_PROGRESS, Action.SUBMIT_REPLY, "co_handler", False),
    (CaseStatus.IN_PROGRESS, Action.SUPERVISE, "system", True),
    (CaseStatus.IN_PROGRESS, Action.SUPERVISE, "handler", False),
    (CaseStatus.IN_PROGRESS, Action.SUBMIT_REPLY, "stranger_handler", False),
    (CaseStatus.PENDING_REVIEW, Action.APPROVE_REPLY, "handler", False),
    (CaseStatus.PENDING_REVIEW, Action.APPROVE_REPLY, "unit_head", True),
    (CaseStatus.PENDING_REVIEW, Action.APPROVE_REPLY, "supervisor", True),
    (CaseStatus.RESOLVED, Action.EVALUATE, "citizen", True),
    (CaseStatus.RESOLVED, Action.EVALUATE, "other_citizen", False),
    (CaseStatus.RESOLVED, Action.EVALUATE, "operator", False),
    (CaseStatus.RESOLVED, Action.CALLBACK, "operator", True),
    (CaseStatus.EVALUATED, Action.CALLBACK, "operator", True),
    (CaseStatus.EVALUATED, Action.REOPEN, "citizen", True),
    (CaseStatus.EVALUATED, Action.REOPEN, "other_citizen", False),
    (CaseStatus.EVALUATED, Action.ARCHIVE, "supervisor", True),
    (CaseStatus.IN_PROGRESS, Action.NOTE, "auditor", False),
    (CaseStatus.ARCHIVED, Action.NOTE, "supervisor", False),
    (CaseStatus.ARCHIVED, Action.REOPEN, "citizen", False),
]


def _who(world: World, who: str) -> Actor:
    if who == "co_handler":
        return world.actor(Role.HANDLER, world.co)
    if who == "stranger_handler":
        return world.actor(Role.HANDLER, world.other)
    if who == "other_citizen":
        return Actor.citizen(world.citizen.id + 1000)
    return world.actor(Role(who))


@pytest.mark.parametrize(("status", "action", "who", "allowed"), DOMAIN_FACTS,
                         ids=[f"{s.value}-{a.value}-{w}" for s, a, w, _ in DOMAIN_FACTS])
async def test_domain_facts(database_url: str, status: CaseStatus, action: Action, who: str, allowed: bool) -> None:
    """Cells stated by the domain reference, checked through CaseService against a real database."""
    world = await make_world()
    parent = await make_case(world, CaseStatus.IN_PROGRESS)
    case = await make_case(world, status, **guard_fields(action))
    try:
        await CaseService().apply(case.id, action, _who(world, who), payload_for(action, parent.number))
        happened = True
    except NotAllowed:
        happened = False
    assert happened is allowed


async def test_confidential_case_stays_hidden_from_unit_staff_with_an_extra_role(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.IN_PROGRESS, confidential=True)
    head_and_auditor = Actor(roles=frozenset({Role.UNIT_HEAD, Role.AUDITOR}), unit_ids=frozenset({world.lead.id}))
    with pytest.raises(NotAllowed):
        await CaseService().apply(case.id, Action.UNMASK, head_and_auditor, {"reason": "回访"})
    await CaseService().apply(case.id, Action.UNMASK, world.actor(Role.SUPERVISOR), {"reason": "回访"})


async def test_staff_notifications_never_carry_the_tracking_code(database_url: str) -> None:
    world = await make_world()
    case = await CaseService().submit(
        NewCase(text="燃气泄漏", channel=Channel.WEBCHAT, citizen_id=world.citizen.id, urgency=Urgency.EMERGENCY),
        Actor.citizen(world.citizen.id),
    )
    rows = await Notification.filter(case_id=case.id)
    for row in rows:
        assert ("tracking_code" in row.params) is (row.audience == "citizen"), row.audience


async def test_an_emergency_rejection_alerts_staff(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.SUBMITTED)
    applied = await CaseService().apply(case.id, Action.REJECT, world.actor(Role.DISPATCHER),
                                        {"reject_class": "emergency", "reason": "请立即拨打119"})
    audiences = set(await Notification.filter(event_id=applied.event.id).values_list("audience", flat=True))
    assert audiences == {"citizen", "dispatchers", "supervisors"}


async def test_overlong_place_fields_are_a_polite_error_not_a_crash(database_url: str) -> None:
    world = await make_world()
    with pytest.raises(InvalidField) as bad:
        await CaseService().submit(NewCase(text="路灯坏了", channel=Channel.PHONE, district="区" * 100),
                                   world.actor(Role.OPERATOR))
    assert "64" in bad.value.message()


@pytest.mark.parametrize("ref", [str(2**40), 2**40, "²", "-3", True])
async def test_out_of_range_or_odd_ids_are_a_polite_error(database_url: str, ref: object) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.ACCEPTED)
    for action, payload in ((Action.DISPATCH, {"lead_unit": ref}), (Action.MERGE, {"parent": ref})):
        with pytest.raises(InvalidField):
            await CaseService().apply(case.id, action, world.actor(Role.DISPATCHER), payload)
    assert (await Case.get(id=case.id)).status == CaseStatus.ACCEPTED


async def test_a_note_typed_beside_any_action_is_kept_on_its_event(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.SUBMITTED)
    service = CaseService()
    steps = [
        (Action.ACCEPT, world.actor(Role.DISPATCHER), {"note": "已电话核实情况属实"}),
        (Action.DISPATCH, world.actor(Role.DISPATCHER), {"lead_unit": "lead", "note": "请核查夜间施工"}),
        (Action.SIGN, world.actor(Role.HANDLER, world.lead), {"note": "已签收，安排夜查"}),
    ]
    for action, actor, payload in steps:
        await service.apply(case.id, action, actor, payload)
    notes = {e.action: (e.data or {}).get("note") for e in await CaseEvent.filter(case_id=case.id)}
    assert notes[Action.ACCEPT] == "已电话核实情况属实" and notes[Action.DISPATCH] == "请核查夜间施工"
    assert notes[Action.SIGN] == "已签收，安排夜查"
    signed = await Notification.get(case_id=case.id, template="sign", audience="citizen")
    assert signed.params["unit"] == world.lead.name_zh  # the citizen is told which unit took it on
    await Case.filter(id=case.id).update(status=CaseStatus.IN_PROGRESS)
    handler = world.actor(Role.HANDLER, world.lead)
    await service.apply(case.id, Action.SUBMIT_REPLY, handler, {"reply": "第一次答复：已批评教育司机"})
    await service.apply(case.id, Action.SEND_BACK, world.actor(Role.UNIT_HEAD, world.lead), {"reason": "不具体"})
    await service.apply(case.id, Action.SUBMIT_REPLY, handler, {"reply": "第二次答复：已调整线路"})
    replies = [e.data.get("reply") for e in await CaseEvent.filter(case_id=case.id, action=Action.SUBMIT_REPLY)]
    assert replies == ["第一次答复：已批评教育司机", "第二次答复：已调整线路"]  # the earlier one is not lost
    with pytest.raises(InvalidField):  # still bounded like every text field
        await service.apply(case.id, Action.NOTE, world.actor(Role.HANDLER, world.lead), {"note": "长" * 4001})
