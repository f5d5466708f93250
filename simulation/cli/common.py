"""What every ``sufficiency`` command shares: the consoles, errors and the progress bar.

Bad input ends with one line ``error: ...`` per problem on stderr, exit code 2, and nothing
written. So does an output path that cannot be written: it is checked before any work
(:func:`check_output_file`), and a write that fails midway is reported by :func:`fail_write`.
"""

from __future__ import annotations

import errno
import os
import sys
import time
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

from simulation.atomic import check_can_create
from simulation.errors import ScenarioError
from simulation.pool import ProgressCallback
from simulation.scenario import Scenario, load_scenario

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
# Piped or logged output is as wide as COLUMNS says, else 120 (rich would assume 80).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit code 2."""
    fail_lines([message])


def fail_lines(messages: Iterable[str]) -> NoReturn:
    """One line on stderr per problem, exit code 2."""
    for message in messages:
        err_console.print(f"error: {message}", markup=False)
    raise typer.Exit(EXIT_BAD_INPUT)


_CAUSES = {
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "not a folder",
    errno.EISDIR: "is a folder",
    errno.ENAMETOOLONG: "name too long",
    errno.ENOENT: "no such file or folder",
}
_NAMED = (errno.ENOTDIR, errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR)


def os_cause(exc: OSError, path: Path | None = None) -> str:
    """The cause of a failed write in a few words: 'read-only file system', 'not a folder'...

    Prefixed by the path it concerns (say, a parent that is a file) unless that is ``path``.
    """
    cause = _CAUSES.get(exc.errno or 0) or exc.strerror
    if cause is None:  # pyarrow and others raise OSError with the cause only in the text
        text = " ".join(str(exc).split())
        cause = text if text else type(exc).__name__
    where = None if exc.filename is None else Path(os.fsdecode(exc.filename))
    if where is not None and where != path and exc.errno in _NAMED:
        return f"{where}: {cause}"
    return cause


def fail_write(option: str, path: Path, exc: OSError, after: str = "") -> NoReturn:
    """One line naming the path that cannot be written and why, exit code 2."""
    fail(f"{option}: cannot write {path}: {os_cause(exc, path)}{after}")


def check_output_file(path: Path, option: str = "--out") -> None:
    """Fail (one line, exit 2) unless the file ``path`` can be written; nothing is created."""
    if path.is_dir():
        fail(f"{option}: {path} is a folder (give a file name)")
    try:
        check_can_create(path)
    except OSError as exc:
        fail_write(option, path, exc)


def check_output_folder(path: Path, option: str = "--out") -> None:
    """Fail (one line, exit 2) unless a folder can be written at ``path``; nothing is created."""
    if path.exists() and not path.is_dir():
        fail(f"{option}: {path} is a file (give a folder)")
    try:
        check_can_create(path / "probe")
    except OSError as exc:
        fail_write(option, path, exc)


def interrupted(what: str = "nothing was written") -> NoReturn:
    """One line saying the command was interrupted, exit code 130."""
    err_console.print(f"interrupted: stopped by Ctrl-C; {what}", markup=False)
    raise typer.Exit(EXIT_INTERRUPTED)


def load_config(path: Path) -> Scenario:
    """The validated scenario in a config file, or its first problem as the one-line error."""
    try:
        return load_scenario(path)
    except ScenarioError as exc:
        fail(exc.one_line())


PLAIN_PROGRESS_SECONDS = 10.0
"""When output is not a terminal, a progress line at least this often (and every 10%)."""


class PlainProgress:
    """Progress as plain lines on stderr, for output piped to a file or a log: every 10% of
    the work and at least every :data:`PLAIN_PROGRESS_SECONDS`, never more than once a
    second."""

    def __init__(self, description: str, total: int) -> None:
        self.description, self.total, self.done = description, max(total, 0), 0
        self.t0 = self.last_time = time.monotonic()
        self.last_tenth = 0

    def set_total(self, total: int) -> None:
        self.total = max(total, 0)

    def advance(self, k: int) -> None:
        self.done += k
        now = time.monotonic()
        tenth = 10 * self.done // self.total if self.total else 10
        due = tenth > self.last_tenth or now - self.last_time >= PLAIN_PROGRESS_SECONDS
        if not due or (now - self.last_time < 1.0 and self.done < self.total):
            return
        self.last_tenth, self.last_time = tenth, now
        elapsed = now - self.t0
        line = f"{self.description}: {self.done:,}/{self.total:,}"
        if self.total:
            line += f" ({100 * self.done / self.total:.0f}%)"
        line += f", {elapsed:.0f} s"
        if 0 < self.done < self.total:
            line += f", about {elapsed * (self.total - self.done) / self.done:.0f} s left"
        print(line, file=sys.stderr, flush=True)


@contextmanager
def progress_bar(
    description: str, total: int, quiet: bool, on: Console = console
) -> Iterator[tuple[ProgressCallback, Callable[[int], None]]]:
    """A progress bar over ``total`` steps: yields (advance by k, set a new total).

    On a terminal a live bar; otherwise (output piped or logged) plain lines on stderr, so a
    long run shows it is alive without filling the log with a bar's redraws.
    """
    if not quiet and not on.is_terminal:
        plain = PlainProgress(description, total)
        yield plain.advance, plain.set_total
        return
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
