"""The training loop: it learns, resumes exactly, survives Ctrl-C and NaN, and refuses misuse."""

from __future__ import annotations

import json
import math
import os
import signal

import numpy as np
import pytest

from minis2s import backend, checkpoint
from minis2s.train import (
    PRESETS,
    TrainConfig,
    TrainingDivergedError,
    config_differences,
    config_from_preset,
    load_trained,
    rundir,
    train,
)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in the NaN tests

# a tiny run: 120 reversals of 3-5 characters, 4 batches per epoch
TINY = dict(task="reverse", train_size=120, task_options={"valid": 16, "test": 16,
                                                          "min_len": 3, "max_len": 5},
            cell="lstm", hidden=16, embedding=8, batch_size=32, epochs=4, lr=0.01,
            patience=None, progress=False, plots=False, examples=2)


def tiny(tmp_path, **changes) -> TrainConfig:
    return TrainConfig(**{**TINY, "out": str(tmp_path / "run"), **changes})


class StepLog:
    """A callback recording every step's loss; optionally raising at one step."""

    def __init__(self, stop_at: int | None = None, action=None):
        self.losses: list[float] = []
        self.stop_at = stop_at
        self.action = action or (lambda: (_ for _ in ()).throw(KeyboardInterrupt))
        self.epochs: list[dict] = []

    def __call__(self, event, info):
        if event == "step":
            self.losses.append(info["loss"])
            if info["step"] == self.stop_at:
                self.action()
        else:
            self.epochs.append(info)


def _params(out_dir, name=rundir.LAST):
    return checkpoint.load_checkpoint(out_dir / name)["params"]


