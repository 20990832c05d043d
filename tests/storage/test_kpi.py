"""KPI formulas on hand-computed timelines, the weights file, and the engine over real CaseService events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from storage.analytics import kpi_report
from storage.cases import CaseService, NewCase
from storage.kpi import (
    KPI,
    CaseHistory,
    EventRow,
    Weights,
    WeightsError,
    aggregate,
    assess,
    current_weights,
    facts_for,
    forget_saved_weights,
    load_weights,
    rank,
    save_weights,
)
from storage.lifecycle import Action, Role
from storage.models import AuditEntry, Channel
from tests.support.builders import make_world

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
AS_OF = T0 + dt.timedelta(days=60)
W = Weights("test", {KPI.RESPONSE: 0.3, KPI.SOLVED: 0.35, KPI.SATISFACTION: 0.35}, 0.9, 2, 30)


def ev(action: str, hours: float, **data: Any) -> EventRow:
    return EventRow(action, T0 + dt.timedelta(hours=hours), data)


def case(cid: int, *events: EventRow, **fields: Any) -> CaseHistory:
    fields.setdefault("status", "evaluated")
    return CaseHistory(case_id=cid, events=tuple(events), **fields)


def hand_cases() -> list[CaseHistory]:
    """Six cases of unit A (one moved on to B), values worked out by hand in the tests below."""
    return [
        case(1, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), ev("approve_reply", 50, on_time=True),
             ev("callback", 60, rating="satisfied", contacted=True, solved=True)),
        case(2, ev("dispatch", 0, lead_unit="A"), ev("sign", 3, late=True), ev("request_extension", 100),
             ev("approve_extension", 101), ev("approve_reply", 300, on_time=True),
             ev("evaluate", 301, rating="basically_satisfied")),
        case(3, ev("dispatch", 0, lead_unit="A"), ev("return", 2), ev("dispatch", 5, lead_unit="B"),
             ev("sign", 6, late=False), status="in_progress", due_at=T0 + dt.timedelta(days=200)),
        case(4, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), ev("approve_reply", 40, on_time=True),
             ev("evaluate", 41, rating="dissatisfied"), ev("reopen", 42), ev("approve_reply", 200, on_time=False),
             ev("callback", 210, rating="very_satisfied", contacted=False, solved=True)),
        case(5, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), ev("approve_reply", 20, on_time=True),
             status="resolved", anonymous=True, callback_due_at=T0 + dt.timedelta(days=3)),
        case(6, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), ev("approve_reply", 20, on_time=True),
             status="resolved", callback_due_at=T0 + dt.timedelta(days=3)),
    ]


def unit_figures(histories: list[CaseHistory], k: float = 0.9) -> dict[str | None, dict[KPI, Any]]:
    facts = [f for h in histories for f in facts_for(h, AS_OF, k)]
    return {key[0]: figs for key, figs in aggregate(facts, ("unit",)).items()}


def test_no_cases_gives_no_groups_and_no_ranking() -> None:
    assert aggregate([]) == {}
    assert assess([], AS_OF, W) == []


def test_hand_computed_unit_figures() -> None:
    a = unit_figures(hand_cases())["A"]
    # 签收: 1, 4, 5, 6 on time, 2 late; 3 was returned before signing (judged by 退单率 instead).
    assert (a[KPI.SIGN_TIMELY].numerator, a[KPI.SIGN_TIMELY].denominator) == (4, 5)
    assert a[KPI.RETURN].value == pytest.approx(1 / 6)
    assert a[KPI.RETURN].hit_case_ids == (3,)
    assert a[KPI.DISPATCH_ACCURACY].value == pytest.approx(5 / 6)
    # 按时办结: case 2 was on time thanks to its approved extension; case 4's second resolution was late.
    assert (a[KPI.ON_TIME].numerator, a[KPI.ON_TIME].denominator) == (4, 5)
    assert a[KPI.ON_TIME].case_ids == (1, 2, 4, 5, 6)
    assert a[KPI.ON_TIME].hit_case_ids == (1, 2, 5, 6)
    assert a[KPI.EXTENSION].value == pytest.approx(1 / 5)
    assert a[KPI.REOPEN].value == pytest.approx(1 / 5)
    assert a[KPI.REOPEN].hit_case_ids == (4,)
    assert a[KPI.RESPONSE].value == pytest.approx(1 / 2)
    assert a[KPI.SOLVED].value == 1.0
    # 满意率 counts each case's final rating: 1 满意, 2 基本满意 (k = 0.9), 4 非常满意 after reopening.
    assert a[KPI.SATISFACTION].value == pytest.approx(2.9 / 3)
    # 回访率: 1 and 4 called back; 6 was due and missed; 2 rated by the citizen; 5 anonymous.
    assert (a[KPI.CALLBACK].numerator, a[KPI.CALLBACK].denominator) == (2, 3)
    assert a[KPI.CALLBACK].case_ids == (1, 4, 6)


def test_satisfaction_k_is_configurable() -> None:
    assert unit_figures(hand_cases(), k=1.0)["A"][KPI.SATISFACTION].value == 1.0


def test_the_unit_a_case_moved_to_is_judged_on_its_own_part() -> None:
    b = unit_figures(hand_cases())["B"]
    assert b[KPI.SIGN_TIMELY].value == 1.0
    assert b[KPI.RETURN].value == 0.0
    assert b[KPI.ON_TIME].value is None  # due in 200 days: not yet due, so not counted


def test_only_extended_cases_are_all_on_time() -> None:
    cases = [case(i, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), ev("approve_extension", 90),
                  ev("approve_reply", 400, on_time=True)) for i in (1, 2)]
    a = unit_figures(cases)["A"]
    assert a[KPI.ON_TIME].value == 1.0
    assert a[KPI.EXTENSION].value == 1.0


def test_anonymous_case_without_call_back_is_not_due_for_one() -> None:
    anon = case(1, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), ev("approve_reply", 5, on_time=True),
                status="archived", anonymous=True)
    a = unit_figures([anon])["A"]
    assert a[KPI.CALLBACK].denominator == 0
    assert a[KPI.CALLBACK].value is None
    assert a[KPI.SATISFACTION].value is None
    assert a[KPI.ON_TIME].value == 1.0


def test_open_cases_count_when_their_deadline_passed() -> None:
    overdue = case(1, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), status="in_progress",
                   due_at=AS_OF - dt.timedelta(days=1))
    unsigned = case(2, ev("dispatch", 0, lead_unit="A"), status="dispatched",
                    sign_due_at=T0 + dt.timedelta(hours=2), due_at=AS_OF + dt.timedelta(days=1))
    fresh = case(3, ev("dispatch", 0, lead_unit="A"), status="dispatched",
                 sign_due_at=AS_OF + dt.timedelta(hours=2), due_at=AS_OF + dt.timedelta(days=5))
    a = unit_figures([overdue, unsigned, fresh])["A"]
    assert (a[KPI.ON_TIME].numerator, a[KPI.ON_TIME].denominator) == (0, 1)
    assert (a[KPI.SIGN_TIMELY].numerator, a[KPI.SIGN_TIMELY].denominator) == (1, 2)
    assert a[KPI.SIGN_TIMELY].case_ids == (1, 2)


def test_repeats_within_the_window_count_for_the_parents_unit() -> None:
    parent_at = T0 - dt.timedelta(days=10)
    cases = [
        case(1, ev("accept", 0), ev("dispatch", 1, lead_unit="A")),
        case(2, ev("merge", 0, parent="x"), status="merged", parent_created_at=parent_at, parent_unit="A"),
        case(3, ev("merge", 0, parent="y"), status="merged", parent_created_at=T0 - dt.timedelta(days=40),
             parent_unit="A"),
    ]
    a = unit_figures(cases)["A"]
    assert (a[KPI.REPEAT].numerator, a[KPI.REPEAT].denominator) == (1, 3)
    assert a[KPI.REPEAT].hit_case_ids == (2,)


def test_volume_floor_keeps_a_one_case_unit_off_the_top() -> None:
    good = [case(i, ev("dispatch", 0, lead_unit="big"), ev("callback", 5, rating="satisfied", contacted=True,
                 solved=i % 2 == 0)) for i in range(1, 5)]
    lone = [case(9, ev("dispatch", 0, lead_unit="lone"),
                 ev("callback", 5, rating="very_satisfied", contacted=True, solved=True))]
    cards = assess(good + lone, AS_OF, W)
    assert [(c.key, c.rank) for c in cards] == [(("big",), 1), (("lone",), None)]
    assert cards[0].score == pytest.approx(0.3 * 1 + 0.35 * 0.5 + 0.35 * 1)
    assert cards[1].score == 1.0 and cards[1].volume == 1


def test_ranking_orders_by_score_then_volume() -> None:
    def unit(name: str, ids: range, solved: bool) -> list[CaseHistory]:
        return [case(i, ev("dispatch", 0, lead_unit=name),
                     ev("callback", 5, rating="satisfied", contacted=True, solved=solved)) for i in ids]

    facts = [f for h in unit("x", range(1, 4), False) + unit("y", range(10, 13), True) for f in facts_for(h, AS_OF)]
    cards = rank(aggregate(facts), W)
    assert [c.key[0] for c in cards] == ["y", "x"]
    assert [c.rank for c in cards] == [1, 2]


def test_grouping_by_category_district_and_month() -> None:
    h = case(1, ev("dispatch", 0, lead_unit="A"), ev("sign", 1, late=False), category="城乡建设", district="东湖区")
    facts = facts_for(h, AS_OF)
    groups = aggregate(facts, ("category", "district", "month"))
    assert list(groups) == [("城乡建设", "东湖区", "2026-03")]
    assert aggregate(facts, start=T0 + dt.timedelta(days=1)) == {}
    with pytest.raises(ValueError):
        aggregate(facts, ("colour",))


def test_bundled_weights_load_and_sum_to_one() -> None:
    for version in ("2026-1", "beijing-30-35-35", "10-50-40"):
        w = load_weights(version=version)
        assert sum(w.weights.values()) == pytest.approx(1)
    assert load_weights().version == "2026-1"
    assert load_weights(version="beijing-30-35-35").basic_satisfied_k == 1.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"version": "v", "weights": {"speed": 1}}, "unknown KPI 'speed'"),
        ({"version": "v", "weights": {"solved": 0.5}}, "sum to 0.5"),
        ({"version": "v", "weights": {"solved": 1}, "basic_satisfied_k": 2}, "basic_satisfied_k"),
        ({"weights": {"solved": 1}}, "no version"),
    ],
)
def test_bad_weights_name_the_entry(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"versions": [entry]}), encoding="utf-8")
    with pytest.raises(WeightsError, match=message):
        load_weights(path)


def test_unknown_version_is_refused() -> None:
    with pytest.raises(WeightsError, match="no weights version"):
        load_weights(version="1999")


# --- the engine over real timelines written by CaseService --------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # a Monday, 09:00 in Shanghai

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


async def test_kpis_recomputed_from_real_case_events(database_url: str) -> None:
    world = await make_world()
    clock = Clock()
    service = CaseService(clock=clock)
    dispatcher, handler = world.actor(Role.DISPATCHER), world.actor(Role.HANDLER)
    head, supervisor = world.actor(Role.UNIT_HEAD), world.actor(Role.SUPERVISOR)

    async def new() -> int:
        c = await service.submit(NewCase(text="幸福里小区路灯坏了", channel=Channel.WEBCHAT,
                                         citizen_id=world.citizen.id, district="东湖区"),
                                 world.actor(Role.CITIZEN))
        await service.apply(c.id, Action.ACCEPT, dispatcher)
        await service.apply(c.id, Action.DISPATCH, dispatcher, {"lead_unit": "lead"})
        return c.id

    quick = await new()  # signed in time, resolved, called back: satisfied
    await service.apply(quick, Action.SIGN, handler)
    await service.apply(quick, Action.SUBMIT_REPLY, handler, {"reply": "已修复"})
    await service.apply(quick, Action.APPROVE_REPLY, head)
    await service.apply(quick, Action.CALLBACK, supervisor, {"rating": "satisfied", "contacted": True, "solved": True})

    slow = await new()  # signed late, extended, resolved within the extension, rated 基本满意 then reopened
    clock.advance(hours=3)
    await service.apply(slow, Action.SIGN, handler)
    await service.apply(slow, Action.REQUEST_EXTENSION, handler, {"days": 3, "reason": "需协调"})
    await service.apply(slow, Action.APPROVE_EXTENSION, supervisor)
    clock.advance(days=15)  # past the first deadline, within the extended one
    await service.apply(slow, Action.SUBMIT_REPLY, handler, {"reply": "已处理"})
    await service.apply(slow, Action.APPROVE_REPLY, head)
    await service.apply(slow, Action.EVALUATE, world.actor(Role.CITIZEN), {"rating": "basically_satisfied"})
    await service.apply(slow, Action.REOPEN, supervisor, {"reason": "复查未解决"})

    wrong = await new()  # returned and re-dispatched elsewhere
    await service.apply(wrong, Action.RETURN, head, {"reason": "不属于本单位"})
    await service.apply(wrong, Action.DISPATCH, dispatcher, {"lead_unit": "other"})

    cards = {c.key[0]: c for c in await kpi_report(clock.now, weights=W)}
    lead = cards["lead"]
    assert (lead.figures[KPI.SIGN_TIMELY].numerator, lead.figures[KPI.SIGN_TIMELY].denominator) == (1, 2)
    assert lead.figures[KPI.SIGN_TIMELY].hit_case_ids == (quick,)
    assert lead.value(KPI.ON_TIME) == 1.0
    assert lead.figures[KPI.ON_TIME].case_ids == (quick, slow)
    assert lead.value(KPI.EXTENSION) == pytest.approx(1 / 2)
    assert lead.value(KPI.REOPEN) == pytest.approx(1 / 2)
    assert lead.figures[KPI.REOPEN].hit_case_ids == (slow,)
    assert lead.value(KPI.RETURN) == pytest.approx(1 / 3)
    assert lead.value(KPI.DISPATCH_ACCURACY) == pytest.approx(2 / 3)
    assert lead.value(KPI.SATISFACTION) == pytest.approx((1 + 0.9) / 2)
    assert lead.value(KPI.RESPONSE) == 1.0 and lead.value(KPI.SOLVED) == 1.0
    assert lead.value(KPI.REPEAT) == 0.0
    assert lead.volume == 3 and lead.rank == 1
    assert lead.score == pytest.approx(0.3 + 0.35 + 0.35 * 0.95)
    other = cards["other"]
    assert other.figures[KPI.RETURN].case_ids == (wrong,)
    assert other.rank is None  # no weighted KPI has a value yet

    # A period filter keeps only facts dated inside it: the last day saw the slow case resolved and the
    # wrong one returned and re-dispatched; the signatures of two weeks ago are outside.
    day = await kpi_report(clock.now, start=clock.now - dt.timedelta(days=1), end=clock.now + dt.timedelta(seconds=1),
                           weights=W)
    lead_day = {c.key[0]: c for c in day}["lead"]
    assert lead_day.figures[KPI.REOPEN].case_ids == (slow,)
    assert lead_day.figures[KPI.SIGN_TIMELY].denominator == 0
    assert lead_day.figures[KPI.RETURN].case_ids == (wrong,)


async def test_saved_weights_replace_the_file_and_are_audited(database_url: str) -> None:
    try:
        assert (await current_weights()).version == "2026-1"  # nothing saved: the file's current version
        saved = await save_weights(Weights("2027-1", {KPI.SOLVED: 0.5, KPI.SATISFACTION: 0.5}, 1.0, 3, 30),
                                   "试行", None)
        assert saved.version == "2027-1" and load_weights().weights == {KPI.SOLVED: 0.5, KPI.SATISFACTION: 0.5}
        assert load_weights(version="beijing-30-35-35").version == "beijing-30-35-35"  # the file's still there
        with pytest.raises(WeightsError, match="sum to 0.9"):
            await save_weights(Weights("2027-2", {KPI.SOLVED: 0.9}), "", None)
        with pytest.raises(WeightsError, match="less is better"):
            await save_weights(Weights("2027-3", {KPI.SOLVED: 0.5, KPI.RETURN: 0.5}), "", None)
        with pytest.raises(WeightsError, match="taken"):
            await save_weights(Weights("2026-1", {KPI.SOLVED: 1.0}), "", None)
        assert [e.action for e in await AuditEntry.all()] == ["kpi_weights_changed"]
        assert (await current_weights()).version == "2027-1"
    finally:
        forget_saved_weights()
    assert load_weights().version == "2026-1"


async def test_another_process_reports_with_the_weights_an_admin_saved(database_url: str) -> None:
    world = await make_world()
    clock = Clock()
    service = CaseService(clock=clock)
    dispatcher = world.actor(Role.DISPATCHER)
    case = await service.submit(NewCase(text="幸福里小区路灯坏了", channel=Channel.WEBCHAT,
                                        citizen_id=world.citizen.id, district="东湖区"), world.actor(Role.CITIZEN))
    await service.apply(case.id, Action.ACCEPT, dispatcher)
    await service.apply(case.id, Action.DISPATCH, dispatcher, {"lead_unit": "lead"})
    await service.apply(case.id, Action.SIGN, world.actor(Role.HANDLER))
    assert {c.key[0]: c for c in await kpi_report(clock.now)}["lead"].rank is None  # one case: unranked
    try:
        await save_weights(Weights("2027-1", {KPI.SIGN_TIMELY: 1.0}, 1.0, 1, 30), "试行", None)
        forget_saved_weights()  # another app process: it never loaded the saved set itself
        assert {c.key[0]: c for c in await kpi_report(clock.now)}["lead"].rank == 1  # the saved floor of 1 case
    finally:
        forget_saved_weights()
