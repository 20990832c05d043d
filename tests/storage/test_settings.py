"""Settings come from the environment, validated, and never print secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storage.keys import secret_key
from storage.settings import Settings, SettingsError


def test_defaults_are_a_local_sqlite_pilot() -> None:
    s = Settings.from_env({})
    assert (s.database_url, s.host, s.port, s.is_sqlite) == ("sqlite://data/appeals.db", "127.0.0.1", 8080, True)
    assert s.workers == 1


def test_workers_may_be_a_number_or_one_per_cpu() -> None:
    assert Settings.from_env({"APPEALS_WORKERS": "3"}).workers == 3
    assert Settings.from_env({"APPEALS_WORKERS": "auto"}).workers == min(os.cpu_count() or 1, 64)


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("APPEALS_PORT", "eighty", "APPEALS_PORT"),
        ("APPEALS_PORT", "70000", "between"),
        ("APPEALS_DATABASE_URL", "mysql://x", "sqlite:// or postgres://"),
        ("APPEALS_HOTLINE_PREFIX", "88a0", "digits"),
        ("APPEALS_LANGUAGE", "fr", "zh-CN or en"),
        ("APPEALS_SECRET_KEY", "short", "32"),
        ("APPEALS_WORKERS", "many", "APPEALS_WORKERS must be a number or auto"),
        ("APPEALS_WORKERS", "0", "between 1 and 64"),
        ("APPEALS_WORKERS", "65", "between 1 and 64"),
    ],
)
def test_bad_values_are_named(name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        Settings.from_env({name: value})


def test_secrets_never_appear_in_repr() -> None:
    s = Settings.from_env({"APPEALS_ADMIN_PASSWORD": "hunter2-hunter2", "APPEALS_SECRET_KEY": "k" * 40})
    assert "hunter2" not in repr(s) and "kkkk" not in repr(s)


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    s = Settings.from_env({"APPEALS_DATA_DIR": str(tmp_path / "d")})
    first = secret_key(s)
    assert len(first) >= 32 and secret_key(s) == first
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o077 == 0
    assert secret_key(Settings.from_env({"APPEALS_SECRET_KEY": "x" * 32})) == b"x" * 32
