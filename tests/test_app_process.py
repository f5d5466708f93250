"""``sufficiency app`` as a process: it starts without Streamlit's first-run prompt, even in a
terminal with no Streamlit settings, and its server does not outlive it."""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import alive

pytest.importorskip("streamlit")
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_app_starts_headless_in_a_terminal_and_its_server_dies_with_it(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A terminal, and a home with no ~/.streamlit: where Streamlit would ask for an email.
    leader, follower = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulation.cli", "app", "--no-browser", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    server = 0
    try:
        deadline = time.monotonic() + 60
        while not up(url):
            assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
        output = b""
        os.set_blocking(leader, False)
        with contextlib.suppress(OSError):
            output = os.read(leader, 65536)
        assert b"Email" not in output and b"email" not in output, output
        (server,) = children(proc.pid)
        # Killed outright (as the OOM killer would), the command takes its server with it.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(server), "the Streamlit server outlived sufficiency app"
        assert not up(url)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
        if server and alive(server):
            os.kill(server, signal.SIGKILL)


def test_app_stops_its_server_on_sigterm() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulation.cli", "app", "--no-browser", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not up(url):
            assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
        # `kill PID` of the command alone (not its process group) stops the server too.
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        deadline = time.monotonic() + 10
        while up(url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not up(url)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
