"""The training loop: :func:`train` and the state of one run.

One step::

    loss, grads = model.loss_and_grads(batch)      # on the device
    dL/dW[frozen rows] = 0                         # freeze_embedding (train.pretrained)
    loss is NaN/inf?        -> stop: TrainingDivergedError (checkpoints untouched)
    ||grads|| clipped to clip
    optimizer.lr = schedule(step); optimizer.step(grads)
    average.update(params)                         # --average (optim.averaging)

One epoch: the training pairs shuffled and bucketed by a generator seeded with
``(seed, epoch)``, one step per batch, then validation by decoding, one log record,
and the checkpoints (:mod:`minis2s.train.rundir` says which file is written when).
With ``--average``, validation and the best checkpoint use the averaged weights.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minis2s import backend, checkpoint
from minis2s.train import report, rundir
from minis2s.train.config import (
    LOWER_IS_BETTER,
    TrainConfig,
    check_settings,
    config_differences,
    schedule_for,
)
from minis2s.train.errors import InputError, TrainingDivergedError
from minis2s.train.evaluation import evaluate_pairs, mean_loss
from minis2s.train.prepare import model_config_for, prepare_data
from minis2s.train.pretrained import FrozenRows, initial_model
from minis2s.train.runtime import (
    SigintFlag,
    blas_threads,
    print_now,
    progress_bar,
    run_threads,
)

Callback = Callable[[str, dict[str, Any]], None]


@dataclass
class TrainResult:
    """What :func:`train` returns (all host data)."""

    status: str       # "completed" | "early_stopped" | "time_budget" | "interrupted"
    out_dir: Path
    epochs: int                        # epochs completed
    steps: int
    best_epoch: int | None
    best_metric: float | None
    history: list[dict[str, Any]]
    test_metrics: dict[str, float] | None = None
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # (source, output, target)
    plots: list[Path] = field(default_factory=list)
    train_time_s: float = 0.0
    message: str = ""


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          callback: Callback | None = None,
          echo: Callable[[str], None] | None = print_now) -> TrainResult:
    """Train a model as ``config`` says; see :mod:`minis2s.train` for the steps.

    Parameters
    ----------
    config : the run's settings.
    resume : continue the run saved in ``config.out_dir/checkpoint.last.npz``; its
        configuration must match ``config`` except for :data:`RESUMABLE_CHANGES`
        (``ValueError`` naming every differing setting otherwise).
    overwrite : allow starting a new run in a directory that is not empty: the files of
        an earlier run there are replaced, other files kept (without it that is a
        ``ValueError``, so nothing is ever lost; see :mod:`minis2s.train.rundir`).
    callback : ``callback(event, info)`` called with ``event == "step"`` after every
        optimizer step (``info``: epoch, batch, step, loss, grad_norm, lr) and
        ``"epoch"`` after every epoch (``info``: the log record). It may raise
        ``KeyboardInterrupt`` to stop the run as Ctrl-C would.
    echo : where progress messages go (printed by default -- a closed standard output
        stops the printing, not the run; ``None`` for silence).

    Returns a :class:`TrainResult`. Raises :class:`TrainingDivergedError` when the
    loss or gradient norm becomes NaN/inf (no checkpoint is written then, so the
    last good one stays intact), :class:`InputError` (a ``ValueError``) for settings,
    data or a run directory that cannot be used,
    :class:`minis2s.checkpoint.CheckpointError` for a checkpoint that cannot be resumed,
    and :class:`minis2s.backend.BackendUnavailableError` for a backend this machine
    cannot run.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train expects a TrainConfig, got {type(config).__name__}")
    say = echo or (lambda message: None)
    with contextlib.ExitStack() as stack:
        if config.backend is not None:
            stack.enter_context(backend.use_backend(config.backend))
        stack.enter_context(blas_threads(run_threads(config)))
        return _Run(config, say, callback, resume=resume, overwrite=overwrite).run()


class _Interrupted(Exception):
    pass


