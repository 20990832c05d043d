"""Telegram test helpers beside the fake Bot API: settings that point at it, and waiting for updates to be handled."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from storage.models import JobRun
from storage.settings import Settings
from tests.support.fake_telegram import TOKEN, FakeTelegram

CHAT = 4242  # the citizen's chat in the Telegram tests


def tg_settings(settings: Settings, fake: FakeTelegram, public_url: str | None = None) -> Settings:
    """Return settings that enable Telegram against the fake server."""
    return dataclasses.replace(settings, telegram_bot_token=TOKEN, telegram_api_base_url=fake.base,
                               public_url=public_url)


async def handled(fake: FakeTelegram, *updates: dict[str, Any], timeout: float = 10.0) -> list[str]:
    """Push updates to getUpdates, wait until each is handled; return the texts sent meanwhile."""
    before = len(fake.sent())
    fake.push(*updates)
    keys = {f"{TOKEN.split(':')[0]}:{u['update_id']}" for u in updates}
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await JobRun.filter(job="telegram", key__in=list(keys))
        if len(rows) == len(keys) and all(r.data.get("done") for r in rows):
            return fake.texts()[before:]
        assert asyncio.get_running_loop().time() < deadline, f"not handled: {[r.data for r in rows]}"
        await asyncio.sleep(0.01)
