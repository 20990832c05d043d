"""Case numbers are unique and gapless per day, even under concurrent submissions."""

from __future__ import annotations

import asyncio
import datetime as dt

from tortoise.transactions import in_transaction

from storage.cases import CaseService, NewCase
from storage.lifecycle import Role
from storage.models import Case, Channel
from storage.numbering import TRACKING_CODE_LENGTH, next_case_number, tracking_code
from tests.support.builders import make_world


async def test_concurrent_submissions_get_distinct_consecutive_numbers(database_url: str) -> None:
    world = await make_world()
    fixed = dt.datetime(2026, 11, 26, 15, 59, tzinfo=dt.UTC)  # 23:59 in Shanghai
    service = CaseService(clock=lambda: fixed)
    operator = world.actor(Role.OPERATOR)
    results = await asyncio.gather(
        *(service.submit(NewCase(text=f"第{i}件诉求", channel=Channel.PHONE), operator) for i in range(20))
    )
    numbers = sorted(c.number for c in results)
    assert numbers == [f"8890-20261126-{i:05d}" for i in range(1, 21)]
    assert await Case.all().count() == 20


async def test_the_serial_restarts_on_the_next_local_day(database_url: str) -> None:
    world = await make_world()
    times = iter([
        dt.datetime(2026, 11, 26, 15, 59, tzinfo=dt.UTC),  # 23:59 on the 26th in Shanghai
        dt.datetime(2026, 11, 26, 16, 1, tzinfo=dt.UTC),  # 00:01 on the 27th in Shanghai
    ])
    service = CaseService(clock=lambda: next(times))
    a = await service.submit(NewCase(text="一", channel=Channel.PHONE), world.actor(Role.OPERATOR))
    b = await service.submit(NewCase(text="二", channel=Channel.PHONE), world.actor(Role.OPERATOR))
    assert (a.number, b.number) == ("8890-20261126-00001", "8890-20261127-00001")


def test_tracking_codes_are_random_and_unambiguous() -> None:
    codes = {tracking_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == TRACKING_CODE_LENGTH and not set(c) & set("01OIL") for c in codes)


async def test_numbers_handed_out_outside_a_transaction_and_after_a_rollback(database_url: str) -> None:
    moment = dt.datetime(2026, 11, 26, 2, tzinfo=dt.UTC)
    first = await asyncio.gather(*(next_case_number("8890", moment) for _ in range(5)))  # batched on SQLite
    assert sorted(first) == [f"8890-20261126-{i:05d}" for i in range(1, 6)]

    class Undo(Exception):
        pass

    try:
        async with in_transaction():
            assert await next_case_number("8890", moment) == "8890-20261126-00006"
            raise Undo
    except Undo:
        pass
    assert await next_case_number("8890", moment) == "8890-20261126-00006"  # the undone serial again
