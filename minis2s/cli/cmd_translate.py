"""``minis2s translate``: decode texts given as arguments or read from standard input.

The contract a pipeline can rely on: **exactly one output line per input line**, in
order. An input with no token (an empty line, or only whitespace) gives an empty
output line, without decoding. What the output lines cannot say goes to standard
error as warnings: symbols the model never saw (mapped to ``<unk>``), outputs that
reached the length limit without ``</s>`` (the model never decided to stop), and
outputs that are empty although their input was not (the model produced only
special tokens -- an untrained or broken model).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from minis2s.cli.common import (
    Command,
    CommandError,
    add_backend_option,
    add_model_arguments,
    model_paths,
    positive_int,
    say,
    warn,
)


def run(args: argparse.Namespace) -> int:
    from minis2s.train import blas_threads, load_ensemble, run_threads

    trained = load_ensemble(model_paths(args))
    texts = args.text if args.text else [line.rstrip("\r\n") for line in sys.stdin]
    if not texts:
        raise CommandError("nothing to translate: give texts as arguments or lines on "
                           "standard input")
    unknown: list[str] = []
    with blas_threads(run_threads(trained.train_config)):
        outputs = trained.translations(texts, beam=args.beam, unknown=unknown)
    if unknown:
        symbols = ", ".join(repr(s) for s in dict.fromkeys(unknown))
        warn(f"symbols the model never saw were mapped to <unk>: {symbols}")
    cut = [k + 1 for k, t in enumerate(outputs) if t.cut]
    if cut:
        warn(f"{_lines(cut, len(texts))} reached the length limit without </s> (the model "
             "did not decide to stop; the output is cut)")
    empty = [k + 1 for k, t in enumerate(outputs) if not t.blank_input and not t.text]
    if empty:
        warn(f"{_lines(empty, len(texts))}: the model produced no text (only special "
             "tokens such as <pad>, <s>); an empty line is printed")
    for t in outputs:
        say(t.text)
    return 0


def _lines(numbers: list[int], total: int, most: int = 10) -> str:
    """``"the output of input 3"`` / ``"the outputs of inputs 2, 5 and 9 more (of 40)"``."""
    if len(numbers) == 1:
        return f"the output of input {numbers[0]}"
    shown = ", ".join(map(str, numbers[:most]))
    more = f" and {len(numbers) - most} more" if len(numbers) > most else ""
    return f"the outputs of inputs {shown}{more} (of {total})"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "translate", help="decode texts with a trained model",
        description="Decode each TEXT given, or each line of standard input: exactly one "
        "output line per input, in order; an empty (or blank) input gives an empty output "
        "line. Symbols the model never saw become <unk>, and an output cut at the length "
        "limit or left empty is reported, on standard error.")
    add_model_arguments(p)
    p.add_argument("text", nargs="*", metavar="TEXT",
                   help="texts to decode (none: read standard input)")
    p.add_argument("--beam", type=positive_int, default=1, metavar="K",
                   help="beam size; 1: greedy decoding (default 1)")
    add_backend_option(p)
    return p


COMMAND = Command("translate", add_parser, run, rest="text")
