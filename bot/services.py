"""What the flows use: the case service and the NLP advisor, wired once in a composition root."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from intents import gazetteer, routing, urgency
from intents.similar import SimilarIndex
from storage import batch
from storage.cases import CaseService, utcnow
from storage.knowledge import Answer, KnowledgeBase
from storage.lifecycle import OPEN_STATUSES, CaseStatus
from storage.models import Case, CatalogueEntry

log = logging.getLogger("appeals.bot")

SIMILAR_WINDOW = dt.timedelta(days=30)
MAX_QUESTION = 500  # characters of a message the knowledge base is asked about
REFRESH_SECONDS = 30.0  # the dispatch catalogue
CASES_REFRESH_SECONDS = 5.0  # cases other processes created, for the similar-case check (并单 bursts are short)
ID_MARGIN = 200  # ids below the highest seen read again on PostgreSQL, where ids can commit out of order
INLINE_CHARS = 1000  # texts up to this length are classified on the event loop (see Advisor.suggest)


def _ranker(model: Any, limit: int = 3) -> Callable[[str], list[Any]]:
    """Rank a text's categories with their scores only: the dialog never shows the evidence (half the cost)."""
    from intents import classifier

    def rank(text: str) -> list[Any]:
        proba = model.predict_proba_many([text])[0]
        return [classifier.Suggestion(model.labels[i], float(proba[i])) for i in np.argsort(-proba)[:limit]]

    return rank


@dataclass(frozen=True, slots=True)
class OpenCase:
    """What the dialog shows of a similar open case (a plain record: no ORM object per candidate)."""

    id: int
    number: str
    status: CaseStatus
    category: str | None
    district: str | None
    street: str | None
    created_at: dt.datetime | str


_assess = functools.lru_cache(maxsize=256)(urgency.assess)  # the same text, asked about several times per step


