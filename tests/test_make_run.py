"""``make run`` in a fresh copy of the repository migrates, seeds and answers /healthz."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_copy(target: Path) -> None:
    """Copy the files git tracks (as a clone has them), keeping mtimes so .venv stays valid."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            dst = target / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


@pytest.mark.slow
def test_make_run_from_a_fresh_copy_answers_healthz(tmp_path: Path) -> None:
    stamp = ROOT / ".venv" / ".stamp"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        pytest.skip("make run needs the up-to-date .venv that make test builds")
    _fresh_copy(tmp_path)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPEALS_")}
    env.update(APPEALS_PORT=str(port), PYTHONPATH=str(tmp_path))
    proc = subprocess.Popen(
        # Reuse the built environment (its stamp is newer than the copied pyproject.toml, so make
        # installs nothing): the suite must not need the network to build another one.
        ["make", "run", f"VENV={ROOT / '.venv'}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        body = ""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert '"status": "ok"' in body, "make run did not become healthy"
        assert (tmp_path / "data" / "appeals.db").exists()
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert f"http://127.0.0.1:{port}" in out
    assert "admin" in out and "shown once" in out
    for role in ("operator", "dispatcher", "handler", "unit_head", "supervisor", "auditor"):  # one of each to try
        assert re.search(rf"^ +\S+ +{role}\b", out, re.M), role
