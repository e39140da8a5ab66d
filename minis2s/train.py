"""The training loop: epochs of batches, validation by decoding, early stopping, checkpoints.

One call does a whole run::

    from minis2s.train import TrainConfig, train
    result = train(TrainConfig(task="dates", epochs=10, out="runs/dates"))
    print(result.test_metrics["exact_match"])

What happens, in order (each piece a small function below):

1. **Data** (:func:`prepare_data`): a built-in task (generated from ``data_seed``,
   fixed splits) or the user's TSV file, cut by the task's tokenizer; the two
   vocabularies are built from the training split.
2. **Model and optimizer**: :class:`~minis2s.model.Seq2Seq` initialised from
   ``seed`` on the host and moved to the active backend; the optimizer and the
   learning-rate schedule by name.
3. **Epochs**: the training pairs are shuffled and bucketed by a generator seeded
   with ``(seed, epoch)``, so epoch ``e`` sees the same batches whether or not the
   run was interrupted before it. Each step::

       loss, grads = model.loss_and_grads(batch)      # on the device
       loss is NaN/inf?        -> stop: TrainingDivergedError (checkpoints untouched)
       ||grads|| clipped to clip
       optimizer.lr = schedule(step); optimizer.step(grads)

4. **Validation** after each epoch, by *decoding* (greedy, or beam search with
   ``valid_beam``): the model's own outputs are compared with the references by
   :func:`minis2s.metrics.compute_all` -- teacher-forced accuracy would flatter it.
   The validation loss (teacher forcing) is logged beside it.
5. **Bookkeeping**: one JSON line per epoch in ``out/log.jsonl``; the last state in
   ``out/checkpoint.last.npz`` and the best (by ``metric``) in
   ``out/checkpoint.best.npz``; early stopping after ``patience`` epochs without
   improvement, or when ``time_budget`` seconds would be exceeded.
6. **The end**: the best checkpoint is evaluated on the test split (beam ``beam``),
   ``out/metrics.json`` is written, and the plots ``history.png``,
   ``attention.png`` and ``grad_norms.png`` are saved.

Resuming (``resume=True``) continues from ``out/checkpoint.last.npz`` -- parameters,
optimizer state, epoch *and position inside the epoch*, the training generator's
state, the log and the early-stopping counters -- so the losses that follow are
exactly those of a run never interrupted. Ctrl-C stops at the next batch boundary,
saves that position, and says how to resume (a second Ctrl-C stops at once).

Numbers stay on the device; they come to the host only where they are logged
(the loss and gradient norm of each step, for the NaN check and the progress bar)
and where text is made (decoded ids).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minis2s import backend, checkpoint, plot
from minis2s.model import ModelSettings

PAD_ID = 0
#: metrics for which smaller is better (early stopping flips its comparison)
LOWER_IS_BETTER = ("error_rate", "sequence_error_rate", "valid_loss")
SCHEDULE_NAMES = ("constant", "step", "exponential")
#: how a TSV file is cut: both sides alike, or "source:target" (e.g. letters -> phonemes)
TOKEN_KINDS = ("char", "word", "char:word", "word:char")
PRESETS: dict[str, dict[str, Any]] = {
    # the article's configuration: LSTM encoder and decoder, 2 layers of 512, Adam 1e-3
    "article": {"cell": "lstm", "layers": 2, "hidden": 512, "optimizer": "adam",
                "lr": 0.001, "epochs": 100},
}
#: settings that may change when a run is resumed (they do not change the steps taken)
RESUMABLE_CHANGES = ("epochs", "patience", "time_budget", "out", "backend", "progress",
                     "plots", "threads", "valid_beam", "beam", "max_len", "examples")
LOG_NAME = "log.jsonl"
METRICS_NAME = "metrics.json"


class TrainingDivergedError(RuntimeError):
    """The loss (or the gradient norm) became NaN or infinite; the message names the step."""


# ======================================================================================
# Configuration
# ======================================================================================
@dataclass(frozen=True)
class TrainConfig(ModelSettings):
    """Everything that defines a training run (JSON-serialisable; saved in checkpoints).

    *Data*

    * ``task`` -- a built-in task (``dates``, ``copy``, ``reverse``, ``sort``,
      ``addition``, ``g2p``); ignored when ``data`` is given.
    * ``data`` -- a TSV file of ``source<TAB>target`` lines (split 90/5/5 by source).
    * ``tokens`` -- how ``data`` files are cut: ``"char"`` or ``"word"`` on both sides,
      or ``"char:word"`` / ``"word:char"`` (source kind : target kind).
    * ``data_seed`` -- seed of the task's generated data / the file's split (kept fixed
      while ``seed`` varies, so runs with different seeds share the splits).
    * ``train_size`` -- training pairs of a built-in task (None: the task's default).
    * ``task_options`` -- further options of the built-in task, e.g.
      ``{"valid": 200, "max_len": 8}`` (see ``minis2s.data.TASKS[task].defaults``).

    *Model*: the fields of :class:`minis2s.model.ModelSettings`, inherited with their
    defaults and checks (``cell``, ``layers``, ``hidden``, ``embedding`` (None: one-hot
    inputs), ``bidirectional``, ``context``, ``attention``, ``dropout``, ``activation``).

    *Optimisation*

    * ``optimizer`` -- ``sgd``, ``momentum``, ``nesterov``, ``rmsprop``, ``adam`` or
      ``adagrad``; ``lr`` its learning rate.
    * ``schedule`` -- ``constant``; ``step``: the learning rate times ``decay`` after
      each epoch; ``exponential``: the same decay spread smoothly over the steps.
      ``warmup``: steps of linear warm-up first.
    * ``clip`` -- global gradient-norm threshold (None: no clipping).
    * ``batch_size``, ``epochs``, ``seed`` (weights, shuffling, dropout).
    * ``teacher_forcing`` -- probability of feeding the reference token rather than
      the model's own prediction.

    *Validation and stopping*

    * ``metric`` -- a key of :func:`minis2s.metrics.compute_all`, or ``valid_loss``:
      what picks the best checkpoint and drives early stopping.
    * ``patience`` -- epochs without improvement before stopping (None: never).
    * ``valid_beam`` -- beam size of the per-epoch validation (1: greedy);
      ``beam`` -- beam size of the final test evaluation.
    * ``max_len`` -- decoding limit (None: 2 x the source length + 10 per sentence).
    * ``time_budget`` -- seconds; the run stops before an epoch that would exceed it.
    * ``examples`` -- example translations reported at the end.

    *Running*

    * ``out`` -- the run directory (None: ``runs/<task>``).
    * ``backend`` -- ``numpy``, ``cupy`` or ``devicesim`` (None: the active one).
    * ``progress`` -- a tqdm bar when stderr is a terminal; ``plots`` -- save the PNGs.
    * ``threads`` -- BLAS threads for the CPU's matrix products (None: the BLAS
      default, one per core). One is the default: the matrices of a small model's step
      are too small to gain from more, and when other programs keep the cores busy,
      threads that wait for each other make training many times slower (measured:
      10x on a shared 2-core machine). Large models on a quiet machine: try more.
    """

    task: str = "dates"
    data: str | None = None
    tokens: str = "char"
    data_seed: int = 0
    train_size: int | None = None
    task_options: dict[str, Any] | None = None
    optimizer: str = "adam"
    lr: float = 0.002
    schedule: str = "constant"
    decay: float = 0.5
    warmup: int = 0
    clip: float | None = 5.0
    batch_size: int = 64
    epochs: int = 8
    seed: int = 0
    teacher_forcing: float = 1.0
    metric: str = "exact_match"
    patience: int | None = 3
    valid_beam: int = 1
    beam: int = 1
    max_len: int | None = None
    time_budget: float | None = None
    examples: int = 5
    out: str | None = None
    backend: str | None = None
    progress: bool = True
    plots: bool = True
    threads: int | None = 1

    def __post_init__(self) -> None:
        super().__post_init__()

        def positive_int(name: str, allow_none: bool = False, minimum: int = 1) -> None:
            v = getattr(self, name)
            if v is None and allow_none:
                return
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}"
                                 f"{' or None' if allow_none else ''}, got {v!r}")

        def number(name: str, low: float, high: float | None = None, allow_none=False,
                   low_open: bool = False) -> None:
            v = getattr(self, name)
            if v is None and allow_none:
                return
            ok = (not isinstance(v, bool) and isinstance(v, (int, float, np.floating))
                  and math.isfinite(v) and (v > low if low_open else v >= low)
                  and (high is None or v <= high))
            if not ok:
                rng = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
                raise ValueError(f"{name} must be a number in {rng}"
                                 f"{' or None' if allow_none else ''}, got {v!r}")

        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"task must be a task name, got {self.task!r}")
        if self.data is not None and not isinstance(self.data, str):
            raise TypeError(f"data must be a file path (str) or None, got {self.data!r}")
        if self.task_options is not None and not isinstance(self.task_options, dict):
            raise TypeError(f"task_options must be a dict or None, got {self.task_options!r}")
        if self.tokens not in TOKEN_KINDS:
            raise ValueError(f"tokens must be one of {', '.join(TOKEN_KINDS)}, "
                             f"got {self.tokens!r}")
        positive_int("data_seed", minimum=0)
        positive_int("seed", minimum=0)
        positive_int("train_size", allow_none=True)
        positive_int("batch_size")
        positive_int("epochs")
        positive_int("warmup", minimum=0)
        positive_int("patience", allow_none=True)
        positive_int("valid_beam")
        positive_int("beam")
        positive_int("max_len", allow_none=True)
        positive_int("examples", minimum=0)
        positive_int("threads", allow_none=True)
        number("lr", 0.0, low_open=True)
        number("decay", 0.0, 1.0, low_open=True)
        number("clip", 0.0, allow_none=True, low_open=True)
        number("teacher_forcing", 0.0, 1.0)
        number("time_budget", 0.0, allow_none=True, low_open=True)
        if self.metric not in metric_names():
            raise ValueError(f"unknown metric {self.metric!r}: expected one of "
                             f"{', '.join(metric_names())}")
        if self.schedule not in SCHEDULE_NAMES:
            raise ValueError(f"unknown schedule {self.schedule!r}: expected one of "
                             f"{', '.join(SCHEDULE_NAMES)}")
        if self.backend is not None and self.backend not in backend.BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}: expected one of "
                             f"{', '.join(backend.BACKENDS)}")

    # -- (de)serialisation --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> TrainConfig:
        """Inverse of :meth:`to_dict`; ``ValueError`` naming unknown keys."""
        if not isinstance(d, dict):
            raise ValueError(f"a training configuration must be a dict, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {sorted(known)}")
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def run_name(self) -> str:
        return Path(self.data).stem if self.data else self.task

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.run_name


def metric_names() -> tuple[str, ...]:
    """The names early stopping can watch: the keys of ``metrics.compute_all`` and
    ``valid_loss``."""
    from minis2s import metrics

    return (*metrics.compute_all([["a"]], [["a"]]), "valid_loss")


def check_settings(config: TrainConfig) -> None:
    """Check the model and optimizer settings *before* any data is generated, so a bad
    value fails at once (``ValueError`` naming it)."""
    from minis2s.optim import OPTIMIZERS

    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {config.optimizer!r}: expected one of "
                         f"{', '.join(OPTIMIZERS)}")


def config_from_preset(preset: str | None, **overrides: Any) -> TrainConfig:
    """``TrainConfig()`` with a preset's settings, then ``overrides`` on top.

    ``preset``: None or a key of :data:`PRESETS` (``"article"``: LSTM, 2 layers of
    512, Adam, lr 1e-3, 100 epochs). Explicit overrides win over the preset.
    """
    settings: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: expected one of {', '.join(PRESETS)}")
        settings.update(PRESETS[preset])
    settings.update(overrides)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown training settings {unknown}")
    return TrainConfig(**settings)


def config_differences(saved: TrainConfig, new: TrainConfig) -> list[str]:
    """Settings that differ and would change the run's steps: ``["lr: 0.001 -> 0.01", ...]``."""
    a, b = saved.to_dict(), new.to_dict()
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a
            if k not in RESUMABLE_CHANGES and a[k] != b[k]]


