"""Atomic file writes: every file minis2s writes is whole, or not there at all.

:func:`atomic_write` writes to a temporary file in the *same* directory as the
target (``.NAME.XXXXXXXX.tmp``), flushes it and ``fsync``-s it, gives it the usual
permissions (``mkstemp`` makes private files), then moves it over the target with
``os.replace`` -- a rename, atomic on POSIX and Windows -- and finally ``fsync``-s
the directory so that the rename itself survives a power cut. A crash or Ctrl-C
in the middle leaves the previous file whole; an exception (KeyboardInterrupt
included) removes the temporary file.

Only a ``SIGKILL`` (or a power cut) in the middle can leave a temporary file
behind; :func:`remove_leftovers` deletes those of the given targets, and the
trainer calls it when a run starts or resumes.

Checkpoints (:mod:`minis2s.checkpoint`), the training log and the metrics file
are all written through here: one writer, one set of guarantees.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def _temp_prefix(name: str) -> str:
    return f".{name}."


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary binary file, which then
    replaces ``path``. The directory is created if needed. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=TEMP_SUFFIX,
                                    dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp made it private (0600)
        os.replace(tmp_name, path)
    except BaseException:  # also on KeyboardInterrupt: never leave a half-written temp file
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` encoded as UTF-8."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def leftovers(directory: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """The temporary files an interrupted :func:`atomic_write` of ``directory/name``
    left behind (only a SIGKILL or a power cut leaves one), for each of ``names``."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found: list[Path] = []
    for name in names:
        found.extend(sorted(directory.glob(f"{_temp_prefix(name)}*{TEMP_SUFFIX}")))
    return found


def remove_leftovers(directory: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete the :func:`leftovers` of ``names`` in ``directory``; returns what went."""
    removed = []
    for path in leftovers(directory, names):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); silently skipped where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
