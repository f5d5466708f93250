"""Run a function over many items, in this process or in a pool of local processes.

The one process-pool loop of the tool: :func:`simulation.runner.run` maps replication batches
through :func:`process_map`, and the experiments' :class:`~simulation.experiments.executor.Runner`
feeds its own long-lived pool through :func:`imap_unordered`. Results come back in the order
they finish; callers that need an order sort by the keys in the results (every replication is
seeded by ``(seed, replication)`` alone, so where it ran never changes what it returns).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

ProgressCallback = Callable[[int], None]
"""Called with the number of replications just finished (to move a progress bar)."""


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
) -> Iterator[R]:
    """``fn(item)`` for every item: in this process if ``workers <= 1``, else in a new pool.

    ``fn`` and the items must pickle when ``workers > 1`` (a module-level function, or a
    :func:`functools.partial` of one).
    """
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from imap_unordered(pool, fn, items, window)


__all__ = ["ProgressCallback", "imap_unordered", "process_map"]
