"""Word lists kept as data: one term per line, `# comments`, `[section args]` headers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file, the line and the entry."""


@dataclass(frozen=True, slots=True)
class Section:
    """One `[name args…]` block of a lexicon file and its entries (each a tuple of fields)."""

    name: str
    args: tuple[str, ...]
    entries: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]


def path_of(name: str | Path) -> Path:
    """Resolve a lexicon name (emergency.txt) to the bundled file; paths are kept as given."""
    path = Path(name)
    return path if path.is_absolute() or path.exists() else HERE / path


def read_sections(name: str | Path, default: str | None = None) -> list[Section]:
    """Read a lexicon file into sections; entries before any header go to `default`."""
    path = path_of(name)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LexiconError(f"cannot read lexicon {path}: {exc}") from exc
    sections: list[Section] = []
    header: tuple[str, tuple[str, ...]] | None = (default, ()) if default else None
    entries: list[tuple[str, ...]] = []
    lines: list[int] = []

    def close() -> None:
        if header is not None:
            sections.append(Section(header[0], header[1], tuple(entries), tuple(lines)))

    for number, line in enumerate(raw.splitlines(), start=1):
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("["):
            if not text.endswith("]") or len(text) < 3:
                raise LexiconError(f"{path.name}:{number}: bad section header {text!r}")
            close()
            name_, *args = text[1:-1].split()
            header, entries, lines = (name_, tuple(args)), [], []
            continue
        if header is None:
            raise LexiconError(f"{path.name}:{number}: entry {text!r} before any [section]")
        entries.append(tuple(text.split()))
        lines.append(number)
    close()
    return sections
