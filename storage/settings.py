"""Frozen settings read once from the environment; every variable is documented in README.md."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Every environment variable the platform reads, with its default (None: no default).
ENV_VARS: dict[str, str | None] = {
    "APPEALS_DATABASE_URL": "sqlite://data/appeals.db",
    "APPEALS_HOST": "127.0.0.1",
    "APPEALS_PORT": "8080",
    "APPEALS_WORKERS": "1",
    "APPEALS_SECRET_KEY": None,
    "APPEALS_ADMIN_PASSWORD": None,
    "APPEALS_DATA_DIR": "data",
    "APPEALS_HOTLINE_PREFIX": "8890",
    "APPEALS_LANGUAGE": "zh-CN",
    "APPEALS_MODEL_PATH": None,
    "APPEALS_GAZETTEER_PATH": None,
    "APPEALS_PUBLIC_URL": None,
    "APPEALS_LOG_LEVEL": "INFO",
    "TELEGRAM_BOT_TOKEN": None,
    "TELEGRAM_API_BASE_URL": "https://api.telegram.org/bot",
}


class SettingsError(ValueError):
    """A setting holds a value the platform cannot use."""


MAX_WORKERS = 64


def parse_workers(text: str, name: str = "--workers") -> int:
    """Read a number of server processes: 1-64, or ``auto`` for one per CPU (at most 64)."""
    try:
        workers = min(os.cpu_count() or 1, MAX_WORKERS) if text == "auto" else int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number or auto, not {text!r}") from None
    if not 1 <= workers <= MAX_WORKERS:
        raise SettingsError(f"{name} must be between 1 and {MAX_WORKERS}, not {workers}")
    return workers


@dataclass(frozen=True)
class Settings:
    """Configuration of one platform process."""

    database_url: str = "sqlite://data/appeals.db"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1  # server processes on the one port (see backoffice/workers.py)
    secret_key: str | None = field(default=None, repr=False)
    admin_password: str | None = field(default=None, repr=False)
    data_dir: Path = Path("data")
    hotline_prefix: str = "8890"
    language: str = "zh-CN"
    model_path: Path | None = None
    gazetteer_path: Path | None = None  # the city's districts, streets and outlines; None: the demo city
    public_url: str | None = None
    log_level: str = "INFO"
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_api_base_url: str = "https://api.telegram.org/bot"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables, validating each one."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            if value is None or value.strip() == "":
                return ENV_VARS[name]
            return value.strip()

        port_text = get("APPEALS_PORT") or "8080"
        try:
            port = int(port_text)
        except ValueError:
            raise SettingsError(f"APPEALS_PORT must be a number, not {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise SettingsError(f"APPEALS_PORT must be between 0 and 65535, not {port}")
        workers = parse_workers(get("APPEALS_WORKERS") or "1", "APPEALS_WORKERS")
        url = get("APPEALS_DATABASE_URL") or ""
        if not url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise SettingsError("APPEALS_DATABASE_URL must start with sqlite:// or postgres://")
        prefix = get("APPEALS_HOTLINE_PREFIX") or "8890"
        if not prefix.isdigit() or not 2 <= len(prefix) <= 8:
            raise SettingsError(f"APPEALS_HOTLINE_PREFIX must be 2-8 digits, not {prefix!r}")
        language = get("APPEALS_LANGUAGE") or "zh-CN"
        if language not in ("zh-CN", "en"):
            raise SettingsError(f"APPEALS_LANGUAGE must be zh-CN or en, not {language!r}")
        secret = get("APPEALS_SECRET_KEY")
        if secret is not None and len(secret) < 32:
            raise SettingsError("APPEALS_SECRET_KEY must be at least 32 characters")
        model = get("APPEALS_MODEL_PATH")
        places = get("APPEALS_GAZETTEER_PATH")
        if places is not None and not Path(places).is_file():
            raise SettingsError(f"APPEALS_GAZETTEER_PATH must name a gazetteer JSON file, not {places!r}")
        token = get("TELEGRAM_BOT_TOKEN")
        if token is not None and not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", token):
            raise SettingsError("TELEGRAM_BOT_TOKEN must look like 123456:ABC-DEF… (from @BotFather)")
        api_base = get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot"
        if not api_base.startswith(("http://", "https://")):
            raise SettingsError(f"TELEGRAM_API_BASE_URL must be an http(s) URL, not {api_base!r}")
        return cls(
            database_url=url,
            host=get("APPEALS_HOST") or "127.0.0.1",
            port=port,
            workers=workers,
            secret_key=secret,
            admin_password=get("APPEALS_ADMIN_PASSWORD"),
            data_dir=Path(get("APPEALS_DATA_DIR") or "data"),
            hotline_prefix=prefix,
            language=language,
            model_path=Path(model) if model else None,
            gazetteer_path=Path(places) if places else None,
            public_url=get("APPEALS_PUBLIC_URL"),
            log_level=(get("APPEALS_LOG_LEVEL") or "INFO").upper(),
            telegram_bot_token=token,
            telegram_api_base_url=api_base,
        )

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite://")
