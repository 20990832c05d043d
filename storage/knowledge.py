"""The knowledge base: articles owned by units, reviewed before publishing, served while valid.

Unit staff (handler, unit head) write revisions of their own unit's articles only; the unit
head - never the revision's author - approves one, and its fields are copied onto the article,
which is what retrieval serves. Earlier revisions stay as the version history.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from intents.knowledge import THRESHOLD, KnowledgeDoc, KnowledgeIndex

from .cases import Applied, CaseService
from .lifecycle import Action, Actor, Role
from .models import KnowledgeArticle, KnowledgeRevision, KnowledgeStatus, RevisionStatus, Unit

Clock = Callable[[], dt.datetime]
LOCAL = ZoneInfo("Asia/Shanghai")
DEMO_PATH = Path(__file__).with_name("demo") / "knowledge.json"
EDITORS = frozenset({Role.HANDLER, Role.UNIT_HEAD})
MAX_QUESTIONS, MAX_QUESTION, MAX_ANSWER = 20, 200, 4000


def utcnow() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


def local_day(now: dt.datetime) -> dt.date:
    """Return the calendar day in Asia/Shanghai, the day validity dates are written in."""
    return now.astimezone(LOCAL).date()


class KnowledgeError(Exception):
    """A refused change to the knowledge base; nothing was written."""

    status_code = 400
    TEXTS: Mapping[str, tuple[str, str]] = {
        "not_found": ("未找到该知识条目。", "No such article."),
        "not_owner": ("只有该条目所属单位的工作人员可以修改。",
                      "Only staff of the owning unit may change this article."),
        "not_reviewer": ("只有所属单位负责人或督办员（且不是作者本人）可以审核。",
                         "Only the owning unit's head or a supervisor, other than the author, may review it."),
        "in_review": ("该条目正在审核中，请先审核或退回。",
                      "The article is under review; approve or send it back first."),
        "no_draft": ("没有待提交的草稿。", "There is no draft to submit."),
        "not_in_review": ("没有待审核的版本。", "There is no revision under review."),
        "not_servable": ("该条目未发布或已过有效期，不能用于答复。",
                         "The article is not published or not valid today."),
        "invalid": ("内容不完整或过长：{field}", "Missing or too long: {field}"),
        "dates": ("失效日期不能早于生效日期。", "The end date cannot be before the start date."),
    }

    def __init__(self, key: str, status_code: int | None = None, **params: str) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
        if status_code is not None:
            self.status_code = status_code

    def message(self, language: str = "zh-CN") -> str:
        """Return the explanation in the user's language."""
        zh, en = self.TEXTS[self.key]
        params = dict(self.params)
        if params.get("field") in FIELD_NAMES:  # the field as the form names it, not its code
            params["field"] = FIELD_NAMES[params["field"]][1 if language == "en" else 0]
        return (en if language == "en" else zh).format(**params)


def may_review(actor: Actor, unit_id: int) -> bool:
    """Tell whether ``actor`` may review the unit's articles: its unit heads, or a platform supervisor (so a unit with
    a single head, who wrote the revision, is never stuck); nobody reviews their own revision."""
    return (Role.UNIT_HEAD in actor.roles and unit_id in actor.unit_ids) or Role.SUPERVISOR in actor.roles


#: How an article form's fields are named to the people filling it in.
FIELD_NAMES: dict[str, tuple[str, str]] = {
    "questions": ("问题（每行一种问法）", "Questions (one way of asking per line)"), "answer": ("答案", "Answer"),
    "category": ("类别", "Category"), "source": ("依据", "Source"), "valid_from": ("生效日期", "Valid from"),
    "valid_to": ("失效日期", "Valid until"), "note": ("审核意见", "Review note"), "unit": ("单位", "Unit"),
}


@dataclass(frozen=True)
class ArticleDraft:
    """What an editor writes: question variants, the answer, its source and validity dates."""

    questions: Sequence[str]
    answer: str
    category: str = ""
    source: str = ""
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None

    def cleaned(self) -> dict[str, Any]:
        """Return the fields to store, or raise KnowledgeError naming the bad one."""
        questions = list(dict.fromkeys(q.strip() for q in self.questions if q and q.strip()))
        if not questions or len(questions) > MAX_QUESTIONS or any(len(q) > MAX_QUESTION for q in questions):
            raise KnowledgeError("invalid", field="questions")
        answer = (self.answer or "").strip()
        if not answer or len(answer) > MAX_ANSWER:
            raise KnowledgeError("invalid", field="answer")
        if len(self.source.strip()) > 255 or len(self.category.strip()) > 32:
            raise KnowledgeError("invalid", field="source" if len(self.source.strip()) > 255 else "category")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise KnowledgeError("dates", field="valid_to")
        return {"questions": questions, "answer": answer, "category": self.category.strip(),
                "source": self.source.strip(), "valid_from": self.valid_from, "valid_to": self.valid_to}


