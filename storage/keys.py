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
    if path.exists():
        return path.read_text().strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a private temporary file, then link it into place: a second process starting at
    # the same moment either wins the link or reads the complete key of the one that did.
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip().encode()
