"""One process pool per browser session, kept between runs and stopped at once on Cancel.

Starting a pool costs each run its worker processes' start (60 to 80 ms a run on 2 cores with
the simulation preloaded in the forkserver, ``experiments/bench/bench_app_pool.py``; a comparison
of N strategies is N runs). A session's
pool is kept while it is used, and stopped:

- at once when a run is interrupted (Cancel, or any change while a run goes on: Streamlit stops
  the page at the run's next progress update), so no worker goes on with a cancelled run;
- after :data:`IDLE_SECONDS` without a run, so a closed browser tab does not keep processes;
- with the server (the workers exit by themselves when their parent dies,
  :func:`simulation.pool.new_pool`).

The workers start from a forkserver (a clean process), not by forking Streamlit's threaded one.
"""

from __future__ import annotations

import threading
from concurrent.futures import ProcessPoolExecutor

from simulation.pool import new_pool, stop_pool

IDLE_SECONDS = 600.0


class SessionPool:
    """A lazily started process pool of ``workers`` processes, stopped when idle."""

    def __init__(self, workers: int, idle_seconds: float = IDLE_SECONDS) -> None:
        self.workers = workers
        self.idle_seconds = idle_seconds
        self._pool: ProcessPoolExecutor | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._released = 0  # counts releases: an idle timer acts only if it is the latest

    @property
    def running(self) -> bool:
        return self._pool is not None

    def acquire(self) -> ProcessPoolExecutor:
        """The pool, started if need be; it is not stopped for idleness until released."""
        with self._lock:
            self._cancel_timer()
            if self._pool is None:
                self._pool = new_pool(self.workers, "forkserver")
            return self._pool

    def release(self) -> None:
        """A run finished: keep the pool for the next, unless it idles too long."""
        with self._lock:
            self._cancel_timer()
            if self._pool is not None:
                self._released += 1
                self._timer = threading.Timer(self.idle_seconds, self._expire, (self._released,))
                self._timer.daemon = True
                self._timer.start()

    def _expire(self, release: int) -> None:
        # A timer that fired while a run was acquiring the pool finds a newer state: it leaves.
        with self._lock:
            if release != self._released or self._timer is None:
                return
            self._timer = None
            pool, self._pool = self._pool, None
        if pool is not None:
            stop_pool(pool)

    def stop(self) -> None:
        """Cancel what is queued and end the workers now (the next run starts a new pool)."""
        with self._lock:
            self._cancel_timer()
            pool, self._pool = self._pool, None
        if pool is not None:
            stop_pool(pool)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
