#!/usr/bin/env bash
# Grapheme-to-phoneme result of docs/results_g2p.md: train on the CMUdict g2p task
# (~106k training words), then score the test split greedily and with beam 5.
# CPU only, one BLAS thread; about 34 minutes (training stops itself at --time-budget) on a
# busy 2-core machine.
# The full table (first and any reference, both splits, the curve) comes from
# benchmarks/g2p_results.py.
# Not part of CI.  Usage: benchmarks/g2p_run.sh [OUT_DIR]   (default /tmp/g2p_run/main)
set -euo pipefail
OUT=${1:-/tmp/g2p_run/main}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

time minis2s train --task g2p \
    --cell gru --hidden 256 --embedding 64 --bidirectional \
    --context attention --attention additive \
    --optimizer adam --lr 3e-3 --schedule exponential --decay 0.8 --clip 5 \
    --batch-size 64 --epochs 30 --patience 3 --valid-beam 1 \
    --time-budget 2040 --seed 0 --data-seed 0 \
    --out "$OUT" --overwrite --no-progress

# scored against each word's first pronunciation, as this page's first run was
time minis2s evaluate "$OUT" --split test --beam 1 --references first --json > "$OUT/test_greedy.json"
time minis2s evaluate "$OUT" --split test --beam 5 --references first --json > "$OUT/test_beam5.json"
cat "$OUT/test_greedy.json" "$OUT/test_beam5.json"
