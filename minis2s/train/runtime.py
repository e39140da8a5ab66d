"""The process around a training run: Ctrl-C, BLAS threads, the progress bar, and an
output that may close under it (``minis2s train | head -1``)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


class SigintFlag:
    """While installed, the first Ctrl-C only sets ``requested`` (the loop stops at the next
    batch boundary, in a consistent state); a second one raises KeyboardInterrupt at once."""

    def __init__(self, echo: Callable[[str], None]):
        self.requested = False
        self._echo = echo
        self._previous: Any = None

    def __enter__(self) -> SigintFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._echo("\nCtrl-C: stopping after this batch and saving a checkpoint "
                   "(press Ctrl-C again to stop at once)")

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run_threads(config: Any) -> int | None:
    """The BLAS threads of a run: ``config.threads`` (a ``TrainConfig``), with ``"auto"``
    chosen by the model's size (:func:`minis2s.threads.threads_for_model`)."""
    from minis2s.threads import threads_for_model

    return threads_for_model(config) if config.threads == "auto" else config.threads


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit the BLAS library's threads to ``n`` inside the block (``None``: no limit).

    Uses ``threadpoolctl`` when it is installed; without it the block runs as it is.
    """
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def progress_bar(total: int, done: int, epoch: int, epochs: int, enabled: bool):
    """A tqdm bar on stderr, or None when disabled or when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=f"epoch {epoch}/{epochs}", unit="batch",
                leave=False, file=sys.stderr, dynamic_ncols=True)


def print_now(message: str = "") -> None:
    """``print`` that flushes (epoch lines show at once even when stdout is a file), and
    that survives a closed standard output: when the reader has gone (``minis2s train |
    head -1``), the rest of the output is dropped and the caller carries on -- the run
    still trains and saves; only its printing stops."""
    try:
        print(message, flush=True)
    except BrokenPipeError:
        discard_stdout()


def discard_stdout() -> None:
    """Send what is still to be printed to the null device, so that neither later prints
    nor the interpreter's final flush raise ``BrokenPipeError`` again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        sys.stdout = open(os.devnull, "w")  # stdout is no real file (e.g. a test's capture)
    finally:
        os.close(devnull)
