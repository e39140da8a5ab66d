"""Forward + backward of a 2-layer LSTM: minis2s vs torch.nn.LSTM (CPU) vs the GEMM ceiling.

A thin script over :mod:`minis2s.bench` (the logic lives in the package so that the
installed ``minis2s bench`` command can run it too). See benchmarks/README.md.

    python benchmarks/bench_lstm.py                 # hidden 256 and 512, 7 paired rounds
    python benchmarks/bench_lstm.py --threads 1     # one thread per side
    python benchmarks/bench_lstm.py --help
"""

from __future__ import annotations

import sys

from minis2s.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
