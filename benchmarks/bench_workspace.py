"""The measurement behind the workspace pool (``minis2s.cells._workspace``).

One training step's worth of a 2-layer LSTM (the work of ``minis2s bench``: T = 20,
N = 64, D = 128, float32, forward and backward), with the pool on and off, interleaved
round by round in one process. "Off" makes every workspace a fresh ``np.empty``, as
before the pool: on Linux the C allocator gives large freed blocks back to the system,
and the kernel zeroes every page of the next step's blocks on first touch (a page
fault each). Reported per setting: the median over rounds of the best step time, the
page faults per step (``getrusage``), and the pool's bytes.

Usage::

    python benchmarks/bench_workspace.py                  # hidden 256 and 512, 5 rounds
    python benchmarks/bench_workspace.py --hidden 128 --rounds 3

Not part of CI; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time


def measure(H: int, rounds: int, per_round: int) -> dict[str, tuple[float, float]]:
    from minis2s.bench import _minis2s_setup
    from minis2s.cells._workspace import POOL

    step = _minis2s_setup(20, 64, 128, H, 0)
    default_min = POOL.min_bytes
    times: dict[str, list[float]] = {"pool on": [], "pool off": []}
    faults: dict[str, list[float]] = {"pool on": [], "pool off": []}
    for _ in range(rounds):
        for setting in times:
            POOL.min_bytes = default_min if setting == "pool on" else float("inf")
            POOL.clear()
            step()                                  # settle into the setting
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            best = float("inf")
            for _ in range(per_round):
                t0 = time.perf_counter()
                step()
                best = min(best, time.perf_counter() - t0)
            f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            times[setting].append(best)
            faults[setting].append((f1 - f0) / per_round)
    POOL.min_bytes = default_min
    return {s: (statistics.median(times[s]) * 1e3, statistics.median(faults[s]))
            for s in times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=4)
    args = parser.parse_args(argv)
    if any(h < 1 for h in args.hidden) or args.rounds < 1 or args.per_round < 1:
        parser.error("--hidden, --rounds and --per-round must be positive")
    print("| hidden | step ms, pool off | step ms, pool on | on / off "
          "| page faults per step, off | on |")
    print("| --- | --- | --- | --- | --- | --- |")
    for H in args.hidden:
        r = measure(H, args.rounds, args.per_round)
        (t_off, f_off), (t_on, f_on) = r["pool off"], r["pool on"]
        print(f"| {H} | {t_off:.1f} | {t_on:.1f} | {t_on / t_off:.2f} | {f_off:.0f} "
              f"| {f_on:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
