"""`appeals serve --workers 2`: two real processes on one port, one database, restarted when killed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from backoffice import workers
from tests.support.processes import ServerProcess, exited_by_themselves
from tests.support.webchat import WebChat

pytestmark = pytest.mark.slow


class Supervised(ServerProcess):
    """`appeals serve --workers 2` as a child process (its log at INFO: the access log names each worker)."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, "--workers", "2", log_level="INFO")

    async def start(self) -> None:
        await self.spawn()
        assert len(await self.answering({0, 1}, tries=120)) == 2

    def worker(self, number: int) -> int:
        """Return the pid of worker ``number``."""
        for pid in self.children():
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"{workers.WORKER}={number}".encode() in environ:
                return pid
        raise LookupError(f"no worker {number}")

    async def answering(self, wanted: set[int], tries: int = 40) -> Counter[int]:
        """Ask /healthz on fresh connections, 20 at a time, until every worker in ``wanted`` answered; count them."""
        seen: Counter[int] = Counter()

        async def ask(http: aiohttp.ClientSession) -> None:
            try:
                async with http.get(self.base + "/healthz") as response:
                    if response.status == 200:
                        seen[(await response.json())["worker"]] += 1
            except aiohttp.ClientError:
                pass

        for _ in range(tries):
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
                await asyncio.gather(*(ask(http) for _ in range(20)))
            if wanted <= set(seen):
                return seen
            await asyncio.sleep(0.25)
        raise TimeoutError(f"workers {wanted} did not all answer: {dict(seen)}")


@pytest.fixture
async def supervised(tmp_path: Path) -> AsyncIterator[Supervised]:
    async with Supervised(tmp_path).running() as server:
        yield server


class Hopping(WebChat):
    """A browser that opens a new websocket for every step: the kernel hands each to either worker."""

    steps = 0

    async def frame(self, frame: dict) -> list[dict]:
        if frame.get("type") != "hello":
            self.steps += 1
            await self.ws.close()
            await self.connect()  # says hello on the new socket, as the page does
        return await super().frame(frame)


async def test_a_conversation_moves_between_two_workers_and_gives_one_case(supervised: Supervised) -> None:
    first, second = supervised.worker(0), supervised.worker(1)
    os.kill(second, signal.SIGSTOP)  # a stopped worker accepts nothing: the first half goes to worker 0
    chat = await Hopping(supervised.base).open()
    try:
        await chat.tap("submit")
        await chat.say("西山区人民路下水道堵塞，污水漫到路面")
        os.kill(second, signal.SIGCONT)
        os.kill(first, signal.SIGSTOP)  # and the second half to worker 1, on the session worker 0 saved
        await chat.tap(chat.buttons()[0])
        await chat.say("西山区人民路12号")
        shown = await chat.tap("anonymous")
        if "new" in chat.buttons():
            shown = await chat.tap("new")
        assert "请确认" in shown
        assert "诉求编号" in await chat.tap("confirm")
    finally:
        os.kill(first, signal.SIGCONT)
        os.kill(second, signal.SIGCONT)
        await chat.close()
    assert supervised.count("appeal_case") == 1 and supervised.count("dialog_session") == 1
    for _ in range(100):  # a socket's access-log line is written once it has closed
        log = supervised.log.read_text()
        sockets = Counter(line.split("[worker ")[1][0] for line in log.splitlines() if "GET /chat/ws" in line)
        if sockets["0"] >= 3 and sockets["1"] >= 4:
            break
        await asyncio.sleep(0.1)
    assert sockets["0"] >= 3 and sockets["1"] >= 4, sockets  # each socket a new connection: both took part


async def _steps_reported(server: Supervised, stopped: int) -> int:
    """Scrape /metrics while worker pid ``stopped`` is stopped (so the other answers); return the steps counter."""
    os.kill(stopped, signal.SIGSTOP)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async with http.get(server.base + "/metrics") as response:
                assert response.status == 200
                text = await response.text()
    finally:
        os.kill(stopped, signal.SIGCONT)
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("appeals_dialog_steps_total ")))


async def test_metrics_count_every_workers_steps_whichever_answers(supervised: Supervised) -> None:
    """A scrape reaches either worker; both report the server's dialog steps, and a restart does not lose them."""
    first, second = supervised.worker(0), supervised.worker(1)
    for stopped, texts in ((second, ["submit", "取消"]), (first, ["help", "submit", "取消"])):
        os.kill(stopped, signal.SIGSTOP)  # this chat's socket goes to the other worker
        try:
            chat = await WebChat(supervised.base).open()
            for text in texts:
                await (chat.tap(text) if text in chat.buttons() else chat.say(text))
            await chat.close()
        finally:
            os.kill(stopped, signal.SIGCONT)
    await asyncio.sleep(2.5)  # each worker writes its counters every second
    by_first, by_second = await _steps_reported(supervised, second), await _steps_reported(supervised, first)
    assert by_first == by_second >= 5  # the same series whichever worker answers, with both chats' steps
    os.kill(second, signal.SIGKILL)
    await supervised.answering({0, 1})  # worker 1 is back
    again = supervised.worker(1)
    assert again != second
    assert await _steps_reported(supervised, again) >= by_first  # never drops: a counter, not a reset
    assert await _steps_reported(supervised, first) >= by_first


