"""Benchmark: forward + backward of a 2-layer LSTM, minis2s against PyTorch and the GEMM ceiling.

The work timed on each side is one training step's worth of recurrence: a 2-layer
LSTM over ``T`` steps (batch ``N``, input ``D``, hidden ``H``, float32), forward and
backward, gradients of the inputs and of every weight. minis2s runs a 2-layer LSTM
stack through :func:`minis2s.shards.stack_forward` and
:func:`~minis2s.shards.stack_backward` (the plain stack of :mod:`minis2s.cells.stack`,
optionally in batch shards, ``--shards``); PyTorch runs ``torch.nn.LSTM(num_layers=2)``
on the CPU.

How it is measured: :mod:`minis2s.bench_harness`, shared with the whole-model benchmark
(:mod:`minis2s.bench_model`) -- one spawned worker process per side, each side warmed
up and then timed one at a time with ``--settle`` seconds between hand-overs, paired
rounds (minis2s, PyTorch, the ceiling) whose per-round ratios give the median, the
load of other processes per round, and the peak memory of one step. Here:

* **The ceiling** is the same matrix products alone -- every GEMM of the forward and
  backward passes, at the shapes of the fused-gate formulation, into preallocated
  outputs -- timed with NumPy in its own worker. Its FLOP count is the one used
  for every GFLOP/s column (``2 m n k`` per product; the elementwise gate math is
  not counted).

Run it as ``python benchmarks/bench_lstm.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
from typing import Any

import numpy as np

from minis2s import bench_harness as harness

SIDES = ("minis2s", "torch", "gemm")


def matmul_flops(T: int, N: int, D: int, H: int, layers: int = 2, gates: int = 4) -> int:
    """FLOPs of the matrix products of a ``layers``-deep LSTM forward + backward.

    Per layer with input size ``Din``: forward ``2 T N (Din + H) gH``; backward twice
    that (input/state gradients, weight gradients).
    """
    total = 0
    din = D
    for _ in range(layers):
        total += 3 * 2 * T * N * (din + H) * gates * H
        din = H
    return total


# ----------------------------------------------------------------------------------------
# The work of each side (runs inside the worker processes)
# ----------------------------------------------------------------------------------------


def _minis2s_setup(T: int, N: int, D: int, H: int, seed: int, shards: int = 1) -> Any:
    from minis2s import backend
    from minis2s.cells.stack import StackConfig, init_stack
    from minis2s.shards import stack_backward, stack_forward

    backend.set_backend("numpy")
    rng = np.random.default_rng(seed)
    config = StackConfig("lstm", D, H, num_layers=2)
    params = init_stack(rng, config)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    dhs = rng.standard_normal((T, N, H)).astype(np.float32)

    def step() -> None:
        hs, _, cache = stack_forward(x, params, config, shards=shards)
        dx, _, grads = stack_backward(dhs, None, cache)

    return step


def _torch_setup(T: int, N: int, D: int, H: int, seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    model = torch.nn.LSTM(D, H, num_layers=2)
    x = torch.randn(T, N, D, requires_grad=True)
    dhs = torch.randn(T, N, H)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = model(x)
        out.backward(dhs)

    return step


def _gemm_setup(T: int, N: int, D: int, H: int, seed: int, shards: int = 1) -> Any:
    """Every matrix product of the 2-layer forward + backward, alone; with ``shards > 1``
    each shard's products for its rows of the batch, the shards on as many threads."""
    from minis2s import backend
    from minis2s.shards import row_bounds
    from minis2s.shards import run as run_shards

    backend.set_backend("numpy")
    rng = np.random.default_rng(seed)
    f32 = np.float32
    G = 4 * H
    jobs = []
    for start, stop in row_bounds(N, shards):
        n = stop - start
        plans = []
        for din in (D, H):
            W_ih = rng.standard_normal((G, din)).astype(f32)
            W_hh = rng.standard_normal((G, H)).astype(f32)
            x = rng.standard_normal((T * n, din)).astype(f32)
            hs = rng.standard_normal((T * n, H)).astype(f32)
            dA = rng.standard_normal((T * n, G)).astype(f32)
            proj, dx = np.empty((T * n, G), f32), np.empty((T * n, din), f32)
            rec, dh = np.empty((n, G), f32), np.empty((n, H), f32)
            dW_ih, dW_hh = np.empty((G, din), f32), np.empty((G, H), f32)
            plans.append((W_ih, W_hh, x, hs, dA, proj, dx, rec, dh, dW_ih, dW_hh))
        jobs.append((plans, n))

    def products(plans: list, n: int) -> None:  # n: the shard's rows
        for W_ih, W_hh, x, hs, dA, proj, dx, rec, dh, dW_ih, dW_hh in plans:
            np.matmul(x, W_ih.T, out=proj)  # input projection, all steps
            for t in range(T):
                np.matmul(hs[t * n:(t + 1) * n], W_hh.T, out=rec)  # recurrence, forward
            for t in range(T):
                np.matmul(dA[t * n:(t + 1) * n], W_hh, out=dh)  # recurrence, backward
            np.matmul(dA, W_ih, out=dx)
            np.matmul(dA.T, x, out=dW_ih)
            np.matmul(dA.T, hs, out=dW_hh)

    def step() -> None:
        run_shards(products, jobs)

    return step


_SETUPS = {"minis2s": "minis2s.bench:_minis2s_setup", "torch": "minis2s.bench:_torch_setup",
           "gemm": "minis2s.bench:_gemm_setup"}


