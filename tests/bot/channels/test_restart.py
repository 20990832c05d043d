"""kill -9 of the real server between the steps of a submission: it resumes, asks nothing twice, one case."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from storage import db
from tests.support.webchat import WebChat

pytestmark = pytest.mark.slow
APPEALS = Path(sys.executable).with_name("appeals")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`appeals serve` as a child process that can be killed with SIGKILL and started again."""

    def __init__(self, tmp: Path) -> None:
        self.db_path = tmp / "appeals.db"
        self.port = free_port()
        self.env = {
            **os.environ, "APPEALS_DATABASE_URL": f"sqlite://{self.db_path}", "APPEALS_PORT": str(self.port),
            "APPEALS_DATA_DIR": str(tmp / "data"), "APPEALS_SECRET_KEY": "s" * 48, "APPEALS_LOG_LEVEL": "WARNING",
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(APPEALS), "serve", env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(self.base + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError("server did not start")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no cleanup, no flush
        await self.proc.wait()

    def count(self, table: str) -> int:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    srv = Server(tmp_path)
    await db.migrate(f"sqlite://{srv.db_path}")
    await srv.start()
    yield srv
    if srv.proc is not None and srv.proc.returncode is None:
        await srv.kill()


async def restart(server: Server, chat: WebChat) -> list[str]:
    """Kill the server, start it again, reconnect the same browser; return the resumed prompt texts."""
    await server.kill()
    await chat.ws.close()
    await server.start()
    return [m["text"] for m in await chat.connect()]


async def test_kill_9_between_steps_resumes_without_asking_twice(server: Server) -> None:
    chat = await WebChat(server.base).open()
    asked: list[str] = []
    try:
        await chat.tap("submit")
        await chat.say("东湖区湖滨路路灯坏了一个月，晚上很黑，老人容易摔倒")
        before = [m["text"] for m in chat.last]
        asked += before
        assert await restart(server, chat) == before  # the same question, nothing lost
        if any(v.startswith("cat:") or v == "yes" for v in chat.buttons()):
            asked.append(await chat.tap(chat.buttons()[0]))
        assert "哪里" in chat.last[-1]["text"]
        asked.append(await chat.say("东湖区湖滨路88号"))
        before = [m["text"] for m in chat.last]
        assert await restart(server, chat) == before
        asked.append(await chat.tap("anonymous"))
        if "new" in chat.buttons():
            asked.append(await chat.tap("new"))
        asked.append(await chat.tap("confirm"))
        assert "诉求编号" in asked[-1]
        prompts = [a.split("\n")[-1] for a in asked]
        assert len(prompts) == len(set(prompts)), prompts  # no question asked twice
        assert server.count("appeal_case") == 1
        await restart(server, chat)
        assert server.count("appeal_case") == 1
    finally:
        await chat.close()
