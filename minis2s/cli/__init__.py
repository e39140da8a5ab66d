"""The ``minis2s`` command (also ``python -m minis2s``).

Sub-commands::

    minis2s train      train a model (the default: date normalisation with attention)
    minis2s evaluate   score a checkpoint on a split or a TSV file
    minis2s translate  decode texts given as arguments or read from standard input
    minis2s gradcheck  check every hand-written backward pass numerically
    minis2s bench      time the LSTM against PyTorch and the matrix-product ceiling
    minis2s course     build a course kit (student edition, solutions, autograder), grade

Each lives in its own module (``cmd_train``, ...) that defines ``COMMAND``, a
:class:`~minis2s.cli.common.Command`: its name, ``add_parser(sub)`` and ``run(args)``.
**Adding a sub-command** is one new module, ``minis2s/cli/cmd_NAME.py``, and its name
added to :data:`COMMAND_MODULES`.

Every command that computes (``train``, ``evaluate``, ``translate``, ``gradcheck``)
runs on the backend of ``--backend``, else of the environment variable
``MINIS2S_BACKEND``, else NumPy; an unavailable one (CuPy without a GPU) is refused.

Exit statuses:

* **0** -- done (also when the reader of standard output went away, as in
  ``minis2s train | head -1``: the run still trains and saves; only the printing stops);
* **1** -- a training run diverged (NaN loss), or a gradient check failed;
* **2** -- bad input: an unknown or out-of-range option value, a malformed or empty
  data file, a missing or damaged checkpoint, a run directory that must not be
  written into, an unavailable backend, a file that cannot be read or written, too
  little memory. One line on standard error, no traceback (``MINIS2S_DEBUG=1``
  shows one);
* **3** -- a piece that is not implemented yet: in a course's student edition, a
  function the student still has to write (the line names the assignment);
* **70** -- a bug in minis2s (``EX_SOFTWARE`` of ``sysexits.h``): any other exception.
  The traceback is printed, then a line saying that it is a bug and how to report it;
* **130** -- stopped by Ctrl-C (a training run saves its position first).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import traceback
import warnings

from minis2s import __version__, backend
from minis2s.checkpoint import CheckpointError
from minis2s.cli.cmd_train import train_config_from_args
from minis2s.cli.common import Command, CommandError, backend_choice, one_line
from minis2s.train import InputError
from minis2s.train.runtime import discard_stdout

#: the sub-commands' modules (in ``minis2s.cli``), in the order ``minis2s --help`` lists
#: them: a new sub-command is a module defining ``COMMAND`` and its name added here
COMMAND_MODULES = ("cmd_train", "cmd_evaluate", "cmd_translate", "cmd_gradcheck", "cmd_bench",
                   "cmd_course")
COMMANDS: tuple[Command, ...] = tuple(
    importlib.import_module(f"{__name__}.{module}").COMMAND for module in COMMAND_MODULES)

EXIT_INPUT = 2
EXIT_BUG = 70
EXIT_NOT_IMPLEMENTED = 3
EXIT_INTERRUPTED = 130
#: what bad input raises, each where the input is read or checked
INPUT_ERRORS = (CommandError, InputError, CheckpointError, backend.BackendUnavailableError)

__all__ = ["COMMANDS", "COMMAND_MODULES", "CommandError", "build_parser", "main",
           "train_config_from_args"]


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="minis2s",
        description="Sequence-to-sequence RNNs in plain NumPy, every backward pass checked.",
    )
    parser.add_argument("--version", action="version", version=f"minis2s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


_SAID: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning as one line on standard error, each text said once per process
    (a setting checked in two places warns from two places)."""
    text = f"minis2s: warning: {message}"
    if text not in _SAID:
        _SAID.add(text)
        print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _SAID.clear()
    by_name = {c.name: c for c in COMMANDS}
    if argv[:1] and argv[0] in by_name and by_name[argv[0]].raw_args:
        args = argparse.Namespace(command=argv[0], raw=argv[1:])  # the command's own options
    else:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        rest = by_name[args.command].rest if getattr(args, "command", None) else None
        head, tail = (extra[:extra.index("--")], extra[extra.index("--") + 1:]) \
            if "--" in extra else (extra, [])         # after "--", "-5 days" is a text too
        if extra and rest and not any(word.startswith("-") for word in head):
            getattr(args, rest).extend(head + tail)
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        with contextlib.ExitStack() as stack, warnings.catch_warnings():
            # the library's UserWarnings, as one line each, said once
            warnings.simplefilter("once", UserWarning)
            warnings.showwarning = _show_warning
            name = backend_choice(args)
            if name is not None:
                stack.enter_context(backend.use_backend(name))
            return by_name[args.command].run(args)
    except BrokenPipeError:  # the reader of standard output went away: nothing to say
        discard_stdout()
        return 0
    except KeyboardInterrupt:
        print(f"\nminis2s {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (*INPUT_ERRORS, OSError, MemoryError) as exc:
        if os.environ.get("MINIS2S_DEBUG"):
            raise
        print(f"minis2s {args.command}: error: {_input_error_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except NotImplementedError as exc:   # a student edition's stub: the student's to write
        if os.environ.get("MINIS2S_DEBUG"):
            raise
        print(f"minis2s {args.command}: not implemented yet: {_input_error_line(exc)}",
              file=sys.stderr)
        return EXIT_NOT_IMPLEMENTED
    except Exception:
        traceback.print_exc()
        print(f"minis2s {args.command}: this is a bug in minis2s {__version__}, not a problem "
              "with your input. Please report it to the minis2s maintainers (an issue in the "
              "project's tracker) with the command line, the traceback above and the output "
              "of 'python -m minis2s --version'.", file=sys.stderr)
        return EXIT_BUG


def _input_error_line(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return (f"out of memory ({one_line(exc)}): the model, the batch or the data is too "
                "large for this machine (try smaller --hidden, --layers, --embedding or "
                "--batch-size)")
    return one_line(exc)
