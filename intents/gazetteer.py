"""Resolve place names in free text to a district and a street, tolerating typos and short forms."""

from __future__ import annotations

import json
import math
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from rapidfuzz.distance import Levenshtein

PlaceKind = Literal["district", "street", "road", "community", "landmark"]
KINDS: tuple[str, ...] = ("district", "street", "road", "community", "landmark")
DEMO_PATH = Path(__file__).with_name("lexicons") / "gazetteer_demo.json"

# Evidence a match of each kind gives its district: a street or community is more specific than a
# district name, so "西山区湖滨街道" (a street of 东湖区) is resolved towards the street.
_WEIGHT = {"district": 1.0, "street": 1.5, "road": 1.2, "community": 1.3, "landmark": 1.2}
_SUFFIXES = ("街道办事处", "街道办", "街道", "社区", "小区", "新区", "区", "县", "镇", "乡", "村")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"))
EXACT, ALIAS, SHORT, FUZZY = 1.0, 0.95, 0.9, 0.8
#: How far outside every district outline a map pin may fall and still count (GPS error, rough outlines).
EDGE_KM = 0.5
_KM_PER_DEGREE = 111.32


class GazetteerError(ValueError):
    """A gazetteer entry is malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Place:
    """A named place; a district's `district` is itself, a street's `street` is itself."""

    name: str
    kind: PlaceKind
    district: str | None = None
    street: str | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise GazetteerError(f"place without a name: {self!r}")
        if self.kind not in KINDS:
            raise GazetteerError(f"place {self.name!r}: unknown kind {self.kind!r}, expected one of {KINDS}")
        if self.kind == "district":
            object.__setattr__(self, "district", self.name)
        elif self.kind == "street":
            object.__setattr__(self, "street", self.name)
        if self.kind != "district" and not self.district:
            raise GazetteerError(f"place {self.name!r} ({self.kind}) has no district")
        if isinstance(self.aliases, str) or not all(isinstance(a, str) and a for a in self.aliases):
            raise GazetteerError(f"place {self.name!r}: aliases must be a list of non-empty strings")
        object.__setattr__(self, "aliases", tuple(self.aliases))


@dataclass(frozen=True, slots=True)
class Location:
    """Where a text says the matter is; `conflict` when it named places in different districts."""

    district: str | None
    street: str | None
    matched: tuple[str, ...] = ()
    score: float = 0.0
    conflict: bool = False


NOWHERE = Location(None, None)

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Area:
    """A district's approximate outline: corners as (longitude, latitude) and a centre for its label."""

    district: str
    polygon: tuple[Point, ...]
    centre: Point = (math.nan, math.nan)

    def __post_init__(self) -> None:
        if len(self.polygon) < 3:
            raise GazetteerError(f"area of {self.district!r}: a polygon needs at least 3 corners")
        for corner in self.polygon:
            _check_point(corner, f"area of {self.district!r}")
        if math.isnan(self.centre[0]):
            object.__setattr__(self, "centre", _centroid(self.polygon))

    def contains(self, lon: float, lat: float) -> bool:
        """Tell whether a point lies inside the outline (even-odd rule)."""
        inside = False
        corners = self.polygon
        for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
            if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside

    def distance_km(self, lon: float, lat: float) -> float:
        """Return the distance from a point outside the outline to its nearest edge, in kilometres."""
        scale = math.cos(math.radians(lat)) * _KM_PER_DEGREE

        def project(x: float, y: float) -> Point:
            return (x - lon) * scale, (y - lat) * _KM_PER_DEGREE

        best = math.inf
        corners = [project(x, y) for x, y in self.polygon]
        for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
            dx, dy = x2 - x1, y2 - y1
            t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / (dx * dx + dy * dy)))
            best = min(best, math.hypot(x1 + t * dx, y1 + t * dy))
        return best


