"""The measurement behind ``minis2s.threads`` (``minis2s train --threads auto``).

A whole training step (forward, loss, backward, Adam) of an LSTM x1 model with additive
attention on a dates-shaped batch of N = 64, at several hidden sizes, with one and with
every BLAS thread. The two thread counts are interleaved in one process (the same
arrays, the same memory), round after round; the table is the median over rounds of the
per-round ratio *all threads / one thread* (below 1: more threads are faster).

Twice: on the machine as it is ("quiet" when nothing else runs), and "busy" with two
other processes spinning on the CPU, which is what a shared machine or a notebook next
to a training run looks like.

Usage::

    python benchmarks/bench_threads.py                    # hidden 64 128 256 512, 5 + 3 rounds
    python benchmarks/bench_threads.py --hidden 64 256 --rounds 3 --busy-rounds 0

Not part of CI; prints a Markdown table and the machine's load.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import statistics
import sys
import time

import numpy as np


def spin(stop) -> None:
    """Keep one core busy until ``stop`` is set."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def step_for(hidden: int, seed: int = 0):
    """One training step of the benchmark's model at this hidden size."""
    from minis2s.bench_model import make_batch, model_config
    from minis2s.model import Seq2Seq
    from minis2s.optim import make_optimizer

    config = dataclasses.replace(model_config("default"), hidden=hidden)
    model = Seq2Seq(config, np.random.default_rng(seed))
    optimizer = make_optimizer("adam", model.params, lr=1e-3)
    src, tgt_in, tgt_out = make_batch(seed)

    def step() -> None:
        _, grads, _ = model.loss_and_grads(src, tgt_in, tgt_out)
        optimizer.step(grads)
    return step


def best_of(step, threads: int, repeats: int) -> float:
    """The fastest of ``repeats`` steps with ``threads`` BLAS threads, in seconds."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        step()                                    # warm-up at this thread count
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return min(times)


def ratios(hidden: int, cores: int, rounds: int, repeats: int) -> list[float]:
    step = step_for(hidden)
    out = []
    for _ in range(rounds):
        one = best_of(step, 1, repeats)
        every = best_of(step, cores, repeats)
        out.append(every / one)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 128, 256, 512])
    p.add_argument("--rounds", type=int, default=5, help="rounds on the machine as it is")
    p.add_argument("--busy-rounds", type=int, default=3,
                   help="rounds with two spinning processes (0: skip)")
    p.add_argument("--repeats", type=int, default=3, help="steps per side per round (best)")
    args = p.parse_args(argv)
    if min(args.hidden) < 1 or args.rounds < 1 or args.busy_rounds < 0 or args.repeats < 1:
        p.error("hidden sizes, --rounds and --repeats must be >= 1, --busy-rounds >= 0")
    from minis2s.threads import cpu_cores

    cores = cpu_cores()
    if cores < 2:
        print("one core: nothing to compare")
        return 0
    rows = {"quiet": {}, "busy": {}}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for hidden in args.hidden:
        rows["quiet"][hidden] = ratios(hidden, cores, args.rounds, args.repeats)
    if args.busy_rounds:
        stop = mp.Event()
        spinners = [mp.Process(target=spin, args=(stop,), daemon=True) for _ in range(2)]
        for s in spinners:
            s.start()
        try:
            for hidden in args.hidden:
                rows["busy"][hidden] = ratios(hidden, cores, args.busy_rounds, args.repeats)
        finally:
            stop.set()
            for s in spinners:
                s.join()
    print(f"ratio {cores} threads / 1 thread, whole training step (median over rounds; "
          f"load average {load:.2f} at the start)\n")
    print("| machine | " + " | ".join(f"hidden {h}" for h in args.hidden) + " |")
    print("| --- |" + " --- |" * len(args.hidden))
    for name, by_hidden in rows.items():
        if by_hidden:
            print(f"| {name} | " + " | ".join(
                f"{statistics.median(by_hidden[h]):.2f} ({min(by_hidden[h]):.2f}-"
                f"{max(by_hidden[h]):.2f})" for h in args.hidden) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