# ======================================================================================
# Data
# ======================================================================================
@dataclass
class DataBundle:
    """A task's splits as token pairs, its tokenizer and the two vocabularies."""

    name: str
    train: list
    valid: list
    test: list
    tokenizer: Any
    src_vocab: Any
    tgt_vocab: Any


def prepare_data(config: TrainConfig) -> DataBundle:
    """Load or generate the data of ``config`` and build its vocabularies.

    A built-in task comes from :func:`minis2s.data.load_task` with ``data_seed``;
    a TSV file is read with :func:`minis2s.data.read_tsv` and split 90/5/5 by
    distinct source with a generator seeded by ``data_seed``. The vocabularies are
    built from the training split (tokens seen only in valid/test map to ``<unk>``).
    """
    from minis2s import data as D

    if config.data is not None:
        source, _, target = config.tokens.partition(":")
        target = target or source
        pairs = D.read_tsv(config.data, tokens=(source, target))
        train, valid, test = D.split_pairs(pairs, np.random.default_rng(config.data_seed))
        tokenizer = D.Tokenizer(source=source, target=target)
        name = Path(config.data).name
    else:
        options = dict(config.task_options or {})
        if config.train_size is not None:
            options["train"] = config.train_size
        task = D.load_task(config.task, seed=config.data_seed, **options)
        train, valid, test, tokenizer, name = (task.train, task.valid, task.test,
                                               task.tokenizer, task.name)
    if not valid:
        raise ValueError(f"{name}: the validation split is empty (more data is needed)")
    src_vocab = D.Vocab.build([s for s, _ in train])
    tgt_vocab = D.Vocab.build([t for _, t in train])
    return DataBundle(name, list(train), list(valid), list(test), tokenizer,
                      src_vocab, tgt_vocab)


