"""Input cleaning and parsers that turn what a citizen typed into a value or a polite refusal."""

from __future__ import annotations

import re
import unicodedata

from intents.extract import case_numbers, normalize_width, phones

from ..messages import Inbound
from .flow import Ok, Reask, Result

MAX_TEXT = 2000  # longest appeal text the bot accepts in one message
#: Zero-width, bidi overrides and other invisible format characters (category Cf) are dropped.
_KEEP_CONTROLS = {"\n", "\t"}
_SPACES = re.compile(r"[ \t\u3000]+")
_LINES = re.compile(r"\n{3,}")
_WORDY = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)


def clean(text: str) -> str:
    """Return the text without control, invisible and bidi characters, NFC-normalized and trimmed."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in _KEEP_CONTROLS or not (cat.startswith("C") or cat in ("Zl", "Zp")):
            kept.append(ch)
    text = _SPACES.sub(" ", "".join(kept))
    return _LINES.sub("\n\n", text).strip()


def has_words(text: str) -> bool:
    """Tell whether the text holds letters, digits or Chinese characters (not only emoji or marks)."""
    return any(_WORDY.match(ch) and unicodedata.category(ch)[0] in "LN" for ch in text)


def words(inbound: Inbound, limit: int = MAX_TEXT, minimum: int = 1) -> Result:
    """Accept cleaned text with real words, between ``minimum`` and ``limit`` characters."""
    text = clean(inbound.text or "")
    if not text:
        return Reask("input.empty")
    if len(text) > limit:
        return Reask("input.too_long", {"limit": limit})
    if not has_words(text):
        return Reask("input.no_words")
    if len(text) < minimum:
        return Reask("submit.too_short", {"limit": minimum})
    return Ok(text)


def command_word(inbound: Inbound) -> str:
    """Return the message reduced to a comparable command word."""
    return unicodedata.normalize("NFKC", clean(inbound.text or "")).strip(" 。.!！?？~").lower()


def phone(text: str) -> str | None:
    """Return the first phone number in ``text``, digits only, or None."""
    found = phones(clean(text))
    return found[0].number if found else None


def case_number(text: str) -> str | None:
    """Return the first case number in ``text`` (8890-20261126-00042), or None."""
    found = case_numbers(normalize_width(clean(text)))
    return found[0].number if found else None


def typed_case_number(text: str, prefix: str) -> str | None:
    """Return the case number in ``text``, also typed as bare digits (88902026112600042 for 8890-20261126-00042)."""
    number = case_number(text)
    if number:
        return number
    digits = re.sub(r"[\s\-]", "", normalize_width(clean(text)))
    m = re.fullmatch(rf"{re.escape(prefix)}(\d{{8}})(\d{{5}})", digits) if prefix.isdigit() else None
    return case_number(f"{prefix}-{m[1]}-{m[2]}") if m else None


def tracking(text: str) -> str | None:
    """Return a tracking code (10 letters/digits, case and spaces ignored), or None."""
    code = re.sub(r"[\s\-]", "", normalize_width(clean(text))).upper()
    return code if re.fullmatch(r"[0-9A-Z]{10}", code) else None
