"""Signed, expiring tokens: the web-chat identity cookie and upload receipts (HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

IDENTITY_MAX_AGE = 30 * 24 * 3600  # a web-chat identity lives 30 days after it was issued


def _mac(key: bytes, purpose: str, payload: str) -> str:
    digest = hmac.new(key, f"{purpose}\x00{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def new_identity() -> str:
    """Return a fresh random web-chat user id."""
    return "w" + secrets.token_urlsafe(18)


def sign(key: bytes, purpose: str, value: str, now: float | None = None) -> str:
    """Return ``value.issued.mac``: a token only this server can make."""
    issued = str(int(now if now is not None else time.time()))
    return f"{value}.{issued}.{_mac(key, purpose, f'{value}.{issued}')}"


def verify(key: bytes, purpose: str, token: str | None, max_age: int, now: float | None = None) -> str | None:
    """Return the signed value if ``token`` is genuine, for ``purpose`` and not older than ``max_age``."""
    if not token or len(token) > 256 or token.count(".") < 2:
        return None
    value, issued, mac = token.rsplit(".", 2)
    if not issued.isdigit() or not hmac.compare_digest(mac, _mac(key, purpose, f"{value}.{issued}")):
        return None
    age = (now if now is not None else time.time()) - int(issued)
    return value if -60 <= age <= max_age else None
