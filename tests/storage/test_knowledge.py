"""Knowledge articles: owning-unit editing, review before publishing, expiry, direct answers."""

from __future__ import annotations

import datetime as dt

import pytest

from storage.cases import CaseService, NewCase
from storage.errors import NotAllowed
from storage.knowledge import (
    ArticleDraft,
    KnowledgeBase,
    KnowledgeError,
    KnowledgeService,
    history,
    load_demo,
    published_docs,
    record_direct_answer,
    seed_knowledge,
)
from storage.lifecycle import Action, Actor, CaseStatus, Role
from storage.models import (
    CaseEvent,
    CaseKind,
    Channel,
    KnowledgeArticle,
    KnowledgeStatus,
    Notification,
    RevisionStatus,
    Staff,
    Unit,
)
from tests.support.builders import World, make_staff, make_world

NOW = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)  # 12:00 in Asia/Shanghai
TODAY = dt.date(2026, 11, 26)
HEATING = ArticleDraft(["今年什么时候开始供暖", "供暖季是几号到几号"], "本年度供暖期为11月15日至次年3月15日。",
                       "城乡建设", "《江澜市城市供热管理办法》第十八条")


def actor_for(staff: Staff) -> Actor:
    """Return the actor a staff account acts as."""
    units = frozenset({staff.unit_id}) if staff.unit_id else frozenset()  # type: ignore[attr-defined]
    return Actor(roles=staff.role_set(), staff_id=staff.id, unit_ids=units, name=staff.username)


class Desk:
    """The housing bureau's handler and head, the transport bureau's handler, an operator."""

    def __init__(self, world: World, staff: dict[str, Actor]) -> None:
        self.world = world
        self.handler, self.head = staff["handler"], staff["head"]
        self.outsider, self.operator = staff["outsider"], staff["operator"]


@pytest.fixture
async def desk(database_url: str) -> Desk:
    """A world with staff accounts on two units."""
    world = await make_world()
    staff = {
        "handler": actor_for(await make_staff("zjj-handler", [Role.HANDLER], world.lead)),
        "head": actor_for(await make_staff("zjj-head", [Role.UNIT_HEAD], world.lead)),
        "outsider": actor_for(await make_staff("jtj-head", [Role.UNIT_HEAD, Role.HANDLER], world.other)),
        "operator": actor_for(await make_staff("operator", [Role.OPERATOR])),
    }
    return Desk(world, staff)


async def publish(service: KnowledgeService, desk: Desk, draft: ArticleDraft = HEATING) -> KnowledgeArticle:
    """Write, submit and approve an article of the lead unit."""
    revision = await service.create(desk.world.lead.id, draft, desk.handler)
    await service.submit_for_review(revision.article_id, desk.handler)
    return await service.approve(revision.article_id, desk.head)


async def test_review_before_publish_and_version_history(desk: Desk) -> None:
    service, kb = KnowledgeService(lambda: NOW), KnowledgeBase(lambda: NOW, ttl=0)
    revision = await service.create(desk.world.lead.id, HEATING, desk.handler)
    article_id = revision.article_id
    assert await kb.answer_for("什么时候开始供暖") is None  # a draft is never served
    with pytest.raises(KnowledgeError) as refused:
        await service.approve(article_id, desk.head)  # not submitted yet
    assert refused.value.key == "not_in_review"
    await service.submit_for_review(article_id, desk.handler)
    with pytest.raises(KnowledgeError):
        await service.edit(article_id, HEATING, desk.handler)  # frozen while under review
    assert await kb.answer_for("什么时候开始供暖") is None  # under review: still not served
    await service.send_back(article_id, desk.head, "请写明依据的条款")
    await service.submit_for_review(article_id, desk.handler)
    article = await service.approve(article_id, desk.head, "同意")
    assert article.status is KnowledgeStatus.PUBLISHED and article.version == 1
    answer = await kb.answer_for("暖气几号开始烧")
    assert answer is not None and answer.article_id == article_id and answer.unit_code == "lead"
    assert answer.source == HEATING.source and "第1版" in answer.citation()
    assert answer.as_suggestion()["knowledge"] == {"article_id": article_id, "version": 1,
                                                   "score": round(answer.score, 3), "accepted": False}

    # A second version: the first keeps being served until the new one is approved.
    new = ArticleDraft(HEATING.questions, "本年度供暖期为11月10日至次年3月20日。", HEATING.category, HEATING.source)
    second = await service.edit(article_id, new, desk.handler)
    assert second.number == 2 and second.status is RevisionStatus.DRAFT
    assert (await kb.answer_for("什么时候开始供暖")).answer == HEATING.answer  # type: ignore[union-attr]
    await service.submit_for_review(article_id, desk.handler)
    await service.approve(article_id, desk.head)
    assert (await kb.answer_for("什么时候开始供暖")).answer == new.answer  # type: ignore[union-attr]
    statuses = [(r.number, r.status) for r in await history(article_id)]
    assert statuses == [(1, RevisionStatus.SUPERSEDED), (2, RevisionStatus.PUBLISHED)]

    await service.withdraw(article_id, desk.head)
    assert await kb.answer_for("什么时候开始供暖") is None