def _check_editor(actor: Actor, unit_id: int) -> None:
    if not (actor.roles & EDITORS) or unit_id not in actor.unit_ids:
        raise KnowledgeError("not_owner", 403)


async def _article(article_id: int) -> KnowledgeArticle:
    article = await KnowledgeArticle.get_or_none(id=article_id)
    if article is None:
        raise KnowledgeError("not_found", 404)
    return article


async def _latest(article_id: int) -> KnowledgeRevision:
    revision = await KnowledgeRevision.filter(article_id=article_id).order_by("-number").first()
    if revision is None:
        raise KnowledgeError("not_found", 404)
    return revision


class KnowledgeService:
    """Writes articles and revisions: unit staff edit their own unit's, the unit head publishes."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock

    async def create(self, unit_id: int, draft: ArticleDraft, actor: Actor) -> KnowledgeRevision:
        """Start a new article of the actor's unit with its first draft revision."""
        _check_editor(actor, unit_id)
        fields = draft.cleaned()
        now = self.clock()
        async with in_transaction():
            article = await KnowledgeArticle.create(unit_id=unit_id, category=fields["category"],
                                                    created_at=now, updated_at=now)
            return await KnowledgeRevision.create(article=article, number=1, author_id=actor.staff_id,
                                                  created_at=now, **fields)

    async def edit(self, article_id: int, draft: ArticleDraft, actor: Actor) -> KnowledgeRevision:
        """Save a draft: update the open one, or open the next revision after a published one."""
        article = await _article(article_id)
        _check_editor(actor, article.unit_id)
        fields = draft.cleaned()
        now = self.clock()
        async with in_transaction():
            latest = await _latest(article_id)
            if latest.status is RevisionStatus.REVIEW:
                raise KnowledgeError("in_review", 409)
            if latest.status is RevisionStatus.DRAFT:
                if not await KnowledgeRevision.filter(id=latest.id, status=RevisionStatus.DRAFT).update(
                    author_id=actor.staff_id, **fields
                ):
                    raise KnowledgeError("in_review", 409)
                await latest.refresh_from_db()
                return latest
            return await KnowledgeRevision.create(article_id=article_id, number=latest.number + 1,
                                                  author_id=actor.staff_id, created_at=now, **fields)

    async def submit_for_review(self, article_id: int, actor: Actor) -> KnowledgeRevision:
        """Send the open draft to the unit head for review."""
        article = await _article(article_id)
        _check_editor(actor, article.unit_id)
        latest = await _latest(article_id)
        if latest.status is not RevisionStatus.DRAFT or not await KnowledgeRevision.filter(
            id=latest.id, status=RevisionStatus.DRAFT
        ).update(status=RevisionStatus.REVIEW):
            raise KnowledgeError("no_draft", 409)
        await latest.refresh_from_db()
        return latest

    async def _reviewed(self, article_id: int, actor: Actor) -> tuple[KnowledgeArticle, KnowledgeRevision]:
        article = await _article(article_id)
        if not may_review(actor, article.unit_id):
            raise KnowledgeError("not_reviewer", 403)
        revision = await _latest(article_id)
        if revision.status is not RevisionStatus.REVIEW:
            raise KnowledgeError("not_in_review", 409)
        if actor.staff_id is None or revision.author_id == actor.staff_id:
            raise KnowledgeError("not_reviewer", 403)
        return article, revision

    async def approve(self, article_id: int, actor: Actor, note: str = "") -> KnowledgeArticle:
        """Publish the revision under review: the article now serves its fields."""
        article, revision = await self._reviewed(article_id, actor)
        now = self.clock()
        async with in_transaction():
            # Compare-and-set: two reviewers approving at once publish it once.
            if not await KnowledgeRevision.filter(id=revision.id, status=RevisionStatus.REVIEW).update(
                status=RevisionStatus.PUBLISHED, reviewer_id=actor.staff_id, review_note=note.strip(),
                reviewed_at=now,
            ):
                raise KnowledgeError("not_in_review", 409)
            await KnowledgeRevision.filter(article_id=article_id, status=RevisionStatus.PUBLISHED).exclude(
                id=revision.id
            ).update(status=RevisionStatus.SUPERSEDED)
            await KnowledgeArticle.filter(id=article_id).update(
                status=KnowledgeStatus.PUBLISHED, category=revision.category, questions=revision.questions,
                answer=revision.answer, source=revision.source, valid_from=revision.valid_from,
                valid_to=revision.valid_to, version=revision.number, updated_at=now,
            )
        await article.refresh_from_db()
        return article

    async def send_back(self, article_id: int, actor: Actor, note: str) -> KnowledgeRevision:
        """Return the revision under review to its author as a draft, with the reviewer's note."""
        if not note.strip():
            raise KnowledgeError("invalid", field="note")
        _, revision = await self._reviewed(article_id, actor)
        if not await KnowledgeRevision.filter(id=revision.id, status=RevisionStatus.REVIEW).update(
            status=RevisionStatus.DRAFT, reviewer_id=actor.staff_id, review_note=note.strip(),
            reviewed_at=self.clock(),
        ):
            raise KnowledgeError("not_in_review", 409)
        await revision.refresh_from_db()
        return revision

    async def withdraw(self, article_id: int, actor: Actor) -> KnowledgeArticle:
        """Stop serving an article at once (its unit head); a new approval publishes it again."""
        article = await _article(article_id)
        if Role.UNIT_HEAD not in actor.roles or article.unit_id not in actor.unit_ids:
            raise KnowledgeError("not_reviewer", 403)
        await KnowledgeArticle.filter(id=article_id).update(status=KnowledgeStatus.WITHDRAWN, updated_at=self.clock())
        await article.refresh_from_db()
        return article


