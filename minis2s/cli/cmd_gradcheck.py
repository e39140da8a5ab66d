"""``minis2s gradcheck``: the float64 gradient check of every forward/backward pair."""

from __future__ import annotations

import argparse
import time
from typing import Any

from minis2s import backend
from minis2s.cli.common import Command, CommandError, add_backend_option, count, say


def run(args: argparse.Namespace) -> int:
    from minis2s.checks import all_cases
    from minis2s.gradcheck import format_table

    cases = list(all_cases())
    if args.only:
        chosen = [c for c in cases if any(word in c.piece for word in args.only)]
        if not chosen:
            raise CommandError(f"no piece's name contains {' or '.join(map(repr, args.only))}"
                               f"; the pieces are: {', '.join(c.piece for c in cases)}")
        cases = chosen
    start = time.perf_counter()
    results = [r for case in cases for r in case.run(seed=args.seed)]
    say(format_table(results))
    failed = [r for r in results if not r.passed]
    say(f"\n{len(results)} gradients checked in {time.perf_counter() - start:.1f} s "
        f"(float64, central differences, backend {backend.backend_name()}): "
        f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "gradcheck",
        help="check every hand-written backward pass against numerical gradients",
        description="Run the float64 gradient check of every forward/backward pair and "
        "print a table; exit 1 if any relative error is above its tolerance.",
    )
    p.add_argument("--only", nargs="*", metavar="WORD",
                   help="check only pieces whose name contains one of these words")
    p.add_argument("--seed", type=count, default=0,
                   help="seed of the random inputs (default 0)")
    add_backend_option(p)
    return p


COMMAND = Command("gradcheck", add_parser, run)