async def test_a_unit_cannot_edit_or_review_another_units_articles(desk: Desk) -> None:
    service = KnowledgeService(lambda: NOW)
    article = await publish(service, desk)
    for attempt in (
        service.create(desk.world.lead.id, HEATING, desk.outsider),
        service.edit(article.id, HEATING, desk.outsider),
        service.submit_for_review(article.id, desk.outsider),
        service.withdraw(article.id, desk.outsider),
        service.edit(article.id, HEATING, desk.operator),  # platform staff do not own articles
    ):
        with pytest.raises(KnowledgeError) as refused:
            await attempt
        assert refused.value.status_code == 403
    await service.edit(article.id, HEATING, desk.handler)
    await service.submit_for_review(article.id, desk.handler)
    with pytest.raises(KnowledgeError, match="not_reviewer"):
        await service.approve(article.id, desk.outsider)
    assert [r.number for r in await history(article.id)] == [1, 2]


async def test_the_author_cannot_approve_their_own_revision(desk: Desk) -> None:
    service = KnowledgeService(lambda: NOW)
    revision = await service.create(desk.world.lead.id, HEATING, desk.head)
    await service.submit_for_review(revision.article_id, desk.head)
    with pytest.raises(KnowledgeError, match="not_reviewer"):
        await service.approve(revision.article_id, desk.head)


async def test_an_expired_article_is_never_served(desk: Desk) -> None:
    service, kb = KnowledgeService(lambda: NOW), KnowledgeBase(lambda: NOW, ttl=0)
    expired = ArticleDraft(["今年什么时候开始供暖"], "去年的通知。", valid_to=TODAY - dt.timedelta(days=1))
    future = ArticleDraft(["今年什么时候开始供暖"], "明年的通知。", valid_from=TODAY + dt.timedelta(days=1))
    old, later = await publish(service, desk, expired), await publish(service, desk, future)
    assert await kb.answer_for("什么时候开始供暖") is None
    assert await kb.suggestions("什么时候开始供暖") == []
    assert [d.article_id for d in await published_docs(TODAY)] == []
    assert {d.article_id for d in await published_docs(TODAY + dt.timedelta(days=1))} == {later.id}
    case = await CaseService(clock=lambda: NOW).submit(
        NewCase(text="什么时候开始供暖", channel=Channel.PHONE), desk.operator)
    with pytest.raises(KnowledgeError, match="not_servable"):
        await record_direct_answer(case.id, old.id, desk.operator, CaseService(clock=lambda: NOW))
    # The day turns: the same base starts serving the article that became valid.
    tomorrow = KnowledgeBase(lambda: NOW + dt.timedelta(days=1), ttl=0)
    assert (await tomorrow.answer_for("什么时候开始供暖")).article_id == later.id  # type: ignore[union-attr]


async def test_direct_answer_resolves_the_case_with_answer_and_source(desk: Desk) -> None:
    article = await publish(KnowledgeService(lambda: NOW), desk)
    cases = CaseService(clock=lambda: NOW)
    new = NewCase(text="请问今年几号开始供暖？", channel=Channel.PHONE, citizen_id=desk.world.citizen.id,
                  kind=CaseKind.CONSULTATION)
    case = await cases.submit(new, desk.operator)
    answer = await KnowledgeBase(lambda: NOW).answer_for(case.text)
    assert answer is not None and answer.article_id == article.id
    applied = await record_direct_answer(case.id, answer.article_id, desk.operator, cases)
    assert applied.case.status is CaseStatus.RESOLVED and applied.case.reply == HEATING.answer
    event = await CaseEvent.get(case_id=case.id, action=Action.ANSWER_DIRECTLY)
    assert event.data["direct"] is True
    assert event.data["source"].startswith(HEATING.source) and f"知识库#{article.id}" in event.data["source"]
    assert applied.notifications == 1  # the citizen is told the answer
    assert await Notification.filter(case_id=case.id, event_id=event.id, audience="citizen").exists()
    with pytest.raises(NotAllowed):  # a resolved case cannot be answered again
        await record_direct_answer(case.id, article.id, desk.operator, cases)


async def test_a_handler_cannot_answer_directly(desk: Desk) -> None:
    article = await publish(KnowledgeService(lambda: NOW), desk)
    cases = CaseService(clock=lambda: NOW)
    case = await cases.submit(NewCase(text="几号开始供暖", channel=Channel.PHONE), desk.operator)
    with pytest.raises(NotAllowed):
        await record_direct_answer(case.id, article.id, desk.handler, cases)


async def test_invalid_drafts_name_the_bad_field(desk: Desk) -> None:
    service = KnowledgeService(lambda: NOW)
    bad = [ArticleDraft([], "答"), ArticleDraft(["问"], " "), ArticleDraft(["问"], "答", source="x" * 256),
           ArticleDraft(["问"], "答", valid_from=TODAY, valid_to=TODAY - dt.timedelta(days=1))]
    fields = []
    for draft in bad:
        with pytest.raises(KnowledgeError) as refused:
            await service.create(desk.world.lead.id, draft, desk.handler)
        fields.append(refused.value.params["field"])
    assert fields == ["questions", "answer", "source", "valid_to"]
    assert "Questions" in KnowledgeError("invalid", field="questions").message("en")  # as the form names it
    assert "问题" in KnowledgeError("invalid", field="questions").message() and "questions" not in (
        KnowledgeError("invalid", field="questions").message())


async def test_the_demo_articles_seed_for_the_demo_units(database_url: str) -> None:
    from storage.seed import load_city, seed_units

    units = await seed_units(load_city())
    assert await seed_knowledge(units) == len(load_demo()) >= 30
    kb = KnowledgeBase(ttl=0)
    for question, unit in (("社保怎么转到江澜", "rsj"), ("公积金可以取出来吗", "zjj"), ("停水了打什么电话", "water")):
        answer = await kb.answer_for(question)
        assert answer is not None and answer.unit_code == unit, question
    assert await Unit.filter(code="rsj").exists()