def _log_failure(task: asyncio.Task[None]) -> None:
    """Log a background refresh that failed (the next call tries again)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("refreshing the catalogue or the similar-case index failed: %s", task.exception())


class Advisor:
    """Ask intents/ for category, unit, place, urgency and similar open cases; degrade when a part is missing."""

    def __init__(self, model_path: Path | None = None, suggester: Callable[[str], list[Any]] | None = None,
                 places: gazetteer.Gazetteer | None = None) -> None:
        self._model_path = model_path
        self._suggester = suggester
        self._model_tried = suggester is not None
        self.places = places or gazetteer.load()
        self._catalogue: routing.Catalogue | None = None
        self._categories: list[str] = []
        self._unit_en: dict[str, str] = {}  # unit code → English name, for English conversations
        self._loaded_at = -1e9
        self._cases_at = -1e9
        self._index = SimilarIndex()
        self._index_max_id = 0
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None  # a refresh running while callers go on
        self._model_lock = threading.Lock()  # the warm-up and a first message may both load it
        self._classified = False  # whether a classification has completed (everything it needs is loaded)

    def load_model(self) -> Callable[[str], list[Any]] | None:
        """Load the classifier once (None without one: the dialog then offers a category menu).

        A second caller while it loads (the warm-up and a first message) waits instead of seeing "no model".
        """
        with self._model_lock:
            if not self._model_tried:
                try:
                    from intents import classifier

                    model = classifier.load(self._model_path or classifier.DEFAULT_MODEL_PATH)
                    self._suggester = _ranker(model)
                except Exception as exc:  # noqa: BLE001 - no model (or no classifier yet): offer the category menu
                    log.warning("classifier unavailable, the bot offers a category menu: %s", exc)
                finally:
                    self._model_tried = True  # only now: until then callers come here and wait
            return self._suggester

    def warm(self, sample: str) -> None:
        """Load the classifier and run it once (jieba loads its dictionary then): later texts may go inline."""
        suggester = self.load_model()
        if suggester is not None:
            suggester(sample)
            self._classified = True

    async def _refresh(self, cases: bool = False) -> None:
        """Keep the catalogue (every 30 s) and, with ``cases``, the similar-case index (every 5 s) up to date.

        Only a first load is waited for. Later ones run in a background task while callers go on with what is
        loaded: a refresh that brings in another worker's thousands of new cases must not hold up every step.
        """
        cases_due = cases and self._due(self._cases_at, CASES_REFRESH_SECONDS)
        catalogue_due = self._due(self._loaded_at, REFRESH_SECONDS)
        if not cases_due and not catalogue_due:
            return
        if (catalogue_due and self._loaded_at < 0) or (cases_due and self._cases_at < 0):
            await self._refresh_now(cases)  # nothing loaded yet: the caller needs it
        elif self._background is None or self._background.done():
            self._background = asyncio.create_task(self._refresh_now(cases), name="advisor-refresh")
            self._background.add_done_callback(_log_failure)

    async def settle(self) -> None:
        """Wait for a background refresh in progress, if any."""
        if self._background is not None:
            await asyncio.shield(self._background)

    async def _refresh_now(self, cases: bool) -> None:
        """Reload what is due (the catalogue; new cases when asked or with the catalogue), one refresh at a time."""
        async with self._lock:  # the checks again: another caller may have refreshed while this one waited
            if self._due(self._loaded_at, REFRESH_SECONDS):
                await self._load_catalogue()
            elif not (cases and self._due(self._cases_at, CASES_REFRESH_SECONDS)):
                return
            await self._add_new_cases()

    @staticmethod
    def _due(at: float, seconds: float) -> bool:
        """Tell whether ``seconds`` have passed since the monotonic time ``at``."""
        return time.monotonic() - at >= seconds

    async def _load_catalogue(self) -> None:
        """Read the active dispatch catalogue with its units."""
        rows = await CatalogueEntry.filter(active=True).prefetch_related("unit").order_by("id")
        entries = [{"category": r.category, "district": r.district, "unit_code": r.unit.code,
                    "unit_name": r.unit.name_zh} for r in rows]
        self._catalogue = routing.Catalogue.from_dict(entries) if entries else None
        self._unit_en = {r.unit.code: r.unit.name_en for r in rows if r.unit.name_en}
        self._categories = list(dict.fromkeys(r.category for r in rows))
        self._loaded_at = time.monotonic()

    async def _add_new_cases(self) -> None:
        """Add the open cases created since the last look (by any process) to the similar-case index."""
        since = utcnow() - SIMILAR_WINDOW
        # Plain tuples, not model objects, and only the texts of cases this process does not hold yet: the refresh
        # runs on the event loop, and a busy five seconds brings thousands of new cases, mostly its own.
        margin = 0 if Case._meta.db.capabilities.dialect == "sqlite" else ID_MARGIN  # one writer at a time there
        ids = await Case.filter(id__gt=self._index_max_id - margin, created_at__gte=since,
                                status__in=list(OPEN_STATUSES)).order_by("id").limit(20000).values_list("id", flat=True)
        missing = [case_id for case_id in ids if case_id not in self._index]
        for start in range(0, len(missing), 200):
            for case_id, text, district, street, created_at in await Case.filter(
                    id__in=missing[start:start + 200]).values_list("id", "text", "district", "street", "created_at"):
                self._index.add(case_id, text, district, street, created_at)
            await asyncio.sleep(0)  # let the steps waiting meanwhile go on between chunks
        if ids:
            self._index_max_id = max(self._index_max_id, max(ids))
        self._cases_at = time.monotonic()

    async def categories(self) -> list[str]:
        """Return the categories of the dispatch catalogue, in catalogue order."""
        await self._refresh()
        return list(self._categories)

    async def suggest(self, text: str, district: str | None = None) -> list[dict[str, Any]]:
        """Return up to three suggestions {category, score, unit_code, unit_name}, or [] without a model."""
        suggester = self._suggester if self._model_tried else await asyncio.to_thread(self.load_model)
        if suggester is None:
            return []
        await self._refresh()
        try:
            # A chat message takes ~0.2 ms: less than the hop to a thread, which runs jieba's Python under the GIL
            # anyway. Only a long text (up to ~1.5 ms) goes to a thread, so the event loop never stalls on it.
            # Until one has completed, jieba may still be loading its dictionary (the warm-up), which would stall
            # every conversation: the first ones go to a thread too.
            inline = self._classified and len(text) <= INLINE_CHARS
            ranked = suggester(text) if inline else await asyncio.to_thread(suggester, text)
            self._classified = True
        except Exception:  # noqa: BLE001 - a broken model must not break the conversation
            log.exception("classifier failed")
            return []
        return self._with_units(ranked, district)

    async def route(self, suggested: list[dict[str, Any]], district: str | None) -> list[dict[str, Any]]:
        """Name the units of ``district`` for suggestions made earlier (their categories and scores): no model run."""
        await self._refresh()
        ranked = [routing.Scored(s["category"], float(s["score"])) for s in suggested]
        return self._with_units(ranked, district)

    def _with_units(self, ranked: list[Any], district: str | None) -> list[dict[str, Any]]:
        """Return the best three categories as {category, score, unit_code, unit_name}, each with its best unit."""
        units = routing.suggest_units(ranked, district, self._catalogue) if self._catalogue else []
        by_category: dict[str, routing.UnitSuggestion] = {}
        for u in units:  # ranked best first: keep each category's best unit (the district's own, 属地)
            by_category.setdefault(u.category, u)
        out = []
        for s in ranked[:3]:
            unit = by_category.get(s.category)
            out.append({"category": s.category, "score": round(float(s.score), 3),
                        "unit_code": unit.unit_code if unit else None, "unit_name": unit.unit_name if unit else None})
        return out

    def unit_label(self, code: str | None, name: str, language: str) -> str:
        """Return a suggested unit's name in the conversation's language (its Chinese name when it has no other)."""
        return (self._unit_en.get(code or "") or name) if language == "en" else name

    def locate(self, text: str) -> gazetteer.Location:
        """Resolve the district and street an address names."""
        return self.places.resolve(text)

    def urgency(self, text: str) -> urgency.Urgency:
        """Assess whether a text reports an emergency (one message is asked about by the engine and its step)."""
        return _assess(text)

    async def similar(self, text: str, district: str | None, street: str | None,
                      now: dt.datetime) -> OpenCase | None:
        """Return an open case within 30 days that is likely the same matter, or None.

        When the place's district is known, only a case in that same district is offered: a citizen is asked to
        follow a case about their own neighbourhood, never one elsewhere or of unknown place.
        """
        await self._refresh(cases=True)
        matches = self._index.query(text, district, street, since=now - SIMILAR_WINDOW, limit=3, explain=False)
        if not matches:
            return None
        ids = [m.case_id for m in matches]
        # One plain read, batched with the dialog's statements on SQLite (no round trip of its own).
        _, rows = await batch.execute(
            f'SELECT id, number, status, category, district, street, created_at FROM {Case._meta.db_table} '
            f'WHERE id IN ({", ".join("?" * len(ids))})', ids, fetch=True)
        found = {r["id"]: OpenCase(r["id"], r["number"], CaseStatus(r["status"]), r["category"], r["district"],
                                   r["street"], r["created_at"]) for r in rows}
        for match in matches:
            case = found.get(match.case_id)
            if case is None or case.status not in OPEN_STATUSES:
                self._index.remove(match.case_id)
            elif district is None or case.district == district:
                return case
        return None

    def remember(self, case: Case) -> None:
        """Add a case this process just created to the similar-case index."""
        self._index.add(case.id, case.text, case.district, case.street, case.created_at)


@dataclass
class Services:
    """Dependencies of the flows."""

    cases: CaseService
    advisor: Advisor
    hotline: str = "12345"
    max_photos: int = 3
    submissions_per_hour: int = 5
    clock: Callable[[], dt.datetime] = utcnow
    extra: dict[str, Any] = field(default_factory=dict)
    knowledge: KnowledgeBase | None = None  # one per process, from the composition root

    async def answer(self, question: str) -> Answer | None:
        """Return the published, valid article that answers ``question`` confidently, or None.

        Looked up afresh every time (never kept across days: articles expire). No knowledge base,
        an empty one or a failing one gives None: the conversation goes on as if nothing was asked.
        """
        if self.knowledge is None or not question.strip():
            return None
        try:
            if not len(await self.knowledge.index()):
                return None
            return await self.knowledge.answer_for(question[:MAX_QUESTION])
        except Exception as exc:  # noqa: BLE001 - the knowledge base is a help, never a blocker
            log.warning("knowledge base unavailable, the bot goes on without it: %s", exc)
            return None
