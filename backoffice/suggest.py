"""What the NLP layer proposes for a text: categories with evidence, units, district, similar cases."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    """Categories (with evidence), units and the place found in a text."""

    categories: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    district: str | None = None
    street: str | None = None

    def as_suggestion(self) -> dict[str, Any]:
        """Return the shape stored in ``Case.suggestion``."""
        out: dict[str, Any] = {"categories": self.categories, "units": self.units}
        if self.categories:
            out["category"] = self.categories[0]["category"]
        if self.units:
            out["unit"] = self.units[0]["unit_code"]
        return out


class Suggester:
    """Loads the classifier and gazetteer once, lazily; any failure means no suggestions, never an error."""

    def __init__(self, model_path: Path | None = None, enabled: bool = True, places: Path | None = None) -> None:
        self.model_path = model_path
        self.places_path = places
        self.enabled = enabled
        self._model: Any = None
        self._gazetteer: Any = None
        self._failed = False

    def _load(self) -> None:
        if self._model is not None or self._failed:
            return
        try:
            from intents import classifier, gazetteer

            self._model = classifier.load(self.model_path or classifier.DEFAULT_MODEL_PATH)
            self._gazetteer = gazetteer.load(self.places_path)
        except Exception:  # noqa: BLE001 - a missing or broken model only removes suggestions
            log.warning("classifier unavailable; pages show no suggestions", exc_info=True)
            self._failed = True

    def _propose(self, text: str, district: str | None, catalogue: list[tuple[str, str | None, str, str]],
                 category: str | None = None) -> Proposal:
        self._load()
        if self._model is None:
            return Proposal(district=district)
        from intents import routing

        ranked = self._model.suggest(text, limit=3)
        street = None
        if not district and self._gazetteer is not None:
            place = self._gazetteer.resolve(text)
            district, street = place.district, place.street
        units: list[dict[str, Any]] = []
        try:
            cat = routing.Catalogue(routing.CatalogueEntry(*row) for row in catalogue)
            units = [
                {"unit_code": u.unit_code, "unit_name": u.unit_name, "category": u.category,
                 "score": round(u.score, 3), "reason": u.reason}
                for u in routing.suggest_units(_given_first(ranked, category), district, cat)
            ]
        except routing.CatalogueError:
            log.warning("dispatch catalogue is inconsistent; no unit suggestions", exc_info=True)
        categories = [
            {"category": s.category, "score": round(s.score, 3), "evidence": list(s.evidence)} for s in ranked
        ]
        return Proposal(categories, units, district, street)

    async def propose(self, text: str, district: str | None = None, category: str | None = None) -> Proposal:
        """Propose categories, units and place for a text (off the event loop).

        ``category``: the one staff gave the case already; its units come first (the classifier may think otherwise).
        """
        if not self.enabled or not text.strip():
            return Proposal(district=district)
        from storage.models import CatalogueEntry

        rows = await CatalogueEntry.filter(active=True, unit__active=True).values_list(
            "category", "district", "unit__code", "unit__name_zh"
        )
        # City-wide rules have no district: sort None first rather than comparing it with a name.
        catalogue = sorted(set(rows), key=lambda r: (r[0], r[1] or "", r[2], r[3]))
        return await asyncio.to_thread(self._propose, text, district, catalogue, category)


@dataclass(frozen=True)
class _Given:
    """A category staff chose, ranked above whatever the classifier thought."""

    category: str
    score: float = 1.0


def _given_first(ranked: list[Any], category: str | None) -> list[Any]:
    """Return the classifier's ranking with staff's category first (as sure as can be), if there is one."""
    if not category:
        return ranked
    return [_Given(category), *(s for s in ranked if s.category != category)]


Candidate = tuple[int, str, str | None, str | None, dt.datetime]
Found = tuple[int, float, tuple[str, ...]]


async def similar_cases(case_id: int, text: str, district: str | None, street: str | None,
                        candidates: list[Candidate]) -> list[Found]:
    """Rank candidate cases that look like the same matter (ids, scores, reasons)."""
    from intents.similar import SimilarIndex

    def run() -> list[Found]:
        index = SimilarIndex(min_score=0.3)
        for cid, ctext, cdistrict, cstreet, created in candidates:
            if cid != case_id:
                index.add(cid, ctext, cdistrict, cstreet, created)
        return [(int(m.case_id), m.score, m.reasons) for m in index.query(text, district, street, limit=5)]

    return await asyncio.to_thread(run)
