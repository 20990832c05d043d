"""`appeals serve` as a real child process on a fresh SQLite file, for tests that kill, restart or signal it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

from storage import db

APPEALS = Path(sys.executable).with_name("appeals")


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`appeals serve` with extra arguments in a session of its own, its output in ``log``."""

    def __init__(self, tmp: Path, *arguments: str, log_level: str = "WARNING") -> None:
        self.arguments = arguments
        self.db_path = tmp / "appeals.db"
        self.log = tmp / "serve.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ, "APPEALS_DATABASE_URL": f"sqlite://{self.db_path}", "APPEALS_PORT": str(self.port),
            "APPEALS_DATA_DIR": str(tmp / "data"), "APPEALS_SECRET_KEY": "s" * 48, "APPEALS_LOG_LEVEL": log_level,
            "TMPDIR": str(tmp),  # what a killed supervisor leaves behind goes with the test's directory
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def spawn(self) -> None:
        """Start the process (a session of its own: Ctrl+C in its "terminal" is killpg(SIGINT)); do not wait."""
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(str(APPEALS), "serve", *self.arguments, env=self.env,
                                                             stdout=log, stderr=log, start_new_session=True)

    async def migrate(self) -> None:
        """Create the schema in the server's fresh database file."""
        await db.migrate(f"sqlite://{self.db_path}")

    async def start(self) -> None:
        """Start the process and wait until it serves (a subclass says what serving means); here: start it."""
        await self.spawn()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Migrate and start the server, and kill it (and its workers) at the end, whatever the test did."""
        await self.migrate()
        await self.start()
        try:
            yield self
        finally:
            await self.kill()

    def children(self) -> list[int]:
        """Return the process's children (the workers of `--workers N`)."""
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    async def kill(self) -> None:
        """SIGKILL the process and any children: no cleanup, no flush."""
        if self.proc is None or self.proc.returncode is not None:
            return
        for pid in self.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.kill()
        await self.proc.wait()

    def count(self, table: str) -> int:
        """Count the rows of a table in the server's database."""
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def exited_by_themselves(pids: list[int], seconds: float) -> bool:
    """Wait up to ``seconds`` for the processes to be gone; kill what is left (never an orphan behind a test).

    Return whether none had to be killed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and loop.time() < deadline:
        await asyncio.sleep(0.1)
    left = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return not left
