"""Web-chat throughput: dialog steps per second and step latency at 1, 50 and 200 conversations.

Runs `appeals serve` on a fresh SQLite file (or APPEALS_BENCH_DATABASE_URL) and a bare aiohttp
websocket echo server, each in its own process, and drives both from this process with the same
client code and the same connections (for every submission: load the page, open a websocket, send
the submission's number of frames). Each conversation is a full submission (menu → describe →
category → where → contact → confirm) under a fresh web-chat identity. Prints a table and, last, one JSON line:
{"steps_per_s", "echo_per_s", "ratio", "p99_ms"} for the highest concurrency.

    .venv/bin/python bench/chat_throughput.py [--levels 1,50,200] [--rounds 3] [--workers N] [--profile FILE]

It also prints the p99 of each kind of step (hello, menu, describe, … confirm) at the highest level, which names
where a tail comes from. Beside steps/s and latency it prints the chat server's CPU time per step (all threads, and the
event loop's share), read from /proc: a figure that other jobs on a shared machine disturb far less
than throughput. ``--workers N`` runs `appeals serve --workers N` (N processes sharing one port and the
one database; the kernel hands each connection to one of them) and N echo processes on one port;
``--profile FILE`` writes a cProfile of the (single) server's measured levels.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from _serve import (  # bench/ is on the path: these run as scripts
    PROFILED,
    free_port,
    process_cpu,
    stop,
    thread_cpu,
    wait_up,
    workers_of,
)
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
PLACES = ("东湖区幸福里小区", "西山区人民路", "南港区港湾大道", "东湖区东风路", "西山区矿山新村")
PROBLEMS = ("路灯不亮", "下水道堵塞", "夜间施工噪音", "垃圾无人清运", "占道经营", "共享单车乱停")


async def echo_handler(request: web.Request) -> web.WebSocketResponse:
    """Answer every JSON frame with a JSON frame, as the chat server does, minus the dialog."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        frame = json.loads(msg.data)
        await ws.send_json({"type": "reply", "in_reply_to": frame.get("id"), "messages": [{"text": "ok"}]})
    return ws


PAGE = (ROOT / "bot" / "channels" / "static" / "chat.html")


async def echo_page(request: web.Request) -> web.Response:
    """Serve a page of the chat page's size, as the chat server does before each conversation."""
    return web.Response(body=request.app[ECHO_PAGE], content_type="text/html")


ECHO_PAGE = web.AppKey("echo_page", bytes)


def serve_echo(port: int) -> None:
    """Run the echo server until killed (several of them share the port, as the chat server's workers do)."""
    app = web.Application()
    app[ECHO_PAGE] = PAGE.read_bytes() if PAGE.exists() else b"<!doctype html>" + b" " * 8000
    app.router.add_get("/chat", echo_page)
    app.router.add_get("/chat/ws", echo_handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, reuse_port=True)


class Client:
    """One websocket conversation that times each request/reply pair."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, latencies: list[float],
                 by_step: dict[str, list[float]] | None = None):
        self.http, self.ws, self.latencies, self.seq, self.by_step = http, ws, latencies, 0, by_step

    async def step(self, frame: dict, name: str = "") -> list[dict]:
        self.seq += 1
        frame["id"] = f"b{self.seq}"
        started = time.perf_counter()
        await self.ws.send_str(json.dumps(frame, ensure_ascii=False))
        while True:
            data = json.loads((await self.ws.receive(timeout=60)).data)
            if data.get("in_reply_to") == frame["id"]:
                break
        self.latencies.append(time.perf_counter() - started)
        if self.by_step is not None and name:
            self.by_step.setdefault(name, []).append(self.latencies[-1])
        if data["type"] == "error":
            raise RuntimeError(f"error frame: {data}")
        return data["messages"]


def _buttons(messages: list[dict]) -> list[str]:
    return [c["value"] for m in messages for c in m.get("choices", [])]


async def submission(base: str, n: int, latencies: list[float], by_step: dict[str, list[float]] | None = None) -> int:
    """Run one full submission under a fresh identity; return the dialog steps it took (latencies by step)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(base + "/chat") as page:
            await page.read()
        async with http.ws_connect(base + "/chat/ws") as ws:
            c = Client(http, ws, latencies, by_step)
            await c.step({"type": "hello"}, "hello")
            await c.step({"type": "choice", "value": "submit"}, "menu")
            text = f"{PLACES[n % 5]}{n}号附近{PROBLEMS[n % 6]}，已经{n % 9 + 2}天了，请尽快处理（{n}）"
            out = await c.step({"type": "message", "text": text}, "describe")
            if any(v.startswith("cat:") or v == "yes" for v in _buttons(out)):
                out = await c.step({"type": "choice", "value": _buttons(out)[0]}, "category")
            await c.step({"type": "message", "text": f"{PLACES[n % 5]}{n}号"}, "place")
            out = await c.step({"type": "choice", "value": "anonymous"}, "contact")
            if "new" in _buttons(out):
                out = await c.step({"type": "choice", "value": "new"}, "similar")
            out = await c.step({"type": "choice", "value": "confirm"}, "confirm")
            if "诉求编号" not in out[0]["text"]:
                raise RuntimeError(f"no case number: {out}")
            return c.seq