# -- it learns ---------------------------------------------------------------------------
def test_short_run_learns_reverse(tmp_path):
    """The short version of the README's main job: a toy task to high accuracy, fast."""
    config = TrainConfig(task="reverse", train_size=3000,
                         task_options={"valid": 100, "test": 200, "min_len": 3, "max_len": 6,
                                       "alphabet": "abcdefghij"},
                         cell="lstm", hidden=48, embedding=16, batch_size=32, epochs=8,
                         lr=0.01, patience=3, progress=False, out=str(tmp_path / "rev"))
    result = train(config, echo=None)
    assert result.test_metrics["exact_match"] >= 0.95, result.test_metrics
    out = tmp_path / "rev"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == result.epochs and log[-1]["epoch"] == result.epochs
    assert log[0]["train_loss"] > log[-1]["train_loss"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["exact_match"] == result.test_metrics["exact_match"]
    for name in ("history.png", "attention.png", "grad_norms.png", rundir.BEST,
                 rundir.LAST):
        assert (out / name).exists(), name
    # the saved model translates
    trained = load_trained(out)
    unknown: list[str] = []
    assert trained.translate(["abc", "jihg", "az"], unknown=unknown)[:2] == ["cba", "ghij"]
    assert unknown == ["z"]


# -- exact resume ------------------------------------------------------------------------
def test_resume_after_two_epochs_equals_uninterrupted_run(tmp_path, xp):
    straight = StepLog()
    full = train(tiny(tmp_path / "a"), callback=straight, echo=None)
    assert full.epochs == 4 and len(straight.losses) == 16

    first = StepLog()
    train(tiny(tmp_path / "b", epochs=2), callback=first, echo=None)
    second = StepLog()
    resumed = train(tiny(tmp_path / "b", epochs=4), resume=True, callback=second, echo=None)
    assert first.losses + second.losses == straight.losses  # bit for bit
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    a, b = _params(tmp_path / "a" / "run"), _params(tmp_path / "b" / "run")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_label_smoothing_reaches_the_training_loss(tmp_path):
    """The first step's loss (same weights, same batch) is linear in eps:
    ``L(eps) = (1 - eps) L(0) + eps U``, so L(0.2) - L(0.1) = L(0.1) - L(0) != 0."""
    first = []
    for k, eps in enumerate((0.0, 0.1, 0.2)):
        log = StepLog()
        train(tiny(tmp_path / str(k), epochs=1, label_smoothing=eps), callback=log, echo=None)
        first.append(log.losses[0])
    assert first[1] != first[0]
    assert first[2] - first[1] == pytest.approx(first[1] - first[0], rel=1e-3)


def test_average_validates_and_keeps_the_averaged_weights(tmp_path):
    """--average: the best checkpoint holds a / (1 - d^t) of the last one's average state
    (its best epoch is the last), the last one the weights as trained."""
    result = train(tiny(tmp_path, epochs=2, average=0.9, metric="valid_loss"), echo=None)
    assert result.best_epoch == 2
    last = checkpoint.load_checkpoint(result.out_dir / rundir.LAST)
    best = checkpoint.load_checkpoint(result.out_dir / rundir.BEST)
    state = last["average"]
    assert int(state["step"]) == result.steps == 8 and float(state["decay"]) == 0.9
    for name, p in best["params"].items():
        np.testing.assert_allclose(p, state[f"avg.{name}"] / (1 - 0.9 ** 8), rtol=1e-6)
        assert not np.array_equal(p, last["params"][name])
    # the averaged weights' validation loss is what the log reports
    plain = train(tiny(tmp_path / "plain", epochs=2, metric="valid_loss"), echo=None)
    assert result.history[0]["train_loss"] == plain.history[0]["train_loss"]
    assert result.history[0]["valid_loss"] != plain.history[0]["valid_loss"]


def test_average_resumes_exactly(tmp_path):
    straight = train(tiny(tmp_path / "a", average=0.8), echo=None)
    config = tiny(tmp_path / "b", average=0.8)
    assert train(config, callback=StepLog(stop_at=6), echo=None).status == "interrupted"
    resumed = train(config, resume=True, echo=None)
    assert [r["valid_loss"] for r in resumed.history] == \
        [r["valid_loss"] for r in straight.history]
    for name in (rundir.LAST, rundir.BEST):
        a = checkpoint.load_checkpoint(straight.out_dir / name)
        b = checkpoint.load_checkpoint(config.out_dir / name)
        for key in ("params", "average"):
            assert a[key].keys() == b[key].keys()
            for k in a[key]:
                np.testing.assert_array_equal(a[key][k], b[key][k])


def test_ctrl_c_mid_epoch_saves_and_resumes_exactly(tmp_path):
    straight = StepLog()
    train(tiny(tmp_path / "a", dropout=0.3, layers=2, teacher_forcing=0.7), callback=straight,
          echo=None)

    config = tiny(tmp_path / "b", dropout=0.3, layers=2, teacher_forcing=0.7)
    first = StepLog(stop_at=6)  # Ctrl-C simulated after step 6, in the middle of epoch 2
    messages: list[str] = []
    result = train(config, callback=first, echo=messages.append)
    assert result.status == "interrupted"
    assert "epoch 2 after batch 2 (step 6)" in result.message
    assert "minis2s train --resume --out" in result.message and messages[-1] == result.message
    saved = checkpoint.load_checkpoint(config.out_dir / rundir.LAST)
    assert (saved["progress"]["epoch"], saved["progress"]["batch"]) == (1, 2)

    second = StepLog()
    resumed = train(config, resume=True, callback=second, echo=None)
    assert resumed.status == "completed"
    # dropout masks and teacher-forcing coins continue from the saved generator state
    assert first.losses + second.losses == straight.losses
    log = (config.out_dir / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [1, 2, 3, 4]


def test_real_sigint_stops_at_the_batch_boundary(tmp_path):
    config = tiny(tmp_path)
    send = StepLog(stop_at=3, action=lambda: os.kill(os.getpid(), signal.SIGINT))
    result = train(config, callback=send, echo=None)
    assert result.status == "interrupted" and len(send.losses) == 3
    assert checkpoint.load_checkpoint(config.out_dir / rundir.LAST)["progress"]["step"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


# -- NaN ---------------------------------------------------------------------------------
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from minis2s.model import Seq2Seq

    real = Seq2Seq.loss_and_grads
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        loss, grads, info = real(self, *args, **kwargs)
        calls["n"] += kwargs.get("train", True)  # training steps only, not the gradient probe
        if calls["n"] == 6:  # step 6: the 2nd batch of epoch 2
            loss = loss * float("nan")
        return loss, grads, info

    monkeypatch.setattr(Seq2Seq, "loss_and_grads", poisoned)
    config = tiny(tmp_path)
    saved_bytes = {}
    log = StepLog()

    def callback(event, info):
        log(event, info)
        if event == "epoch":
            saved_bytes[info["epoch"]] = (config.out_dir / rundir.LAST).read_bytes()

    with pytest.raises(TrainingDivergedError) as err:
        train(config, callback=callback, echo=None)
    message = str(err.value)
    assert "step 6 (epoch 2, batch 2)" in message and "loss is nan" in message
    assert "--clip" in message and "lower learning rate" in message
    assert "checkpoint.last.npz, is unchanged" in message
    assert (config.out_dir / rundir.LAST).read_bytes() == saved_bytes[1]
    kept = checkpoint.load_checkpoint(config.out_dir / rundir.LAST)
    assert kept["progress"]["epoch"] == 1
    assert all(np.isfinite(a).all() for a in kept["params"].values())
    assert len((config.out_dir / "log.jsonl").read_text().splitlines()) == 1


def test_absurd_learning_rate_diverges_with_a_clear_message(tmp_path):
    config = tiny(tmp_path, optimizer="sgd", lr=1e30, clip=None)
    with pytest.raises(TrainingDivergedError, match=r"diverged at step \d+ \(epoch 1") as err:
        train(config, echo=None)
    assert "No checkpoint had been written yet" in str(err.value)
    assert not (config.out_dir / rundir.LAST).exists()


# -- stopping rules ----------------------------------------------------------------------
def test_early_stopping_on_a_flat_metric(tmp_path):
    result = train(tiny(tmp_path, lr=1e-9, patience=1, epochs=6), echo=None)
    assert result.status == "early_stopped" and result.epochs == 2
    assert result.best_epoch == 1


def test_time_budget(tmp_path):
    result = train(tiny(tmp_path, time_budget=1e-3), echo=None)
    assert result.status == "time_budget" and result.epochs == 1
    assert "time budget" in result.message


# -- misuse ------------------------------------------------------------------------------
def test_resume_with_other_settings_names_them(tmp_path):
    train(tiny(tmp_path, epochs=1), echo=None)
    with pytest.raises(ValueError, match=r"different settings \(hidden: 16 -> 32; lr: 0.01 -> "
                                         r"0.02\)"):
        train(tiny(tmp_path, hidden=32, lr=0.02), resume=True, echo=None)
    # allowed changes: more epochs, another patience
    result = train(tiny(tmp_path, epochs=2, patience=5), resume=True, echo=None)
    assert result.epochs == 2


def test_new_run_does_not_overwrite_an_old_one(tmp_path):
    config = tiny(tmp_path, epochs=1)
    train(config, echo=None)
    before = (config.out_dir / rundir.LAST).read_bytes()
    with pytest.raises(ValueError, match="already holds a training run.*--resume"):
        train(config, echo=None)
    assert (config.out_dir / rundir.LAST).read_bytes() == before
    train(config, overwrite=True, echo=None)


def test_nothing_to_resume(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        train(tiny(tmp_path), resume=True, echo=None)


def test_resume_refuses_a_damaged_checkpoint(tmp_path):
    config = tiny(tmp_path, epochs=1)
    train(config, echo=None)
    path = config.out_dir / rundir.LAST
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(checkpoint.CheckpointError, match="checkpoint.last.npz"):
        train(config, resume=True, echo=None)


@pytest.mark.parametrize("changes, message", [
    ({"lr": 0.0}, "lr must be"), ({"lr": float("nan")}, "lr must be"),
    ({"batch_size": 0}, "batch_size must be"),
    ({"dropout": 1.0}, r"dropout: expected a rate in \[0, 1\), got 1.0"),
    ({"metric": "accuracy"}, "unknown metric 'accuracy'"),
    ({"schedule": "cosine"}, "unknown schedule"), ({"backend": "tpu"}, "unknown backend"),
    ({"tokens": "bytes"}, "tokens must be"), ({"epochs": 2.5}, "epochs must be"),
])
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


@pytest.mark.parametrize("changes, message", [
    ({"task": "nope"}, "unknown task 'nope'"), ({"cell": "elman"}, "elman"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
])
def test_bad_settings_fail_before_training(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        train(tiny(tmp_path, **changes), echo=None)
    assert not (tmp_path / "run" / rundir.LAST).exists()


def test_presets_and_differences():
    article = config_from_preset("article")
    assert (article.cell, article.layers, article.hidden, article.optimizer, article.lr,
            article.epochs) == ("lstm", 2, 512, "adam", 0.001, 100)
    assert config_from_preset("article", hidden=64).hidden == 64  # explicit wins
    assert PRESETS["article"]["hidden"] == 512
    with pytest.raises(ValueError, match="unknown preset"):
        config_from_preset("paper")
    a, b = TrainConfig(), TrainConfig(epochs=50, out="x", lr=0.1)
    assert config_differences(a, b) == [f"lr: {a.lr!r} -> 0.1"]
    assert TrainConfig.from_dict(a.to_dict()) == a
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainConfig.from_dict({"epochz": 3})


def test_runs_on_the_device_backend_with_identical_numbers(tmp_path):
    """The loop touches the device only through the backend: devicesim reproduces numpy."""
    on_cpu = StepLog()
    train(tiny(tmp_path / "cpu", epochs=1), callback=on_cpu, echo=None)
    on_dev = StepLog()
    with backend.use_backend("devicesim"):
        result = train(tiny(tmp_path / "dev", epochs=1), callback=on_dev, echo=None)
    assert on_cpu.losses == on_dev.losses and all(map(math.isfinite, on_dev.losses))
    assert result.test_metrics is not None


def test_blas_threads_are_limited_during_training(tmp_path):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []

    def callback(event, info):
        seen.extend(p["num_threads"] for p in threadpoolctl.threadpool_info()
                    if p["user_api"] == "blas")

    before = [p["num_threads"] for p in threadpoolctl.threadpool_info()
              if p["user_api"] == "blas"]
    train(tiny(tmp_path, epochs=1, threads=1), callback=callback, echo=None)
    assert seen and set(seen) == {1}
    after = [p["num_threads"] for p in threadpoolctl.threadpool_info()
             if p["user_api"] == "blas"]
    assert after == before  # restored


def test_references_first_or_all_for_a_source_on_several_lines(tmp_path):
    """A TSV source on several lines: training sees only its first target with
    references="first", every target with "all"; validation and test keep them all."""
    from minis2s.train import prepare_data

    lines = [f"w{i}\tp{i}" for i in range(40)] + [f"w{i}\tq{i}" for i in range(40)]
    tsv = tmp_path / "several.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    first = prepare_data(TrainConfig(data=str(tsv), references="first"))
    every = prepare_data(TrainConfig(data=str(tsv), references="all"))
    assert {t[0] for _, t in first.train} == {"p"}
    half = len(every.train) // 2
    assert sorted(t[0] for _, t in every.train) == ["p"] * half + ["q"] * half
    assert len(every.train) == 2 * len(first.train)
    for split in (first.valid, first.test):
        assert sorted(t[0] for _, t in split) == ["p"] * (len(split) // 2) + ["q"] * (
            len(split) // 2)
    with pytest.raises(ValueError, match="references must be one of"):
        TrainConfig(references="some")
