"""The whole-model benchmark: its PyTorch model is proven equivalent before anything is timed
(and a difference is caught), the benchmark runs, the harness measures what it says, and the
thread count follows the model's size."""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pytest

from minis2s import bench_harness as harness
from minis2s import bench_model
from minis2s.threads import CROSSOVER_HIDDEN, threads_for_model
from minis2s.train import TrainConfig, run_threads

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed")


def test_the_two_models_are_the_documented_ones():
    assert bench_model.model_config("default").hidden == 64
    article = bench_model.model_config("article")
    assert (article.layers, article.hidden, article.cell) == (2, 512, "lstm")
    with pytest.raises(ValueError, match="model: expected one of default, article"):
        bench_model.model_config("huge")


def test_batch_is_shaped_like_a_dates_batch():
    src, tgt_in, tgt_out = bench_model.make_batch(0)
    assert src.shape == (20, 64) and tgt_in.shape == tgt_out.shape == (11, 64)
    lengths = (src != 0).sum(axis=0)
    assert lengths.min() >= 17 and lengths.max() == 20
    assert (tgt_in[0] == 1).all() and (tgt_out[-1] == 2).all()


@needs_torch
def test_pytorch_model_is_equivalent():
    result = bench_model.check_equivalence("default")
    assert result["params"] == 77_903
    assert result["worst_grad"][1] < 1e-10


@needs_torch
def test_equivalence_check_catches_a_difference(monkeypatch):
    import torch

    load = bench_model.load_torch_weights

    def load_then_nudge(module, config, params):
        load(module, config, params)
        with torch.no_grad():
            module.cells[0].bias_hh[0] += 1e-6      # one number of the decoder's bias

    monkeypatch.setattr(bench_model, "load_torch_weights", load_then_nudge)
    with pytest.raises(AssertionError, match="default: (loss|gradient)"):
        bench_model.check_equivalence("default")


def test_benchmark_runs_tiny(capsys):
    assert bench_model.main(["--model", "default", "--work", "decode", "--rounds", "1",
                             "--per-round", "1", "--warmup", "0", "--settle", "0",
                             "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "default  decode" in out and "other load (cores)" in out


def test_threads_come_from_the_load_read_once_before_the_benchmark(monkeypatch):
    """The parent reads the load once and every worker gets that number: read in each
    worker, the load average would count the benchmark's own earlier rounds."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    calls = []
    monkeypatch.setattr(bench_model, "other_load", lambda: calls.append(1) or 0.0)
    rows = bench_model.run(["default"], ["decode", "train"], rounds=1, per_round=1, warmup=0,
                           settle=0.0, use_torch=False, out=io.StringIO())
    assert len(calls) == 1 and [r["threads"] for r in rows] == [1, 1]

    def blas_threads() -> set:
        return {i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"}

    before = blas_threads()
    busy = bench_model.setup_minis2s("decode", "article", 0, 9.0)   # hidden 512, busy
    assert blas_threads() == {1}
    busy.limiter.restore_original_limits()
    quiet = bench_model.setup_minis2s("decode", "article", 0, 0.0)
    assert blas_threads() == {threads_for_model(bench_model.model_config("article"),
                                                load=0.0)}
    quiet.limiter.restore_original_limits()
    assert blas_threads() == before


def test_step_peak_counts_what_a_step_allocates():
    peak = harness.step_peak_bytes(lambda: np.ones(4_000_000).sum())   # 30.5 MiB
    assert 25 * 2**20 < peak < 60 * 2**20


def test_load_meter_reports_cores():
    meter = harness.LoadMeter([])
    meter.start()
    load = meter.stop()
    assert load >= 0.0


def test_threads_follow_the_model_size():
    assert threads_for_model(TrainConfig(), cores=8) == 1                 # hidden 64
    big = TrainConfig(hidden=CROSSOVER_HIDDEN)
    assert threads_for_model(big, cores=8, load=0.0) == 8
    # other programs' load takes its cores: whole cores, never below one thread
    assert threads_for_model(big, cores=8, load=2.4) == 6
    assert threads_for_model(big, cores=2, load=0.3) == 2
    assert threads_for_model(big, cores=2, load=1.6) == 1
    assert threads_for_model(big, cores=2, load=9.0) == 1
    assert threads_for_model(TrainConfig(), cores=8, load=0.0) == 1      # small: always one
    with pytest.raises(ValueError, match="load must be a number >= 0"):
        threads_for_model(big, cores=2, load=float("nan"))
    assert run_threads(TrainConfig()) == 1
    assert run_threads(TrainConfig(threads=3)) == 3
    assert run_threads(TrainConfig(threads=None)) is None
    with pytest.raises(TypeError, match="hidden size"):
        threads_for_model(object())
    with pytest.raises(ValueError, match="threads must be an integer >= 1 or None"):
        TrainConfig(threads="many")


@pytest.mark.parametrize("which, argv", [
    ("bench", ["--rounds", "0"]), ("bench", ["--hidden", "8", "0"]),
    ("bench_model", ["--rounds", "0"]), ("bench_model", ["--threads", "0"]),
])
def test_both_benchmarks_refuse_counts_below_one(which, argv, capsys):
    """The check both benchmark commands share (bench_harness.check_command)."""
    import importlib

    module = importlib.import_module(f"minis2s.{which}")
    assert module.main(argv) == 2
    assert "must be >= 1" in capsys.readouterr().err


def test_bench_command_with_model_runs_the_whole_model_benchmark(monkeypatch):
    import minis2s.bench
    from minis2s.cli import main

    seen = []
    monkeypatch.setattr(bench_model, "main", lambda argv: seen.append(("model", argv)) or 0)
    monkeypatch.setattr(minis2s.bench, "main", lambda argv: seen.append(("lstm", argv)) or 0)
    assert main(["bench", "--model", "default", "--rounds", "2"]) == 0
    assert main(["bench", "--hidden", "256"]) == 0
    assert seen == [("model", ["--model", "default", "--rounds", "2"]),
                    ("lstm", ["--hidden", "256"])]