async def history(article_id: int) -> list[KnowledgeRevision]:
    """Return every revision of an article, oldest first."""
    return await KnowledgeRevision.filter(article_id=article_id).order_by("number")


def _servable(day: dt.date) -> Any:
    from tortoise.expressions import Q

    return (
        Q(status=KnowledgeStatus.PUBLISHED)
        & (Q(valid_from__isnull=True) | Q(valid_from__lte=day))
        & (Q(valid_to__isnull=True) | Q(valid_to__gte=day))
    )


async def published_docs(day: dt.date) -> list[KnowledgeDoc]:
    """Return the published articles valid on ``day``, as retrieval documents."""
    rows = await KnowledgeArticle.filter(_servable(day)).order_by("id")
    return [KnowledgeDoc(a.id, tuple(a.questions), a.answer, a.valid_from, a.valid_to) for a in rows]


@dataclass(frozen=True)
class Answer:
    """An article offered as the answer to a question, with what a reply must cite."""

    article_id: int
    version: int
    question: str
    answer: str
    source: str
    unit_code: str
    unit_name: str
    category: str
    score: float
    confident: bool  # at or above the threshold: the chat may answer with it

    def citation(self) -> str:
        """Return the source line stored with a direct answer: basis, article and version."""
        return citation(self.source, self.article_id, self.version)

    def as_suggestion(self, accepted: bool = False) -> dict[str, Any]:
        """Return what a case created after this answer keeps in ``Case.suggestion`` (answer was offered)."""
        return {"knowledge": {"article_id": self.article_id, "version": self.version,
                              "score": round(self.score, 3), "accepted": accepted}}


def citation(source: str, article_id: int, version: int) -> str:
    """Return the source line of a direct answer: legal basis, then article number and version."""
    basis = f"{source}；" if source else ""
    return f"{basis}知识库#{article_id} 第{version}版"[:255]


