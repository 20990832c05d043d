"""Several server processes on one listening socket, started, watched and stopped by one supervisor.

One Python process is bound by its interpreter lock to about one CPU. ``appeals serve --workers N``
opens the port once and starts N copies of ``appeals serve`` that inherit the socket and accept from
it; the kernel hands each new connection to whichever worker takes it first, so a busy worker takes
fewer. They share the database, as processes on separate machines would: dialog sessions are leased
rows, numbers come from the database, background jobs claim their work. Worker 0 alone runs the
city's background work (the scheduler, the outbox senders, Telegram polling and the webhook's
registration); every worker serves requests and pushes to the web-chat sockets connected to it.

A worker that dies is started again after a pause that doubles while it keeps dying within a minute
of its start (the socket stays open meanwhile, so the others go on accepting); the fifth such death in
a row stops the whole. The workers run in process groups of their own, so a terminal's Ctrl+C reaches
the supervisor alone, which asks each worker once to stop (SIGTERM: open web-chat sockets are closed,
requests in flight finish, then the cleanup runs). A worker whose supervisor is gone stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger("appeals.workers")

LISTEN_FD = "APPEALS_LISTEN_FD"  # set by the supervisor: the inherited listening socket of a worker
WORKER = "APPEALS_WORKER"  # set by the supervisor: the worker's index; 0 runs the background work
QUICK_DEATH = 60.0  # seconds: a worker dying sooner after its start counts as failing to start
MAX_QUICK_DEATHS = 5  # in a row, for one worker: then the supervisor gives up
RESTART_DELAY = 0.2  # seconds before a worker is started again, doubled for each quick death in a row (at most 5 s)
STOP_GRACE = 30.0  # seconds the workers get to finish before they are killed
SHUTDOWN_TIMEOUT = 20.0  # seconds a stopping worker waits for the requests in flight (aiohttp's shutdown_timeout)


def index() -> int:
    """Return this process's worker index (0 when it was not started by a supervisor)."""
    try:
        return int(os.environ.get(WORKER, "0"))
    except ValueError:
        return 0


def inherited_socket() -> socket.socket | None:
    """Return the listening socket a supervisor handed to this worker, or None."""
    fd = os.environ.get(LISTEN_FD)
    return socket.socket(fileno=int(fd)) if fd else None


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """Open the listening TCP socket the workers will share (inheritable)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


@dataclass
class _Worker:
    number: int
    process: subprocess.Popen[bytes]
    started: float
    quick_deaths: int = 0


class Supervisor:
    """Start ``count`` workers running ``command`` on one socket; restart the ones that die; stop them all."""

    def __init__(self, sock: socket.socket, count: int, command: Sequence[str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sock = sock
        self.count = count
        self.command = list(command)
        self.clock = clock
        self.workers: dict[int, _Worker] = {}
        self.stopping = False

    def _start(self, number: int, quick_deaths: int = 0) -> None:
        env = {**os.environ, LISTEN_FD: str(self.sock.fileno()), WORKER: str(number),
               "APPEALS_WORKERS": str(self.count)}  # so each worker knows it has siblings
        process = subprocess.Popen(self.command, env=env, pass_fds=(self.sock.fileno(),), process_group=0)
        self.workers[number] = _Worker(number, process, self.clock(), quick_deaths)

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        """Run until stopped by a signal (0) or until a worker keeps failing to start (1)."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        failed = False
        try:
            for number in range(self.count):
                self._start(number)
            while not self.stopping:
                time.sleep(0.2)
                for worker in list(self.workers.values()):
                    code = worker.process.poll()
                    if code is None or self.stopping:
                        continue
                    quick = self.clock() - worker.started < QUICK_DEATH
                    deaths = worker.quick_deaths + 1 if quick else 1
                    if deaths >= MAX_QUICK_DEATHS:
                        log.error("worker %d keeps exiting at start (code %s): stopping", worker.number, code)
                        print(f"工作进程 {worker.number} 无法启动，平台停止 / worker {worker.number} cannot start "
                              f"(exit code {code}): stopping", file=sys.stderr, flush=True)
                        failed = True
                        self.stopping = True
                        break
                    log.warning("worker %d exited (code %s): starting it again", worker.number, code)
                    self._pause(min(RESTART_DELAY * 2 ** (deaths - 1), 5.0))
                    if not self.stopping:
                        self._start(worker.number, deaths if quick else 0)
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.sock.close()
        return 1 if failed else 0

    def _pause(self, seconds: float) -> None:
        """Sleep, but no longer than until a stop is asked for."""
        until = self.clock() + seconds
        while not self.stopping and self.clock() < until:
            time.sleep(min(0.05, max(0.0, until - self.clock())))

    def _shutdown(self) -> None:
        """Ask every worker to stop (SIGTERM: aiohttp's graceful exit), then kill what is left after the grace."""
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = self.clock() + STOP_GRACE
        for worker in self.workers.values():
            try:
                worker.process.wait(timeout=max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


async def watch_supervisor(app: web.Application) -> AsyncIterator[None]:
    """Stop this worker (as SIGTERM would) once its supervisor is gone, instead of serving on as an orphan."""
    parent = os.getppid()

    async def watch() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        log.error("the supervisor (pid %d) is gone: this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    task = asyncio.create_task(watch(), name="watch-supervisor")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
