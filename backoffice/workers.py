"""Several server processes on one listening socket, started, watched and stopped by one supervisor.

One Python process is bound by its interpreter lock to about one CPU. ``appeals serve --workers N``
opens the port once and starts N copies of ``appeals serve`` that inherit the socket and accept from
it; the kernel hands each new connection to whichever worker takes it first, so a busy worker takes
fewer. They share the database, as processes on separate machines would: dialog sessions are leased
rows, numbers come from the database, background jobs claim their work. Worker 0 alone runs the
city's background work (the scheduler, the outbox senders, Telegram polling and the webhook's
registration); every worker serves requests and pushes to the web-chat sockets connected to it.

A worker that dies is started again (the socket stays open meanwhile, so the others go on accepting);
one that keeps dying at once stops the whole. SIGINT or SIGTERM stops every worker gracefully.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("appeals.workers")

LISTEN_FD = "APPEALS_LISTEN_FD"  # set by the supervisor: the inherited listening socket of a worker
WORKER = "APPEALS_WORKER"  # set by the supervisor: the worker's index; 0 runs the background work
QUICK_DEATH = 5.0  # seconds: a worker dying sooner after its start counts as failing to start
MAX_QUICK_DEATHS = 5  # in a row, for one worker: then the supervisor gives up
RESTART_DELAY = 0.2  # seconds before restarting a worker that died at once, doubled each time (at most 5 s)
STOP_GRACE = 15.0  # seconds the workers get to finish before they are killed


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
        process = subprocess.Popen(self.command, env=env, pass_fds=(self.sock.fileno(),))
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
                    deaths = worker.quick_deaths + 1 if quick else 0
                    if deaths >= MAX_QUICK_DEATHS:
                        log.error("worker %d keeps exiting at start (code %s): stopping", worker.number, code)
                        print(f"工作进程 {worker.number} 无法启动，平台停止 / worker {worker.number} cannot start "
                              f"(exit code {code}): stopping", file=sys.stderr, flush=True)
                        failed = True
                        self.stopping = True
                        break
                    log.warning("worker %d exited (code %s): starting it again", worker.number, code)
                    if quick:
                        time.sleep(min(RESTART_DELAY * 2 ** deaths, 5.0))
                    self._start(worker.number, deaths)
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.sock.close()
        return 1 if failed else 0

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
