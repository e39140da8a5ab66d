"""A trained model back from its checkpoint, with what it needs to read and write text."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from minis2s import checkpoint
from minis2s.train import rundir
from minis2s.train.config import TrainConfig
from minis2s.train.evaluation import decode_sources


class Translation(NamedTuple):
    """One input's output, and what the caller may want to warn about."""

    text: str            # the output text; "" for a blank input (nothing decoded)
    blank_input: bool    # the input held no token
    cut: bool            # decoding stopped at the length limit, without </s>
    steps: int           # decoder steps taken (output tokens, </s> not counted)


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
    members: tuple[Path, ...] = ()   # an ensemble's checkpoints (load_ensemble), else ()

    def translations(self, texts: Sequence[str], beam: int = 1,
                     unknown: list[str] | None = None) -> list[Translation]:
        """Decode each text: one :class:`Translation` per text, in order.

        A text with no token (empty, or only whitespace) is not decoded: its output
        is ``""``. Symbols outside the source vocabulary are mapped to ``<unk>`` and,
        if ``unknown`` is a list, appended to it (for the caller to warn about).
        """
        tokens = [self.tokenizer.encode_source(text) for text in texts]
        todo = [k for k, t in enumerate(tokens) if t]
        ids = [self.src_vocab.encode(tokens[k], unknown=unknown) for k in todo]
        hyps = dict(zip(todo, decode_sources(self.model, ids, beam=beam,
                                             max_len=self.max_len)))
        out = []
        for k in range(len(texts)):
            h = hyps.get(k)
            if h is None:
                out.append(Translation("", True, False, 0))
            else:
                text = self.tokenizer.join_target(self.tgt_vocab.decode(h.tokens))
                out.append(Translation(text, False, not h.finished, len(h.tokens)))
        return out

    def translate(self, texts: Sequence[str], beam: int = 1,
                  unknown: list[str] | None = None) -> list[str]:
        """The output text of each text (:meth:`translations` without the details):
        exactly one string per text, ``""`` for a blank one."""
        return [t.text for t in self.translations(texts, beam=beam, unknown=unknown)]


def load_trained(path: str | os.PathLike) -> TrainedModel:
    """Restore the model saved at ``path`` (a checkpoint file or a run directory, whose
    best checkpoint is taken) on the active backend. ``CheckpointError`` if unusable."""
    from minis2s.data import Tokenizer, Vocab
    from minis2s.model import ModelConfig, Seq2Seq

    path = rundir.resolve(path)
    payload = checkpoint.load_checkpoint(path)
    rundir.check_run_payload(payload, path)
    _check_finite(payload["params"], path)
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


#: What must agree for models to share an ensemble: the data they read, and how
DATA_SETTINGS = ("task", "data", "tokens", "data_seed", "task_options")


def load_ensemble(paths: Sequence[str | os.PathLike]) -> TrainedModel:
    """Restore the models saved at ``paths`` (each a checkpoint file or a run directory)
    and decode them as one (:class:`minis2s.model.Ensemble`: the mean of their next-token
    distributions). One path: :func:`load_trained`'s model itself.

    The models must have read the same data the same way (``DATA_SETTINGS``) and have the
    same vocabularies and tokenizer; ``CheckpointError`` names the first that differs.
    The first model's settings (step limit, threads) are the ensemble's.
    """
    from minis2s.model import Ensemble

    if isinstance(paths, str | os.PathLike) or not paths:
        raise TypeError(f"paths: expected a non-empty list of checkpoints, got {paths!r}")
    trained = [load_trained(p) for p in paths]
    first = trained[0]
    if len(trained) == 1:
        return first
    for other in trained[1:]:
        for name in DATA_SETTINGS:
            a, b = getattr(first.train_config, name), getattr(other.train_config, name)
            if a != b:
                raise checkpoint.CheckpointError(
                    f"{other.path} was trained with {name}={b!r} and {first.path} with "
                    f"{name}={a!r}: the models of an ensemble read the same data")
        for what, says in (("src_vocab", "source vocabularies"),
                           ("tgt_vocab", "target vocabularies"), ("tokenizer", "tokenizers")):
            if getattr(other, what).to_dict() != getattr(first, what).to_dict():
                raise checkpoint.CheckpointError(
                    f"{other.path} and {first.path} have different {says}: the models of "
                    "an ensemble must give the same ids to the same tokens")
    try:
        model = Ensemble([t.model for t in trained])
    except ValueError as exc:
        raise checkpoint.CheckpointError(f"{', '.join(str(t.path) for t in trained)}: "
                                         f"{exc}") from exc
    return replace(first, model=model, members=tuple(t.path for t in trained))


def _check_finite(params: Any, path: Path) -> None:
    """``CheckpointError`` naming the first parameter that holds NaN or inf: such a model
    decodes nothing but special tokens (training never saves one; a file can still be
    made so)."""
    if not isinstance(params, dict):
        return  # set_params says what is wrong with it
    for name, value in params.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" \
                and not np.isfinite(value).all():
            raise checkpoint.CheckpointError(f"{path}: parameter {name!r} holds NaN or inf "
                                             "(the model cannot decode)")
