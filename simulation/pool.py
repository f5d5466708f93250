"""Run a function over many items, in this process or in a pool of local processes.

The one process-pool loop of the tool: :func:`simulation.runner.iter_batches` maps replication
batches through :func:`ordered_map` (in a pool it makes, or one the caller keeps: the app keeps
one for its whole server, see :func:`new_pool`), and the experiments'
:class:`~simulation.experiments.executor.Runner` feeds its own long-lived pool through
:func:`imap_unordered`. :func:`imap_unordered` and :func:`process_map` yield results in the
order they finish; :func:`imap_ordered` and :func:`ordered_map` in the order of the items,
holding at most ``window`` results at once (every replication is seeded by
``(seed, replication)`` alone, so where it ran never changes what it returns).

Stopping: pools made by :func:`new_pool` have workers that ignore SIGINT (Ctrl-C is the
parent's to handle: it raises :class:`KeyboardInterrupt` there, and :func:`process_map` then
cancels what is queued and terminates the workers at once, see :func:`stop_pool`) and that exit
by themselves when their parent dies (killed, or by the OOM killer), so no worker outlives it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
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


def new_pool(workers: int, start_method: str | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers leave Ctrl-C to this process and die with it.

    ``start_method`` (``"fork"``, ``"forkserver"``, ``"spawn"``; default: the process's) is
    given to this pool alone: a threaded server (the app) starts its workers from a forkserver
    without changing how anything else in the process starts processes.
    """
    context = None if start_method is None else multiprocessing.get_context(start_method)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=worker_init, initargs=(os.getpid(),)
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


def imap_ordered(
    pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Generator[R, None, None]:
    """``fn(item)`` for every item, run by ``pool``, yielded in the order of ``items``.

    At most ``window`` calls are submitted and not yet yielded, so at most ``window`` results
    are held at once, whatever the order they finish in. If the loop ends early (the caller
    closes this generator, or an error) the calls not started are cancelled; calls already
    running finish in their worker and are dropped (a pool the caller keeps stays usable).
    """
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= max(1, window):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    window: int,
    pool: Executor | None = None,
) -> Generator[R, None, None]:
    """``fn(item)`` for every item, in the order of ``items``, at most ``window`` held at once.

    Runs in ``pool`` if one is given (left running for its owner), else in this process if
    ``workers <= 1``, else in a new pool of ``workers`` processes that is shut down at the end
    (stopped at once, as :func:`process_map`'s, if the loop ends early).
    """
    if pool is not None:
        yield from imap_ordered(pool, fn, items, window)
        return
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    own = new_pool(workers)
    finished = False
    try:
        yield from imap_ordered(own, fn, items, window)
        finished = True
    finally:
        if finished:
            own.shutdown(wait=True)
        else:
            stop_pool(own)


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
    "imap_ordered",
    "imap_unordered",
    "new_pool",
    "ordered_map",
    "process_map",
    "stop_pool",
    "worker_init",
]
