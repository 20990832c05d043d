"""Database ids from untrusted text: ASCII digits within a 32-bit integer, or nothing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from storage.errors import InvalidField

MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")
#: Payload fields that name another row by id (or by code/number, which CaseService looks up itself).
ID_FIELDS = ("lead_unit", "co_unit", "co_units", "suggested_unit", "parent")


def db_id(raw: object) -> int | None:
    """Return a positive 32-bit id from text or an int, or None when it cannot be one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if 0 < raw <= MAX_ID else None
    if isinstance(raw, str) and _DIGITS.fullmatch(raw):
        value = int(raw)
        return value if 0 < value <= MAX_ID else None
    return None


def check_payload_ids(payload: Mapping[str, Any]) -> None:
    """Refuse numeric references that no row can have, before they reach the database."""
    for name in ID_FIELDS:
        value = payload.get(name)
        for item in value if isinstance(value, list) else [value]:
            digits = isinstance(item, int) and not isinstance(item, bool) or (
                isinstance(item, str) and item.strip().isdigit())
            if digits and db_id(item if isinstance(item, int) else item.strip()) is None:
                raise InvalidField(name, "编号超出范围", "no such id")
