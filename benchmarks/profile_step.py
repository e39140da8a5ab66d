"""Where a whole-model training step spends its time: ``cProfile`` of a few steps of the
benchmark's models (``minis2s.bench_model``), the functions by their own time.

A NumPy or BLAS call is counted in the Python function that makes it, so "own time" of
``sequence_forward`` is its loop's products and element-wise work. Each function's own
time is also put in a group (the encoder's LSTM, the decoder's steps, attention, the
output layer and loss, Adam, the rest) by the module it lives in.

Usage::

    python benchmarks/profile_step.py                       # article model, 3 steps, 1 thread
    python benchmarks/profile_step.py --model default --steps 20 --work decode

Not part of CI; prints two Markdown tables.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

GROUPS = (   # (group, substrings of "file:function"), first match wins
    ("encoder LSTM (cells/lstm.py sequence_*)", ("cells/lstm.py",)),
    ("decoder steps (model/decoder_cells.py, fast_decoder.py)",
     ("decoder_cells.py", "fast_decoder.py")),
    ("attention (model/attention_steps.py, ops/attention.py)",
     ("attention_steps.py", "ops/attention.py")),
    ("output layer, softmax, loss (ops/linear.py, ops/softmax_ce.py)",
     ("ops/linear.py", "softmax_ce.py")),
    ("Adam (optim/)", ("optim/",)),
    ("embeddings (ops/embedding.py)", ("ops/embedding.py",)),
)


def profile(model: str, work: str, steps: int, threads: int) -> pstats.Stats:
    from threadpoolctl import threadpool_limits

    from minis2s.bench_model import setup_minis2s

    with threadpool_limits(threads, user_api="blas"):
        step = setup_minis2s(work, model, 0, None)
        step()
        step()                                   # warm
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(steps):
            step()
        prof.disable()
    return pstats.Stats(prof)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("default", "article"), default="article")
    parser.add_argument("--work", choices=("train", "decode"), default="train")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.threads < 1 or args.top < 1:
        parser.error("--steps, --threads and --top must be positive")

    stats = profile(args.model, args.work, args.steps, args.threads)
    rows = []   # (own seconds, "file:function", calls)
    for (path, _, func), (_, nc, tt, _, _) in stats.stats.items():
        short = path.split("minis2s/", 1)[-1] if "minis2s/" in path else path
        rows.append((tt, f"{short}:{func}", nc))
    total = sum(r[0] for r in rows)
    rows.sort(reverse=True)
    print(f"{args.model} model, {args.work}, {args.steps} steps, {args.threads} BLAS "
          f"thread(s): {1e3 * total / args.steps:.1f} ms a step under the profiler")
    print()
    print("| own time | share | calls | function |")
    print("| --- | --- | --- | --- |")
    for tt, name, nc in rows[:args.top]:
        print(f"| {1e3 * tt / args.steps:.1f} ms | {100 * tt / total:.0f}% "
              f"| {nc // args.steps} | `{name}` |")
    groups = {g: 0.0 for g, _ in GROUPS}
    groups["the rest"] = 0.0
    for tt, name, _ in rows:
        group = next((g for g, keys in GROUPS if any(k in name for k in keys)), "the rest")
        groups[group] += tt
    print()
    print("| group | share of the step |")
    print("| --- | --- |")
    for g, tt in groups.items():
        print(f"| {g} | {100 * tt / total:.0f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
