"""What defines a training run: :class:`TrainConfig`, its checks, the presets, and what
may change on resume.

The model's settings are :class:`minis2s.model.ModelSettings`' fields, inherited
with their defaults and checks; this module adds the data, optimisation,
validation and running settings. Everything else in :mod:`minis2s.train` reads
its settings from a ``TrainConfig``, and the command line derives its options
from the fields (``minis2s.cli``), so a setting exists in one place.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minis2s import backend
from minis2s.data.pairs import check_reference_mode
from minis2s.model import ModelSettings

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
      ``train_size`` and ``task_options`` belong to built-in tasks: given with ``data``
      they are refused, as is a training size given both ways.
    * ``references`` -- a source with several targets (g2p words with several
      pronunciations, a TSV source on several lines): train on ``"first"`` (the first
      listed) or on ``"all"`` of them. Validation and test always score against all of
      them (an output is right if it equals any; error rates use the closest).
    * ``vectors`` -- a word2vec text file of pretrained word vectors: at step 0 the
      source embedding row of every source word the file has is its vector (the other
      rows, ``<s>``, ``</s>``, ``<unk>`` and the words it lacks, start random with the
      vectors' standard deviation; ``<pad>`` zero). Word-level sources only
      (``tokens`` ``"word"`` or ``"word:char"``), with learned embeddings of the
      file's dimension (the command line takes ``--embedding`` from the file when it
      is not given). Read once, when a run starts; a resumed run does not read it
      again (its checkpoint holds the embedding).
    * ``freeze_embedding`` -- keep the rows that came from ``vectors`` fixed: their
      gradient is zeroed before clipping and the optimizer's step, so they stay
      exactly the file's vectors; every other row, and the target embedding, learns.
    * ``vectors_vocabulary`` -- add the first N words of ``vectors`` (files list the
      most frequent first) to the source vocabulary (0, the default: none). The
      vocabulary is otherwise the training sources' words, so a word that only the
      validation or test sources use is read as ``<unk>`` -- its vector, which is what
      pretrained vectors are for, is never used. With N it keeps its own row, seeded
      from the file (and fixed with ``freeze_embedding``).

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
    * ``average`` -- decay ``d`` in [0, 1) of a moving average of the weights
      (:mod:`minis2s.optim.averaging`), which validation, the best checkpoint and the
      test use; 0: none, the weights as trained.
    * ``label_smoothing`` -- ``eps`` in [0, 1): train against
      ``(1 - eps) onehot(y) + eps / V`` instead of ``onehot(y)``
      (:mod:`minis2s.ops.softmax_ce`); validation reports the plain loss.

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
    * ``threads`` -- BLAS threads for the CPU's matrix products: ``"auto"`` (the default)
      chooses by the model's size (:func:`minis2s.threads.threads_for_model`: one thread
      below hidden 256, whose products are too small to gain from more -- and when other
      programs keep the cores busy, threads that wait for each other make training many
      times slower, 10x measured on a shared 2-core machine -- from there on, where
      the products are large, every core that the load of other programs leaves free;
      measured in ``benchmarks/README.md``); a number; or None: the BLAS default, one
      per core.
    """

    task: str = "dates"
    data: str | None = None
    tokens: str = "char"
    data_seed: int = 0
    train_size: int | None = None
    task_options: dict[str, Any] | None = None
    references: str = "first"
    vectors: str | None = None
    freeze_embedding: bool = False
    vectors_vocabulary: int = 0
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
    label_smoothing: float = 0.0
    average: float = 0.0
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
    threads: int | str | None = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_data()
        for name, minimum in (("data_seed", 0), ("seed", 0), ("batch_size", 1),
                              ("epochs", 1), ("warmup", 0), ("valid_beam", 1), ("beam", 1),
                              ("examples", 0)):
            _check_int(name, getattr(self, name), minimum)
        for name in ("train_size", "patience", "max_len"):
            _check_int(name, getattr(self, name), 1, allow_none=True)
        if self.threads != "auto":
            _check_int("threads", self.threads, 1, allow_none=True)
        _check_number("lr", self.lr, 0.0, low_open=True)
        _check_number("decay", self.decay, 0.0, 1.0, low_open=True)
        _check_number("clip", self.clip, 0.0, allow_none=True, low_open=True)
        _check_number("teacher_forcing", self.teacher_forcing, 0.0, 1.0)
        _check_number("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        _check_number("average", self.average, 0.0, 1.0, high_open=True)
        _check_number("time_budget", self.time_budget, 0.0, allow_none=True, low_open=True)
        for name, value, known in (("metric", self.metric, metric_names()),
                                   ("schedule", self.schedule, SCHEDULE_NAMES)):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}: expected one of "
                                 f"{', '.join(known)}")
        if self.backend is not None and self.backend not in backend.BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}: expected one of "
                             f"{', '.join(backend.BACKENDS)}")

    def _check_data(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"task must be a task name, got {self.task!r}")
        if self.data is not None and not isinstance(self.data, str):
            raise TypeError(f"data must be a file path (str) or None, got {self.data!r}")
        if self.task_options is not None and (
                not isinstance(self.task_options, dict)
                or not all(isinstance(k, str) for k in self.task_options)):
            raise TypeError(f"task_options must be a dict with str keys or None, got "
                            f"{self.task_options!r}")
        check_reference_mode(self.references)
        if self.tokens not in TOKEN_KINDS:
            raise ValueError(f"tokens must be one of {', '.join(TOKEN_KINDS)}, "
                             f"got {self.tokens!r}")
        if self.data is not None:
            given = [name for name in ("train_size", "task_options")
                     if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{' and '.join(given)} set the sizes and options of a "
                                 f"built-in task; with data={self.data!r} (a file, split "
                                 "90/5/5) they would be ignored: leave them out")
        self._check_vectors()
        if self.train_size is not None and "train" in (self.task_options or {}):
            raise ValueError(f"the training size is given twice (train_size="
                             f"{self.train_size!r}, task_options train="
                             f"{self.task_options['train']!r}): give it once")

    def _check_vectors(self) -> None:
        """``vectors`` and ``freeze_embedding``: the settings they need (the file itself
        is read when the run starts: :mod:`minis2s.train.pretrained`)."""
        if self.vectors is not None and (not isinstance(self.vectors, str) or not self.vectors):
            raise TypeError(f"vectors must be a file path (str) or None, got {self.vectors!r}")
        if not isinstance(self.freeze_embedding, bool):
            raise TypeError(f"freeze_embedding must be True or False, got "
                            f"{self.freeze_embedding!r}")
        if self.vectors is not None and self.embedding is None:
            raise ValueError(f"vectors={self.vectors!r} seed the rows of the source "
                             "embedding, but embedding=None (--one-hot) feeds one-hot "
                             "inputs, which have no embedding: leave out one of the two")
        if self.freeze_embedding and self.vectors is None:
            raise ValueError("freeze_embedding keeps the rows that came from pretrained "
                             "vectors fixed: give the vectors file (--vectors FILE)")
        n = self.vectors_vocabulary
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"vectors_vocabulary must be an integer >= 0 (words of the "
                             f"vectors file to add to the vocabulary), got {n!r}")
        if n and self.vectors is None:
            raise ValueError(f"vectors_vocabulary={n} adds words of a pretrained vectors "
                             "file to the vocabulary: give the file (--vectors FILE)")

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