# ======================================================================================
# Decoding and evaluation (shared with the CLI)
# ======================================================================================
def decode_sources(model: Any, src_ids: Sequence[Sequence[int]], *, beam: int = 1,
                   max_len: int | None = None, batch_size: int = 256) -> list[Any]:
    """Decode many sources: one :class:`minis2s.decode.Hypothesis` per source, in order.

    ``src_ids``: N non-empty id lists. Sources are sorted by length and decoded in
    batches of ``batch_size`` (``(Ts, N)`` padded host arrays), greedy when
    ``beam == 1``, else beam search keeping the best hypothesis.
    """
    from minis2s import decode
    from minis2s.data.batching import pad_sequences

    order = np.argsort([len(s) for s in src_ids], kind="stable")
    out: list[Any] = [None] * len(src_ids)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        src, _ = pad_sequences([src_ids[i] for i in idx], PAD_ID)
        if beam == 1:
            hyps = decode.greedy_decode(model, src, max_len=max_len)
        else:
            hyps = [h[0] for h in decode.beam_decode(model, src, beam_size=beam,
                                                     max_len=max_len)]
        for i, h in zip(idx, hyps):
            out[int(i)] = h
    return out


def evaluate_pairs(model: Any, pairs: Sequence, src_vocab: Any, tgt_vocab: Any, *,
                   beam: int = 1, max_len: int | None = None) -> tuple[dict[str, float], list]:
    """Decode the sources of ``pairs`` and score the outputs against their targets.

    Returns ``(metrics, predictions)``: :func:`minis2s.metrics.compute_all` of the
    decoded token lists against the reference token lists, and the decoded
    hypotheses (same order as ``pairs``).
    """
    from minis2s import metrics

    if not pairs:
        raise ValueError("nothing to evaluate: the split is empty")
    src_ids = [src_vocab.encode(s) for s, _ in pairs]
    hyps = decode_sources(model, src_ids, beam=beam, max_len=max_len)
    outputs = [tgt_vocab.decode(h.tokens) for h in hyps]
    return metrics.compute_all(outputs, [list(t) for _, t in pairs]), hyps


