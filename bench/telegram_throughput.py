"""Telegram throughput: updates per second end to end in webhook mode, beside a bare aiohttp JSON endpoint.

Runs `appeals serve` (webhook mode: APPEALS_PUBLIC_URL set) on a fresh SQLite file (or
APPEALS_BENCH_DATABASE_URL) in its own process, pointed by TELEGRAM_API_BASE_URL at the fake Bot API
server of the tests, which runs in this process and counts the bot's sendMessage calls. A bare
aiohttp endpoint that parses the JSON and answers JSON runs in a third process. The same client
code POSTs the same updates to both, over as many connections as the platform registered with setWebhook
(``max_connections``; Telegram's default is 40), and reads each answer as Telegram does: a Bot API method
in it (the platform's reply) is carried out by the fake. One update is counted when the platform has stored it,
run it through the dialog engine and sent its reply to the (fake) Telegram: the platform's own
update log (outcome "handled") after the run, over the time until the last reply arrived. Every
text is sent once before timing (lazy loads happen there). The bare endpoint's figure is requests
answered per second, measured before and after the platform's run: the faster counts (the box's speed drifts
between runs, and the ratio must not gain by a slow moment of the bare endpoint). Also printed: webhook latency, the server's CPU per update, by thread.
``--workers N`` runs `appeals serve --workers N` (N processes on one port; worker 0 registers the
webhook) and N bare processes on one port. ``--profile FILE`` writes a cProfile of the (single)
server's event loop during the timed run.

    .venv/bin/python bench/telegram_throughput.py [--updates 3000] [--chats 1000] [--concurrency N] [--workers N]
                                                   [--profile FILE]

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
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _serve import PROFILED, free_port, process_cpu, stop, thread_cpu, wait_up, workers_of  # noqa: E402 - bench/ is on the path: these run as scripts

from tests.support.fake_telegram import TOKEN, FakeTelegram, fake_telegram  # noqa: E402

SECRET_KEY = "bench-" + "k" * 40
PUBLIC_URL = "https://bench.invalid"
GREETINGS = ("你好", "您好", "在吗", "你好，我想咨询一下")


async def bare_handler(request: web.Request) -> web.Response:
    """Parse the update and answer JSON, as the webhook does, minus storing and the dialog."""
    update = await request.json()
    return web.json_response({"ok": True, "update_id": update.get("update_id")})


def serve_bare(port: int) -> None:
    """Run the bare endpoint until killed."""
    app = web.Application()
    app.router.add_post("/channels/telegram", bare_handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, reuse_port=True)  # several share the port


async def post_all(url: str, updates: list[dict], concurrency: int, headers: dict[str, str],
                   latencies: list[float] | None = None, answered: Callable[[bytes], Any] = json.loads) -> int:
    """POST every update with ``concurrency`` clients; return how many got a 2xx (latencies appended).

    ``answered`` gets each answer's body, as Telegram reads it (a method in it is carried out).
    """
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(json.dumps(update, ensure_ascii=False).encode())
    ok = 0
    latencies = [] if latencies is None else latencies
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"Content-Type": "application/json",
                                                                    **headers}) as http:
        async def client() -> None:
            nonlocal ok
            while not queue.empty():
                body = queue.get_nowait()
                sent = time.perf_counter()
                async with http.post(url, data=body) as response:
                    answered(await response.read())
                    ok += response.status < 300
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return ok


async def _bare_rate(url: str, fake: FakeTelegram, updates_n: int, chats: int, concurrency: int) -> float:
    """POST as many updates to the bare endpoint; return the requests answered per second."""
    updates = [fake.message(10_000 + i % chats, "你好") for i in range(updates_n)]
    start = time.perf_counter()
    answered = await post_all(url, updates, concurrency, {})
    return answered / (time.perf_counter() - start)


async def replies_settled(fake: FakeTelegram, at_least: int, stall: float = 10.0) -> tuple[float, int]:
    """Wait until ``at_least`` messages were sent and then none for 2 s (or none for ``stall`` s before).

    Return when the last one came and how many there were.
    """
    last, seen = time.perf_counter(), fake.counts.get("sendMessage", 0)
    while True:
        await asyncio.sleep(0.005)
        now = fake.counts.get("sendMessage", 0)
        if now != seen:
            last, seen = time.perf_counter(), now
        elif time.perf_counter() - last > (2.0 if seen >= at_least else stall):
            return last, seen


async def outcomes(database: str) -> dict[str, int]:
    """Count the platform's stored Telegram updates by outcome (handled, throttled, …, pending)."""
    if database.startswith("sqlite://"):
        with sqlite3.connect(database.removeprefix("sqlite://")) as db:
            rows = [json.loads(r[0]) for r in db.execute("SELECT data FROM job_run WHERE job = 'telegram'")]
    else:
        import asyncpg

        connection = await asyncpg.connect(database)
        try:
            rows = [json.loads(r["data"]) for r in await connection.fetch(
                "SELECT data::text AS data FROM job_run WHERE job = 'telegram'")]
        finally:
            await connection.close()
    counts: dict[str, int] = {}
    for data in rows:
        outcome = data.get("outcome", "pending") if data.get("done") else "pending"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _cpu(pids: list[int]) -> float | None:
    """Return the CPU seconds the processes used so far (None if one is unknown)."""
    spent = [process_cpu(pid) for pid in pids]
    return None if None in spent else sum(s for s in spent if s is not None)


