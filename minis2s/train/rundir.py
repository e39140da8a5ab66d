"""The run directory: every file a training run writes, what each holds, and when.

::

    out/                       TrainConfig.out (default runs/<task>; see fresh_run_dir)
      checkpoint.last.npz      LAST     after every epoch, and at Ctrl-C inside an epoch
      checkpoint.best.npz      BEST     after every epoch that improves the metric
      log.jsonl                LOG      at the start, then after every epoch
      metrics.json             METRICS  at the end: test metrics, examples, settings
      history.png              at the end (plots=True): loss and metrics per epoch
      grad_norms.png           at the end (plots=True): gradient per source position
      attention.png            at the end (plots=True, context attention)

**Format.** Checkpoints are :mod:`minis2s.checkpoint` files (``.npz``, no pickle,
checksummed); every file is written through :func:`minis2s.atomic.atomic_write`, so
it is whole or absent, never half-written. A ``SIGKILL`` in the middle of a write
can leave a ``.NAME.XXXXXXXX.tmp`` file; the next run or resume in the directory
deletes it.

**A checkpoint's contents** (both checkpoints hold the same; :func:`payload`)::

    kind            "minis2s-run"
    train_config    TrainConfig.to_dict()          model_config  ModelConfig.to_dict()
    tokenizer, src_vocab, tgt_vocab                what turns text into ids and back
    max_len         the decoding limit (None: per sentence)
    params          {name: host array}             optimizer     its state_dict()
    progress        epoch (completed), batch (done in the current epoch), step,
                    partial (the current epoch's running sums), train_rng (its state)
    history         the log's records              early_stopping  best, best_epoch, bad
    elapsed_s       training + validation seconds  grad_probe    {label: norms}
    frozen_rows     {parameter: [row, ...]} the optimizer leaves alone (--freeze-embedding)
    average         the weight average's state_dict() (--average; {} without)

**The directory's rules** (:meth:`RunDir.check`, then :meth:`RunDir.start`). A new
run goes only into a directory that does not exist or is empty. One that holds
anything of a run, or anything minis2s did not write, is refused -- unless
``overwrite``, which deletes the earlier run's files (saying which) and keeps every
other file; or ``resume``, which continues the run whose ``checkpoint.last.npz`` is
there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from minis2s import checkpoint
from minis2s.atomic import atomic_write_text, leftovers, remove_leftovers
from minis2s.train.errors import InputError

LAST = "checkpoint.last.npz"
BEST = "checkpoint.best.npz"
LOG = "log.jsonl"
METRICS = "metrics.json"
HISTORY_PNG = "history.png"
GRAD_NORMS_PNG = "grad_norms.png"
ATTENTION_PNG = "attention.png"
#: every file a run writes (anything else in a run directory is not minis2s's)
RUN_FILES = (LAST, BEST, LOG, METRICS, HISTORY_PNG, GRAD_NORMS_PNG, ATTENTION_PNG)
#: what a run's checkpoint must hold to rebuild the model and read text
RUN_KIND = "minis2s-run"
MODEL_KEYS = ("train_config", "model_config", "params", "src_vocab", "tgt_vocab", "tokenizer")


class RunDir:
    """One run directory: its files, its rules, and the writing of each file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.last = self.path / LAST
        self.best = self.path / BEST

    def __str__(self) -> str:
        return str(self.path)

    # -- what is there ------------------------------------------------------------------
    def contents(self) -> tuple[list[str], list[str]]:
        """``(run files, other entries)`` in the directory, by name (sorted); the
        temporary files of an interrupted write are neither."""
        if not self.path.is_dir():
            return [], []
        temporary = {p.name for p in leftovers(self.path, RUN_FILES)}
        names = sorted(p.name for p in self.path.iterdir() if p.name not in temporary)
        return ([n for n in names if n in RUN_FILES], [n for n in names if n not in RUN_FILES])

    def is_free(self) -> bool:
        """True when a new run may start here without ``overwrite``: no such directory,
        or an empty one (leftover temporary files aside)."""
        if self.path.exists() and not self.path.is_dir():
            return False
        return self.contents() == ([], [])

    # -- the rules ----------------------------------------------------------------------
    def check(self, *, resume: bool, overwrite: bool) -> list[str]:
        """Refuse (:class:`InputError`) a run this directory must not take; else return
        the earlier run's files that a new run will replace (:meth:`start` deletes them).

        ``resume``: ``checkpoint.last.npz`` must be there. A new run: the directory
        must be free (:meth:`is_free`), or ``overwrite`` given. Nothing is changed here.
        """
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"the run directory {self.path} is a file, not a directory")
        if resume:
            if not self.last.exists():
                raise InputError(f"nothing to resume: {self.last} does not exist (train "
                                 "without --resume first, or point --out at the run's "
                                 "directory)")
            return []
        ours, others = self.contents()
        if (ours or others) and not overwrite:
            if ours:
                also = f"; and files minis2s did not write: {_listed(others)}" if others else ""
                raise InputError(
                    f"{self.path} already holds a training run ({', '.join(ours)}{also}); "
                    "continue it with --resume, choose another --out directory, or pass "
                    "--overwrite to replace it")
            raise InputError(
                f"{self.path} holds files minis2s did not write ({_listed(others)}); a "
                "run goes into a new or empty directory: choose another --out directory, "
                "or pass --overwrite to write beside them")
        return ours

    def start(self, *, replacing: list[str], overwrite: bool,
              say: Callable[[str], None]) -> None:
        """Make the directory ready for the run that :meth:`check` allowed: create it,
        delete the ``replacing`` files of an earlier run (saying so, and which other files
        are kept) and the temporary files an interrupted write left."""
        self.path.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.path, RUN_FILES)
        others = self.contents()[1]
        for name in replacing:
            (self.path / name).unlink(missing_ok=True)
        kept = f"; kept, not written by minis2s: {_listed(others)}" if others else ""
        if replacing:
            say(f"--overwrite: replacing the earlier run in {self.path} (deleted "
                f"{', '.join(replacing)}){kept}")
        elif others and overwrite:
            say(f"--overwrite: writing into {self.path}{kept}")

    # -- writing --------------------------------------------------------------------------
    def save(self, name: str, contents: Mapping[str, Any]) -> Path:
        """Write the checkpoint ``name`` (:data:`LAST` or :data:`BEST`) atomically."""
        return checkpoint.save_checkpoint(self.path / name, contents)

    def write_log(self, history: list[dict[str, Any]]) -> Path:
        """Rewrite ``log.jsonl``, one JSON line per epoch: after a resume it holds exactly
        the epochs the checkpoint knows."""
        return atomic_write_text(self.path / LOG,
                                 "".join(json.dumps(r) + "\n" for r in history))

    def write_metrics(self, summary: Mapping[str, Any]) -> Path:
        """Write ``metrics.json``: the run's summary (test metrics, examples, settings)."""
        return atomic_write_text(self.path / METRICS, json.dumps(summary, indent=2) + "\n")

    def load_last(self) -> dict[str, Any]:
        """The last checkpoint's payload, checked to be a run's."""
        saved = checkpoint.load_checkpoint(self.last)
        check_run_payload(saved, self.last)
        return saved


