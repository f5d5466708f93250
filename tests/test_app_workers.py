"""The app's per-session process pool: kept between runs, stopped at once when asked (Cancel),
and stopped by itself when idle, never under a run that just started."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor

from helpers import alive

from simulation.app.workers import SessionPool


def worker_processes(pool: ProcessPoolExecutor) -> list[int]:
    return [p.pid for p in (getattr(pool, "_processes", None) or {}).values() if p.is_alive()]


def wait_until(condition: object, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_the_pool_is_kept_between_runs_and_stopped_at_once() -> None:
    workers = SessionPool(2)
    try:
        pool = workers.acquire()
        pid = pool.submit(os.getpid).result(timeout=60)
        assert pid != os.getpid()  # the work ran in a worker process
        workers.release()
        assert workers.acquire() is pool  # the next run reuses it
        pids = worker_processes(pool)
        assert pids
        workers.stop()  # Cancel
        assert not workers.running
        assert wait_until(lambda: not any(alive(p) for p in pids), 5)
        assert workers.acquire() is not pool  # the next run starts a new pool
    finally:
        workers.stop()


def test_an_idle_pool_stops_by_itself_but_not_under_a_new_run() -> None:
    workers = SessionPool(1, idle_seconds=0.3)
    try:
        pool = workers.acquire()
        pool.submit(os.getpid).result(timeout=60)
        pids = worker_processes(pool)
        workers.release()
        assert wait_until(lambda: not workers.running)
        assert wait_until(lambda: not any(alive(p) for p in pids), 5)
        # Acquired again before the idle time is up: the timer of the earlier release is void.
        pool = workers.acquire()
        workers.release()
        pool = workers.acquire()
        time.sleep(0.6)  # twice the idle time: the void timer has fired and left the pool alone
        assert workers.running and pool.submit(os.getpid).result(timeout=60)
    finally:
        workers.stop()