def _threads(pids: list[int]) -> dict[str, float]:
    """Return the CPU seconds of the processes' event loops and other threads, summed."""
    total: dict[str, float] = {}
    for pid in pids:
        for name, seconds in thread_cpu(pid).items():
            total[name] = total.get(name, 0.0) + seconds
    return total


async def run(updates_n: int, chats: int, concurrency: int, profile: str | None = None,
              workers: int = 1) -> dict[str, float]:
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
        appeals = str(Path(sys.executable).with_name("appeals"))  # the console script, run under cProfile
        serve = [sys.executable, "-c", PROFILED, profile, appeals, "serve"] if profile else [
            *cli, "serve", "--workers", str(workers)]
        server = await asyncio.create_subprocess_exec(*serve, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        bares = [subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port)]) for _ in range(workers)]
        try:
            await wait_up(f"http://127.0.0.1:{app_port}/healthz")
            await wait_up(f"http://127.0.0.1:{bare_port}/")
            pids = await workers_of(server.pid, workers)
            for _ in range(600):
                if fake.webhook:
                    break
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError("the platform never registered its webhook")
            concurrency = concurrency or int(fake.webhook.get("max_connections") or 40)  # as Telegram does
            secret = hmac.new(SECRET_KEY.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()
            hook = f"http://127.0.0.1:{app_port}/channels/telegram"
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            # Warm up: each text once (lazy loads such as the classifier and the knowledge index happen
            # here, not in the timed run).
            warm = [fake.message(1 + n, text) for n, text in enumerate(GREETINGS)]
            await post_all(hook, warm, 1, headers, answered=fake.carry_out)
            await replies_settled(fake, len(warm))
            bare_url = f"http://127.0.0.1:{bare_port}/channels/telegram"
            bare_rates = [await _bare_rate(bare_url, fake, updates_n, chats, concurrency)]  # before the platform's run
            before = (await outcomes(database)).get("handled", 0)
            sent_before = fake.counts.get("sendMessage", 0)
            updates = [fake.message(10_000 + i % chats, GREETINGS[i % len(GREETINGS)]) for i in range(updates_n)]
            if profile:
                server.send_signal(signal.SIGUSR1)  # profile the timed run only
            cpu_before, threads_before = _cpu(pids), _threads(pids)
            own_before = time.process_time()
            start = time.perf_counter()
            latencies: list[float] = []
            accepted = await post_all(hook, updates, concurrency, headers, latencies, fake.carry_out)
            posted = time.perf_counter() - start
            done, sent = await replies_settled(fake, sent_before + updates_n)
            counts = await outcomes(database)
            handled = counts.get("handled", 0) - before  # stored, through the dialog, reply sent
            replies = sent - sent_before
            app_rate = handled / (done - start)
            cpu = _cpu(pids)
            cpu_run = None if cpu is None or cpu_before is None else cpu - cpu_before
            own_cpu = time.process_time() - own_before
            threads = {name: round(spent - threads_before.get(name, 0.0), 2)
                       for name, spent in _threads(pids).items() if spent - threads_before.get(name, 0.0) > 0}
            bare_rates.append(await _bare_rate(bare_url, fake, updates_n, chats, concurrency))  # and after it
            bare_rate = max(bare_rates)  # the faster of the two: the box drifts, and the ratio must not gain by it
        finally:  # the fake Bot API keeps answering while they stop
            await stop(server, workers)
            for process in bares:
                process.terminate()
                try:
                    await asyncio.to_thread(process.wait, 30)
                except subprocess.TimeoutExpired:
                    process.kill()
    print(f"updates {updates_n} from {chats} chats, {concurrency} concurrent clients, {workers} server process(es)"
          f" (and as many bare ones)")
    print(f"webhook accepted {accepted}, updates handled and answered {handled} ({replies} replies);"
          f" outcomes {counts}")
    latencies.sort()
    p50, p95 = 1000 * latencies[len(latencies) // 2], 1000 * latencies[int(len(latencies) * 0.95)]
    print(f"webhook: all POSTs answered after {posted:.2f} s; latency p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"{'platform (store + dialog + reply)':36} {app_rate:9.0f} updates/s")
    print(f"{'bare aiohttp JSON endpoint':36} {bare_rate:9.0f} requests/s"
          f" (the faster of {bare_rates[0]:.0f} before and {bare_rates[1]:.0f} after the platform's run)")
    if cpu is not None:
        print(f"platform processes' CPU since start: {cpu:.1f} s; {os.cpu_count()} CPUs here")
    if cpu_run is not None and handled:
        print(f"platform processes' CPU during the run: {cpu_run:.2f} s, {1000 * cpu_run / handled:.2f} ms per update")
        print(f"  by thread: {threads}; this process (clients, fake Bot API): {own_cpu:.2f} s")
    return {"updates_per_s": round(app_rate, 1), "bare_per_s": round(bare_rate, 1),  # cProfile slows the platform
            "ratio": round(app_rate / bare_rate, 3), "workers": workers, "profiled": bool(profile)}


def main() -> None:
    """Parse arguments, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=0,
                        help="webhook connections at once (default: the max_connections the platform registered)")
    parser.add_argument("--profile", help="write a cProfile of the server's event loop to this file")
    parser.add_argument("--workers", type=int, default=1,
                        help="appeals serve --workers N: N server processes on one port (and N bare ones)")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile and args.workers > 1:
        parser.error("--profile profiles one server process: use it without --workers")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the servers
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    print(json.dumps(asyncio.run(run(args.updates, args.chats, args.concurrency, args.profile, args.workers))))


if __name__ == "__main__":
    main()
