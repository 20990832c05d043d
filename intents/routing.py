"""Suggest the unit to dispatch to: category through the dispatch catalogue, refined by district."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

PARENT_SEPARATORS = ("/", ">", "·")
CITY_WIDE_WHEN_LOCAL = 0.85  # the city bureau stays a choice, below the district's own unit
LOCAL_UNCONFIRMED = 0.5  # district unknown: a district unit is only a guess
PARENT_CATEGORY = 0.9  # the catalogue knows only the parent category


class CatalogueError(ValueError):
    """A dispatch catalogue entry is malformed; the message names it."""


class CategoryScore(Protocol):
    """Anything with a category and a score, such as the classifier's Suggestion."""

    @property
    def category(self) -> str: ...

    @property
    def score(self) -> float: ...


class Scored(NamedTuple):
    """A category with its score, e.g. remembered from an earlier classification."""

    category: str
    score: float


class HasDistrict(Protocol):
    """Anything with a district, such as the gazetteer's Location."""

    @property
    def district(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One dispatch rule: a category (in a district, or city-wide when None) goes to a unit."""

    category: str
    district: str | None
    unit_code: str
    unit_name: str


@dataclass(frozen=True, slots=True)
class UnitSuggestion:
    """A concrete unit to dispatch to, with the category it serves and a reason in Chinese."""

    unit_code: str
    unit_name: str
    category: str
    score: float
    reason: str


class Catalogue:
    """The dispatch catalogue, indexed by category and district."""

    def __init__(self, entries: Iterable[CatalogueEntry]) -> None:
        self.entries = tuple(entries)
        self._by_key: dict[tuple[str, str | None], list[CatalogueEntry]] = {}
        seen: set[CatalogueEntry] = set()
        for i, entry in enumerate(self.entries):
            _check(entry, i)
            if entry in seen:
                raise CatalogueError(f"entry {i}: duplicate of an earlier entry {entry!r}")
            seen.add(entry)
            self._by_key.setdefault((entry.category, entry.district), []).append(entry)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Catalogue:
        """Build from plain data: a list of entries, or {"catalogue"|"entries": [...], "units": [...]}.

        An entry has category, district (null for city-wide) and unit_code (or unit); its
        unit_name may be left out when `units` ({code, name_zh|name}) gives it.
        """
        units: dict[str, str] = {}
        if isinstance(data, Mapping):
            for i, unit in enumerate(data.get("units", ())):
                if not isinstance(unit, Mapping) or not unit.get("code"):
                    raise CatalogueError(f"units[{i}] needs a 'code': {unit!r}")
                units[str(unit["code"])] = str(unit.get("name_zh") or unit.get("name") or unit["code"])
            raw = data.get("catalogue", data.get("entries", ()))
        else:
            raw = data
        entries = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise CatalogueError(f"entry {i} must be an object: {item!r}")
            code = item.get("unit_code", item.get("unit"))
            if units and code not in units:
                raise CatalogueError(f"entry {i}: unknown unit {code!r}")
            name = item.get("unit_name") or units.get(str(code), "")
            entries.append(CatalogueEntry(item.get("category"), item.get("district"), code, name))
        return cls(entries)

    def categories(self) -> list[str]:
        """List the categories the catalogue can route."""
        return sorted({e.category for e in self.entries})

    def lookup(self, category: str, district: str | None) -> list[tuple[CatalogueEntry, float, str]]:
        """Return (entry, weight, reason) for a category, the district's own units first."""
        local = self._by_key.get((category, district), []) if district else []
        city = self._by_key.get((category, None), [])
        found = [(e, 1.0, f"类别：{category}；属地：{district}") for e in local]
        if local:
            found += [(e, CITY_WIDE_WHEN_LOCAL, f"类别：{category}；全市主管部门") for e in city]
        elif district:
            found += [(e, 1.0, f"类别：{category}；全市统一办理（{district}无属地单位）") for e in city]
        else:
            found += [(e, 1.0, f"类别：{category}；全市统一办理") for e in city]
            for (cat, where), entries in self._by_key.items():
                if cat == category and where is not None:
                    found += [(e, LOCAL_UNCONFIRMED, f"类别：{category}；属地待确认：{where}")
                              for e in entries]
        return found


def _check(entry: CatalogueEntry, i: int) -> None:
    where = f"entry {i} ({entry.category}/{entry.unit_code})"
    for field_name in ("category", "unit_code", "unit_name"):
        value = getattr(entry, field_name)
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"{where}: '{field_name}' is missing")
    if entry.district is not None and (not isinstance(entry.district, str) or not entry.district.strip()):
        raise CatalogueError(f"{where}: bad district {entry.district!r}")


def _parent(category: str) -> str | None:
    for sep in PARENT_SEPARATORS:
        if sep in category:
            return category.rsplit(sep, 1)[0].strip() or None
    return None


def suggest_units(category_suggestions: Iterable[CategoryScore], location: HasDistrict | str | None,
                  catalogue: Catalogue, limit: int = 3) -> list[UnitSuggestion]:
    """Name concrete units for ranked category suggestions, preferring the district's own unit."""
    district = location if isinstance(location, str) or location is None else location.district
    best: dict[str, UnitSuggestion] = {}
    order: dict[str, int] = {}
    for suggestion in category_suggestions:
        category, weight, note = suggestion.category, 1.0, ""
        found = catalogue.lookup(category, district)
        while not found and (parent := _parent(category)) is not None:
            category, weight = parent, weight * PARENT_CATEGORY
            note = f"（由“{suggestion.category}”归入“{category}”）"
            found = catalogue.lookup(category, district)
        for entry, factor, reason in found:
            score = round(float(suggestion.score) * weight * factor, 4)
            if score <= 0:
                continue
            current = best.get(entry.unit_code)
            if current is None or score > current.score:
                best[entry.unit_code] = UnitSuggestion(entry.unit_code, entry.unit_name, entry.category,
                                                       score, reason + note)
                order.setdefault(entry.unit_code, len(order))
    ranked = sorted(best.values(), key=lambda u: (-u.score, order[u.unit_code]))
    return ranked[:limit]