class KnowledgeBase:
    """The served articles as a retrieval index, rebuilt when an article changes (checked every ``ttl`` s)."""

    def __init__(self, clock: Clock = utcnow, ttl: float = 5.0, threshold: float | None = None) -> None:
        self.clock = clock
        self.ttl = ttl
        self.threshold = threshold
        self._index: KnowledgeIndex | None = None
        self._stamp: tuple[Any, ...] = ()
        self._day: dt.date | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    async def index(self) -> KnowledgeIndex:
        """Return the current index, rebuilding it if any article changed or the day turned."""
        day = local_day(self.clock())
        if self._index is not None and day == self._day and time.monotonic() - self._checked < self.ttl:
            return self._index
        async with self._lock:  # one rebuild at a time; the others wait and reuse it
            last = await KnowledgeArticle.all().order_by("-updated_at", "-id").first().values_list("id", "updated_at")
            stamp = (await KnowledgeArticle.all().count(), last, day)
            if self._index is None or stamp != self._stamp:
                docs = await published_docs(day)
                threshold = THRESHOLD if self.threshold is None else self.threshold
                # Tokenizing every article takes a moment: keep it off the event loop.
                self._index = await asyncio.to_thread(KnowledgeIndex, docs, threshold)
                self._stamp, self._day = stamp, day
            self._checked = time.monotonic()
            return self._index

    async def suggestions(self, question: str, limit: int = 3) -> list[Answer]:
        """Return the best articles for a question with scores (the phone desk shows them while typing)."""
        index = await self.index()
        day = local_day(self.clock())
        hits = index.search(question, limit=limit, day=day)
        if not hits:
            return []
        rows = {a.id: a for a in await KnowledgeArticle.filter(_servable(day), id__in=[h.article_id for h in hits])
                .prefetch_related("unit")}
        out = []
        for hit in hits:
            article = rows.get(int(hit.article_id))  # type: ignore[call-overload]
            if article is None:  # withdrawn or expired since the index was built
                continue
            unit: Unit = article.unit
            sure = index.confident(question, hit.score)
            out.append(Answer(article.id, article.version, article.questions[0], article.answer, article.source,
                              unit.code, unit.name_zh, article.category, hit.score, sure))
        return out

    async def answer_for(self, question: str) -> Answer | None:
        """Return the article to answer a citizen's question with, or None below the threshold."""
        best = await self.suggestions(question, limit=1)
        return best[0] if best and best[0].confident else None


async def record_direct_answer(
    case_id: int, article_id: int, actor: Actor, service: CaseService, day: dt.date | None = None
) -> Applied:
    """Resolve a submitted case as answered directly (直接答复) with a served article and its source."""
    day = day or local_day(service.clock())
    article = await KnowledgeArticle.filter(_servable(day), id=article_id).first()
    if article is None:
        raise KnowledgeError("not_servable", 409)
    payload = {"reply": article.answer, "source": citation(article.source, article.id, article.version)}
    return await service.apply(case_id, Action.ANSWER_DIRECTLY, actor, payload)


def load_demo(path: Path = DEMO_PATH) -> list[dict[str, Any]]:
    """Read and validate the demo articles, naming the first bad entry."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    for i, entry in enumerate(entries):
        try:
            _demo_draft(entry).cleaned()
            if not entry.get("unit"):
                raise KnowledgeError("invalid", field="unit")
        except (KnowledgeError, KeyError, ValueError, TypeError) as exc:
            first = entry.get("questions", ["?"])[0]
            raise ValueError(f"{path.name}: article {i} ({first}) is invalid: {exc}") from exc
    return entries


def _demo_draft(entry: Mapping[str, Any]) -> ArticleDraft:
    def day(value: str | None) -> dt.date | None:
        return dt.date.fromisoformat(value) if value else None

    return ArticleDraft(entry["questions"], entry["answer"], entry.get("category", ""), entry.get("source", ""),
                        day(entry.get("valid_from")), day(entry.get("valid_to")))


async def seed_knowledge(units: Mapping[str, Unit], path: Path = DEMO_PATH, clock: Clock = utcnow) -> int:
    """Create the demo articles as published revision 1 of each unit's articles; return how many."""
    now = clock()
    count = 0
    for entry in load_demo(path):
        unit = units.get(entry["unit"])
        if unit is None:
            raise ValueError(f"{path.name}: unknown unit {entry['unit']!r}")
        fields = _demo_draft(entry).cleaned()
        article = await KnowledgeArticle.create(unit=unit, status=KnowledgeStatus.PUBLISHED, version=1,
                                                created_at=now, updated_at=now, **fields)
        await KnowledgeRevision.create(article=article, number=1, status=RevisionStatus.PUBLISHED,
                                       review_note="演示数据 / demo data", reviewed_at=now, created_at=now, **fields)
        count += 1
    return count
