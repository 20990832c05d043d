"""Telegram throughput: updates per second end to end in webhook mode, beside a bare aiohttp JSON endpoint.

Runs `appeals serve` (webhook mode: APPEALS_PUBLIC_URL set) on a fresh SQLite file (or
APPEALS_BENCH_DATABASE_URL) in its own process, pointed by TELEGRAM_API_BASE_URL at the fake Bot API
server of the tests, which runs in this process and counts the bot's sendMessage calls. A bare
aiohttp endpoint that parses the JSON and answers JSON runs in a third process. The same client
code POSTs the same updates to both. One update is counted when the platform has stored it,
run it through the dialog engine and sent its reply to the (fake) Telegram; the bare endpoint's
figure is requests answered per second.

    .venv/bin/python bench/telegram_throughput.py [--updates 3000] [--chats 1000] [--concurrency 40]

The last line is one JSON object: {"updates_per_s", "bare_per_s", "ratio"}.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fake_telegram import TOKEN, FakeTelegram, fake_telegram  # noqa: E402

SECRET_KEY = "bench-" + "k" * 40
PUBLIC_URL = "https://bench.invalid"
GREETINGS = ("你好", "您好", "在吗", "你好，我想咨询一下")


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU seconds a process used so far (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bare_handler(request: web.Request) -> web.Response:
    """Parse the update and answer JSON, as the webhook does, minus storing and the dialog."""
    update = await request.json()
    return web.json_response({"ok": True, "update_id": update.get("update_id")})


def serve_bare(port: int) -> None:
    """Run the bare endpoint until killed."""
    app = web.Application()
    app.router.add_post("/channels/telegram", bare_handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


async def wait_up(url: str, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not come up")
            await asyncio.sleep(0.1)


async def post_all(url: str, updates: list[dict], concurrency: int, headers: dict[str, str]) -> int:
    """POST every update with ``concurrency`` clients; return how many got a 2xx."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(json.dumps(update, ensure_ascii=False).encode())
    ok = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"Content-Type": "application/json",
                                                                    **headers}) as http:
        async def client() -> None:
            nonlocal ok
            while not queue.empty():
                body = queue.get_nowait()
                async with http.post(url, data=body) as response:
                    await response.read()
                    ok += response.status < 300

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return ok


async def replies_settled(fake: FakeTelegram, expected: int, stall: float = 10.0) -> tuple[float, int]:
    """Wait until ``expected`` messages were sent, or none came for ``stall`` s; return when and how many."""
    last, seen = time.perf_counter(), len(fake.sent())
    while seen < expected:
        await asyncio.sleep(0.005)
        now = len(fake.sent())
        if now != seen:
            last, seen = time.perf_counter(), now
        elif time.perf_counter() - last > stall:
            break
    return last, seen


async def run(updates_n: int, chats: int, concurrency: int) -> dict[str, float]:
    """Measure both servers; return the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="tg-bench-"))
    database = os.environ.get("APPEALS_BENCH_DATABASE_URL") or f"sqlite://{tmp}/bench.db"
    app_port, bare_port = free_port(), free_port()
    async with fake_telegram() as fake:
        env = {**os.environ, "APPEALS_DATABASE_URL": database, "APPEALS_PORT": str(app_port),
               "APPEALS_DATA_DIR": str(tmp), "APPEALS_SECRET_KEY": SECRET_KEY, "APPEALS_PUBLIC_URL": PUBLIC_URL,
               "APPEALS_LOG_LEVEL": "WARNING", "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base}
        cli = [sys.executable, "-m", "backoffice.cli"]
        subprocess.run([*cli, "migrate"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        server = subprocess.Popen([*cli, "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)])
        try:
            await wait_up(f"http://127.0.0.1:{app_port}/healthz")
            await wait_up(f"http://127.0.0.1:{bare_port}/")
            for _ in range(600):
                if fake.webhook:
                    break
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError("the platform never registered its webhook")
            secret = hmac.new(SECRET_KEY.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()
            hook = f"http://127.0.0.1:{app_port}/channels/telegram"
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            await post_all(hook, [fake.message(1, "你好")], 1, headers)  # warm up, learn replies per update
            await replies_settled(fake, 1)
            await asyncio.sleep(1.0)
            per_update = len(fake.sent())
            updates = [fake.message(10_000 + i % chats, GREETINGS[i % len(GREETINGS)]) for i in range(updates_n)]
            expected = len(fake.sent()) + per_update * updates_n
            cpu_before = cpu_seconds(server.pid)
            start = time.perf_counter()
            accepted = await post_all(hook, updates, concurrency, headers)
            done, sent = await replies_settled(fake, expected)
            handled = (sent - (expected - per_update * updates_n)) // per_update
            app_rate = handled / (done - start)
            cpu = cpu_seconds(server.pid)
            cpu_run = None if cpu is None or cpu_before is None else cpu - cpu_before
            bare_updates = [fake.message(10_000 + i % chats, "你好") for i in range(updates_n)]
            start = time.perf_counter()
            answered = await post_all(f"http://127.0.0.1:{bare_port}/channels/telegram", bare_updates, concurrency, {})
            bare_rate = answered / (time.perf_counter() - start)
        finally:
            for process in (server, bare):  # the fake Bot API keeps answering while they stop
                process.terminate()
                try:
                    await asyncio.to_thread(process.wait, 30)
                except subprocess.TimeoutExpired:
                    process.kill()
    print(f"updates {updates_n} from {chats} chats, {concurrency} concurrent clients, {per_update} reply each")
    print(f"webhook accepted {accepted}, updates answered {handled}")
    print(f"{'platform (store + dialog + reply)':36} {app_rate:9.0f} updates/s")
    print(f"{'bare aiohttp JSON endpoint':36} {bare_rate:9.0f} requests/s")
    if cpu is not None:
        print(f"platform process CPU since start: {cpu:.1f} s; {os.cpu_count()} CPUs here")
    if cpu_run is not None and handled:
        print(f"platform process CPU during the run: {cpu_run:.2f} s, {1000 * cpu_run / handled:.2f} ms per update")
    return {"updates_per_s": round(app_rate, 1), "bare_per_s": round(bare_rate, 1),
            "ratio": round(app_rate / bare_rate, 3)}


def main() -> None:
    """Parse arguments, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=40)  # Telegram opens at most 40 webhook connections
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the servers
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    print(json.dumps(asyncio.run(run(args.updates, args.chats, args.concurrency))))


if __name__ == "__main__":
    main()
