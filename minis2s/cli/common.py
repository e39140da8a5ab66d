"""What the sub-commands share: the command record, the user-error type, argument types
that refuse a wrong value in one line, the backend option, and output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minis2s import backend
from minis2s.train.runtime import print_now


class CommandError(Exception):
    """A user-facing error of the command line: printed as one line, exit status 2."""


@dataclass(frozen=True)
class Command:
    """A sub-command: ``add_parser(sub)`` adds its parser to the ``minis2s`` parser's
    sub-parsers (and returns it); ``run(args)`` does the work and returns the exit status.
    ``raw_args``: everything after the command's name goes to ``run`` unparsed
    (``args.raw``), for a command with its own parser (``minis2s bench``).
    ``rest``: the name of a list positional (``nargs="*"``) that also takes the words
    given after an option (``translate RUN --beam 2 TEXT``: argparse alone stops at the
    option and refuses ``TEXT``)."""

    name: str
    add_parser: Callable[[Any], argparse.ArgumentParser]
    run: Callable[[argparse.Namespace], int]
    raw_args: bool = False
    rest: str | None = None


# --------------------------------------------------------------------------------------
# Argument types: each refuses a wrong value with what was expected and what came
# --------------------------------------------------------------------------------------
def int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, refused with ``what`` it should be."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


positive_int = int_at_least(1, "a positive integer")
count = int_at_least(0, "an integer >= 0")


def threads_count(text: str) -> int | str:
    """An argparse type: ``auto`` or an integer >= 0 (``--threads``)."""
    if text == "auto":
        return text
    try:
        return count(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected auto or an integer >= 0, got {text!r}"
                                         ) from None


def number(text: str) -> float:
    """An argparse type: a finite number (its range is checked where the setting is)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, true, null), else text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value



# --------------------------------------------------------------------------------------
# The model of a decoding command (evaluate, translate): CHECKPOINT and --ensemble
# --------------------------------------------------------------------------------------
def add_model_arguments(parser: Any) -> None:
    """The model a decoding command runs: ``CHECKPOINT``, and ``--ensemble`` for more
    (read back by :func:`model_paths`)."""
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a checkpoint file, or a run directory (its best checkpoint)")
    parser.add_argument("--ensemble", action="append", default=[], metavar="CHECKPOINT",
                        help="decode with this model too, trained on the same data with the "
                        "same vocabularies (a checkpoint or a run directory; repeat for "
                        "more): the models' next-token probabilities are averaged")


def model_paths(args: Any) -> list[str]:
    """CHECKPOINT, then each ``--ensemble`` checkpoint."""
    return [args.checkpoint, *args.ensemble]


# --------------------------------------------------------------------------------------
# The backend: --backend, else MINIS2S_BACKEND, else numpy -- the same for every command
# --------------------------------------------------------------------------------------
def add_backend_option(parser: Any) -> None:
    parser.add_argument("--backend", choices=list(backend.BACKENDS),
                        help=f"array backend: numpy (CPU), cupy (NVIDIA GPU) or devicesim "
                        f"(a simulated device) (default: ${backend.ENV_VAR} if set, else "
                        "numpy)")


def backend_choice(args: argparse.Namespace) -> str | None:
    """The backend a command runs on: ``--backend``, else the environment variable
    ``MINIS2S_BACKEND``, else numpy; None for a command without ``--backend``."""
    if "backend" not in args:
        return None
    if args.backend is not None:
        return args.backend
    value = os.environ.get(backend.ENV_VAR, "")
    if not value:
        return "numpy"
    if value.lower() not in backend.BACKENDS:
        raise CommandError(f"{backend.ENV_VAR}={value!r} is not a backend: expected one of "
                           f"{', '.join(backend.BACKENDS)}")
    return value.lower()


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------
def say(text: str = "") -> None:
    """Print a line of results (a closed standard output stops the printing, not the
    command)."""
    print_now(text)


def warn(text: str) -> None:
    """One warning line on standard error."""
    print(f"minis2s: warning: {text}", file=sys.stderr)


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def metrics_table(metrics: dict[str, float], task: str | None) -> str:
    lines = [f"  {name:<20} {value:.4f}" for name, value in metrics.items()]
    if task == "g2p":
        lines.append(f"  (PER = error_rate = {metrics['error_rate']:.4f}; WER = "
                     f"sequence_error_rate = {metrics['sequence_error_rate']:.4f})")
    return "\n".join(lines)
