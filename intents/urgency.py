"""Spot emergencies (fire, gas, violence, self-harm, injury, flooding) and abusive language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from intents.lexicons import LexiconError, read_sections

Level = Literal["emergency", "urgent", "normal"]
Hotline = Literal["119", "110", "120"]
LEVELS = ("emergency", "urgent")
HOTLINES = ("119", "110", "120")
_KIND = re.compile(r"[a-z][a-z_]*")
# Characters people put between the characters of a word to get it past a filter.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\ufeff\u00ad"))
_FILLER = re.compile(r"[\s*·•.\-_~|/\\'\"`^+=#@&%$()<>\[\]{}【】（）「」『』《》、]+")
_BOUNDARY = re.compile(r"[，。！？；：,!?;:\n]")
_WINDOW = 4


def squeeze(text: str) -> str:
    """Fold width and case, end clauses at line breaks, drop invisible and filler characters."""
    folded = unicodedata.normalize("NFKC", text or "").lower().translate(_INVISIBLE)
    return _FILLER.sub("", folded.replace("\n", "。"))


@dataclass(frozen=True, slots=True)
class Urgency:
    """How urgent a text is, which kinds of danger it names and which hotline to call."""

    level: Level
    kinds: tuple[str, ...] = ()
    hotline: Hotline | None = None
    matched: tuple[str, ...] = ()
    negated: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Abuse:
    """Whether a text contains abusive language, and the terms found."""

    is_abusive: bool
    matched: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon term with its kind, level and hotline."""

    text: str
    kind: str
    level: Level
    hotline: Hotline | None
    priority: int