def payload(*, config: Any, model_config: Any, data: Any, max_len: int | None,
            params: dict[str, Any], optimizer_state: dict[str, Any],
            progress: dict[str, Any], history: list[dict[str, Any]],
            early_stopping: dict[str, Any], elapsed_s: float,
            grad_probe: dict[str, list[float]],
            frozen_rows: dict[str, list[int]] | None = None,
            average: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's checkpoint contents (the table in the module docstring); host data only."""
    return {
        "kind": RUN_KIND,
        "train_config": config.to_dict(),
        "model_config": model_config.to_dict(),
        "tokenizer": data.tokenizer.to_dict(),
        "src_vocab": data.src_vocab.to_dict(),
        "tgt_vocab": data.tgt_vocab.to_dict(),
        "max_len": max_len,
        "params": params,
        "optimizer": optimizer_state,
        "progress": progress,
        "history": history,
        "early_stopping": early_stopping,
        "elapsed_s": elapsed_s,
        "grad_probe": grad_probe,
        "frozen_rows": frozen_rows or {},
        "average": average or {},
    }


def check_run_payload(saved: Mapping[str, Any], path: Path) -> None:
    """``CheckpointError`` unless ``saved`` is a run's checkpoint (it has the model and
    the vocabularies)."""
    if saved.get("kind") != RUN_KIND or any(k not in saved for k in MODEL_KEYS):
        raise checkpoint.CheckpointError(f"{path} is a minis2s checkpoint but not of a "
                                         "training run (it lacks the model and vocabularies)")


def resolve(path: str | os.PathLike) -> Path:
    """The checkpoint file to load for ``path``: a file as it is, or a run directory's
    best checkpoint, else its last one. ``CheckpointError`` naming what is missing."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise checkpoint.CheckpointError(f"checkpoint directory {path} holds neither {BEST} "
                                         f"nor {LAST}")
    if not path.exists():
        raise checkpoint.CheckpointError(f"checkpoint {path}: no such file")
    return path


def fresh_run_dir(base: str | os.PathLike) -> Path:
    """``base`` if a new run may start there, else the first free ``base-2``,
    ``base-3``, ... (so running the same command twice never lands on the first run)."""
    base = Path(base)
    if RunDir(base).is_free():
        return base
    k = 2
    while not RunDir(base.parent / f"{base.name}-{k}").is_free():
        k += 1
    return base.parent / f"{base.name}-{k}"


def _listed(names: list[str], most: int = 5) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