def _check_int(name: str, value: Any, minimum: int, allow_none: bool = False) -> None:
    """``value`` is an integer >= ``minimum`` (or None when allowed); ValueError naming it."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}"
                         f"{' or None' if allow_none else ''}, got {value!r}")


def _check_number(name: str, value: Any, low: float, high: float | None = None,
                  allow_none: bool = False, low_open: bool = False,
                  high_open: bool = False) -> None:
    """``value`` is a finite number in ``[low, high]`` (``(low, ...`` when ``low_open``,
    ``..., high)`` when ``high_open``)."""
    if value is None and allow_none:
        return
    ok = (not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
          and math.isfinite(value) and (value > low if low_open else value >= low)
          and (high is None or (value < high if high_open else value <= high)))
    if not ok:
        span = (f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}"
                f"{')' if high_open else ']'}")
        raise ValueError(f"{name} must be a number in {span}"
                         f"{' or None' if allow_none else ''}, got {value!r}")


def metric_names() -> tuple[str, ...]:
    """The names early stopping can watch: the keys of ``metrics.compute_all`` and
    ``valid_loss``."""
    from minis2s import metrics

    return (*metrics.compute_all([["a"]], [["a"]]), "valid_loss")


def check_settings(config: TrainConfig) -> None:
    """Check the settings a :class:`TrainConfig` cannot check by itself (the optimizer's
    registry lives above the model) *before* any data is generated, so a bad value
    fails at once (``ValueError`` naming it)."""
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


def schedule_for(config: TrainConfig, steps_per_epoch: int):
    """The learning-rate schedule ``config`` asks for, with ``steps_per_epoch`` steps
    per epoch (``schedule(step) -> lr``; see :mod:`minis2s.optim.schedules`)."""
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
