"""Several server processes on one listening socket, started, watched and stopped by one supervisor.

One Python process is bound by its interpreter lock to about one CPU. ``appeals serve --workers N``
opens the port once and starts N copies of ``appeals serve`` that inherit the socket and accept from
it; the kernel hands each new connection to whichever worker takes it first, so a busy worker takes
fewer. They share the database, as processes on separate machines would: dialog sessions are leased
rows, numbers come from the database, background jobs claim their work. Worker 0 alone runs the
city's background work (the scheduler, the outbox senders, Telegram polling and the webhook's
registration); every worker serves requests and pushes to the web-chat sockets connected to it.

A worker that dies is started again after a pause that doubles while it keeps dying within a minute
of its start (the socket stays open meanwhile, so the others go on accepting). A worker that exits
before it has started (it says so through a pipe) is tried again the same way; the fifth such failure
in a row stops the whole. The workers run in process groups of their own, so a terminal's Ctrl+C reaches
the supervisor alone, which asks each worker once to stop (SIGTERM: open web-chat sockets are closed,
requests in flight finish, then the cleanup runs). A worker whose supervisor is gone stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

log = logging.getLogger("appeals.workers")

LISTEN_FD = "APPEALS_LISTEN_FD"  # set by the supervisor: the inherited listening socket of a worker
WORKER = "APPEALS_WORKER"  # set by the supervisor: the worker's index; 0 runs the background work
SUPERVISOR = "APPEALS_SUPERVISOR"  # set by the supervisor: its pid (a worker stops once it is gone)
READY_FD = "APPEALS_READY_FD"  # set by the supervisor: a pipe the worker writes to once it has started
METRICS_DIR = "APPEALS_METRICS_DIR"  # set by the supervisor: where the workers leave their counters for /metrics
MAX_FAILED_STARTS = 5  # a worker that exits before it has started this many times in a row stops the whole
QUICK_DEATH = 60.0  # seconds: a started worker dying sooner than this is restarted after a growing pause
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
    ready: int  # the read end of the pipe the worker writes to once it has started (-1: read and closed)
    failed_starts: int = 0  # exits before starting, in a row
    quick_deaths: int = 0  # exits within QUICK_DEATH of the start, in a row

    def has_started(self) -> bool:
        """Tell whether the worker said it started (reads its pipe without blocking)."""
        if self.ready >= 0:
            try:
                said = os.read(self.ready, 1)
            except BlockingIOError:
                return False
            os.close(self.ready)
            self.ready = -1 if said else -2  # -2: closed without a word (it exited first)
        return self.ready == -1


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
        self.shared = ""  # the directory the workers share their counters in, for this supervisor's life

    def _start(self, number: int, failed_starts: int = 0, quick_deaths: int = 0) -> None:
        read, write = os.pipe()
        os.set_blocking(read, False)
        env = {**os.environ, LISTEN_FD: str(self.sock.fileno()), WORKER: str(number), SUPERVISOR: str(os.getpid()),
               READY_FD: str(write), METRICS_DIR: self.shared,
               "APPEALS_WORKERS": str(self.count)}  # so each worker knows it has siblings
        try:
            process = subprocess.Popen(self.command, env=env, pass_fds=(self.sock.fileno(), write), process_group=0)
        finally:
            os.close(write)
        self.workers[number] = _Worker(number, process, self.clock(), read, failed_starts, quick_deaths)

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def run(self) -> int:
        """Run until stopped by a signal (0) or until a worker keeps failing to start (1)."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        failed = False
        try:
            self.shared = tempfile.mkdtemp(prefix="appeals-metrics-")
            for number in range(self.count):
                self._start(number)
            while not self.stopping:
                time.sleep(0.2)
                for worker in list(self.workers.values()):
                    code = worker.process.poll()
                    if code is not None and not self.stopping and not self._restart(worker, code):
                        failed = self.stopping = True
                        break
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.sock.close()
            if self.shared:
                shutil.rmtree(self.shared, ignore_errors=True)
        return 1 if failed else 0

    def _restart(self, worker: _Worker, code: int) -> bool:
        """Start a worker that exited again, after a pause; return False to give up instead."""
        if worker.has_started():  # restarted however often, after a pause growing while it dies young
            failed_starts = 0
            quick_deaths = worker.quick_deaths + 1 if self.clock() - worker.started < QUICK_DEATH else 0
            pause = quick_deaths
            log.warning("worker %d exited (code %s): starting it again", worker.number, code)
        else:  # it never served: a broken setting, database or network
            failed_starts, quick_deaths = worker.failed_starts + 1, worker.quick_deaths
            pause = failed_starts
            if failed_starts >= MAX_FAILED_STARTS:
                log.error("worker %d keeps exiting before it starts (code %s): stopping", worker.number, code)
                print(f"工作进程 {worker.number} 无法启动，平台停止 / worker {worker.number} cannot start "
                      f"(exit code {code}): stopping", file=sys.stderr, flush=True)
                return False
            log.warning("worker %d exited before it started (code %s): trying again", worker.number, code)
        self._pause(min(RESTART_DELAY * 2 ** pause, 5.0))
        if not self.stopping:
            self._start(worker.number, failed_starts, quick_deaths)
        return True

    def _pause(self, seconds: float) -> None:
        """Sleep, but no longer than until a stop is asked for."""
        until = self.clock() + seconds
        while not self.stopping and self.clock() < until:
            time.sleep(min(0.05, max(0.0, until - self.clock())))

    def _shutdown(self) -> None:
        """Ask every worker to stop (SIGTERM: aiohttp's graceful exit), then kill what is left after the grace.

        One still starting is killed at once: it serves nothing yet, and a stop in the middle of aiohttp's startup
        skips the cleanup (the database thread would then keep it alive).
        """
        for worker in self.workers.values():
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM if worker.has_started() else signal.SIGKILL)
        deadline = self.clock() + STOP_GRACE
        for worker in self.workers.values():
            try:
                worker.process.wait(timeout=max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


def shared_counters() -> Path | None:
    """Return the directory a supervisor gave its workers for their /metrics counters, or None."""
    directory = os.environ.get(METRICS_DIR)
    return Path(directory) if directory else None


def supervised(app: web.Application) -> None:
    """Make ``app`` a supervisor's worker: say when it has started, stop without its supervisor, stop once."""
    started = asyncio.Event()  # set once the whole startup has run

    async def announce_start(_app: web.Application) -> None:
        """Tell the supervisor this worker has started (the last on_startup): from now on its exits are restarts."""
        started.set()
        fd = os.environ.get(READY_FD)
        if fd:
            with contextlib.suppress(OSError):
                os.write(int(fd), b"1")
                os.close(int(fd))

    async def watch_supervisor(_app: web.Application) -> AsyncIterator[None]:
        """Stop this worker (as SIGTERM would) once its supervisor is gone, instead of serving on as an orphan."""
        supervisor = int(os.environ.get(SUPERVISOR) or os.getppid())

        async def watch() -> None:
            await started.wait()  # a stop in the middle of the startup would skip the cleanup of what had started
            while os.getppid() == supervisor:  # at once if it died while this worker was starting
                await asyncio.sleep(1.0)
            log.error("the supervisor (pid %d) is gone: this worker stops", supervisor)
            os.kill(os.getpid(), signal.SIGTERM)

        task = asyncio.create_task(watch(), name="watch-supervisor")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def ignore_more_stops(_app: web.Application) -> None:
        """On shutdown, ignore further SIGINT/SIGTERM (a service manager may signal the whole group)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)

    app.cleanup_ctx.append(watch_supervisor)
    app.on_startup.append(announce_start)  # after every other start-up step added before this call
    app.on_shutdown.insert(0, ignore_more_stops)
