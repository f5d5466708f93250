"""What every ``sufficiency`` command shares: the consoles, errors and the progress bar.

Bad input ends with one line ``error: ...`` per problem on stderr, exit code 2, and nothing
written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulation.errors import ScenarioError
from simulation.pool import ProgressCallback
from simulation.scenario import Scenario, load_scenario

EXIT_BAD_INPUT = 2
# Wide enough for the summary table when output is piped or logged.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 2."""
    fail_lines([message])


def fail_lines(messages: Iterable[str]) -> NoReturn:
    """One line on stderr per problem, exit code 2."""
    for message in messages:
        err_console.print(f"error: {message}", markup=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def load_config(path: Path) -> Scenario:
    """The validated scenario in a config file, or its first problem as the one-line error."""
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        fail(exc.one_line())


@contextmanager
def progress_bar(
    description: str, total: int, quiet: bool, on: Console = console
) -> Iterator[tuple[ProgressCallback, Callable[[int], None]]]:
    """A progress bar over ``total`` steps: yields (advance by k, set a new total)."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=on,
        disable=quiet,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield (
            lambda k: bar.advance(task, k),
            lambda new_total: bar.update(task, total=new_total),
        )