async def test_a_killed_worker_is_started_again_while_the_other_answers(supervised: Supervised) -> None:
    before = supervised.children()
    assert len(before) == 2
    os.kill(before[1], signal.SIGKILL)
    seen = await supervised.answering({0}, tries=1)
    assert seen[0] == 20  # no connection lost: the socket stays open, the survivor takes them
    for _ in range(100):
        now = supervised.children()
        if len(now) == 2 and before[1] not in now:
            break
        await asyncio.sleep(0.1)
    assert before[0] in now and len(now) == 2
    await supervised.answering({0, 1})  # the new worker 1 serves (it warmed up and opened the database)
    assert "worker 1 exited" in supervised.log.read_text()


async def test_sigterm_stops_every_worker_and_frees_the_port(supervised: Supervised) -> None:
    children = supervised.children()
    assert supervised.proc is not None
    supervised.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(supervised.proc.wait(), 30) == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            await http.get(supervised.base + "/healthz")


async def test_ctrl_c_closes_open_chats_and_every_worker_cleans_up(supervised: Supervised) -> None:
    chat = await WebChat(supervised.base).open()  # a citizen mid-conversation
    await chat.tap("submit")
    assert supervised.proc is not None
    os.killpg(supervised.proc.pid, signal.SIGINT)  # what Ctrl+C in the terminal sends: the whole group
    closed = await chat.ws.receive(timeout=20)
    assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == aiohttp.WSCloseCode.GOING_AWAY  # page reconnects
    assert await asyncio.wait_for(supervised.proc.wait(), 30) == 0
    await chat.close()
    assert supervised.log.read_text().count("Tortoise-ORM shutdown") == 2  # each worker's cleanup ran to its end


async def test_workers_stop_by_themselves_when_the_supervisor_is_killed(supervised: Supervised) -> None:
    children = supervised.children()
    assert supervised.proc is not None
    supervised.proc.kill()  # SIGKILL (or the OOM killer): no chance to stop its workers
    await supervised.proc.wait()
    assert await exited_by_themselves(children, 15)  # no orphan keeps the port or the jobs
    assert "the supervisor (pid" in supervised.log.read_text()


def test_a_worker_that_cannot_start_stops_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "RESTART_DELAY", 0.01)
    sock = workers.listen("127.0.0.1", 0)
    supervisor = workers.Supervisor(sock, 2, [sys.executable, "-c", "import sys; sys.exit(3)"])
    assert supervisor.run() == 1
    assert all(w.process.returncode == 3 for w in supervisor.workers.values())
    assert sock.fileno() == -1  # closed: the port is free again


def test_a_worker_that_started_and_then_died_is_restarted_however_often(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(workers, "RESTART_DELAY", 0.001)
    sock = workers.listen("127.0.0.1", 0)
    crash = f"import os; os.write(int(os.environ['{workers.READY_FD}']), b'1'); raise SystemExit(1)"
    supervisor = workers.Supervisor(sock, 1, [sys.executable, "-c", crash])  # e.g. killed for memory, again and again
    starts: list[int] = []
    real_start = supervisor._start

    def counting(*args: int) -> None:
        starts.append(args[0])
        real_start(*args)

    monkeypatch.setattr(supervisor, "_start", counting)

    def stop_later() -> None:
        deadline = time.monotonic() + 60
        while len(starts) < 2 * workers.MAX_FAILED_STARTS and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor.stopping = True

    threading.Thread(target=stop_later, daemon=True).start()
    assert supervisor.run() == 0  # stopped from outside, not given up: a worker that had started is no failed start
    assert len(starts) >= 2 * workers.MAX_FAILED_STARTS


async def test_workers_stop_when_the_supervisor_dies_while_they_start(tmp_path: Path) -> None:
    server = Supervised(tmp_path)
    await server.migrate()
    await server.spawn()
    assert server.proc is not None
    for _ in range(100):
        if len(children := server.children()) == 2:
            break
        await asyncio.sleep(0.02)
    server.proc.kill()  # before the workers have even opened the database
    await server.proc.wait()
    assert children and await exited_by_themselves(children, 30)
