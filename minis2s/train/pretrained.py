"""The model a run starts from, and pretrained word vectors in it.

:func:`initial_model` makes the model of step 0: the weights drawn from ``seed``,
then -- with ``TrainConfig.vectors`` -- the source embedding seeded from a word2vec
text file (:func:`minis2s.data.read_word2vec_text`,
:func:`minis2s.data.init_embedding_from_vectors`)::

    W_src[i] = v(word_i)              for every source word the file has
    W_src[i] ~ N(0, std(v)^2 I)       for the rest (<s>, </s>, <unk>, unknown words)
    W_src[<pad>] = 0

With ``freeze_embedding`` the rows that came from the file stay fixed:
:class:`FrozenRows` zeroes their gradient before clipping and the optimizer's step,
and every optimizer minis2s has leaves a parameter with a zero gradient, and zero
state, exactly as it is (``m = v = 0`` for Adam, no velocity for momentum, no weight
decay anywhere). Freezing those rows, not the whole matrix, lets the rows the file
could not give -- the specials and the words it lacks -- learn.

The file is read when a run starts and never again: a resumed run takes the
embedding from its checkpoint, and the frozen rows from it too
(:meth:`FrozenRows.to_dict`), so the file may have moved since.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minis2s import backend
from minis2s.train.config import TrainConfig
from minis2s.train.errors import InputError

#: the parameter the vectors seed
SOURCE_EMBEDDING = "src_emb"


@dataclass
class FrozenRows:
    """Rows of parameters the optimizer must leave as they are.

    ``rows``: parameter name -> host ``int64`` array of row indices, e.g.
    ``{"src_emb": array([4, 5, 9])}``; empty: nothing is frozen.
    """

    rows: dict[str, np.ndarray] = field(default_factory=dict)
    _device: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def apply(self, grads: dict[str, Any]) -> dict[str, Any]:
        """``grads`` with ``dL/dW[i] = 0`` for every frozen row ``i`` (new arrays for the
        frozen parameters; the arrays handed in are not changed)."""
        if not self.rows:
            return grads
        out = dict(grads)
        for name, rows in self.rows.items():
            if name not in self._device:  # moved once, on the run's backend
                self._device[name] = backend.to_device(rows)
            zeroed = out[name].copy()
            zeroed[self._device[name]] = 0
            out[name] = zeroed
        return out

    def to_dict(self) -> dict[str, list[int]]:
        """Plain data for a checkpoint: ``{name: [row, ...]}``."""
        return {name: [int(i) for i in rows] for name, rows in self.rows.items()}

    @classmethod
    def from_dict(cls, saved: Any, shapes: dict[str, tuple[int, ...]]) -> FrozenRows:
        """Inverse of :meth:`to_dict`; ``ValueError`` unless every name is a parameter of
        ``shapes`` and every row is inside it."""
        if not isinstance(saved, dict):
            raise ValueError(f"frozen rows must be a dict, got {type(saved).__name__}")
        rows = {}
        for name, ids in saved.items():
            ids = np.asarray(ids, dtype=np.int64).reshape(-1)
            if name not in shapes or (ids.size and not 0 <= ids.min() <= ids.max()
                                      < shapes[name][0]):
                raise ValueError(f"frozen rows {name!r} do not fit the model's parameters")
            rows[name] = ids
        return cls(rows)


@dataclass
class InitialModel:
    """What :func:`initial_model` returns."""

    model: Any                 # minis2s.model.Seq2Seq, on the active backend
    frozen: FrozenRows
    note: str | None           # what the run says about the vectors (None: no vectors)


def initial_model(config: TrainConfig, data: Any, model_config: Any = None, *,
                  pretrained: bool = True) -> InitialModel:
    """The model of step 0 for ``config`` and ``data`` (a
    :class:`~minis2s.train.prepare.DataBundle`): weights from ``seed``, the source
    embedding from ``config.vectors`` when given and ``pretrained`` (a resumed run
    passes False: its parameters come from the checkpoint).

    Raises :class:`InputError` naming the file (and line) for a file that cannot be
    read or is malformed, a dimension other than ``embedding``, a character-level
    source, or a file that has none of the source words.
    """
    from minis2s.model import Seq2Seq
    from minis2s.train.prepare import model_config_for

    if model_config is None:
        model_config = model_config_for(config, data)
    model = Seq2Seq(model_config, np.random.default_rng(config.seed))
    if config.vectors is None:
        return InitialModel(model, FrozenRows(), None)
    if not pretrained:
        return InitialModel(model, FrozenRows(), (
            f"source embedding: from the checkpoint ({config.vectors} seeded it when the "
            "run started; it is not read again)"))
    params = model.host_params()
    W, found, n_words = _seeded_embedding(config, data, params[SOURCE_EMBEDDING].dtype)
    params[SOURCE_EMBEDDING] = W
    model.set_params(params)
    frozen = FrozenRows({SOURCE_EMBEDDING: found} if config.freeze_embedding else {})
    note = (f"source embedding: {len(found)} of {n_words} source words have a vector in "
            f"{config.vectors} (dimension {W.shape[1]}); the other rows start random"
            + ("; the pretrained rows are kept fixed" if config.freeze_embedding else ""))
    return InitialModel(model, frozen, note)


def vector_words(config: TrainConfig, name: str, tokenizer: Any) -> list[str]:
    """The first ``config.vectors_vocabulary`` words of ``config.vectors`` (the words
    :func:`minis2s.train.prepare_data` adds to the source vocabulary); ``InputError``
    naming the file (and line) when it cannot be read, or for character-level data."""
    from minis2s.data import read_word2vec_text

    path = config.vectors
    _check_word_tokens(path, name, tokenizer)
    try:
        words, _ = read_word2vec_text(path, limit=config.vectors_vocabulary)
    except OSError as exc:
        raise InputError(f"cannot read the vectors file {path}: "
                         f"{exc.strerror or exc}") from exc
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return words


def _check_word_tokens(path: str, name: str, tokenizer: Any) -> None:
    if getattr(tokenizer, "source", "char") != "word":
        raise InputError(
            f"vectors {path}: pretrained word vectors need word tokens on the source "
            f"side, but {name}'s source is cut into characters: use --tokens word "
            "(or word:char) with a --data file")


def _seeded_embedding(config: TrainConfig, data: Any, dtype: Any
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """``(W (V, E), found rows (host int64), source words)``: the source embedding
    seeded from ``config.vectors``; checks that the file fits."""
    from minis2s.data import SPECIALS, init_embedding_from_vectors, read_word2vec_text
    from minis2s.data.vectors import word2vec_dimension

    path, vocab = config.vectors, data.src_vocab
    _check_word_tokens(path, data.name, data.tokenizer)
    words_needed = [t for t in vocab.tokens if t not in SPECIALS]
    try:
        dim = word2vec_dimension(path)  # the header first: a large file is read in full
        if dim != config.embedding:     # only when its vectors fit
            raise InputError(
                f"{path}, line 1: the vectors have dimension {dim}, but the embedding has "
                f"size {config.embedding}: give --embedding {dim} (embedding={dim}), or "
                "leave --embedding out to take the file's")
        words, vectors = read_word2vec_text(path, only=words_needed)
    except OSError as exc:
        raise InputError(f"cannot read the vectors file {path}: "
                         f"{exc.strerror or exc}") from exc
    except InputError:
        raise
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if not words:
        raise InputError(
            f"{path}: none of the {len(words_needed)} source words of {data.name} has a "
            "vector in it (is it the same language, and the same case?)")
    rng = np.random.default_rng([config.seed, 2])  # the random rows; weights use seed
    W, _, unknown = init_embedding_from_vectors(vocab, words, vectors, rng, dtype=dtype)
    missing = set(unknown)
    found = np.array([i for i, t in enumerate(vocab.tokens)
                      if t not in SPECIALS and t not in missing], dtype=np.int64)
    return W, found, len(words_needed)
