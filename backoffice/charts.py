"""Server-side SVG charts: horizontal bars and a daily line, no JavaScript, no CDN.

Every label is escaped; only presentation attributes are used (no inline ``style``), so the
pages keep working under the app's Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

ACCENT = "#1f5fa6"
MUTED = "#616e7c"
LINE = "#d9e2ec"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _shown(value: float, percent: bool) -> str:
    return f"{value * 100:.1f}%" if percent else _num(value)


def bar_chart(items: Sequence[tuple[str, float | None]], title: str, *, percent: bool = False,
              max_bars: int = 20, width: int = 560) -> Markup:
    """Return a horizontal bar chart as inline SVG (None values are drawn as empty bars marked —)."""
    items = list(items)[:max_bars]
    row, label_w, value_w, top = 22, 170, 64, 6
    height = top * 2 + row * max(len(items), 1)
    plot = width - label_w - value_w
    peak = 1.0 if percent else max([v for _, v in items if v is not None] + [0.0]) or 1.0
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(items):
        y = top + i * row
        text = label if len(label) <= 14 else label[:13] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12" fill="{MUTED}">'
                     f'{escape(text)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{plot}" height="{row - 6}" fill="#f5f7fa"/>')
        if value is not None:
            w = max(0.0, min(1.0, value / peak)) * plot
            parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{ACCENT}"/>')
        parts.append(f'<text x="{label_w + plot + 6}" y="{y + 15}" font-size="12" fill="#1f2933">'
                     f'{"—" if value is None else escape(_shown(value, percent))}</text>')
    if not items:
        parts.append(f'<text x="{width / 2}" y="{top + 15}" text-anchor="middle" font-size="12" fill="{MUTED}">'
                     f'—</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(points: Sequence[tuple[str, float]], title: str, *, width: int = 640, height: int = 200) -> Markup:
    """Return a line chart (e.g. cases per day) as inline SVG with a few x labels and the peak marked."""
    left, right, top, bottom = 36, 10, 12, 28
    pw, ph = width - left - right, height - top - bottom
    peak = max([v for _, v in points] + [0.0]) or 1.0
    n = len(points)
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for frac in (0.0, 0.5, 1.0):
        y = top + ph - frac * ph
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="{LINE}"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{MUTED}">'
                     f'{escape(_num(peak * frac))}</text>')

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (pw * i / (n - 1) if n > 1 else pw / 2)
        return x, top + ph - (v / peak) * ph

    if n:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, (_, v) in enumerate(points)))
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
        step = max(1, (n + 5) // 6)
        for i, (label, v) in enumerate(points):
            x, y = xy(i, v)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{ACCENT}"><title>'
                         f'{escape(label)}: {escape(_num(v))}</title></circle>')
            if i % step == 0 or i == n - 1:
                parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" font-size="11" '
                             f'fill="{MUTED}">{escape(label[5:] if len(label) == 10 else label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
