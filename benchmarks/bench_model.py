"""The whole model against an equivalent PyTorch model: a training step and greedy decoding.

Thin wrapper around :mod:`minis2s.bench_model` (also ``minis2s bench --model``); see
``benchmarks/README.md``. ``python benchmarks/bench_model.py --help`` lists the options.
"""

from minis2s.bench_model import main

if __name__ == "__main__":
    raise SystemExit(main())
