"""Who is writing a run: the process (id, host, start time) recorded while a run is ``running``.

A run left ``running`` by a process that died (SIGKILL, the out-of-memory killer, a machine that
went down) would say ``running`` forever. Its owner is recorded instead, and a reader on the same
host asks the operating system whether that process still lives. The process's start time is
compared too, so a process id reused by an unrelated program is not taken for the owner. Nothing
is written to decide this: a reader needs no write access.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import cache

import psutil

# psutil derives a start time from the boot time, which the clock's adjustments can move by up
# to a second between two readings; a reused process id starts later than that.
START_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Owner:
    """A process: its id, the host it runs on and when it started (seconds since the epoch)."""

    pid: int
    host: str
    started_s: float

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


def host_name() -> str:
    return socket.gethostname()


@cache
def _process_started_s(pid: int) -> float:
    return float(psutil.Process(pid).create_time())


def this_process() -> Owner:
    pid = os.getpid()
    return Owner(pid, host_name(), _process_started_s(pid))


def is_alive(owner: Owner) -> bool | None:
    """True if ``owner`` still runs, False if it has ended, None if it runs on another host."""
    if owner.host != host_name():
        return None
    try:
        proc = psutil.Process(owner.pid)
        started = proc.create_time()
        zombie = proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # it exists, and another user's process could be the owner
        return True
    return not zombie and abs(started - owner.started_s) <= START_TOLERANCE_S
