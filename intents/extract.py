"""Find phone numbers, ID numbers, case numbers and dates in free text, and mask personal data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

# Full-width ASCII (！..～) and the ideographic space map one to one onto ASCII, so a translated
# text keeps every index of the original: spans found in it can be cut from the original.
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_WIDTH.update({0x3000: 0x20, 0x2010: 0x2D, 0x2011: 0x2D, 0x2012: 0x2D, 0x2013: 0x2D, 0x2014: 0x2D,
               0x2212: 0x2D, 0xFE63: 0x2D})

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_SEP = r"[ \-\u200b\u200c\u200d\u2060\ufeff]?"  # a space, dash or invisible character between digits
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z])(?P<cc>(?:\+|00)?86" + _SEP + r")?(?P<num>1[3-9]\d(?:" + _SEP + r"\d){8})(?!\d)"
)
_LANDLINE = re.compile(r"(?<![0-9A-Za-z])\(?(?P<area>0\d{2,3})\)?" + _SEP + r"(?P<local>[2-9]\d{6,7})(?!\d)")
_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_CASE = re.compile(r"(?<![0-9A-Za-z])(?P<prefix>\d{3,6}) ?- ?(?P<date>\d{8}) ?- ?(?P<serial>\d{3,6})(?!\d)")

_CN_DIGIT = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}
_NUM = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"
_CN_DATE = re.compile(
    r"(?:(?P<year>(?:19|20)\d{2}|[二〇零一二三四五六七八九]{4})年)?"
    r"(?P<month>" + _NUM + r")月(?P<day>" + _NUM + r")[日号]"
)
_ISO_DATE = re.compile(
    r"(?<!\d)(?P<year>(?:19|20)\d{2})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?!\d)"
)
_RELATIVE = {"大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "明天": 1, "后天": 2}
_RELATIVE_RE = re.compile("|".join(sorted(_RELATIVE, key=len, reverse=True)))


def normalize_width(text: str) -> str:
    """Map full-width digits, letters and dashes to ASCII, keeping every character's index."""
    return (text or "").translate(_WIDTH)


@dataclass(frozen=True, slots=True)
class Phone:
    """A phone number: `number` is digits only for mobiles, `0755-1234567` for landlines."""

    number: str
    kind: Literal["mobile", "landline"]
    raw: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A mainland resident ID number (18 characters) with a valid check digit."""

    number: str
    birth_date: date
    region: str
    raw: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CaseNumber:
    """A case number such as 8890-20261126-00042: hotline prefix, acceptance date, serial."""

    number: str
    prefix: str
    day: date
    serial: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class DateMention:
    """A calendar date named in the text; `relative` when it came from 昨天/今天/前天."""

    value: date
    raw: str
    relative: bool
    start: int
    end: int


def _parse_yyyymmdd(digits: str) -> date | None:
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def id_checksum_ok(number: str) -> bool:
    """Tell whether an 18-character ID number has the right check character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def id_numbers(text: str) -> list[IdNumber]:
    """Find ID numbers whose check character and birth date are valid."""
    found: list[IdNumber] = []
    norm = normalize_width(text)
    for m in _ID.finditer(norm):
        number = m.group().upper()
        birth = _parse_yyyymmdd(number[6:14])
        if birth is None or birth.year < 1900 or not id_checksum_ok(number):
            continue
        found.append(IdNumber(number, birth, number[:6], text[m.start():m.end()], m.start(), m.end()))
    return found


def case_numbers(text: str, prefixes: tuple[str, ...] | None = None) -> list[CaseNumber]:
    """Find case numbers (prefix-yyyymmdd-serial), optionally only with the given hotline prefixes."""
    found: list[CaseNumber] = []
    for m in _CASE.finditer(normalize_width(text)):
        day = _parse_yyyymmdd(m["date"])
        if day is None or (prefixes is not None and m["prefix"] not in prefixes):
            continue
        number = f"{m['prefix']}-{m['date']}-{m['serial']}"
        found.append(CaseNumber(number, m["prefix"], day, int(m["serial"]), m.start(), m.end()))
    return found


def _taken(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < e and s < end for s, e in spans)


def _reserved_spans(text: str) -> list[tuple[int, int]]:
    spans = [(c.start, c.end) for c in case_numbers(text)]
    spans += [(m.start(), m.end()) for m in _ID.finditer(normalize_width(text))]
    return spans