def _check_point(value: Any, where: str) -> Point:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise GazetteerError(f"{where}: a point must be [longitude, latitude], got {value!r}")
    lon, lat = float(value[0]), float(value[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise GazetteerError(f"{where}: [longitude, latitude] out of range: {value!r}")
    return lon, lat


def _centroid(polygon: tuple[Point, ...]) -> Point:
    """Return the area centroid of a polygon (the mean of its corners if it has no area)."""
    twice_area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        cross = x1 * y2 - x2 * y1
        twice_area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if abs(twice_area) < 1e-12:
        return sum(x for x, _ in polygon) / len(polygon), sum(y for _, y in polygon) / len(polygon)
    return cx / (3 * twice_area), cy / (3 * twice_area)


def _area(entry: Mapping[str, Any], district: str, where: str) -> Area | None:
    """Read a district's optional ``area``: a ``polygon`` or a ``bbox`` [west, south, east, north], and a ``centre``."""
    raw = entry.get("area")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise GazetteerError(f"{where}.area must be an object with 'polygon' or 'bbox'")
    if "bbox" in raw:
        box = raw["bbox"]
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise GazetteerError(f"{where}.area.bbox must be [west, south, east, north]")
        west, south = _check_point(box[:2], f"{where}.area.bbox")
        east, north = _check_point(box[2:], f"{where}.area.bbox")
        if west >= east or south >= north:
            raise GazetteerError(f"{where}.area.bbox must be [west, south, east, north]")
        corners: tuple[Point, ...] = ((west, south), (east, south), (east, north), (west, north))
    else:
        polygon = raw.get("polygon")
        if not isinstance(polygon, (list, tuple)):
            raise GazetteerError(f"{where}.area needs a 'polygon' or a 'bbox'")
        corners = tuple(_check_point(p, f"{where}.area.polygon[{i}]") for i, p in enumerate(polygon))
    centre = _check_point(raw["centre"], f"{where}.area.centre") if "centre" in raw else (math.nan, math.nan)
    return Area(district, corners, centre)


@dataclass(frozen=True, slots=True)
class _Hit:
    place: Place
    surface: str
    start: int
    end: int
    score: float


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").translate(_INVISIBLE)


def short_forms(place: Place) -> tuple[str, ...]:
    """Derive the short forms people type: 东湖 for 东湖区, 樱花街 and 樱花 for 樱花街道."""
    forms: list[str] = []
    for suffix in _SUFFIXES:
        if place.name.endswith(suffix) and len(place.name) - len(suffix) >= 2:
            core = place.name[: -len(suffix)]
            forms.append(core)
            if suffix.startswith("街道"):
                forms.append(core + "街")
            break
    return tuple(f for f in forms if f != place.name)


@dataclass
class Gazetteer:
    """Places of one city, indexed for exact, alias, short-form and one-typo matching."""

    places: tuple[Place, ...]
    city: str | None = None
    areas: tuple[Area, ...] = ()
    _forms: dict[str, list[tuple[Place, float]]] = field(default_factory=dict, init=False, repr=False)
    _by_prefix: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    _by_bigram: dict[str, list[tuple[str, int]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        forms: dict[str, list[tuple[Place, float]]] = defaultdict(list)
        for place in self.places:
            candidates = [(place.name, EXACT)] + [(a, ALIAS) for a in place.aliases]
            candidates += [(s, SHORT) for s in short_forms(place)]
            for form, score in candidates:
                form = _clean(form)
                if len(form) >= 2 and all(p is not place for p, _ in forms[form]):
                    forms[form].append((place, score))
        self._forms = dict(forms)
        prefix: dict[str, list[str]] = defaultdict(list)
        bigram: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for form in self._forms:
            prefix[form[:2]].append(form)
            if len(form) >= 4:  # one typo in a shorter form is too likely another place's name
                for i in range(len(form) - 1):
                    bigram[form[i: i + 2]].append((form, i))
        self._by_prefix = dict(prefix)
        self._by_bigram = dict(bigram)

    @classmethod
    def from_places(cls, places: Iterable[Place], city: str | None = None, areas: Iterable[Area] = ()) -> Gazetteer:
        """Build a gazetteer from Place objects (and district outlines, for map pins)."""
        items = tuple(places)
        seen: set[tuple[str, str, str | None, str | None]] = set()
        for place in items:
            key = (place.name, place.kind, place.district, place.street)
            if key in seen:
                raise GazetteerError(f"duplicate place {place.name!r} ({place.kind}) in {place.district}")
            seen.add(key)
        districts = {p.name for p in items if p.kind == "district"}
        for place in items:
            if districts and place.district not in districts:
                raise GazetteerError(f"place {place.name!r}: unknown district {place.district!r}")
        outlines = tuple(areas)
        for area in outlines:
            if area.district not in districts:
                raise GazetteerError(f"area of unknown district {area.district!r}")
        # Roads and communities name their district and street: those become places too.
        streets = {(p.district, p.name) for p in items if p.kind == "street"}
        implied: dict[tuple[str, str | None], Place] = {}
        for place in items:
            if place.district and place.district not in districts:
                implied.setdefault((place.district, None), Place(place.district, "district"))
            if place.street and place.kind != "street" and (place.district, place.street) not in streets:
                implied.setdefault((place.district or "", place.street),
                                   Place(place.street, "street", place.district))
        return cls(items + tuple(implied.values()), city, outlines)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gazetteer:
        """Build a gazetteer from JSON-able data: nested `districts` or a flat `places` list."""
        if not isinstance(data, Mapping):
            raise GazetteerError("gazetteer data must be an object with 'districts' or 'places'")
        places: list[Place] = []
        areas: list[Area] = []
        for i, entry in enumerate(data.get("places", ())):
            if not isinstance(entry, Mapping) or "name" not in entry or "kind" not in entry:
                raise GazetteerError(f"places[{i}] needs 'name' and 'kind': {entry!r}")
            places.append(Place(entry["name"], entry["kind"], entry.get("district"), entry.get("street"),
                                tuple(entry.get("aliases", ()))))
        for i, d in enumerate(data.get("districts", ())):
            district = _named(d, f"districts[{i}]")
            d = d if isinstance(d, Mapping) else {}
            places.append(Place(district, "district", aliases=tuple(d.get("aliases", ()))))
            if (area := _area(d, district, f"districts[{i}]")) is not None:
                areas.append(area)
            places += _children(d, district, None, f"districts[{i}]")
            for j, s in enumerate(d.get("streets", ())):
                street = _named(s, f"districts[{i}].streets[{j}]")
                s = s if isinstance(s, Mapping) else {}
                places.append(Place(street, "street", district, aliases=tuple(s.get("aliases", ()))))
                places += _children(s, district, street, f"districts[{i}].streets[{j}]")
        if not places:
            raise GazetteerError("gazetteer data has no places")
        return cls.from_places(places, data.get("city"), areas)

    @classmethod
    def from_json(cls, path: str | Path) -> Gazetteer:
        """Load a gazetteer from a JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise GazetteerError(f"cannot read gazetteer {path}: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def demo(cls) -> Gazetteer:
        """Load the demo city (江澜市) shipped in intents/lexicons/gazetteer_demo.json (once per process)."""
        return load(None)

    def district_at(self, latitude: float, longitude: float, edge_km: float = EDGE_KM) -> str | None:
        """Return the district a map pin falls in (or within ``edge_km`` of); None outside the city or unknown."""
        try:
            lat, lon = float(latitude), float(longitude)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
            return None
        for area in self.areas:
            if area.contains(lon, lat):
                return area.district
        near = [(area.distance_km(lon, lat), area.district) for area in self.areas]
        best = min(near, default=None)
        return best[1] if best is not None and best[0] <= edge_km else None

    def bounds(self) -> tuple[float, float, float, float] | None:
        """Return the city's extent as (west, south, east, north), or None without outlines."""
        corners = [c for area in self.areas for c in area.polygon]
        if not corners:
            return None
        return (min(x for x, _ in corners), min(y for _, y in corners),
                max(x for x, _ in corners), max(y for _, y in corners))

    def words(self) -> list[str]:
        """List every name and alias, for the tokenizer's user dictionary."""
        return sorted(self._forms)

    def _exact(self, text: str) -> list[_Hit]:
        hits: list[_Hit] = []
        for i in range(len(text) - 1):
            for form in self._by_prefix.get(text[i: i + 2], ()):
                if text.startswith(form, i):
                    hits += [_Hit(p, form, i, i + len(form), s) for p, s in self._forms[form]]
        return hits

    def _fuzzy(self, text: str) -> list[_Hit]:
        best: dict[tuple[str, int], tuple[int, int]] = {}
        for i in range(len(text) - 1):
            for form, offset in self._by_bigram.get(text[i: i + 2], ()):
                n = len(form)
                for start in {i - offset - 1, i - offset, i - offset + 1}:
                    for size in (n - 1, n, n + 1):
                        if start < 0 or start + size > len(text):
                            continue
                        dist = Levenshtein.distance(text[start: start + size], form, score_cutoff=1)
                        if dist == 1 and (form, start) not in best:
                            best[(form, start)] = (start + size, dist)
        hits: list[_Hit] = []
        for (form, start), (end, _) in best.items():
            score = FUZZY * (1 - 1 / (len(form) + 1))
            hits += [_Hit(p, form, start, end, min(score, s)) for p, s in self._forms[form]]
        return hits

    def resolve(self, text: str) -> Location:
        """Resolve the district and street a text names; exact names beat fuzzy ones."""
        clean = _clean(text)
        hits = _select(self._exact(clean) + self._fuzzy(clean))
        if not hits:
            return NOWHERE
        support: dict[str, float] = defaultdict(float)
        for h in hits:
            support[h.place.district or ""] += _WEIGHT[h.place.kind] * h.score
        ranked = sorted(support.items(), key=lambda kv: -kv[1])
        conflict = len(ranked) > 1
        if conflict and ranked[0][1] - ranked[1][1] < 1e-9:
            # Equal evidence for two districts: do not guess, let the dispatcher choose.
            names = tuple(dict.fromkeys(h.place.name for h in hits))
            return Location(None, None, names, 0.0, True)
        district = ranked[0][0]
        mine = [h for h in hits if h.place.district == district]
        streets: dict[str, float] = defaultdict(float)
        for h in mine:
            if h.place.street:
                streets[h.place.street] += _WEIGHT[h.place.kind] * h.score
        street = None
        if streets:
            top = sorted(streets.items(), key=lambda kv: -kv[1])
            if len(top) == 1 or top[0][1] - top[1][1] > 1e-9:
                street = top[0][0]
        specific = [h.score for h in mine if street is None or h.place.street == street]
        score = max(specific) * (0.8 if conflict else 1.0)
        names = tuple(dict.fromkeys(h.place.name for h in mine))
        return Location(district, street, names, round(score, 4), conflict)


def _select(hits: list[_Hit]) -> list[_Hit]:
    """Keep the best non-overlapping hits: higher score first, then the longer span."""
    kept: list[_Hit] = []
    spans: list[tuple[int, int]] = []
    for h in sorted(hits, key=lambda h: (-h.score, -(h.end - h.start), h.start)):
        clash = [(s, e) for s, e in spans if h.start < e and s < h.end]
        if not clash:
            spans.append((h.start, h.end))
            kept.append(h)
        elif all((s, e) == (h.start, h.end) for s, e in clash) and any(
            k.start == h.start and k.end == h.end and k.score == h.score for k in kept
        ):
            kept.append(h)  # the same name used by two places: keep both, evidence decides
    return kept


def _named(entry: Any, where: str) -> str:
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise GazetteerError(f"{where} needs a 'name': {entry!r}")
    return str(entry["name"])


def _children(entry: Any, district: str, street: str | None, where: str) -> list[Place]:
    places: list[Place] = []
    if not isinstance(entry, Mapping):
        return places
    for key, kind in (("roads", "road"), ("communities", "community"), ("landmarks", "landmark")):
        for k, child in enumerate(entry.get(key, ())):
            name = _named(child, f"{where}.{key}[{k}]")
            aliases = tuple(child.get("aliases", ())) if isinstance(child, Mapping) else ()
            places.append(Place(name, kind, district, street, aliases))  # type: ignore[arg-type]
    return places


def load(path: str | Path | None = None) -> Gazetteer:
    """Return the gazetteer in the JSON file ``path`` (the demo city when None), loaded once per process.

    A gazetteer is never changed once built, so every part of a process shares one (whatever spelling
    of the path each part was given).
    """
    return _load(Path(DEMO_PATH if path is None else path).resolve())


@lru_cache(maxsize=4)
def _load(path: Path) -> Gazetteer:
    return Gazetteer.from_json(path)
