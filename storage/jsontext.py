"""Compact JSON text on the hot paths: orjson where it can, the standard library where it cannot."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Return compact JSON text with characters kept as they are (not \\u escapes).

    orjson refuses integers beyond 64 bits, non-string keys and lone surrogates; those fall back to
    the standard library with ASCII escapes, so any value the standard library writes is written
    (and a lone surrogate stays an escape that a UTF-8 column can store).
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, separators=(",", ":"))


def dumps_bytes(value: Any) -> bytes:
    """Return compact JSON as UTF-8 bytes (a request or frame body)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def copy(value: Any) -> Any:
    """Return a deep copy of a JSON-shaped value (through JSON, so it stays JSON-shaped)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:  # orjson would read a big integer back as a float: the standard library keeps it
        return json.loads(json.dumps(value))
