"""Fixtures for channel tests: the real application on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backoffice.app import create_app
from storage.settings import Settings
from tests.support.fake_telegram import FakeTelegram, fake_telegram
from tests.support.server import serving


@pytest.fixture
def settings(city: str, tmp_path: Path) -> Settings:
    """Return settings on the test database with a fixed secret."""
    return Settings(database_url=city, data_dir=tmp_path / "data", secret_key="k" * 48)


@pytest.fixture
async def base(settings: Settings) -> AsyncIterator[str]:
    """Serve the application (ORM already open) and yield its URL."""
    async with serving(create_app(settings, manage_orm=False)) as url:
        yield url


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """Serve the fake Bot API."""
    async with fake_telegram() as server:
        yield server
