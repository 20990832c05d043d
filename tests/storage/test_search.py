"""Case search: the index finds what a substring search finds, on SQLite and PostgreSQL alike, and follows edits."""

from __future__ import annotations

import random

from tortoise.expressions import RawSQL

from storage import search
from storage.cases import CaseService, NewCase
from storage.lifecycle import Role
from storage.models import Case, Channel
from tests.support.builders import make_world

TEXTS = [
    "楼下烧烤店深夜噪音很大，影响休息", "东湖区幸福里小区路灯不亮", "WiFi信号差，小区宽带经常断网", "噪声扰民",
    "路灯", "供暖不热 😡 已经三天了！", "物业乱收费（停车费）", "共享单车乱停乱放，占用盲道", "下水道堵塞-污水外溢",
]


async def found(query: str) -> set[int]:
    """Return the ids of cases the index search finds for a query."""
    terms = search.terms(query)
    assert terms is not None, query
    qs = Case.filter(id__in=RawSQL(f"({search.match_sql(terms)})")).filter(search.verify(terms))
    return set(await qs.values_list("id", flat=True))


async def test_two_character_words_and_phrases_are_found(database_url: str) -> None:
    world = await make_world()
    service = CaseService()
    operator = world.actor(Role.OPERATOR)
    made = {text: await service.submit(NewCase(text=text, channel=Channel.PHONE), operator) for text in TEXTS}
    assert await found("噪音") == {made[TEXTS[0]].id}
    assert await found("路灯") == {made[TEXTS[1]].id, made["路灯"].id}
    assert await found("幸福里小区路灯") == {made[TEXTS[1]].id}
    assert await found("wifi") == await found("WIFI") == {made[TEXTS[2]].id}
    assert await found("不存在的词") == set()
    number = made["路灯"].number
    sequence = number.rsplit("-", 1)[1]
    assert made["路灯"].id in await found(sequence) and made["路灯"].id in await found(sequence.lstrip("0"))


async def test_words_separated_by_spaces_must_each_be_there_in_any_order(database_url: str) -> None:
    world = await make_world()
    service = CaseService()
    operator = world.actor(Role.OPERATOR)
    made = {text: await service.submit(NewCase(text=text, channel=Channel.PHONE), operator) for text in TEXTS}
    both = {made[TEXTS[1]].id}  # 东湖区幸福里小区路灯不亮
    assert await found("幸福里 路灯") == await found("路灯 幸福里") == await found("  路灯   幸福里 ") == both
    assert await found("路灯 噪音") == set()  # each word, not either
    assert await found("小区 宽带") == {made[TEXTS[2]].id}


async def test_the_index_finds_exactly_what_a_substring_search_finds(database_url: str) -> None:
    rng = random.Random(12345)
    alphabet = "噪音扰民路灯不亮小区幸福里 -，AbcD😡1"
    rows = [(f"t{i}", "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))) for i in range(120)]
    world = await make_world()
    for i, (title, text) in enumerate(rows):
        await Case.create(number=f"8890-20260101-{i:05d}", tracking_code=f"T{i}", title=title, text=text,
                          channel=Channel.PHONE, citizen_id=world.citizen.id)
    cases = await Case.all()
    for _ in range(60):
        source = rng.choice(rows)[1]
        start = rng.randrange(len(source))
        query = source[start:start + rng.randint(2, 4)]
        words = query.lower().split()  # a space separates words, each of which must be there
        if query.isdigit() or not any(len(w) >= 2 for w in words):
            continue
        expected = {c.id for c in cases if all(w in c.title.lower() or w in c.text.lower() for w in words)}
        assert await found(query) == expected, query


async def test_rewritten_text_is_no_longer_found(database_url: str) -> None:
    world = await make_world()
    case = await CaseService().submit(NewCase(text="联系电话13812345678，家住幸福里", channel=Channel.PHONE),
                                      world.actor(Role.OPERATOR))
    assert await found("13812345678") == {case.id}
    # What the retention job does to an archived case: the masked text replaces the old one in the index.
    await Case.filter(id=case.id).update(text="联系电话138****5678，家住幸福里", title="已脱敏")
    assert await found("13812345678") == set()
    assert await found("幸福里") == {case.id}
    draft = await Case.create(number="8890-20260101-99999", tracking_code="DRAFT", text="幸福里的草稿",
                              channel=Channel.PHONE)  # no timeline yet, so it may be deleted
    assert await found("幸福里") == {case.id, draft.id}
    await draft.delete()
    assert await found("幸福里") == {case.id}


async def test_upgrading_indexes_the_cases_already_there(tmp_path) -> None:  # noqa: ANN001
    from tortoise import connections

    from storage import db
    from tests.conftest import PG_URL

    if PG_URL:  # the PostgreSQL run checks the same backfill in its own database
        import uuid

        import asyncpg

        from tests.conftest import _pg_admin_url

        name = f"appeals_search_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(_pg_admin_url(PG_URL, "postgres"))
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = _pg_admin_url(PG_URL, name)
    else:
        url = f"sqlite://{tmp_path / 'old.db'}"
    try:
        await db.migrate(url, target=f"{db.APP}.0010_totp_and_admin")
        await db.init(url)
        await connections.get("default").execute_query(
            "INSERT INTO appeal_case (number, tracking_code, title, text, kind, urgency, status, address, channel,"
            " anonymous, confidential, malicious, suggestion, extended_days, reply, version, created_at, updated_at)"
            " VALUES ('8890-20260101-00077', 'OLDCASE777', '', '老小区楼道噪音', 'complaint', 'normal', 'submitted',"
            " '', 'phone', FALSE, FALSE, FALSE, '{}', 0, '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        await db.close()
        await db.migrate(url)
        await db.init(url)
        old = await Case.get(number="8890-20260101-00077")
        assert await found("楼道噪音") == {old.id} and await found("77") == {old.id}
        await db.close()
    finally:
        if PG_URL:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
