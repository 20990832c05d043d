"""Credentials of machine clients: Open311 API keys (hashed) and messenger-webhook peers (HMAC secrets)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from storage.cases import utcnow
from storage.models import ApiKey, WebhookPeer

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class CredentialError(ValueError):
    """A name or URL a client credential cannot use."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise CredentialError(f"name must be 1-64 letters, digits, '.', '_' or '-', not {name!r}")


async def create_api_key(name: str) -> str:
    """Issue an Open311 API key for client ``name``; return the key (shown once, stored hashed)."""
    _check_name(name)
    if await ApiKey.exists(name=name):
        raise CredentialError(f"an API key named {name!r} exists already")
    key = secrets.token_urlsafe(24)
    await ApiKey.create(name=name, key_hash=_hash(key))
    return key


async def api_client(key: str | None) -> str | None:
    """Return the client name of a valid, active API key, or None."""
    if not key or len(key) > 128:
        return None
    row = await ApiKey.get_or_none(key_hash=_hash(key), active=True)
    if row is None:
        return None
    await ApiKey.filter(id=row.id).update(last_used_at=utcnow())
    return row.name


async def create_peer(name: str, callback_url: str = "", replay_window: int = 300) -> str:
    """Register a messenger-webhook peer; return its HMAC secret."""
    _check_name(name)
    if callback_url and not callback_url.startswith(("http://", "https://")):
        raise CredentialError(f"callback URL must be http(s), not {callback_url!r}")
    if not 10 <= replay_window <= 3600:
        raise CredentialError("replay window must be 10-3600 seconds")
    if await WebhookPeer.exists(name=name):
        raise CredentialError(f"a webhook peer named {name!r} exists already")
    secret = secrets.token_urlsafe(32)
    await WebhookPeer.create(name=name, secret=secret, callback_url=callback_url, replay_window=replay_window)
    return secret


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``sha256=<hex>`` signature of a webhook body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def signed(secret: str, timestamp: str, body: bytes, sent: str) -> bool:
    """Tell whether ``sent`` is the right signature (compared in constant time)."""
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), sent.encode())
