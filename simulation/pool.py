"""Run a function over many items, in this process or in a pool of local processes.

The one process-pool loop of the tool: :func:`simulation.runner.run` maps replication batches
through :func:`process_map`, and the experiments' :class:`~simulation.experiments.executor.Runner`
feeds its own long-lived pool through :func:`imap_unordered`. Results come back in the order
they finish; callers that need an order sort by the keys in the results (every replication is
seeded by ``(seed, replication)`` alone, so where it ran never changes what it returns).

Stopping: pools made by :func:`new_pool` have workers that ignore SIGINT (Ctrl-C is the
parent's to handle: it raises :class:`KeyboardInterrupt` there, and :func:`process_map` then
cancels what is queued and terminates the workers at once, see :func:`stop_pool`) and that exit
by themselves when their parent dies (killed, or by the OOM killer), so no worker outlives it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

ProgressCallback = Callable[[int], None]
"""Called with the number of replications just finished (to move a progress bar)."""


PARENT_POLL_SECONDS = 0.5
"""How often a worker checks that its parent is still alive."""
ORPHAN_EXIT_CODE = 3


def _parent_gone(first_parent: int, owner: int) -> bool:
    if os.getppid() != first_parent:  # re-parented: the parent (or the forkserver) died
        return True
    if owner == first_parent or os.name != "posix":
        return False
    try:  # started through a forkserver: also watch the process that owns the pool
        os.kill(owner, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def _watch_parent(first_parent: int, owner: int) -> None:
    while not _parent_gone(first_parent, owner):
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(ORPHAN_EXIT_CODE)


def worker_init(owner: int) -> None:
    """Pool initializer: ignore SIGINT and exit when the process ``owner`` (the pool's) dies.

    A daemon thread polls the parent every :data:`PARENT_POLL_SECONDS` (portable; Linux's
    ``PR_SET_PDEATHSIG`` is not used because it fires when the *thread* that started the worker
    ends, which need not be the end of the pool). Nothing here touches what a task computes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    first_parent = os.getppid()
    if _parent_gone(first_parent, owner) or (first_parent == 1 and owner != 1):
        os._exit(ORPHAN_EXIT_CODE)
    threading.Thread(
        target=_watch_parent, args=(first_parent, owner), name="parent-watchdog", daemon=True
    ).start()


def new_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers leave Ctrl-C to this process and die with it."""
    return ProcessPoolExecutor(
        max_workers=workers, initializer=worker_init, initargs=(os.getpid(),)
    )


def stop_pool(pool: ProcessPoolExecutor, grace_seconds: float = 1.0) -> None:
    """Cancel everything queued on ``pool`` and end its workers now (terminate, then kill)."""
    # The worker processes must be read before shutdown() forgets them.
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + grace_seconds
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join(grace_seconds)


def imap_unordered(
    pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int | None = None
) -> Iterator[R]:
    """``fn(item)`` for every item, run by ``pool``, yielded as each finishes.

    At most ``window`` calls are in flight at once (all of them if None), so a long or lazy
    ``items`` is consumed only as fast as the workers free up.
    """
    pending: set[Future[R]] = set()
    for item in items:
        pending.add(pool.submit(fn, item))
        if window is not None and len(pending) >= window:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            yield fut.result()


def process_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None
) -> Generator[R, None, None]:
    """``fn(item)`` for every item: in this process if ``workers <= 1``, else in a new pool.

    ``fn`` and the items must pickle when ``workers > 1`` (a module-level function, or a
    :func:`functools.partial` of one). If the loop ends early (an error, Ctrl-C, or the caller
    closing this generator) the pool is stopped at once: queued calls are cancelled and the
    workers terminated, rather than waited for.
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    pool = new_pool(workers)
    finished = False
    try:
        yield from imap_unordered(pool, fn, items, window)
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            stop_pool(pool)


__all__ = [
    "ProgressCallback",
    "imap_unordered",
    "new_pool",
    "process_map",
    "stop_pool",
    "worker_init",
]
