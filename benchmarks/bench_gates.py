"""The measurement behind the LSTM's one-``exp`` gates and ``tanh_via_exp``.

NumPy's element-wise functions cost very different amounts per element: on the
project's 2-core machine (AMD EPYC, AVX2, NumPy 2.4) float32 ``exp`` takes about 3.7 ns
and ``tanh`` about 7.2 ns an element, where a multiply takes 0.2 ns. An LSTM step's
element-wise work is five such functions over ``(N, H)`` blocks (three sigmoids, the
candidate's and the cell's ``tanh``), so the choice of formula is most of its cost.

This script times, in one process, interleaved, best of ``--repeat``:

* the per-element cost of ``exp``, ``tanh``, ``multiply``, ``divide`` (float32);
* ``tanh`` against :func:`minis2s.ops.activations.tanh_via_exp` (checked) and its core
  ``tanh_via_exp_into`` (what the loops call) on one ``(N, H)`` block;
* one step's gate math the old way (``sigmoid`` on ``i, f``, ``tanh`` on ``g``,
  ``sigmoid`` on ``o``) against :func:`minis2s.cells.lstm.gates_forward_into` (one
  ``exp`` over the four blocks) on a ``(4, N, H)`` block.

Usage::

    python benchmarks/bench_gates.py                   # N = 64, hidden 64 256 512
    python benchmarks/bench_gates.py --hidden 128 --n 32

Not part of CI; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np


def best_us(fn, number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def per_element_ns(n: int, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(n).astype(np.float32)
    out = np.empty_like(a)
    ops = {"exp": lambda: np.exp(a, out=out), "tanh": lambda: np.tanh(a, out=out),
           "multiply": lambda: np.multiply(a, a, out=out),
           "divide": lambda: np.divide(1.0, a, out=out)}
    return {name: best_us(fn, 200, repeat) * 1e3 / n for name, fn in ops.items()}


def gate_rows(N: int, H: int, repeat: int) -> dict[str, float]:
    from minis2s import backend
    from minis2s.cells.lstm import gates_forward_into
    from minis2s.ops.activations import sigmoid, tanh_via_exp, tanh_via_exp_into

    backend.set_backend("numpy")
    rng = np.random.default_rng(0)
    a0 = rng.standard_normal((4, N, H)).astype(np.float32)
    a = a0.copy()
    c = rng.standard_normal((N, H)).astype(np.float32)
    out = np.empty_like(c)

    def old() -> None:
        a[...] = a0
        sigmoid(a[0:2], out=a[0:2])
        np.tanh(a[2], out=a[2])
        sigmoid(a[3], out=a[3])

    def new() -> None:
        a[...] = a0
        gates_forward_into(a)

    def copy() -> None:
        a[...] = a0

    fns = {"copy": copy, "gates, 3 sigmoids + tanh": old, "gates, one exp": new,
           "tanh(c)": lambda: np.tanh(c, out=out),
           "tanh_via_exp(c)": lambda: tanh_via_exp(c, out=out),
           "tanh_via_exp_into(c), as in the loops": lambda: tanh_via_exp_into(c, out=out)}
    best = {name: float("inf") for name in fns}
    with np.errstate(over="ignore"):        # as the fast loops hold it
        for _ in range(3):                  # interleaved rounds
            for name, fn in fns.items():
                best[name] = min(best[name], best_us(fn, 100, repeat))
    for name in ("gates, 3 sigmoids + tanh", "gates, one exp"):
        best[name] -= best["copy"]          # the copy that restores the input
    del best["copy"]
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--n", type=int, default=64, help="batch rows N")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if args.n < 1 or any(h < 1 for h in args.hidden) or args.repeat < 1:
        parser.error("--n, --hidden and --repeat must be positive")

    costs = per_element_ns(1 << 16, args.repeat)
    print("float32, ns per element (65,536 elements):")
    print("| " + " | ".join(costs) + " |")
    print("|" + " --- |" * len(costs))
    print("| " + " | ".join(f"{v:.2f}" for v in costs.values()) + " |")
    print()
    rows = {H: gate_rows(args.n, H, args.repeat) for H in args.hidden}
    names = list(next(iter(rows.values())))
    print(f"One LSTM step's element-wise work, N = {args.n}, microseconds (best of "
          f"{args.repeat}):")
    print("| hidden | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for H, row in rows.items():
        print(f"| {H} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