def mean_loss(model: Any, pairs: Sequence, src_vocab: Any, tgt_vocab: Any,
              batch_size: int = 256) -> float:
    """Teacher-forced cross-entropy per target token over ``pairs`` (evaluation mode)."""
    from minis2s.data import encode_pairs, make_batches

    src_ids, tgt_ids = encode_pairs(pairs, src_vocab, tgt_vocab)
    total, tokens = None, 0
    for b in make_batches(src_ids, tgt_ids, batch_size, rng=None, bucket=True):
        part = model.loss(b.src, b.tgt_in, b.tgt_out) * b.n_tgt_tokens   # stays on device
        total = part if total is None else total + part
        tokens += b.n_tgt_tokens
    return backend.to_float(total) / tokens


# ======================================================================================
# The run
# ======================================================================================
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


def _schedule_for(config: TrainConfig, steps_per_epoch: int):
    from minis2s.optim import make_schedule

    if config.schedule == "constant" or config.decay == 1.0:
        main = make_schedule("constant", config.lr)
    elif config.schedule == "step":
        main = make_schedule("step", config.lr, step_size=steps_per_epoch, gamma=config.decay)
    else:
        main = make_schedule("exponential", config.lr,
                             gamma=config.decay ** (1.0 / steps_per_epoch))
    if config.warmup:
        return make_schedule("warmup", config.lr, warmup_steps=config.warmup, then=main)
    return main


def model_config_for(config: TrainConfig, data: DataBundle):
    from minis2s.model import ModelConfig

    return ModelConfig(src_vocab=len(data.src_vocab), tgt_vocab=len(data.tgt_vocab),
                       **config.model_settings())


class _SigintFlag:
    """While installed, the first Ctrl-C only sets ``requested`` (the loop stops at the next
    batch boundary, in a consistent state); a second one raises KeyboardInterrupt at once."""

    def __init__(self, echo: Callable[[str], None]):
        self.requested = False
        self._echo = echo
        self._previous: Any = None

    def __enter__(self) -> _SigintFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._echo("\nCtrl-C: stopping after this batch and saving a checkpoint "
                   "(press Ctrl-C again to stop at once)")

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Interrupted(Exception):
    pass


def _print_now(message: str) -> None:
    """``print`` that flushes: epoch lines show at once even when stdout is a file."""
    print(message, flush=True)


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          callback: Callable[[str, dict[str, Any]], None] | None = None,
          echo: Callable[[str], None] | None = _print_now) -> TrainResult:
    """Train a model as ``config`` says; see the module docstring for the steps.

    Parameters
    ----------
    config : the run's settings.
    resume : continue the run saved in ``config.out_dir/checkpoint.last.npz``; its
        configuration must match ``config`` except for :data:`RESUMABLE_CHANGES`
        (``ValueError`` naming every differing setting otherwise).
    overwrite : allow starting a new run in a directory that already holds one
        (without it that is a ``ValueError``, so a finished run is never lost).
    callback : ``callback(event, info)`` called with ``event == "step"`` after every
        optimizer step (``info``: epoch, batch, step, loss, grad_norm, lr) and
        ``"epoch"`` after every epoch (``info``: the log record). It may raise
        ``KeyboardInterrupt`` to stop the run as Ctrl-C would.
    echo : where progress messages go (printed by default; ``None`` for silence).

    Returns a :class:`TrainResult`. Raises :class:`TrainingDivergedError` when the
    loss or gradient norm becomes NaN/inf (no checkpoint is written then, so the
    last good one stays intact), ``ValueError``/``TypeError`` for bad settings or
    data, and :class:`minis2s.backend.BackendUnavailableError` for a backend this
    machine cannot run.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train expects a TrainConfig, got {type(config).__name__}")
    say = echo or (lambda message: None)
    with contextlib.ExitStack() as stack:
        if config.backend is not None:
            stack.enter_context(backend.use_backend(config.backend))
        stack.enter_context(blas_threads(config.threads))
        return _Run(config, say, callback).run(resume, overwrite)


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit the BLAS library's threads to ``n`` inside the block (``None``: no limit).

    Uses ``threadpoolctl`` when it is installed; without it the block runs as it is.
    """
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