async def echo_run(base: str, n: int, steps: int, latencies: list[float]) -> int:
    """Do what one submission's client does, against the echo server: load the page, open a websocket
    and send as many frames as a submission takes."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(base + "/chat") as page:
            await page.read()
        async with http.ws_connect(base + "/chat/ws") as ws:
            c = Client(http, ws, latencies)
            for _ in range(steps):
                await c.step({"type": "message", "text": f"echo {n}"})
            return steps


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def level(chat: str, echo: str, conversations: int, rounds: int, counter: list[int],
                pids: tuple[list[int], list[int]] = ([], [])) -> dict:
    """Measure one concurrency level on both servers (and the CPU time each server's processes used)."""
    lat: list[float] = []
    by_step: dict[str, list[float]] = {}

    async def user(i: int) -> int:
        total = 0
        for _ in range(rounds):
            counter[0] += 1
            total += await submission(chat, counter[0], lat, by_step)
        return total

    def chat_cpu_now() -> tuple[float, float]:
        return sum(process_cpu(p) or 0.0 for p in pids[0]), sum(thread_cpu(p).get("main", 0.0) for p in pids[0])

    started, (cpu, loop_cpu) = time.perf_counter(), chat_cpu_now()
    steps = sum(await asyncio.gather(*(user(i) for i in range(conversations))))
    ended = chat_cpu_now()
    chat_s, chat_cpu, loop_cpu = time.perf_counter() - started, ended[0] - cpu, ended[1] - loop_cpu
    echo_lat: list[float] = []
    per_submission = max(1, steps // (conversations * rounds))

    async def echo_user(i: int) -> int:  # the same connections as the chat's users: one per submission
        return sum([await echo_run(echo, i, per_submission, echo_lat) for _ in range(rounds)])

    started, cpu = time.perf_counter(), sum(process_cpu(p) or 0.0 for p in pids[1])
    echoes = sum(await asyncio.gather(*(echo_user(i) for i in range(conversations))))
    echo_s, echo_cpu = time.perf_counter() - started, sum(process_cpu(p) or 0.0 for p in pids[1]) - cpu
    return {"conversations": conversations, "steps": steps, "steps_per_s": steps / chat_s,
            "p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99), "echo_per_s": echoes / echo_s,
            "echo_p99_ms": _pct(echo_lat, 0.99), "cpu_ms_per_step": 1000 * chat_cpu / steps,
            "loop_cpu_ms_per_step": 1000 * loop_cpu / steps,
            "echo_cpu_ms": 1000 * echo_cpu / echoes,
            "p99_by_step": {name: round(_pct(values, 0.99), 1) for name, values in by_step.items()}}


async def prepare(database_url: str) -> None:
    """Migrate and create the demo city's units, catalogue and policies."""
    sys.path.insert(0, str(ROOT))
    from storage import db
    from storage.deadlines import ensure_default_policies
    from storage.seed import load_city, seed_units

    try:
        await db.migrate(database_url)
    except Exception:
        await db.close()  # or the database thread keeps the process alive
        raise
    await db.init(database_url)
    try:
        await ensure_default_policies()
        await seed_units(load_city())
    finally:
        await db.close()


async def main(levels: list[int], rounds: int, profile: str | None = None, workers: int = 1) -> dict:
    """Start both servers, measure every level, print the table and the JSON line."""
    tmp = Path(tempfile.mkdtemp(prefix="chatbench-"))
    database_url = os.environ.get("APPEALS_BENCH_DATABASE_URL") or f"sqlite://{tmp / 'appeals.db'}"
    await prepare(database_url)
    chat_port, echo_port = free_port(), free_port()
    appeals = Path(sys.executable).with_name("appeals")
    env = {**os.environ, "APPEALS_DATABASE_URL": database_url, "APPEALS_PORT": str(chat_port),
           "APPEALS_DATA_DIR": str(tmp / "data"), "APPEALS_SECRET_KEY": "bench" * 10, "APPEALS_LOG_LEVEL": "WARNING"}
    command = [str(appeals), "serve", "--workers", str(workers)]  # N processes on one port, as a city would run it
    if profile:  # cProfile of the server's main thread, written when it is stopped with SIGINT
        command = [sys.executable, "-c", PROFILED, profile, *command]
    server = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.DEVNULL)
    echoes = [await asyncio.create_subprocess_exec(sys.executable, __file__, "--echo", str(echo_port))
              for _ in range(workers)]  # as many echo processes, on one port too
    try:
        chat, echo = f"http://127.0.0.1:{chat_port}", f"http://127.0.0.1:{echo_port}"
        await wait_up(chat + "/healthz", timeout=20.0, interval=0.05)
        await wait_up(echo + "/", timeout=20.0, interval=0.05)
        pids = (await workers_of(server.pid, workers), [e.pid for e in echoes])
        counter = [0]
        await level(chat, echo, 4 * workers, 1, counter)  # warm up: imports, jieba, the model, connections
        if profile:
            server.send_signal(signal.SIGUSR1)  # profile the measured levels only
        results = []
        print(f"{'conv':>5} {'steps':>6} {'steps/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'cpu ms':>7} {'loop':>5} | "
              f"{'echo/s':>8} {'echo p99':>8} {'cpu ms':>7}   (cpu ms: server CPU time per step or echo, all threads;"
              f" loop: the event-loop thread's share)")
        for n in levels:
            r = await level(chat, echo, n, rounds if n > 1 else rounds * 10, counter, pids)
            results.append(r)
            print(f"{n:>5} {r['steps']:>6} {r['steps_per_s']:>8.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                  f"{r['cpu_ms_per_step']:>7.2f} {r['loop_cpu_ms_per_step']:>5.2f} | "
                  f"{r['echo_per_s']:>8.0f} {r['echo_p99_ms']:>8.1f} {r['echo_cpu_ms']:>7.3f}")
    finally:
        if profile:
            server.send_signal(signal.SIGINT)
            await server.wait()
        await stop(server, workers)
        for proc in echoes:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)  # the SQLite file and uploads of this run
    top = results[-1]
    print(f"p99 by step at {top['conversations']} conversations (ms): "
          + ", ".join(f"{name} {ms:.0f}" for name, ms in top["p99_by_step"].items()))
    summary = {"steps_per_s": round(top["steps_per_s"], 1), "echo_per_s": round(top["echo_per_s"], 1),
               "ratio": round(top["steps_per_s"] / top["echo_per_s"], 3), "p99_ms": round(top["p99_ms"], 1),
               "conversations": top["conversations"], "database": database_url.split(":", 1)[0], "workers": workers,
               "cpu_ms_per_step": round(top["cpu_ms_per_step"], 2), "echo_cpu_ms": round(top["echo_cpu_ms"], 3),
               "profiled": bool(profile)}  # under cProfile the chat figures are not comparable
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,50,200")
    parser.add_argument("--rounds", type=int, default=2, help="submissions per conversation (×10 at level 1)")
    parser.add_argument("--profile", help="write a cProfile of the (first) chat server to this file")
    parser.add_argument("--workers", type=int, default=1,
                        help="appeals serve --workers N: N chat server processes on one port and one database "
                             "(and N echo processes on one port)")
    parser.add_argument("--echo", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile and args.workers > 1:
        parser.error("--profile profiles one server process: use it without --workers")
    if args.echo:
        serve_echo(args.echo)
    else:
        asyncio.run(main([int(x) for x in args.levels.split(",")], args.rounds, args.profile, args.workers))
