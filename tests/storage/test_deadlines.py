"""Working days on the mainland calendar, policy lookup, and extensions moving the deadline."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from storage import deadlines
from storage.cases import CaseService
from storage.deadlines import (
    SHANGHAI,
    add_limit,
    add_working_days,
    choose_policy,
    is_workday,
    policy_for,
    policy_problems,
    refresh_rules,
    set_overrides,
    working_days_between,
)
from storage.errors import InvalidField
from storage.lifecycle import Action, CaseStatus, Role
from storage.models import Case, CaseKind, HolidayOverride, Policy, Urgency
from tests.support.builders import make_case, make_world


def at(y: int, m: int, d: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, hour, tzinfo=SHANGHAI).astimezone(dt.UTC)


def test_national_day_2026_holidays_and_make_up_workdays() -> None:
    assert not is_workday(dt.date(2026, 10, 1)) and not is_workday(dt.date(2026, 10, 7))
    assert is_workday(dt.date(2026, 9, 20))  # Sunday made a workday (调休)
    assert is_workday(dt.date(2026, 10, 10))  # Saturday made a workday (调休)
    assert not is_workday(dt.date(2026, 9, 25))  # Mid-Autumn Festival


def test_five_working_days_across_national_day() -> None:
    # Dispatched Wed 30 Sep: Oct 1–7 are holidays, so the days are Oct 8, 9, 10 (Sat, 调休), 12, 13.
    due = add_working_days(at(2026, 9, 30, 16), 5)
    assert due.astimezone(SHANGHAI) == dt.datetime(2026, 10, 13, 23, 59, 59, tzinfo=SHANGHAI)
    assert due.tzinfo == dt.UTC


def test_the_start_day_is_not_counted_and_weekends_are_skipped() -> None:
    due = add_working_days(at(2026, 11, 27, 9), 1)  # Friday → Monday
    assert due.astimezone(SHANGHAI).date() == dt.date(2026, 11, 30)
    assert add_working_days(at(2026, 11, 28), 0).astimezone(SHANGHAI).date() == dt.date(2026, 11, 30)


def test_a_make_up_sunday_counts_as_a_working_day() -> None:
    due = add_working_days(at(2026, 9, 18), 1)  # Fri 18 Sep → Sun 20 Sep is a workday
    assert due.astimezone(SHANGHAI).date() == dt.date(2026, 9, 20)


def test_working_days_between_counts_across_the_holiday() -> None:
    assert working_days_between(at(2026, 9, 30), at(2026, 10, 13)) == 5


def test_hours_and_calendar_days() -> None:
    start = at(2026, 10, 1, 8)
    assert add_limit(start, 2, "hours") == start + dt.timedelta(hours=2)
    assert add_limit(start, 15, "days").astimezone(SHANGHAI).date() == dt.date(2026, 10, 16)
    with pytest.raises(ValueError):
        add_limit(start, 1, "fortnights")
    with pytest.raises(ValueError):
        add_working_days(dt.datetime(2026, 10, 1), 1)


def test_the_most_specific_policy_wins() -> None:
    rows = [
        Policy(id=1, name="default", handle_amount=10, handle_unit="working_days", active=True, version=1),
        Policy(id=2, name="consult", kind=CaseKind.CONSULTATION, handle_amount=1, handle_unit="working_days",
               active=True, version=1),
        Policy(id=3, name="emergency", urgency=Urgency.EMERGENCY, handle_amount=2, handle_unit="hours",
               active=True, version=1),
        Policy(id=4, name="utilities", category="水电气热", handle_amount=24, handle_unit="hours",
               active=True, version=1),
        Policy(id=5, name="consult v2", kind=CaseKind.CONSULTATION, handle_amount=2, handle_unit="working_days",
               active=True, version=2),
        Policy(id=6, name="retired", kind=CaseKind.COMPLAINT, handle_amount=99, handle_unit="days",
               active=False, version=9),
    ]
    pick = lambda cat, kind, urg: choose_policy(rows, cat, kind, urg).name  # noqa: E731
    assert pick("城乡建设", CaseKind.COMPLAINT, Urgency.NORMAL) == "default"
    assert pick("城乡建设", CaseKind.CONSULTATION, Urgency.NORMAL) == "consult v2"
    assert pick("供水", CaseKind.COMPLAINT, Urgency.NORMAL) == "utilities"
    assert pick("供水", CaseKind.CONSULTATION, Urgency.EMERGENCY) == "emergency"
    # A rule an administrator writes for one utility applies to it, before the group's rule.
    rows.append(Policy(id=7, name="water", category="供水", handle_amount=12, handle_unit="hours", active=True,
                       version=1))
    assert pick("供水", CaseKind.COMPLAINT, Urgency.NORMAL) == "water"
    assert pick("燃气", CaseKind.COMPLAINT, Urgency.NORMAL) == "utilities"


async def test_dispatch_writes_the_policy_deadline_and_an_approved_extension_moves_it(database_url: str) -> None:
    world = await make_world()
    now = at(2026, 9, 30, 16)
    service = CaseService(clock=lambda: now)
    case = await make_case(world, CaseStatus.ACCEPTED, kind=CaseKind.REQUEST)
    await service.apply(case.id, Action.DISPATCH, world.actor(Role.DISPATCHER), {"lead_unit": "lead"})
    case = await Case.get(id=case.id)
    assert case.due_at.astimezone(SHANGHAI).date() == dt.date(2026, 10, 13)  # 求助: 5 working days
    assert case.return_due_at.astimezone(SHANGHAI).date() == dt.date(2026, 10, 9)
    await service.apply(case.id, Action.SIGN, world.actor(Role.HANDLER))
    await service.apply(case.id, Action.REQUEST_EXTENSION, world.actor(Role.HANDLER), {"days": 3, "reason": "需协调"})
    await service.apply(case.id, Action.APPROVE_EXTENSION, world.actor(Role.SUPERVISOR))
    case = await Case.get(id=case.id)
    assert case.due_at.astimezone(SHANGHAI).date() == dt.date(2026, 10, 16)  # Oct 14, 15, 16
    assert case.extended_days == 3 and case.extension_pending_days is None


async def test_extension_is_bounded_and_must_be_asked_before_the_deadline(database_url: str) -> None:
    world = await make_world()
    now = dt.datetime.now(dt.UTC)
    service = CaseService(clock=lambda: now)
    case = await make_case(world, CaseStatus.IN_PROGRESS)
    with pytest.raises(InvalidField):
        await service.apply(case.id, Action.REQUEST_EXTENSION, world.actor(Role.HANDLER), {"days": 11, "reason": "久"})
    late = await make_case(world, CaseStatus.IN_PROGRESS, due_at=now - dt.timedelta(hours=1))
    with pytest.raises(InvalidField) as refused:
        await service.apply(late.id, Action.REQUEST_EXTENSION, world.actor(Role.HANDLER), {"days": 2, "reason": "久"})
    assert "届满前" in refused.value.message()


async def test_denied_extension_keeps_the_deadline(database_url: str) -> None:
    world = await make_world()
    case = await make_case(world, CaseStatus.IN_PROGRESS)
    service = CaseService()
    await service.apply(case.id, Action.REQUEST_EXTENSION, world.actor(Role.HANDLER), {"days": 2, "reason": "需协调"})
    await service.apply(case.id, Action.DENY_EXTENSION, world.actor(Role.SUPERVISOR), {"reason": "不符合条件"})
    stored = await Case.get(id=case.id)
    assert stored.due_at == case.due_at and stored.extended_days == 0 and stored.extension_pending_days is None


def test_marking_a_case_urgent_never_lengthens_its_limit() -> None:
    rows = [
        Policy(id=1, name="default", handle_amount=10, handle_unit="working_days", active=True, version=1),
        Policy(id=2, name="consult", kind=CaseKind.CONSULTATION, handle_amount=1, handle_unit="working_days",
               active=True, version=1),
        Policy(id=3, name="utilities", category="水电气热", handle_amount=24, handle_unit="hours", active=True,
               version=1),
        Policy(id=4, name="urgent", urgency=Urgency.URGENT, handle_amount=3, handle_unit="working_days",
               active=True, version=1),
    ]
    pick = lambda cat, kind: choose_policy(rows, cat, kind, Urgency.URGENT).name  # noqa: E731
    assert pick("供水", CaseKind.COMPLAINT) == "utilities"  # 24 h, not 3 working days
    assert pick("城乡建设", CaseKind.CONSULTATION) == "consult"  # 1 working day, not 3
    assert pick("城乡建设", CaseKind.COMPLAINT) == "urgent"  # 3 working days instead of 10


def test_a_year_without_a_published_schedule_still_skips_fixed_holidays() -> None:
    from storage.deadlines import is_official

    assert is_official(dt.date(2026, 12, 31))
    if is_official(dt.date(2099, 1, 1)):
        pytest.skip("the calendar package knows 2099")
    assert not is_official(dt.date(2099, 1, 1))
    assert not is_workday(dt.date(2099, 1, 1))  # 元旦, a Thursday
    assert not is_workday(dt.date(2099, 10, 2))  # 国庆
    assert is_workday(dt.date(2099, 1, 2)) and not is_workday(dt.date(2099, 1, 3))  # Friday, Saturday


async def test_holiday_overrides_correct_the_national_calendar(database_url: str) -> None:
    try:
        await HolidayOverride.create(day=dt.date(2026, 12, 4), kind="holiday", note="市庆日")
        await HolidayOverride.create(day=dt.date(2026, 12, 5), kind="workday")
        await HolidayOverride.create(day=dt.date(2031, 1, 2), kind="holiday", note="beyond the published years")
        assert is_workday(dt.date(2026, 12, 4))  # not loaded into this process yet
        await refresh_rules()
        assert not is_workday(dt.date(2026, 12, 4)) and is_workday(dt.date(2026, 12, 5))
        # A year not published yet: the override on Thursday 2 Jan, the estimate (a working Friday) around it.
        assert not is_workday(dt.date(2031, 1, 2)) and is_workday(dt.date(2031, 1, 3))
        assert add_working_days(at(2026, 12, 3), 1).astimezone(SHANGHAI).date() == dt.date(2026, 12, 5)
    finally:
        set_overrides({})
    assert is_workday(dt.date(2026, 12, 4))


async def test_policy_lookups_reload_overrides_and_policies_older_than_the_max_age(database_url: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(deadlines, "time", SimpleNamespace(monotonic=lambda: clock[0]))  # not the event loop's
    try:
        await HolidayOverride.create(day=dt.date(2026, 12, 4), kind="holiday")
        await policy_for(None, CaseKind.COMPLAINT, Urgency.NORMAL)  # never loaded: reads the table
        assert not is_workday(dt.date(2026, 12, 4))
        await HolidayOverride.create(day=dt.date(2026, 12, 7), kind="holiday")  # another process's edits
        await Policy.create(name="环保", category="环境保护", handle_amount=24, handle_unit="hours", active=True,
                            version=1)
        clock[0] += deadlines.RULES_MAX_AGE / 2
        assert await policy_for("环境保护", CaseKind.COMPLAINT, Urgency.NORMAL) is None  # fresh enough: no reload
        assert is_workday(dt.date(2026, 12, 7))
        clock[0] += deadlines.RULES_MAX_AGE
        water = await policy_for("环境保护", CaseKind.COMPLAINT, Urgency.NORMAL)
        assert water is not None and water.name == "环保" and not is_workday(dt.date(2026, 12, 7))
    finally:
        set_overrides({})


def test_policy_problems_keep_limits_positive_and_urgent_never_slower() -> None:
    default = Policy(id=1, name="default", handle_amount=10, handle_unit="working_days", active=True, version=1)
    urgent = Policy(id=2, name="urgent", urgency=Urgency.URGENT, handle_amount=3, handle_unit="working_days",
                    active=True, version=1)
    utilities = Policy(id=3, name="utilities", category="水电气热", handle_amount=24, handle_unit="hours",
                       active=True, version=1)
    rows = [default, urgent, utilities]
    assert policy_problems(urgent, rows) == []
    slow = Policy(id=2, name="urgent", urgency=Urgency.URGENT, handle_amount=11, handle_unit="working_days",
                  active=True, version=2)
    assert "urgent may never be slower" in policy_problems(slow, rows)[0][1]
    short_default = Policy(id=1, name="default", handle_amount=48, handle_unit="hours", active=True, version=2)
    assert policy_problems(short_default, rows)  # 48 hours is shorter than the urgent 3 working days
    urgent_water = Policy(name="urgent water", urgency=Urgency.URGENT, category="水电气热", handle_amount=2,
                          handle_unit="days", active=True, version=1)
    assert policy_problems(urgent_water, rows)  # 2 days > the 24 hours of its own normal rule
    zero = Policy(id=1, name="default", handle_amount=0, handle_unit="working_days", active=True, version=2)
    assert policy_problems(zero, rows) == [
        ("办理时限必须是正整数。", "The handling limit must be a positive whole number.")]
    weird = Policy(id=1, name="default", handle_amount=5, handle_unit="fortnights", active=True, version=2)
    assert policy_problems(weird, rows)