class _Run:
    """The state of one training run (used by :func:`train`; not public).

    Everything is set up here, in order: the settings and the run directory are
    checked, the saved run is read (``resume``), the data prepared, the model, the
    optimizer and the schedule made, the saved state restored -- and only then is
    anything in the directory changed.
    """

    def __init__(self, config: TrainConfig, say: Callable[[str], None],
                 callback: Callback | None, *, resume: bool, overwrite: bool):
        from minis2s.data import encode_pairs
        from minis2s.optim import WeightAverage, make_optimizer

        try:
            check_settings(config)
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        self.config, self.say, self.callback = config, say, callback
        self.dir = rundir.RunDir(config.out_dir)
        replacing = self.dir.check(resume=resume, overwrite=overwrite)
        saved = self._saved_run() if resume else None
        self.data = prepare_data(config)
        if saved is not None:
            self._check_same_data(saved)
        self.src_ids, self.tgt_ids = encode_pairs(self.data.train, self.data.src_vocab,
                                                  self.data.tgt_vocab)
        self.max_len = config.max_len  # None: decode's per-row limit (2 x source length + 10)
        self.model_config = model_config_for(config, self.data)
        # the weights of step 0 (the vectors, if any, are read now, and never on resume)
        start = initial_model(config, self.data, self.model_config, pretrained=saved is None)
        self.model, self.frozen, self.vectors_note = start.model, start.frozen, start.note
        if saved is not None:
            try:
                self.model.set_params(saved["params"])
                self.frozen = FrozenRows.from_dict(saved.get("frozen_rows", {}),
                                                   self.model.param_shapes())
            except (KeyError, TypeError, ValueError) as exc:
                raise checkpoint.CheckpointError(f"{self.dir.last}: its parameters do not "
                                                 f"fit the model ({exc})") from exc
        # made after set_params, which rebinds model.params: the optimizer updates in place
        # the very dict the model reads
        self.optimizer = make_optimizer(config.optimizer, self.model.params, config.lr)
        self.average = (WeightAverage(self.model.params, config.average) if config.average
                        else None)
        self.steps_per_epoch = math.ceil(len(self.src_ids) / config.batch_size)
        self.schedule = schedule_for(config, self.steps_per_epoch)
        # the generator of dropout masks and teacher-forcing coin flips
        self.train_rng = np.random.default_rng([config.seed, 1])

        # progress: epoch = epochs completed; batch = batches done in the current epoch
        self.epoch, self.batch, self.step = 0, 0, 0
        self.partial = _new_partial()
        self.history: list[dict[str, Any]] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.elapsed = 0.0
        self.grad_probe: dict[str, list[float]] = {}
        # between two batches: what an interrupt saves; None until the first boundary
        self.resume_point: tuple | None = None
        self.updating = False  # inside a parameter update: the state is not one to save
        if saved is not None:
            self._restore(saved)
        self.dir.start(replacing=replacing, overwrite=overwrite, say=say)
        if saved is None:
            self.grad_probe["before training"] = report.grad_norm_probe(self.model, self.data)
        self.dir.write_log(self.history)

    # -- resuming ---------------------------------------------------------------------------
    def _saved_run(self) -> dict[str, Any]:
        saved = self.dir.load_last()
        diffs = config_differences(TrainConfig.from_dict(saved["train_config"]), self.config)
        if diffs:
            raise InputError(f"cannot resume {self.dir.last}: it was trained with different "
                             f"settings ({'; '.join(diffs)}); use the same settings, or "
                             "a new --out directory for a new run")
        return saved

    def _check_same_data(self, saved: dict[str, Any]) -> None:
        for side in ("src_vocab", "tgt_vocab"):
            if saved[side] != getattr(self.data, side).to_dict():
                raise InputError(f"cannot resume {self.dir.last}: the data's {side} differs "
                                 "from the checkpoint's (the data file or task changed)")

    def _restore(self, saved: dict[str, Any]) -> None:
        try:
            self.optimizer.load_state_dict(saved["optimizer"])
            if self.average is not None:
                self.average.load_state_dict(saved["average"])
            p = saved["progress"]
            self.epoch, self.batch, self.step = int(p["epoch"]), int(p["batch"]), int(p["step"])
            self.partial = dict(p["partial"])
            self.train_rng.bit_generator.state = p["train_rng"]
            self.history = list(saved["history"])
            es = saved["early_stopping"]
            self.best, self.best_epoch, self.bad_epochs = es["best"], es["best_epoch"], es["bad"]
            self.elapsed = float(saved["elapsed_s"])
            self.grad_probe = {k: list(v) for k, v in saved["grad_probe"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise checkpoint.CheckpointError(
                f"{self.dir.last} cannot be resumed: its training state is incomplete or "
                f"malformed ({type(exc).__name__}: {exc})") from exc
        where = (f"epoch {self.epoch + 1}, batch {self.batch + 1}" if self.batch
                 else f"the end of epoch {self.epoch}")
        self.say(f"resuming {self.dir.last} at {where} (step {self.step})")

    # -- checkpoints ------------------------------------------------------------------------
    def _save(self, name: str) -> Path:
        return self.dir.save(name, rundir.payload(
            config=self.config, model_config=self.model_config, data=self.data,
            max_len=self.max_len, params=self.model.host_params(),
            optimizer_state=self.optimizer.state_dict(),
            progress={"epoch": self.epoch, "batch": self.batch, "step": self.step,
                      "partial": dict(self.partial),
                      "train_rng": self.train_rng.bit_generator.state},
            history=self.history,
            early_stopping={"best": self.best, "best_epoch": self.best_epoch,
                            "bad": self.bad_epochs},
            elapsed_s=self.elapsed, grad_probe=self.grad_probe,
            frozen_rows=self.frozen.to_dict(),
            average=None if self.average is None else self.average.state_dict()))

    def _evaluation_weights(self) -> Any:
        """A context in which the model holds the weights validation sees: the averaged
        ones with ``--average`` (swapped in place: the optimizer holds those arrays)."""
        if self.average is None:
            return contextlib.nullcontext()
        return self.average.swapped_in(self.model.params)

    def _kept_message(self) -> str:
        if self.dir.last.exists():
            return f"The last good checkpoint, {self.dir.last}, is unchanged."
        return "No checkpoint had been written yet."

    # -- one step ---------------------------------------------------------------------------
    def _gradients(self, batch: Any) -> tuple[float, dict[str, Any], float, int]:
        """Loss and (clipped) gradients of one batch; stops the run if either is NaN/inf."""
        from minis2s.optim import clip_grad_norm, global_norm

        cfg = self.config
        loss, grads, info = self.model.loss_and_grads(
            batch.src, batch.tgt_in, batch.tgt_out, teacher_forcing=cfg.teacher_forcing,
            rng=self.train_rng, train=True, smoothing=cfg.label_smoothing)
        grads = self.frozen.apply(grads)             # frozen rows: zero gradient
        loss_value = backend.to_float(loss)          # host: the NaN check and the log
        norm = clip_grad_norm(grads, cfg.clip) if cfg.clip else global_norm(grads)
        if not (math.isfinite(loss_value) and math.isfinite(norm)):
            what = "loss" if not math.isfinite(loss_value) else "gradient norm"
            value = loss_value if what == "loss" else norm
            raise TrainingDivergedError(
                f"training diverged at step {self.step + 1} (epoch {self.epoch + 1}, batch "
                f"{self.batch + 1}): the {what} is {value}. Try gradient clipping "
                f"(--clip 1), a lower learning rate (now --lr {cfg.lr:g}), or both. "
                + self._kept_message())
        return loss_value, grads, norm, info.num_tokens

    def _update(self, grads: dict[str, Any]) -> None:
        """One optimizer step with this step's learning rate (parameters change in place)."""
        self.optimizer.lr = self.schedule(self.step)
        self.optimizer.step(grads)
        if self.average is not None:
            self.average.update(self.model.params)
        self.step += 1

    # -- one epoch --------------------------------------------------------------------------
    def _batches(self, epoch_index: int) -> list[Any]:
        """The batches of epoch ``epoch_index`` (0-based): shuffled and bucketed by a
        generator seeded with ``(seed, epoch)``, so they do not depend on history."""
        from minis2s.data import make_batches

        rng = np.random.default_rng([self.config.seed, 1000 + epoch_index])
        return make_batches(self.src_ids, self.tgt_ids, self.config.batch_size, rng=rng)

    def _train_epoch(self, sigint: SigintFlag) -> None:
        batches = self._batches(self.epoch)
        bar = progress_bar(len(batches), self.batch, self.epoch + 1, self.config.epochs,
                           self.config.progress)
        self._mark_boundary()
        try:
            for batch in batches[self.batch:]:
                t0 = time.perf_counter()
                loss, grads, norm, tokens = self._gradients(batch)  # parameters untouched
                self.updating = True           # from here to the next boundary: not savable
                self._update(grads)
                self.batch += 1
                self._add_to_partial(loss, tokens, norm, time.perf_counter() - t0)
                self._mark_boundary()
                self.updating = False
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                if self.callback is not None:
                    self.callback("step", {"epoch": self.epoch + 1, "batch": self.batch,
                                           "step": self.step, "loss": loss, "grad_norm": norm,
                                           "lr": self.optimizer.lr})
                if sigint.requested:
                    raise _Interrupted
        finally:
            if bar is not None:
                bar.close()

    def _add_to_partial(self, loss: float, tokens: int, norm: float, seconds: float) -> None:
        p = self.partial
        p["loss_sum"] += loss * tokens
        p["tokens"] += tokens
        p["norm_sum"] += norm
        p["norm_max"] = max(p["norm_max"], norm)
        p["batches"] += 1
        p["time"] += seconds

    def _mark_boundary(self) -> None:
        """Remember the state between two batches -- what an interrupt saves. (While a
        batch's gradients are computed the parameters do not change, but the training
        generator may be drawn from: its state is taken here, before.)"""
        self.resume_point = (self.batch, self.step, dict(self.partial),
                             self.train_rng.bit_generator.state)

    def _end_epoch(self) -> dict[str, Any]:
        cfg, data, p = self.config, self.data, self.partial
        t0 = time.perf_counter()
        with self._evaluation_weights():
            metrics = evaluate_pairs(self.model, data.valid, data.src_vocab, data.tgt_vocab,
                                     beam=cfg.valid_beam, max_len=self.max_len).metrics
            valid_loss = mean_loss(self.model, data.valid, data.src_vocab, data.tgt_vocab)
        valid_time = time.perf_counter() - t0
        self.epoch += 1
        self.batch = 0
        self.elapsed += p["time"] + valid_time
        record = {
            "epoch": self.epoch, "step": self.step,
            "train_loss": p["loss_sum"] / max(p["tokens"], 1),
            "valid_loss": valid_loss,
            "valid": metrics,
            "lr": self.optimizer.lr,
            "grad_norm": p["norm_sum"] / max(p["batches"], 1),
            "grad_norm_max": p["norm_max"],
            "train_time_s": p["time"], "valid_time_s": valid_time,
            "elapsed_s": self.elapsed,
        }
        self.history.append(record)
        self.partial = _new_partial()
        value = valid_loss if cfg.metric == "valid_loss" else metrics[cfg.metric]
        improved = self.best is None or (value < self.best if cfg.metric in LOWER_IS_BETTER
                                         else value > self.best)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, self.epoch, 0
        else:
            self.bad_epochs += 1
        self.dir.write_log(self.history)
        if improved:
            with self._evaluation_weights():     # the best model is the one validated
                self._save(rundir.BEST)
        self._save(rundir.LAST)
        self.say(f"epoch {self.epoch:3d}/{cfg.epochs}  loss {record['train_loss']:.4f}  "
                 f"valid loss {valid_loss:.4f}  {cfg.metric} {value:.4f}"
                 f"{' *' if improved else '  '}  |g| {record['grad_norm']:.2f}  "
                 f"{p['time'] + valid_time:.1f} s")
        if self.callback is not None:
            self.callback("epoch", record)
        return record

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, data = self.config, self.data
        n_params = sum(int(np.prod(a.shape)) for a in self.model.params.values())
        self.say(f"task {data.name}: {len(data.train)} training pairs, "
                 f"{len(data.valid)} validation, {len(data.test)} test; vocabularies "
                 f"{len(data.src_vocab)} -> {len(data.tgt_vocab)}")
        self.say(f"model: {cfg.cell} x{cfg.layers}, hidden {cfg.hidden}, context "
                 f"{cfg.context}, {n_params:,} parameters; {cfg.optimizer} lr {cfg.lr:g}, "
                 f"batch {cfg.batch_size}, backend {backend.backend_name()}")
        if self.vectors_note:
            self.say(self.vectors_note)
        status, message = "completed", ""
        with SigintFlag(self.say) as sigint:
            try:
                while self.epoch < cfg.epochs:
                    stop = self._stop_reason()
                    if stop:
                        status, message = stop
                        break
                    self._train_epoch(sigint)
                    self._end_epoch()
                    if sigint.requested:  # Ctrl-C during validation: stop after saving
                        raise _Interrupted
            except (KeyboardInterrupt, _Interrupted):
                return self._interrupted()
        return self._finish(status, message)

    def _stop_reason(self) -> tuple[str, str] | None:
        cfg = self.config
        if cfg.patience is not None and self.bad_epochs >= cfg.patience and self.batch == 0:
            return ("early_stopped", f"no improvement of {cfg.metric} for {self.bad_epochs} "
                    f"epochs (best {self.best:.4f} at epoch {self.best_epoch})")
        if cfg.time_budget is not None and self.history and self.batch == 0:
            last = self.history[-1]
            need = last["train_time_s"] + last["valid_time_s"]
            if self.elapsed + need > cfg.time_budget:
                return ("time_budget", f"another epoch (~{need:.0f} s) would exceed the "
                        f"time budget of {cfg.time_budget:g} s")
        return None

    def _interrupted(self) -> TrainResult:
        last = self.dir.last
        if self.updating or self.resume_point is None:
            # stopped in the middle of a parameter update: that state is not one to save
            message = (f"interrupted during an update; nothing new was saved. "
                       f"{self._kept_message()}")
        else:
            self.batch, self.step, self.partial, rng_state = self.resume_point
            self.train_rng.bit_generator.state = rng_state
            if self.batch == 0:  # interrupted at an epoch boundary: the last save is current
                message = f"interrupted after epoch {self.epoch}; {last} is current."
            else:
                self._save(rundir.LAST)
                message = (f"interrupted in epoch {self.epoch + 1} after batch {self.batch} "
                           f"(step {self.step}); saved {last}.")
        message += f" Resume with: minis2s train --resume --out {self.dir}"
        self.say(message)
        return TrainResult("interrupted", self.dir.path, self.epoch, self.step,
                           self.best_epoch, self.best, self.history, message=message,
                           train_time_s=self.elapsed)

    def _finish(self, status: str, message: str) -> TrainResult:
        cfg, data = self.config, self.data
        if message:
            self.say(f"stopping: {message}")
        if self.dir.best.exists():  # evaluate the best model, not the last
            self.model.set_params(checkpoint.load_checkpoint(self.dir.best)["params"])
        self.grad_probe["after training"] = report.grad_norm_probe(self.model, data)
        test_metrics, examples = None, []
        if data.test:
            test = evaluate_pairs(self.model, data.test, data.src_vocab, data.tgt_vocab,
                                  beam=cfg.beam, max_len=self.max_len)
            test_metrics = test.metrics
            examples = report.pick_examples(data, test, cfg.examples)
        self.dir.write_metrics({
            "status": status, "message": message, "epochs": self.epoch, "steps": self.step,
            "best_epoch": self.best_epoch, "metric": cfg.metric, "best_valid": self.best,
            "test": test_metrics, "test_beam": cfg.beam, "train_time_s": self.elapsed,
            "backend": backend.backend_name(), "config": cfg.to_dict(),
            "model_config": self.model_config.to_dict(),
            "examples": [{"source": s, "output": o, "target": t} for s, o, t in examples],
        })
        plots = (report.draw_plots(self.dir.path, self.history, self.grad_probe, self.model,
                                   data, self.max_len) if cfg.plots else [])
        return TrainResult(status, self.dir.path, self.epoch, self.step, self.best_epoch,
                           self.best, self.history, test_metrics, examples, plots,
                           self.elapsed, message)


def _new_partial() -> dict[str, float]:
    return {"loss_sum": 0.0, "tokens": 0, "norm_sum": 0.0, "norm_max": 0.0, "batches": 0,
            "time": 0.0}