def run(hidden: list[int], T: int = 20, N: int = 64, D: int = 128, rounds: int = 7,
        per_round: int = 5, warmup: int = 4, settle: float = 0.3, use_torch: bool = True,
        seed: int = 0, threads: int | None = None, clock: str = "wall",
        shards: int = 1, out: Any = None) -> list[dict]:
    """Run the benchmark at each hidden size; print the table to ``out``, return the rows.

    ``shards``: batch shards on the minis2s side (and the ceiling's), one thread each
    (:mod:`minis2s.shards`); 1: the BLAS library's own threads.
    """
    ctx = mp.get_context("spawn")
    sides = [s for s in SIDES if s != "torch" or use_torch]
    rows = []
    for H in hidden:
        workers = []
        try:
            for s in sides:
                args = (T, N, D, H, seed) + (() if s == "torch" else (shards,))
                workers.append(harness.Side(ctx, s, _SETUPS[s], args, warmup, threads, clock))
            times, loads = harness.paired_rounds(workers, rounds, per_round, settle)
        finally:
            for w in workers:
                w.close()
        flops = matmul_flops(T, N, D, H)
        row = {"H": H, "flops": flops, "loads": loads,
               "ms": {s: 1e3 * statistics.median(v) for s, v in times.items()},
               "peak_mb": {w.name: w.peak / 2**20 for w in workers}}
        row["ceiling_share"] = harness.median_ratio(times["gemm"], times["minis2s"])
        if use_torch:
            row["ratio"] = harness.median_ratio(times["minis2s"], times["torch"])
        rows.append(row)
    print(format_table(rows, T, N, D, rounds, per_round, settle, use_torch, threads, clock,
                       shards),
          file=sys.stdout if out is None else out)
    return rows


def format_table(rows: list[dict], T: int, N: int, D: int, rounds: int, per_round: int,
                 settle: float, use_torch: bool, threads: int | None = None,
                 clock: str = "wall", shards: int = 1) -> str:
    head = ["hidden", "minis2s ms", "torch ms", "minis2s/torch", "minis2s GFLOP/s",
            "ceiling ms", "ceiling GFLOP/s", "share of ceiling", "peak MB minis2s",
            "peak MB torch", "other load (cores)"]
    sides = [s for s in SIDES if s != "torch" or use_torch]
    lines = []
    for r in rows:
        ms = r["ms"]
        lines.append([
            str(r["H"]), f"{ms['minis2s']:.1f}",
            f"{ms['torch']:.1f}" if use_torch else "-",
            f"{r['ratio']:.2f}x" if use_torch else "-",
            f"{r['flops'] / ms['minis2s'] / 1e6:.0f}",
            f"{ms['gemm']:.1f}", f"{r['flops'] / ms['gemm'] / 1e6:.0f}",
            f"{100 * r['ceiling_share']:.0f}%",
            f"{r['peak_mb']['minis2s']:.1f}",
            f"{r['peak_mb']['torch']:.1f}" if use_torch else "-",
            " ".join(f"{v:.1f}" for v in r["loads"]),
        ])
    table = harness.format_rows(head, lines)
    notes = [
        f"2-layer LSTM, forward + backward, T={T}, N={N}, D={D}, float32, CPU, "
        + ("library default threads." if threads is None else
           f"{threads} thread(s) per side ({', '.join(harness.THREAD_VARS)}={threads}).")
        + (f" minis2s and the ceiling: the batch in {shards} shards, one thread each "
           "(BLAS on one thread)." if shards > 1 else ""),
        f"Paired rounds: {rounds} rounds x ({', '.join(sides)}), best of {per_round} "
        "steps per side per round; times and ratios are medians over rounds.",
        f"Each side runs in its own spawned worker process, one at a time, {settle:g} s "
        "apart (idle thread pools stop spinning).",
        "GFLOP/s count only the matrix products; 'ceiling' = those products alone in NumPy; "
        "share = ceiling time / minis2s time.",
        "Peak MB = how far the resident set of a fresh worker rose during its first "
        "fwd+bwd step; other load = cores busy with other processes during each round.",
        "Clock: " + ("wall time (time.perf_counter)." if clock == "wall" else
                     "CPU time of each worker process (time.process_time): robust to other "
                     "load, comparable to wall time only with --threads 1."),
    ]
    return "\n".join(table + [""] + notes)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minis2s bench",
        description="Time forward + backward of a 2-layer LSTM: minis2s vs torch.nn.LSTM "
        "(CPU) vs the matrix-product ceiling.")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 512],
                   help="hidden sizes (default 256 512)")
    p.add_argument("--T", type=int, default=20, help="time steps (default 20)")
    p.add_argument("--N", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--D", type=int, default=128, help="input size (default 128)")
    p.add_argument("--rounds", type=int, default=7, help="paired rounds (default 7)")
    p.add_argument("--per-round", type=int, default=5,
                   help="timed steps per side per round, best kept (default 5: the first "
                   "steps after the pause between sides run slow)")
    p.add_argument("--warmup", type=int, default=4, help="untimed steps per side (default 4)")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds between sides (default 0.3)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per side (sets OMP/OPENBLAS/MKL_NUM_THREADS in the workers; "
                   "default: the libraries' own choice)")
    p.add_argument("--shards", type=int, default=1,
                   help="minis2s: split the batch into this many shards, one thread each, "
                   "BLAS on one thread (default 1: one shard, the BLAS library's own threads)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time (default), or each worker's CPU time: on a busy "
                   "machine, '--threads 1 --clock cpu' still measures the work itself")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_torch = harness.check_command(
        args, ("hidden", "T", "N", "D", "rounds", "per_round", "threads", "shards"),
        "minis2s and the GEMM ceiling")
    if use_torch is None:
        return 2
    run(args.hidden, T=args.T, N=args.N, D=args.D, rounds=args.rounds,
        per_round=args.per_round, warmup=args.warmup, settle=args.settle,
        use_torch=use_torch, seed=args.seed, threads=args.threads, clock=args.clock,
        shards=args.shards)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