class _Run:
    """The state of one training run (used by :func:`train`; not public)."""

    def __init__(self, config: TrainConfig, say: Callable[[str], None],
                 callback: Callable[[str, dict[str, Any]], None] | None):
        self.config = config
        self.say = say
        self.callback = callback
        self.out = config.out_dir

    # -- set-up ---------------------------------------------------------------------------
    def _setup(self, resume: bool, overwrite: bool) -> None:
        from minis2s.data import encode_pairs
        from minis2s.model import Seq2Seq
        from minis2s.optim import make_optimizer

        cfg = self.config
        check_settings(cfg)
        last = self.out / checkpoint.LAST
        saved = None
        if resume:
            if not last.exists():
                raise ValueError(f"nothing to resume: {last} does not exist (train without "
                                 "--resume first, or point --out at the run's directory)")
            saved = checkpoint.load_checkpoint(last)
            _check_kind(saved, last)
            diffs = config_differences(TrainConfig.from_dict(saved["train_config"]), cfg)
            if diffs:
                raise ValueError(f"cannot resume {last}: it was trained with different "
                                 f"settings ({'; '.join(diffs)}); use the same settings, or "
                                 "a new --out directory for a new run")
        elif last.exists() and not overwrite:
            raise ValueError(f"{self.out} already holds a training run ({checkpoint.LAST}); "
                             "continue it with --resume, choose another --out directory, "
                             "or pass --overwrite to start over")

        self.data = prepare_data(cfg)
        if saved is not None:
            for side in ("src_vocab", "tgt_vocab"):
                if saved[side] != getattr(self.data, side).to_dict():
                    raise ValueError(f"cannot resume {last}: the data's {side} differs from "
                                     "the checkpoint's (the data file or task changed)")
        self.src_ids, self.tgt_ids = encode_pairs(self.data.train, self.data.src_vocab,
                                                  self.data.tgt_vocab)
        self.max_len = cfg.max_len  # None: decode's per-row limit (2 x source length + 10)
        self.model_config = model_config_for(cfg, self.data)
        self.model = Seq2Seq(self.model_config, np.random.default_rng(cfg.seed))
        if saved is not None:
            try:
                self.model.set_params(saved["params"])
            except (KeyError, TypeError, ValueError) as exc:
                raise checkpoint.CheckpointError(f"{last}: its parameters do not fit the "
                                                 f"model ({exc})") from exc
        # made after set_params, which rebinds model.params: the optimizer updates in place
        # the very dict the model reads
        self.optimizer = make_optimizer(cfg.optimizer, self.model.params, cfg.lr)
        self.steps_per_epoch = math.ceil(len(self.src_ids) / cfg.batch_size)
        self.schedule = _schedule_for(cfg, self.steps_per_epoch)
        # the generator of dropout masks and teacher-forcing coin flips
        self.train_rng = np.random.default_rng([cfg.seed, 1])

        # progress: epoch = epochs completed; batch = batches done in the current epoch
        self.epoch, self.batch, self.step = 0, 0, 0
        self.partial = _new_partial()
        self.history: list[dict[str, Any]] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.elapsed = 0.0
        self.grad_probe: dict[str, list[float]] = {}
        if saved is not None:
            try:
                self._restore(saved)
            except (KeyError, TypeError, ValueError) as exc:
                raise checkpoint.CheckpointError(
                    f"{last} cannot be resumed: its training state is incomplete or "
                    f"malformed ({type(exc).__name__}: {exc})") from exc
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            for name in (checkpoint.BEST, checkpoint.LAST):
                if (self.out / name).exists():  # --overwrite: the old run goes
                    (self.out / name).unlink()
            self.grad_probe["before training"] = self._probe_grad_norms()
        self._write_log()

    def _restore(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer"])
        p = saved["progress"]
        self.epoch, self.batch, self.step = int(p["epoch"]), int(p["batch"]), int(p["step"])
        self.partial = dict(p["partial"])
        self.train_rng.bit_generator.state = p["train_rng"]
        self.history = list(saved["history"])
        es = saved["early_stopping"]
        self.best, self.best_epoch, self.bad_epochs = es["best"], es["best_epoch"], es["bad"]
        self.elapsed = float(saved["elapsed_s"])
        self.grad_probe = {k: list(v) for k, v in saved["grad_probe"].items()}
        where = (f"epoch {self.epoch + 1}, batch {self.batch + 1}" if self.batch
                 else f"the end of epoch {self.epoch}")
        self.say(f"resuming {self.out / checkpoint.LAST} at {where} (step {self.step})")

    # -- checkpoints ------------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        return {
            "kind": "minis2s-run",
            "train_config": self.config.to_dict(),
            "model_config": self.model_config.to_dict(),
            "tokenizer": self.data.tokenizer.to_dict(),
            "src_vocab": self.data.src_vocab.to_dict(),
            "tgt_vocab": self.data.tgt_vocab.to_dict(),
            "max_len": self.max_len,
            "params": self.model.host_params(),
            "optimizer": self.optimizer.state_dict(),
            "progress": {"epoch": self.epoch, "batch": self.batch, "step": self.step,
                         "partial": dict(self.partial),
                         "train_rng": self.train_rng.bit_generator.state},
            "history": self.history,
            "early_stopping": {"best": self.best, "best_epoch": self.best_epoch,
                               "bad": self.bad_epochs},
            "elapsed_s": self.elapsed,
            "grad_probe": self.grad_probe,
        }

    def _save(self, name: str) -> Path:
        return checkpoint.save_checkpoint(self.out / name, self._payload())

    def _write_log(self) -> None:
        """Rewrite ``log.jsonl`` from the history (atomically): after a resume it holds
        exactly the epochs the checkpoint knows."""
        path = self.out / LOG_NAME
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in self.history))
        os.replace(tmp, path)

    # -- one step ---------------------------------------------------------------------------
    def _gradients(self, batch: Any) -> tuple[float, dict[str, Any], float, int]:
        """Loss and (clipped) gradients of one batch; stops the run if either is NaN/inf."""
        from minis2s.optim import clip_grad_norm, global_norm

        cfg = self.config
        loss, grads, info = self.model.loss_and_grads(
            batch.src, batch.tgt_in, batch.tgt_out, teacher_forcing=cfg.teacher_forcing,
            rng=self.train_rng, train=True)
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
        self.step += 1

    def _kept_message(self) -> str:
        last = self.out / checkpoint.LAST
        if last.exists():
            return f"The last good checkpoint, {last}, is unchanged."
        return "No checkpoint had been written yet."

    # -- one epoch --------------------------------------------------------------------------
    def _batches(self, epoch_index: int) -> list[Any]:
        """The batches of epoch ``epoch_index`` (0-based): shuffled and bucketed by a
        generator seeded with ``(seed, epoch)``, so they do not depend on history."""
        from minis2s.data import make_batches

        rng = np.random.default_rng([self.config.seed, 1000 + epoch_index])
        return make_batches(self.src_ids, self.tgt_ids, self.config.batch_size, rng=rng)

    def _train_epoch(self, sigint: _SigintFlag) -> None:
        batches = self._batches(self.epoch)
        bar = _progress(len(batches), self.batch, self.epoch + 1, self.config.epochs,
                        self.config.progress)
        p = self.partial
        self._mark_boundary()
        try:
            for batch in batches[self.batch:]:
                t0 = time.perf_counter()
                loss, grads, norm, tokens = self._gradients(batch)  # parameters untouched
                self._updating = True          # from here to the next boundary: not savable
                self._update(grads)
                self.batch += 1
                p["loss_sum"] += loss * tokens
                p["tokens"] += tokens
                p["norm_sum"] += norm
                p["norm_max"] = max(p["norm_max"], norm)
                p["batches"] += 1
                p["time"] += time.perf_counter() - t0
                self._mark_boundary()
                self._updating = False
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

    def _mark_boundary(self) -> None:
        """Remember the state between two batches -- what an interrupt saves. (While a
        batch's gradients are computed the parameters do not change, but the training
        generator may be drawn from: its state is taken here, before.)"""
        self._resume_point = (self.batch, self.step, dict(self.partial),
                              self.train_rng.bit_generator.state)

    def _end_epoch(self) -> dict[str, Any]:
        cfg, data, p = self.config, self.data, self.partial
        t0 = time.perf_counter()
        metrics, _ = evaluate_pairs(self.model, data.valid, data.src_vocab, data.tgt_vocab,
                                    beam=cfg.valid_beam, max_len=self.max_len)
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
        value = valid_loss if cfg.metric == "valid_loss" else metrics.get(cfg.metric)
        if value is None:
            raise ValueError(f"unknown metric {cfg.metric!r}: expected valid_loss or one of "
                             f"{', '.join(metrics)}")
        improved = self.best is None or (value < self.best if cfg.metric in LOWER_IS_BETTER
                                         else value > self.best)
        if improved:
            self.best, self.best_epoch, self.bad_epochs = value, self.epoch, 0
        else:
            self.bad_epochs += 1
        self._write_log()
        if improved:
            self._save(checkpoint.BEST)
        self._save(checkpoint.LAST)
        self.say(f"epoch {self.epoch:3d}/{cfg.epochs}  loss {record['train_loss']:.4f}  "
                 f"valid loss {valid_loss:.4f}  {cfg.metric} {value:.4f}"
                 f"{' *' if improved else '  '}  |g| {record['grad_norm']:.2f}  "
                 f"{p['time'] + valid_time:.1f} s")
        if self.callback is not None:
            self.callback("epoch", record)
        return record

    # -- the whole run ----------------------------------------------------------------------
    def run(self, resume: bool, overwrite: bool) -> TrainResult:
        cfg = self.config
        self._setup(resume, overwrite)
        n_params = sum(int(np.prod(a.shape)) for a in self.model.params.values())
        self.say(f"task {self.data.name}: {len(self.data.train)} training pairs, "
                 f"{len(self.data.valid)} validation, {len(self.data.test)} test; vocabularies "
                 f"{len(self.data.src_vocab)} -> {len(self.data.tgt_vocab)}")
        self.say(f"model: {cfg.cell} x{cfg.layers}, hidden {cfg.hidden}, context "
                 f"{cfg.context}, {n_params:,} parameters; {cfg.optimizer} lr {cfg.lr:g}, "
                 f"batch {cfg.batch_size}, backend {backend.backend_name()}")
        status, message = "completed", ""
        self._updating = False
        with _SigintFlag(self.say) as sigint:
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
        last = self.out / checkpoint.LAST
        if getattr(self, "_updating", False) or not hasattr(self, "_resume_point"):
            # stopped in the middle of a parameter update: that state is not one to save
            message = (f"interrupted during an update; nothing new was saved. "
                       f"{self._kept_message()}")
        else:
            self.batch, self.step, self.partial, rng_state = self._resume_point
            self.train_rng.bit_generator.state = rng_state
            if self.batch == 0:  # interrupted at an epoch boundary: the last save is current
                message = f"interrupted after epoch {self.epoch}; {last} is current."
            else:
                self._save(checkpoint.LAST)
                message = (f"interrupted in epoch {self.epoch + 1} after batch {self.batch} "
                           f"(step {self.step}); saved {last}.")
        message += (f" Resume with: minis2s train --resume --out {self.out}")
        self.say(message)
        return TrainResult("interrupted", self.out, self.epoch, self.step, self.best_epoch,
                           self.best, self.history, message=message,
                           train_time_s=self.elapsed)

    def _finish(self, status: str, message: str) -> TrainResult:
        cfg, data = self.config, self.data
        if message:
            self.say(f"stopping: {message}")
        best_path = self.out / checkpoint.BEST
        if best_path.exists():  # evaluate the best model, not the last
            best = checkpoint.load_checkpoint(best_path)
            self.model.set_params(best["params"])
        self.grad_probe["after training"] = self._probe_grad_norms()
        test_metrics = None
        examples: list[tuple[str, str, str]] = []
        if data.test:
            test_metrics, hyps = evaluate_pairs(self.model, data.test, data.src_vocab,
                                                data.tgt_vocab, beam=cfg.beam,
                                                max_len=self.max_len)
            tok = data.tokenizer
            spread = np.linspace(0, len(data.test) - 1, min(cfg.examples, len(data.test)))
            for k in sorted({int(round(i)) for i in spread}):  # across the split, not its head
                (src, tgt), h = data.test[k], hyps[k]
                examples.append((tok.join_source(list(src)),
                                 tok.join_target(data.tgt_vocab.decode(h.tokens)),
                                 tok.join_target(list(tgt))))
        summary = {
            "status": status, "message": message, "epochs": self.epoch, "steps": self.step,
            "best_epoch": self.best_epoch, "metric": cfg.metric, "best_valid": self.best,
            "test": test_metrics, "test_beam": cfg.beam, "train_time_s": self.elapsed,
            "backend": backend.backend_name(), "config": cfg.to_dict(),
            "model_config": self.model_config.to_dict(),
            "examples": [{"source": s, "output": o, "target": t} for s, o, t in examples],
        }
        path = self.out / METRICS_NAME
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        os.replace(tmp, path)
        plots = self._plots() if cfg.plots else []
        return TrainResult(status, self.out, self.epoch, self.step, self.best_epoch,
                           self.best, self.history, test_metrics, examples, plots,
                           self.elapsed, message)

    # -- plots ------------------------------------------------------------------------------
    def _probe_batch(self) -> Any:
        """A fixed batch for the gradient-norm plot: the 32 longest validation sources."""
        from minis2s.data import encode_pairs, make_batches

        pairs = sorted(self.data.valid, key=lambda p: -len(p[0]))[:32]
        src_ids, tgt_ids = encode_pairs(pairs, self.data.src_vocab, self.data.tgt_vocab)
        return make_batches(src_ids, tgt_ids, len(pairs), rng=None, bucket=False)[0]

    def _probe_grad_norms(self) -> list[float]:
        b = self._probe_batch()
        _, _, info = self.model.loss_and_grads(b.src, b.tgt_in, b.tgt_out, train=False)
        if info.enc_grad_norms is None:
            return []
        return [float(v) for v in np.asarray(info.enc_grad_norms)]

    def _plots(self) -> list[Path]:
        written = []
        if self.history:
            plot.plot_history(self.history, self.out / plot.HISTORY_PNG)
            written.append(self.out / plot.HISTORY_PNG)
        # each curve relative to its largest value: the loss (hence every gradient) is
        # orders of magnitude smaller after training, and the *shape* is the lesson
        curves = {k: np.asarray(v) / max(max(v), 1e-30) for k, v in self.grad_probe.items()
                  if v}
        if curves:
            plot.plot_grad_norms(curves, self.out / plot.GRAD_NORMS_PNG,
                                 ylabel="||dL/dx_j|| at the encoder input / its maximum")
            written.append(self.out / plot.GRAD_NORMS_PNG)
        if self.config.context == "attention":
            examples = self._attention_examples()
            if examples:
                plot.plot_attention(examples, self.out / plot.ATTENTION_PNG)
                written.append(self.out / plot.ATTENTION_PNG)
        return written

    def _attention_examples(self, k: int = 4) -> list:
        data = self.data
        pairs = data.valid[:k]
        hyps = decode_sources(self.model, [data.src_vocab.encode(s) for s, _ in pairs],
                              max_len=self.max_len)
        out = []
        for (src, _), h in zip(pairs, hyps):
            if h.attention is None:
                return []
            output = [data.tgt_vocab.id_to_token(i) for i in h.tokens]
            out.append((list(src), output, np.asarray(h.attention)))
        return out


