"""The ``minis2s`` command (also ``python -m minis2s``)."""

from __future__ import annotations

import argparse
import sys
import time

from minis2s import backend


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    from minis2s.checks import all_cases
    from minis2s.gradcheck import format_table

    backend.set_backend(args.backend)
    start = time.perf_counter()
    results = []
    for case in all_cases():
        if args.only and not any(word in case.piece for word in args.only):
            continue
        results.extend(case.run(seed=args.seed))
    print(format_table(results))
    failed = [r for r in results if not r.passed]
    print(
        f"\n{len(results)} gradients checked in {time.perf_counter() - start:.1f} s "
        f"(float64, central differences, backend {backend.backend_name()}): "
        f"{len(results) - len(failed)} passed, {len(failed)} failed"
    )
    return 1 if failed or not results else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minis2s",
        description="Sequence-to-sequence RNNs in plain NumPy, every backward pass checked.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "gradcheck",
        help="check every hand-written backward pass against numerical gradients",
        description="Run the float64 gradient check of every forward/backward pair and "
        "print a table; exit 1 if any relative error is above its tolerance.",
    )
    p.add_argument("--only", nargs="*", metavar="WORD",
                   help="check only pieces whose name contains one of these words")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--backend", default="numpy", choices=backend.BACKENDS,
                   help="array backend to run on (default numpy)")
    p.set_defaults(func=_cmd_gradcheck)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except backend.BackendUnavailableError as exc:
        print(f"minis2s: {exc}", file=sys.stderr)
        return 2
