"""Helpers the throughput benchmarks share: a free port for a server process, waiting for it to answer, its CPU time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import aiohttp


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_up(url: str, timeout: float = 60.0, interval: float = 0.1) -> None:
    """Wait until ``url`` answers (any status below 500), polling every ``interval`` seconds."""
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
            await asyncio.sleep(interval)


def stat_cpu(stat: Path) -> float | None:
    """Return the user + system CPU seconds in a /proc stat file (a process's or a thread's; Linux), or None."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None) -> float | None:
    """Return the CPU seconds a process used so far, all threads (Linux), or None where unknown."""
    return None if pid is None else stat_cpu(Path(f"/proc/{pid}/stat"))


def thread_cpu(pid: int) -> dict[str, float]:
    """Return the CPU seconds of a process's main thread (the event loop) and of its other threads (Linux)."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        seconds = stat_cpu(task / "stat")
        if seconds is not None:
            name = "main" if task.name == str(pid) else "other threads"
            found[name] = found.get(name, 0.0) + seconds
    return found


#: Run a command's Python script under cProfile: ``python -c PROFILED OUT script args…``. Profiling starts
#: at SIGUSR1 (send it after the warm-up) and the stats are written when the server stops (SIGINT/SIGTERM).
PROFILED = """
import cProfile, runpy, signal, sys
out = sys.argv[1]
sys.argv = sys.argv[2:]
profile = cProfile.Profile()
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except (SystemExit, KeyboardInterrupt):
    pass
finally:
    profile.disable()
    profile.dump_stats(out)
"""


def children(pid: int) -> list[int]:
    """Return a process's child processes (Linux), e.g. the workers of `appeals serve --workers N`."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in path.read_text().split()]
    except OSError:
        return []


async def workers_of(pid: int, count: int, timeout: float = 30.0) -> list[int]:
    """Wait until the supervisor ``pid`` has ``count`` workers; return their pids (just ``pid`` when count is 1)."""
    if count == 1:
        return [pid]
    deadline = time.monotonic() + timeout
    while len(found := children(pid)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {count} workers started")
        await asyncio.sleep(0.05)
    return found


async def stop(server: asyncio.subprocess.Process, workers: int) -> None:
    """Stop `appeals serve` (and its workers): SIGTERM, then SIGKILL for whatever is left after 30 s."""
    if server.returncode is not None:
        return
    left = children(server.pid) if workers > 1 else []
    server.terminate()
    try:
        await asyncio.wait_for(server.wait(), 30)
    except TimeoutError:
        server.kill()
        await server.wait()
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
