"""The application answers health checks and sends protective headers, over a real socket."""

from __future__ import annotations

import aiohttp

from backoffice.app import create_app
from storage.settings import Settings
from tests.support.builders import make_world
from tests.support.server import serving


async def test_healthz_reports_ready_with_the_case_count(database_url: str) -> None:
    await make_world()
    app = create_app(Settings.from_env({"APPEALS_DATABASE_URL": database_url}), manage_orm=False)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok", "cases": 0}
        async with http.get(f"{base}/") as resp:
            text = await resp.text()
            assert resp.status == 200 and "群众诉求办理平台" in text
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