@dataclass(frozen=True, slots=True)
class UrgencyLexicon:
    """Emergency terms, negation and hypothetical cues, and abuse terms, validated at load."""

    terms: tuple[Term, ...]
    ignore: tuple[str, ...]
    negation: tuple[str, ...]
    not_negation: tuple[str, ...]
    hypothetical: tuple[str, ...]
    abuse: tuple[str, ...]
    abuse_ignore: tuple[str, ...]
    term_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    abuse_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile each word list into one pattern: a text with none of the words is passed in a single scan."""
        object.__setattr__(self, "term_pattern", _alternation(t.text for t in self.terms))
        object.__setattr__(self, "abuse_pattern", _alternation(self.abuse))

    @classmethod
    def load(cls, emergency: str | Path = "emergency.txt", cues: str | Path = "urgency_cues.txt",
             abuse: str | Path = "abuse.txt") -> UrgencyLexicon:
        """Load and validate the three lexicon files."""
        terms: list[Term] = []
        ignore: list[str] = []
        seen: dict[str, str] = {}
        for priority, section in enumerate(read_sections(emergency)):
            if section.name == "ignore":
                ignore += _words(section.entries, emergency)
                continue
            level, hotline = _header(section.name, section.args, emergency)
            for term in _words(section.entries, emergency):
                if term in seen:
                    raise LexiconError(f"{emergency}: term {term!r} is in both [{seen[term]}] and "
                                       f"[{section.name}]")
                seen[term] = section.name
                terms.append(Term(term, section.name, level, hotline, priority))
        cue = {s.name: _words(s.entries, cues) for s in read_sections(cues)}
        missing = {"negation", "not_negation", "hypothetical"} - cue.keys()
        if missing:
            raise LexiconError(f"{cues}: missing sections {sorted(missing)}")
        words = {s.name: _words(s.entries, abuse) for s in read_sections(abuse, default="abuse")}
        return cls(tuple(terms), tuple(ignore), tuple(cue["negation"]), tuple(cue["not_negation"]),
                   tuple(cue["hypothetical"]), tuple(words.get("abuse", ())), tuple(words.get("ignore", ())))


def _words(entries: tuple[tuple[str, ...], ...], where: str | Path) -> list[str]:
    out = []
    for entry in entries:
        if len(entry) != 1:
            raise LexiconError(f"{where}: entry {' '.join(entry)!r} must be a single term")
        word = squeeze(entry[0])
        if not word:
            raise LexiconError(f"{where}: entry {entry[0]!r} is empty after normalisation")
        out.append(word)
    return out


def _header(kind: str, args: tuple[str, ...], where: str | Path) -> tuple[Level, Hotline | None]:
    if not _KIND.fullmatch(kind) or not args or args[0] not in LEVELS or len(args) > 2:
        raise LexiconError(f"{where}: section [{kind} {' '.join(args)}] must be [kind level hotline?] "
                           f"with level in {LEVELS}")
    hotline = args[1] if len(args) == 2 else None
    if hotline is not None and hotline not in HOTLINES:
        raise LexiconError(f"{where}: section [{kind}]: unknown hotline {hotline!r}, expected {HOTLINES}")
    if args[0] == "emergency" and hotline is None:
        raise LexiconError(f"{where}: emergency section [{kind}] needs a hotline")
    return args[0], hotline  # type: ignore[return-value]


@lru_cache(maxsize=1)
def default_lexicon() -> UrgencyLexicon:
    """Load the bundled lexicons once."""
    return UrgencyLexicon.load()


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    """Return a pattern matching any of ``words`` (one that never matches for none)."""
    ordered = sorted(set(words), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered)) if ordered else "(?!)")


def _find(text: str, word: str) -> Iterator[int]:
    start = text.find(word)
    while start >= 0:
        yield start
        start = text.find(word, start + 1)


def _covered(text: str, start: int, end: int, phrases: tuple[str, ...]) -> bool:
    """Tell whether text[start:end] lies inside an occurrence of one of the phrases."""
    return any(s <= start and end <= s + len(p) for p in phrases for s in _find(text, p))


def _clause(text: str, pos: int) -> tuple[int, int]:
    left = max((m.end() for m in _BOUNDARY.finditer(text, 0, pos)), default=0)
    right = _BOUNDARY.search(text, pos)
    return left, right.start() if right else len(text)


def _negated(text: str, start: int, left: int, lex: UrgencyLexicon) -> bool:
    prefix = text[left:start]
    for phrase in lex.not_negation:
        prefix = prefix.replace(phrase, "＿" * len(phrase))
    window = prefix[-_WINDOW:]
    return any(cue in window for cue in lex.negation)


def assess(text: str, lexicon: UrgencyLexicon | None = None) -> Urgency:
    """Assess whether a text reports an emergency, an urgent risk or an ordinary matter."""
    lex = lexicon or default_lexicon()
    squeezed = squeeze(text)
    if not lex.term_pattern.search(squeezed):
        return Urgency("normal")  # most messages: no term at all
    hits: list[tuple[Term, Level]] = []
    negated: list[str] = []
    for term in lex.terms:
        for start in _find(squeezed, term.text):
            end = start + len(term.text)
            if _covered(squeezed, start, end, lex.ignore):
                continue
            left, right = _clause(squeezed, start)
            if _negated(squeezed, start, left, lex):
                negated.append(term.text)
                continue
            hypothetical = any(cue in squeezed[left:right] for cue in lex.hypothetical)
            hits.append((term, "urgent" if hypothetical else term.level))
    if not hits:
        return Urgency("normal", negated=tuple(dict.fromkeys(negated)))
    hits.sort(key=lambda h: (h[1] != "emergency", h[0].priority))
    level: Level = hits[0][1]
    hotline = hits[0][0].hotline if level == "emergency" else None
    kinds = tuple(dict.fromkeys(t.kind for t, _ in hits))
    matched = tuple(dict.fromkeys(t.text for t, _ in hits))
    return Urgency(level, kinds, hotline, matched, tuple(dict.fromkeys(negated)))


def abuse(text: str, lexicon: UrgencyLexicon | None = None) -> Abuse:
    """Find abusive language, including words split by spaces or invisible characters."""
    lex = lexicon or default_lexicon()
    squeezed = squeeze(text)
    if not lex.abuse_pattern.search(squeezed):
        return Abuse(False, ())
    found: list[str] = []
    for word in lex.abuse:
        for start in _find(squeezed, word):
            end = start + len(word)
            if word.isascii() and (_alnum(squeezed, start - 1) or _alnum(squeezed, end)):
                continue  # "sb" inside "usb"
            if _covered(squeezed, start, end, lex.abuse_ignore):
                continue
            found.append(word)
            break
    return Abuse(bool(found), tuple(found))


def _alnum(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i].isascii() and text[i].isalnum()