def _new_partial() -> dict[str, float]:
    return {"loss_sum": 0.0, "tokens": 0, "norm_sum": 0.0, "norm_max": 0.0, "batches": 0,
            "time": 0.0}


def _check_kind(payload: dict[str, Any], path: Path) -> None:
    needed = ("train_config", "model_config", "params", "src_vocab", "tgt_vocab", "tokenizer")
    if payload.get("kind") != "minis2s-run" or any(k not in payload for k in needed):
        raise checkpoint.CheckpointError(f"{path} is a minis2s checkpoint but not of a "
                                         "training run (it lacks the model and vocabularies)")


def _progress(total: int, done: int, epoch: int, epochs: int, enabled: bool):
    """A tqdm bar on stderr, or None when disabled or when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=f"epoch {epoch}/{epochs}", unit="batch",
                leave=False, file=sys.stderr, dynamic_ncols=True)


# ======================================================================================
# Loading a trained model (evaluate / translate)
# ======================================================================================
@dataclass
class TrainedModel:
    """A model restored from a checkpoint, with what is needed to read and write text."""

    model: Any
    src_vocab: Any
    tgt_vocab: Any
    tokenizer: Any
    train_config: TrainConfig
    max_len: int | None
    path: Path

    def translate(self, texts: Sequence[str], beam: int = 1,
                  unknown: list[str] | None = None) -> list[str]:
        """Decode each text; symbols outside the source vocabulary are mapped to ``<unk>``
        and, if ``unknown`` is a list, appended to it (for the caller to warn about)."""
        ids = []
        for k, text in enumerate(texts):
            tokens = self.tokenizer.encode_source(text)
            if not tokens:
                raise ValueError(f"text {k + 1} is empty: nothing to translate")
            ids.append(self.src_vocab.encode(tokens, unknown=unknown))
        hyps = decode_sources(self.model, ids, beam=beam, max_len=self.max_len)
        return [self.tokenizer.join_target(self.tgt_vocab.decode(h.tokens)) for h in hyps]


def load_trained(path: str | os.PathLike) -> TrainedModel:
    """Restore the model saved at ``path`` (a checkpoint file or a run directory, whose
    best checkpoint is taken) on the active backend. ``CheckpointError`` if unusable."""
    from minis2s.data import Tokenizer, Vocab
    from minis2s.model import ModelConfig, Seq2Seq

    path = checkpoint.resolve_checkpoint_path(path)
    payload = checkpoint.load_checkpoint(path)
    _check_kind(payload, path)
    try:
        model_config = ModelConfig.from_dict(payload["model_config"])
        model = Seq2Seq(model_config, np.random.default_rng(0))
        model.set_params(payload["params"])
        trained = TrainedModel(model, Vocab.from_dict(payload["src_vocab"]),
                               Vocab.from_dict(payload["tgt_vocab"]),
                               Tokenizer.from_dict(payload["tokenizer"]),
                               TrainConfig.from_dict(payload["train_config"]),
                               payload["max_len"], path)
    except (ValueError, TypeError, KeyError) as exc:
        raise checkpoint.CheckpointError(f"{path}: its contents do not make a model: "
                                         f"{exc}") from exc
    return trained
