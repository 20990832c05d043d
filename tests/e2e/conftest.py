"""Browser fixtures: Debian's chromium driven by Playwright's async API, the app on a loopback port."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backoffice.app import create_app
from storage.deadlines import ensure_default_policies
from storage.seed import load_city, seed_units
from storage.settings import Settings
from tests.support.server import serving

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--disable-extensions"]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """Launch headless chromium, or skip when the machine has none (CI installs it)."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium fonts-wqy-microhei")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def base(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """Serve the application on the demo city's units and catalogue."""
    await ensure_default_policies()
    await seed_units(load_city())
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", secret_key="b" * 48)
    async with serving(create_app(settings, manage_orm=False)) as url:
        yield url


@pytest.fixture
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the screenshot directory (APPEALS_ARTEFACTS_DIR, or a pytest temp dir)."""
    chosen = os.environ.get("APPEALS_ARTEFACTS_DIR")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path
