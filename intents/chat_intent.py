"""Tell what a free chat message wants: submit, query, evaluate, help, greeting or unknown."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

from intents.extract import case_numbers
from intents.lexicons import LexiconError, read_sections
from intents.urgency import squeeze

Intent = Literal["submit", "query", "evaluate", "help", "greeting", "unknown"]
INTENTS: tuple[str, ...] = ("submit", "query", "evaluate", "help", "greeting")
_NEGATORS = ("不", "别", "没", "勿")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_LATIN_GAP = re.compile(r"(?<=[A-Za-z0-9])\s+(?=[A-Za-z0-9])")  # keep Latin words apart
CASE_NUMBER_WEIGHT = 4.0
GREETING_MAX_REST = 4  # a greeting followed by more than this many characters is a preamble
MIN_SCORE = 0.8


class ChatIntent(NamedTuple):
    """The intent of a message and a confidence in [0, 1]; unpacks as (intent, confidence)."""

    intent: Intent
    confidence: float


@dataclass(frozen=True, slots=True)
class IntentLexicon:
    """Keywords per intent with weights, longest first."""

    keywords: tuple[tuple[str, Intent, float], ...]

    @classmethod
    def load(cls, path: str | Path = "chat_intents.txt") -> IntentLexicon:
        """Load and validate an intent keyword file."""
        keywords: dict[str, tuple[str, Intent, float]] = {}
        for section in read_sections(path):
            if section.name not in INTENTS:
                raise LexiconError(f"{path}: unknown intent [{section.name}], expected one of {INTENTS}")
            for entry, line in zip(section.entries, section.lines, strict=True):
                term = squeeze(entry[0])
                try:
                    weight = float(entry[1]) if len(entry) > 1 else 1.0
                except ValueError:
                    weight = -1.0
                if len(entry) > 2 or not term or not 0 < weight <= 10:
                    raise LexiconError(f"{path}:{line}: bad entry {' '.join(entry)!r}: want 'term [weight]' "
                                       "with 0 < weight <= 10")
                if term in keywords:
                    raise LexiconError(f"{path}:{line}: term {term!r} is listed twice")
                keywords[term] = (term, section.name, weight)  # type: ignore[assignment]
        return cls(tuple(sorted(keywords.values(), key=lambda k: -len(k[0]))))


@lru_cache(maxsize=1)
def default_lexicon() -> IntentLexicon:
    """Load the bundled keyword file once."""
    return IntentLexicon.load()


def scores(text: str, lexicon: IntentLexicon | None = None) -> dict[str, float]:
    """Score every intent for a message."""
    lex = lexicon or default_lexicon()
    squeezed = squeeze(_LATIN_GAP.sub(",", text or ""))
    result = dict.fromkeys(INTENTS, 0.0)
    if case_numbers(text):
        result["query"] += CASE_NUMBER_WEIGHT
    taken = [False] * len(squeezed)
    greeting_chars = 0
    for term, intent, weight in lex.keywords:
        start = squeezed.find(term)
        while start >= 0:
            end = start + len(term)
            if not any(taken[start:end]) and _stands_alone(squeezed, term, start, end):
                taken[start:end] = [True] * len(term)
                if not _negated(squeezed, start):
                    result[intent] += weight
                    greeting_chars += len(term) if intent == "greeting" else 0
            start = squeezed.find(term, start + 1)
    content = len(_CJK.findall(squeezed)) + 2 * len(_LATIN_WORD.findall(text or ""))  # an English word ≈ 2 characters
    if result["greeting"] and content - greeting_chars > GREETING_MAX_REST:
        result["greeting"] *= 0.2
    if content >= 12 and not (result["query"] or result["evaluate"] or result["help"]):
        # A long message is most often a description of a problem, even without a keyword.
        result["submit"] += 0.5 + min(content, 80) / 40
    return result


def classify(text: str, lexicon: IntentLexicon | None = None) -> ChatIntent:
    """Classify a chat message; a long description with no keyword counts as a submission."""
    ranked = sorted(scores(text, lexicon).items(), key=lambda kv: -kv[1])
    (intent, top), (_, second) = ranked[0], ranked[1]
    if top < MIN_SCORE:
        return ChatIntent("unknown", 0.0)
    confidence = (1 - math.exp(-top)) * (top - second) / top
    return ChatIntent(intent, round(confidence, 3))  # type: ignore[arg-type]


def _negated(text: str, start: int) -> bool:
    return any(n in text[max(start - 2, 0): start] for n in _NEGATORS)


def _stands_alone(text: str, term: str, start: int, end: int) -> bool:
    if not term.isascii():
        return True
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())
