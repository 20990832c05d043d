"""kill -9 of the real server between the steps of a submission: it resumes, asks nothing twice, one case."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import ServerProcess
from tests.support.webchat import WebChat

pytestmark = pytest.mark.slow


class Server(ServerProcess):
    """`appeals serve` as a child process that can be killed with SIGKILL and started again."""

    async def start(self) -> None:
        await self.spawn()
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


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with Server(tmp_path).running() as srv:
        yield srv


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
