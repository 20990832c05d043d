"""A case's place drawn server-side as inline SVG from the gazetteer's district outlines: no tiles, no CDN.

The pin's precision follows the masking rules: exact once unmasked, rounded to about a hundred metres
by default, and not shown at all to a unit on a confidential case (保密件: its district only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, urlencode

from aiohttp import web

from intents.gazetteer import Gazetteer

PLACES = web.AppKey("places", Gazetteer)

WIDTH = 480
PAD = 18
MASKED_DIGITS = 3  # about 100 m: the street level the masking rules allow by default
EXACT_DIGITS = 5  # about 1 m
FILL, FILL_HERE, STROKE, INK, PIN = "#e8eef5", "#cfe0f5", "#7b8794", "#3e4c59", "#c62828"


@dataclass(frozen=True)
class CaseMap:
    """What the case page shows about a case's place."""

    svg: str  # markup built here with every name escaped; empty when the city has no outlines
    district: str | None  # the district highlighted
    source: str  # "pin", "pin_outside", "text", "hidden" or "none"
    latitude: float | None = None  # as shown (rounded unless unmasked)
    longitude: float | None = None
    precise: bool = False
    external_url: str = ""


class Projection:
    """Equirectangular projection of the city's extent onto the picture, north up, kilometres to scale."""

    def __init__(self, bounds: tuple[float, float, float, float], width: int = WIDTH, pad: int = PAD) -> None:
        west, south, east, north = bounds
        self.west, self.north = west, north
        self.kx = math.cos(math.radians((south + north) / 2))  # a degree of longitude is shorter than of latitude
        span_x, span_y = (east - west) * self.kx, north - south
        self.scale = (width - 2 * pad) / max(span_x, 1e-9)  # pixels per degree of latitude
        self.pad = pad
        self.width = width
        self.height = round(span_y * self.scale + 2 * pad + 22)  # room for the scale bar

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        """Return the picture coordinates of a point."""
        return (self.pad + (lon - self.west) * self.kx * self.scale, self.pad + (self.north - lat) * self.scale)

    def km(self, pixels: float) -> float:
        """Return how many kilometres a horizontal run of pixels spans."""
        return pixels / self.scale * 111.32


def _scale_bar(p: Projection) -> str:
    km = next((k for k in (1, 2, 5, 10, 20, 50, 100) if p.km(1) * 100 <= k), 100)
    length = km / p.km(1)
    y = p.height - 10
    x = p.pad
    return (f'<g class="scale"><path d="M{x:.1f} {y - 4} V{y} H{x + length:.1f} V{y - 4}" fill="none" '
            f'stroke="{INK}" stroke-width="1.5"/><text x="{x + length + 6:.1f}" y="{y}" font-size="11" '
            f'fill="{INK}">{km} km</text></g>')


def _pin(x: float, y: float, lat: float, lon: float, label: str) -> str:
    return (f'<g class="pin" data-lat="{lat}" data-lon="{lon}" transform="translate({x:.1f} {y:.1f})">'
            f'<title>{escape(label)}</title>'
            f'<path d="M0 0 C-3 -7 -9 -11 -9 -17 A9 9 0 1 1 9 -17 C9 -11 3 -7 0 0 Z" fill="{PIN}" '
            f'stroke="#fff" stroke-width="1.5"/><circle cy="-17" r="3.2" fill="#fff"/></g>')


def draw(places: Gazetteer, *, district: str | None, pin: tuple[float, float] | None, title: str,
         pin_label: str = "") -> str:
    """Draw the city's districts, the highlighted district and an optional pin (lat, lon) as SVG markup."""
    bounds = places.bounds()
    if bounds is None:
        return ""
    p = Projection(bounds)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="case-map" viewBox="0 0 {p.width} {p.height}" '
             f'width="{p.width}" height="{p.height}" role="img" aria-label="{escape(title)}">'
             f'<title>{escape(title)}</title><rect width="100%" height="100%" fill="#f8fafc"/>']
    for area in places.areas:
        here = area.district == district
        d = "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in (p.xy(lon, lat) for lon, lat in area.polygon)) + " Z"
        parts.append(f'<path class="district{" here" if here else ""}" data-district="{escape(area.district)}" '
                     f'd="{d}" fill="{FILL_HERE if here else FILL}" stroke="{STROKE}" '
                     f'stroke-width="{2 if here else 1}" stroke-linejoin="round"/>')
    for area in places.areas:
        x, y = p.xy(*area.centre)
        weight = "700" if area.district == district else "400"
        parts.append(f'<text class="district-name" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="14" '
                     f'font-weight="{weight}" fill="{INK}">{escape(area.district)}</text>')
    parts.append(f'<text x="{p.width - p.pad}" y="{p.pad + 4}" text-anchor="end" font-size="11" fill="{INK}">'
                 f'↑ 北 N</text>')
    parts.append(_scale_bar(p))
    if pin is not None:
        lat, lon = pin
        west, south, east, north = bounds
        if west <= lon <= east and south <= lat <= north:
            x, y = p.xy(lon, lat)
            parts.append(_pin(x, y, lat, lon, pin_label))
    parts.append("</svg>")
    return "".join(parts)


def external_url(lat: float, lon: float, lang: str) -> str:
    """Return a link that opens the position in a public map (the page itself never requests it)."""
    if lang == "en":
        return f"https://www.openstreetmap.org/?{urlencode({'mlat': lat, 'mlon': lon})}#map=16/{lat}/{lon}"
    return f"https://uri.amap.com/marker?position={lon},{lat}&coordinate=wgs84&name={quote('诉求位置')}&src=appeals"


def case_map(places: Gazetteer | None, *, latitude: float | None, longitude: float | None, district: str | None,
             address_text: str, hidden: bool, unmasked: bool, lang: str) -> CaseMap:
    """Decide what the case page shows about the place, by the masking rules, and draw it."""
    if places is None:
        return CaseMap("", district, "none")
    has_pin = latitude is not None and longitude is not None and math.isfinite(latitude) and math.isfinite(longitude)
    found = places.district_at(latitude, longitude) if has_pin else None  # type: ignore[arg-type]
    if not district and has_pin:
        district = found
    if not district and address_text:
        district = places.resolve(address_text).district
    en = lang == "en"
    city = places.city or ""
    if hidden or not has_pin:
        source = "hidden" if hidden and has_pin else ("text" if district else "none")
        title = f"{city} · {district}" if district else city
        return CaseMap(draw(places, district=district, pin=None, title=title), district, source)
    assert latitude is not None and longitude is not None
    digits = EXACT_DIGITS if unmasked else MASKED_DIGITS
    lat, lon = round(latitude, digits), round(longitude, digits)
    where = found or district
    label = f"{lat:.{digits}f}, {lon:.{digits}f}"
    title = (f"{city} map, pin at {label}" if en else f"{city}地图，定位 {label}") + (f" ({where})" if where else "")
    svg = draw(places, district=where, pin=(lat, lon), title=title, pin_label=label)
    return CaseMap(svg, where, "pin" if found else "pin_outside", lat, lon, unmasked, external_url(lat, lon, lang))
