"""The model's settings: :class:`ModelSettings` (the one source of every model choice and
its checks) and :class:`ModelConfig` (the settings plus the two vocabulary sizes)."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from minis2s.cells.stack import StackConfig, canonical_cell
from minis2s.model.contexts import CONTEXTS
from minis2s.ops.activations import ACTIVATIONS
from minis2s.ops.attention import check_scorer


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_choice(value: Any, choices: Any, name: str) -> None:
    """``value`` must be one of the names in ``choices`` (a tuple or a registry dict)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """The model's choices and sizes, *without* the vocabularies: the one source of the
    model settings. :class:`ModelConfig` adds the vocabulary sizes;
    ``minis2s.train.TrainConfig`` inherits these fields (and their defaults and
    checks), and the command line's model options are read from them.

    * ``cell`` -- ``rnn`` (the article's plain recurrence; ``seed`` is accepted as an
      alias and stored as ``rnn``), ``lstm`` or ``gru``
    * ``layers``, ``hidden`` -- stacked layers (encoder and decoder alike), their size
    * ``embedding`` -- size of learned token vectors; None: one-hot inputs (the article)
    * ``bidirectional`` -- read the source in both directions
    * ``context`` -- the reading of :math:`h_t`, a name in
      :data:`minis2s.model.contexts.CONTEXTS`: ``aligned``, ``final`` or ``attention``
    * ``attention`` -- its scorer: ``additive``, ``dot`` or ``general``
    * ``dropout`` -- inverted dropout between stacked layers, a rate in [0, 1)
    * ``activation`` -- ``f`` and ``g`` of the rnn cell
    """

    cell: str = "lstm"
    layers: int = 1
    hidden: int = 64
    embedding: int | None = 32      # None: one-hot inputs, as in the article
    bidirectional: bool = False
    context: str = "attention"
    attention: str = "additive"
    dropout: float = 0.0
    activation: str = "tanh"        # the rnn cell's f and g

    def __post_init__(self) -> None:
        for name in ("layers", "hidden"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.embedding is not None and (not _is_int(self.embedding) or self.embedding < 1):
            raise ValueError(
                f"embedding: expected a positive integer or None (one-hot), "
                f"got {self.embedding!r}")
        if not isinstance(self.bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional: expected True or False, got {self.bidirectional!r}")
        object.__setattr__(self, "cell", canonical_cell(self.cell))   # "seed" -> "rnn"
        _check_choice(self.context, CONTEXTS, "context")
        if not isinstance(self.attention, str):
            raise ValueError(f"attention: expected a scorer name, got {self.attention!r}")
        check_scorer(self.attention)
        CONTEXTS[self.context].check_settings(self)
        if (isinstance(self.dropout, (bool, np.bool_))
                or not isinstance(self.dropout, (int, float, np.integer, np.floating))
                or not 0.0 <= float(self.dropout) < 1.0):
            raise ValueError(f"dropout: expected a rate in [0, 1), got {self.dropout!r}")
        _check_choice(self.activation, ACTIVATIONS, "activation")
        if self.dropout > 0 and self.layers == 1:
            warnings.warn(
                f"dropout {self.dropout} acts between stacked layers, so with "
                "layers=1 it has no effect; use layers >= 2", UserWarning, stacklevel=3)

    def model_settings(self) -> dict[str, Any]:
        """The values of the :class:`ModelSettings` fields (also of a subclass)."""
        return {f.name: getattr(self, f.name) for f in fields(ModelSettings)}


@dataclass(frozen=True)
class ModelConfig(ModelSettings):
    """Sizes and choices of a :class:`~minis2s.model.seq2seq.Seq2Seq` model (all JSON-serialisable):
    the vocabulary sizes, then the :class:`ModelSettings` (keyword-only)."""

    src_vocab: int
    tgt_vocab: int

    def __post_init__(self) -> None:
        for name in ("src_vocab", "tgt_vocab"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"ModelConfig.{name}: expected a positive integer, got {value!r}")
        if self.src_vocab < 4 or self.tgt_vocab < 4:
            raise ValueError(
                "ModelConfig: vocabularies hold at least the 4 special tokens "
                f"(<pad> <s> </s> <unk>), got src_vocab={self.src_vocab}, "
                f"tgt_vocab={self.tgt_vocab}")
        super().__post_init__()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        if not isinstance(d, dict):
            raise TypeError(f"ModelConfig.from_dict: expected a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(d) - known))
        if unknown:
            raise ValueError(f"ModelConfig.from_dict: unknown settings {unknown}")
        return cls(**d)

    # --- derived sizes --------------------------------------------------------------
    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def memory_size(self) -> int:
        """Size of an encoder output vector :math:`\\bar h_j` (``Hv``)."""
        return self.hidden * self.directions

    def input_size(self, side: str) -> int:
        """Size of a token's vector on ``side`` (``"src"`` or ``"tgt"``)."""
        vocab = self.src_vocab if side == "src" else self.tgt_vocab
        return vocab if self.embedding is None else self.embedding

    def encoder_stack(self) -> StackConfig:
        return StackConfig(self.cell, self.input_size("src"), self.hidden, self.layers,
                           self.bidirectional, self.dropout, self.activation)

    def decoder_stack(self) -> StackConfig:
        """The decoder reads :math:`[h_t ; y_{t-1}]`: ``memory_size + input_size("tgt")``."""
        return StackConfig(self.cell, self.memory_size + self.input_size("tgt"), self.hidden,
                           self.layers, False, self.dropout, self.activation)
