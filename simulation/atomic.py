"""Writing result files and folders so that nobody ever sees half of one.

Each is written to a temporary beside its target and renamed onto it only when complete; on
any failure the temporary is removed and the target is left as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: os.umask is process-wide, so it must not be toggled while threads (the
# web app's) create files. The modes ``open()`` and ``mkdir()`` would give under it (mkstemp's
# files are 0600 and mkdtemp's folders 0700).
_UMASK = _umask()
NEW_FILE_MODE = 0o666 & ~_UMASK
NEW_DIR_MODE = 0o777 & ~_UMASK


PROBE_BYTES = 64 * 1024
"""Bytes written by :func:`check_can_create`: enough to meet a full disk, too few to matter."""


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its closest ancestor that does."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_can_create(target: Path) -> None:
    """Raise :class:`OSError` (errno and path set) unless ``target`` can be written.

    Every existing ancestor must be a folder, and the nearest one (where the atomic writers put
    their temporary) must accept a new file with :data:`PROBE_BYTES` in it: this meets a
    read-only or full file system and missing permissions before any work is done, not after.
    Nothing is left behind and no folder is created.
    """
    base = nearest_existing(target.parent)
    if not base.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(base))
    try:
        fd, probe = tempfile.mkstemp(prefix=".sufficiency-probe-", dir=base)
    except OSError as exc:  # name the folder, not the probe's random name
        raise OSError(exc.errno, exc.strerror, str(base)) from None
    try:
        data = memoryview(bytes(PROBE_BYTES))
        while data:  # a nearly full disk takes part of a write, then refuses the rest
            data = data[os.write(fd, data) :]
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(base)) from None
    finally:
        os.close(fd)
        os.unlink(probe)


@contextmanager
def atomic_file(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """A temporary file path beside ``target`` to write to, ending in ``suffix`` (default:
    the target's, for writers that go by it); when the block ends without error it gets a new
    file's usual mode and replaces ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}-",
        suffix=target.suffix if suffix is None else suffix,
        dir=target.parent,
    )
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, NEW_FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


@contextmanager
def atomic_dir(target: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder beside ``target``, moved onto it when the block succeeds.

    An existing ``target`` (only with ``overwrite``) is renamed aside first and deleted once the
    new folder is in place; if that move fails the old folder is put back, so a failure never
    leaves neither. Callers decide whether ``target`` may be replaced (see
    :func:`simulation.outputs.check_out_dir`): this replaces whatever is there.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, NEW_DIR_MODE)
        yield tmp
        if target.exists():
            if not overwrite:
                raise FileExistsError(f"{target} already exists (use --overwrite to replace it)")
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            aside = old / target.name
            os.replace(target, aside)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(aside, target)
                old.rmdir()
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
