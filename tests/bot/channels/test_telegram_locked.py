"""Telegram while another process holds the SQLite write lock: the citizen is told to retry, then all works."""

from __future__ import annotations

import sqlite3

from backoffice.app import create_app
from storage.settings import Settings
from tests.support.fake_telegram import FakeTelegram
from tests.support.server import serving
from tests.support.telegram import CHAT, handled, tg_settings


async def test_a_database_locked_by_another_process_gets_a_polite_answer_then_the_chat_goes_on(
        settings: Settings, fake: FakeTelegram, other_writer: sqlite3.Connection) -> None:
    app = create_app(tg_settings(settings, fake), manage_orm=False)
    async with serving(app):
        other_writer.execute("BEGIN IMMEDIATE")  # e.g. a long migration or backup in another process
        fake.push(fake.message(CHAT, "/start"))
        told = await fake.wait_for(1, CHAT)
        assert told == ["抱歉，系统暂时出了点问题，请稍后再试。您的对话已保存。"]
        other_writer.execute("ROLLBACK")
        assert "需要办理什么" in "".join(await handled(fake, fake.message(CHAT, "/start")))
