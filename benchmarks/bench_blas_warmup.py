"""The measurement behind ``minis2s.threads.warm_blas``: decoding with and without one
larger matrix product first.

Each measurement runs in a fresh spawned process, on one BLAS thread: build the dates
task's default model (LSTM x1, additive attention) at a given hidden size, optionally
call :func:`minis2s.threads.warm_blas` (``warm``) or not (``cold``), then greedy-decode
one batch of 64 (sources of 17..20 tokens, 11 steps) ``--per-round`` times; the best
time is the round's. ``cold`` cannot go through the library's decoder, which warms by
itself, so there ``warm_blas`` is first made a no-op. The two settings alternate,
round by round; the table gives the medians over rounds and the median of the
per-round ratios. A second table times one bare product ``(64, H) @ (H, H)`` (float32)
in a fresh process before and after ``warm_blas``.

Usage::

    python benchmarks/bench_blas_warmup.py                   # hidden 64 128 256 512, 3 rounds
    python benchmarks/bench_blas_warmup.py --hidden 256 --rounds 5

Not part of CI; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time


def _decode_worker(hidden: int, warm: bool, per_round: int, conn) -> None:
    import dataclasses

    import numpy as np
    from threadpoolctl import threadpool_limits

    from minis2s import threads
    from minis2s.bench_model import BATCH, make_batch, model_config
    from minis2s.decode import greedy_decode
    from minis2s.model import Seq2Seq

    with threadpool_limits(1, user_api="blas"):
        if warm:
            threads.warm_blas()
        else:
            threads._warmed = True          # the decoder's own call does nothing now
        config = dataclasses.replace(model_config("default"), hidden=hidden)
        model = Seq2Seq(config, np.random.default_rng(0))
        src, _, _ = make_batch(0, **BATCH)
        greedy_decode(model, src, max_len=BATCH["Tt"])
        best = float("inf")
        for _ in range(per_round):
            t0 = time.perf_counter()
            greedy_decode(model, src, max_len=BATCH["Tt"])
            best = min(best, time.perf_counter() - t0)
    conn.send(best)


def _product_worker(hidden: int, conn) -> None:
    import timeit

    import numpy as np
    from threadpoolctl import threadpool_limits

    from minis2s import threads

    rng = np.random.default_rng(0)
    h = rng.standard_normal((64, hidden)).astype(np.float32)
    W = rng.standard_normal((hidden, hidden)).astype(np.float32)
    out = np.empty((64, hidden), np.float32)
    with threadpool_limits(1, user_api="blas"):
        def best() -> float:
            return min(timeit.repeat(lambda: np.matmul(h, W, out=out), number=50,
                                     repeat=5)) / 50 * 1e6
        before = best()
        threads.warm_blas()
        after = best()
    conn.send((before, after))


def _in_fresh_process(target, *args):
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, there))
    proc.start()
    result = here.recv()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=5)
    args = parser.parse_args(argv)
    if any(h < 1 for h in args.hidden) or args.rounds < 1 or args.per_round < 1:
        parser.error("--hidden, --rounds and --per-round must be positive")

    print("Greedy decoding of a batch of 64, one BLAS thread, ms (fresh process each):")
    print("| hidden | cold | warm | cold / warm |")
    print("| --- | --- | --- | --- |")
    for H in args.hidden:
        cold, warm = [], []
        for _ in range(args.rounds):
            cold.append(_in_fresh_process(_decode_worker, H, False, args.per_round))
            warm.append(_in_fresh_process(_decode_worker, H, True, args.per_round))
        ratio = statistics.median(c / w for c, w in zip(cold, warm))
        print(f"| {H} | {statistics.median(cold) * 1e3:.1f} | "
              f"{statistics.median(warm) * 1e3:.1f} | {ratio:.2f} |")
    print()
    print("One product (64, H) @ (H, H), float32, one thread, microseconds (fresh process):")
    print("| H | before warm_blas | after | before / after |")
    print("| --- | --- | --- | --- |")
    for H in args.hidden:
        before, after = _in_fresh_process(_product_worker, H)
        print(f"| {H} | {before:.0f} | {after:.0f} | {before / after:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
