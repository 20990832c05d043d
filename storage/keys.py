"""The secret key that signs cookies: from APPEALS_SECRET_KEY, or generated once into the data directory."""

from __future__ import annotations

import os
import secrets

from .settings import Settings

KEY_FILE = "secret.key"


def secret_key(settings: Settings) -> bytes:
    """Return the signing key, creating ``data/secret.key`` (mode 0600) on first use."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()
