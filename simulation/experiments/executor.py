"""Where replications run: in this process, in local processes, or on a Dask cluster.

Work is cut into tasks of several replications of one strategy (so the per-task overhead of a
process pool or a Dask scheduler is paid once per batch, not per replication). Every
replication is seeded by ``(seed, replication)`` alone, so the results of a task do not depend
on where it ran: serial, local processes and Dask give identical rows.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from simulation.pool import imap_unordered, new_pool, stop_pool
from simulation.runner import run_batch
from simulation.scenario import Scenario

BatchTables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Task:
    """Replications of one strategy to run together."""

    key: Any  # returned with the result (e.g. the strategy's index)
    scenario: Scenario
    replications: tuple[int, ...]
    seed: int
    weekly: bool = True


def run_task(task: Task) -> tuple[Any, BatchTables]:
    """Run a task (in whichever process or worker) and return its key and tables."""
    return task.key, run_batch(task.scenario, task.replications, task.seed, weekly=task.weekly)


# How long to wait for an existing Dask scheduler to answer before giving up.
CONNECT_TIMEOUT = "20s"


class SchedulerError(ValueError):
    """A ``--scheduler`` value that cannot be used (message says what is allowed)."""


def parse_scheduler(value: str | None) -> tuple[str, Any]:
    """``None`` -> local processes; ``local:N`` -> Dask LocalCluster; ``tcp://H:P`` -> cluster."""
    if value is None or value == "":
        return "processes", None
    if value.startswith("local:"):
        n = value.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise SchedulerError(f"--scheduler {value}: local:N needs N >= 1 workers")
        return "dask-local", int(n)
    if value.startswith(("tcp://", "tls://", "ws://", "wss://", "inproc://")):
        return "dask", value
    raise SchedulerError(
        f"--scheduler {value}: use local:N (a Dask LocalCluster of N worker processes) or "
        "tcp://HOST:PORT (an existing Dask scheduler)"
    )


class Runner:
    """Runs tasks and yields their results as they finish (in any order)."""

    def __init__(self, scheduler: str | None = None, workers: int = 0) -> None:
        self.kind, self.arg = parse_scheduler(scheduler)
        self.workers = (os.cpu_count() or 1) if workers <= 0 else workers
        self._stack = contextlib.ExitStack()
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None

    @property
    def description(self) -> str:
        if self.kind == "processes":
            return f"{self.workers} local process(es)" if self.workers > 1 else "this process"
        if self.kind == "dask-local":
            return f"Dask LocalCluster, {self.arg} worker(s)"
        return f"Dask cluster at {self.arg}"

    @property
    def slots(self) -> int:
        """How many tasks can run at once (to size batches and the submission window)."""
        if self.kind == "processes":
            return self.workers
        if self.kind == "dask-local":
            return int(self.arg)
        info = self._client.scheduler_info() if self._client is not None else {}
        threads = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
        return max(1, threads)

    def __enter__(self) -> Runner:
        if self.kind == "processes" and self.workers > 1:
            self._pool = new_pool(self.workers)
        elif self.kind == "dask-local":
            from dask.distributed import Client, LocalCluster

            cluster = self._stack.enter_context(
                LocalCluster(
                    n_workers=int(self.arg),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=40,  # logging.ERROR: keep the progress bar clean
                )
            )
            self._client = self._stack.enter_context(Client(cluster))
        elif self.kind == "dask":
            from dask.distributed import Client

            try:
                self._client = self._stack.enter_context(Client(self.arg, timeout=CONNECT_TIMEOUT))
            except OSError as exc:
                raise SchedulerError(f"--scheduler {self.arg}: cannot connect ({exc})") from None
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._pool is not None:
            # Interrupted or failed: cancel what is queued and end the workers now, rather
            # than simulate everything queued first.
            if exc_type is None:
                self._pool.shutdown(wait=True)
            else:
                stop_pool(self._pool)
            self._pool = None
        self._stack.close()

    def imap_unordered(self, tasks: Iterable[Task]) -> Iterator[tuple[Any, BatchTables]]:
        """Run ``tasks``, keeping a bounded number in flight; yield (key, tables) as done."""
        it = iter(tasks)
        window = max(2, 3 * self.slots)
        if self._pool is not None:
            yield from imap_unordered(self._pool, run_task, it, window)
        elif self._client is not None:
            yield from self._dask_loop(it, window)
        else:
            yield from map(run_task, it)

    def _dask_loop(self, it: Iterator[Task], window: int) -> Iterator[tuple[Any, BatchTables]]:
        from dask.distributed import as_completed

        client = self._client
        first = [
            client.submit(run_task, t, pure=False) for _, t in zip(range(window), it, strict=False)
        ]
        ac = as_completed(first)
        for fut in ac:
            result = fut.result()
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                ac.add(client.submit(run_task, nxt, pure=False))
            yield result