def phones(text: str) -> list[Phone]:
    """Find mobile numbers (spaces, dashes and +86 allowed) and landlines with an area code."""
    norm = normalize_width(text)
    reserved = _reserved_spans(text)
    found: list[Phone] = []
    for m in _MOBILE.finditer(norm):
        if _taken(reserved, m.start("num"), m.end("num")):
            continue
        digits = re.sub(r"\D", "", m["num"])
        found.append(Phone(digits, "mobile", text[m.start():m.end()], m.start(), m.end()))
        reserved.append((m.start(), m.end()))
    for m in _LANDLINE.finditer(norm):
        if _taken(reserved, m.start(), m.end()):
            continue
        found.append(Phone(f"{m['area']}-{m['local']}", "landline", text[m.start():m.end()],
                           m.start(), m.end()))
    return sorted(found, key=lambda p: p.start)


def _cn_int(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    if "十" in token:
        head, _, tail = token.partition("十")
        tens = _CN_DIGIT.get(head, 0) if head else 1
        ones = _CN_DIGIT.get(tail, 0) if tail else 0
        if (head and head not in _CN_DIGIT) or (tail and tail not in _CN_DIGIT):
            return None
        return tens * 10 + ones
    if len(token) == 1 and token in _CN_DIGIT:
        return _CN_DIGIT[token]
    if len(token) == 4 and all(c in _CN_DIGIT for c in token):
        return int("".join(str(_CN_DIGIT[c]) for c in token))
    return None


def _closest_year(month: int, day: int, today: date) -> date | None:
    best: date | None = None
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if best is None or abs((candidate - today).days) < abs((best - today).days):
            best = candidate
    return best


def dates(text: str, today: date) -> list[DateMention]:
    """Find dates (2026年11月26日, 11月26日, 2026-11-26, 昨天…); a year-less date takes the nearest year."""
    norm = normalize_width(text)
    reserved = [(c.start, c.end) for c in case_numbers(text)]
    found: list[DateMention] = []
    for m in list(_CN_DATE.finditer(norm)) + list(_ISO_DATE.finditer(norm)):
        if _taken(reserved, m.start(), m.end()):
            continue
        month, day = _cn_int(m["month"]), _cn_int(m["day"])
        year = _cn_int(m["year"]) if m["year"] else None
        if month is None or day is None:
            continue
        try:
            value = date(year, month, day) if year else _closest_year(month, day, today)
        except ValueError:
            value = None
        if value is not None:
            found.append(DateMention(value, text[m.start():m.end()], False, m.start(), m.end()))
            reserved.append((m.start(), m.end()))
    for m in _RELATIVE_RE.finditer(norm):
        value = today + timedelta(days=_RELATIVE[m.group()])
        found.append(DateMention(value, m.group(), True, m.start(), m.end()))
    return sorted(found, key=lambda d: d.start)


def mask_phone(number: str) -> str:
    """Mask a phone number's middle digits: 13812345678 -> 138****5678."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits.startswith("1"):
        return f"{digits[:3]}****{digits[7:]}"
    if "-" in number:
        area, _, local = number.partition("-")
        return f"{area}-{'*' * max(len(local) - 4, 0)}{local[-4:]}"
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def mask_id(number: str, keep_head: int = 3) -> str:
    """Mask an ID number, keeping its first `keep_head` and last four characters."""
    return number[:keep_head] + "*" * (len(number) - keep_head - 4) + number[-4:]


def mask_pii(text: str, *, id_keep_head: int = 3) -> str:
    """Mask phone numbers (138****5678) and ID-shaped numbers (110***********1234) in free text."""
    norm = normalize_width(text)
    edits: list[tuple[int, int, str]] = []
    for m in _ID.finditer(norm):  # checksum not required: a mistyped ID is still personal data
        edits.append((m.start(), m.end(), mask_id(m.group().upper(), id_keep_head)))
    for phone in phones(text):
        if _taken([(s, e) for s, e, _ in edits], phone.start, phone.end):
            continue
        if phone.kind == "mobile":
            m = _MOBILE.match(norm, phone.start)
            start = m.start("num") if m else phone.start
            edits.append((start, phone.end, mask_phone(phone.number)))
        else:
            edits.append((phone.start, phone.end, mask_phone(phone.number)))
    out, pos = [], 0
    for start, end, replacement in sorted(edits):
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)
