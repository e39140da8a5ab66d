"""``minis2s bench``: the LSTM benchmark (:mod:`minis2s.bench`), or with ``--model`` the
whole-model benchmark (:mod:`minis2s.bench_model`), each with its own options."""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Any

from minis2s import backend
from minis2s.cli.common import Command, CommandError


def run(args: argparse.Namespace) -> int:
    chosen = os.environ.get(backend.ENV_VAR, "")
    if chosen and chosen.lower() != "numpy":
        raise CommandError(f"minis2s bench times the NumPy (CPU) code against PyTorch and "
                           f"the matrix-product ceiling; it does not run on "
                           f"{backend.ENV_VAR}={chosen!r} (unset the variable)")
    whole = any(a == "--model" or a.startswith("--model=") for a in args.raw)
    name = "minis2s.bench_model" if whole else "minis2s.bench"
    try:
        bench = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise CommandError(f"the benchmark ({name.replace('.', '/')}.py) is not part of this "
                           "installation") from exc
    return int(bench.main(args.raw) or 0)


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "bench", help="time the LSTM (or with --model the whole model) against PyTorch",
        description="Run the LSTM benchmark (minis2s.bench), or with --model default|article "
        "the whole-model benchmark (minis2s.bench_model); their own options follow "
        "(minis2s bench --help, minis2s bench --model default --help).", add_help=False)
    p.add_argument("raw", nargs=argparse.REMAINDER, metavar="...",
                   help="options passed to the benchmark")
    return p


COMMAND = Command("bench", add_parser, run, raw_args=True)
