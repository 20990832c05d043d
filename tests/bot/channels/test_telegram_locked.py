"""Telegram while another process holds the SQLite write lock: the citizen is told to retry, then all works."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest
from tortoise import connections

from backoffice.app import create_app
from storage.db import SQLITE_BUSY_TIMEOUT_MS, sqlite_path
from storage.settings import Settings
from tests.bot.channels.test_telegram import CHAT, handled, tg_settings
from tests.support.fake_telegram import FakeTelegram, fake_telegram
from tests.support.server import serving


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """Serve the fake Bot API."""
    async with fake_telegram() as server:
        yield server


async def test_a_database_locked_by_another_process_gets_a_polite_answer_then_the_chat_goes_on(
        settings: Settings, fake: FakeTelegram) -> None:
    path = sqlite_path(settings.database_url)
    if path is None:
        pytest.skip("the write lock is SQLite's")
    app = create_app(tg_settings(settings, fake), manage_orm=False)
    async with serving(app):
        await connections.get("default").execute_script("PRAGMA busy_timeout = 100")  # not 10 s per try
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # e.g. a long migration or backup in another process
            fake.push(fake.message(CHAT, "/start"))
            told = await fake.wait_for(1, CHAT)
            assert told == ["抱歉，系统暂时出了点问题，请稍后再试。您的对话已保存。"]
            other.execute("ROLLBACK")
        finally:
            other.close()
            await connections.get("default").execute_script(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        assert "需要办理什么" in "".join(await handled(fake, fake.message(CHAT, "/start")))
