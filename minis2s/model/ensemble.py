r"""Several trained models decoded as one: the mean of their next-token distributions.

Models trained on the same task from different seeds make different mistakes; decoding
with the average of their predictions is right more often than any one of them. At each
step every member runs its own decoder on its own state, all of them fed the same chosen
token, and the ensemble's next-token distribution is the members' arithmetic mean

.. math::  p(v \mid y_{<t}, x) = \frac{1}{M} \sum_{m=1}^{M} p_m(v \mid y_{<t}, x),
           \qquad
           \log p(v \mid \cdot) = a_v + \log \frac{1}{M} \sum_{m=1}^{M}
                                  \exp\big(\log p_m(v \mid \cdot) - a_v\big),
           \quad a_v = \max_m \log p_m(v \mid \cdot)

computed from the members' log-probabilities, the largest factored out so that no
``exp`` underflows to a ``log 0``. The mean of distributions is a distribution, so the
ensemble's "logits" (:meth:`Ensemble.output_logits`) are already log-probabilities.

:class:`Ensemble` has the methods :mod:`minis2s.decode` calls, so greedy and beam search
run on an ensemble exactly as on one model; its decoder state is the members' state
tuples laid end to end, which beam search reorders like one model's. Decoding only: an
ensemble has no loss and is not trained. Members must agree on the vocabulary sizes and
on whether the reading pairs source and target steps (``aligned``); that the ids mean
the same tokens is the caller's to check (:func:`minis2s.train.load_ensemble` compares
the vocabularies).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.model.contexts import Memory
from minis2s.model.seq2seq import Seq2Seq
from minis2s.ops.softmax_ce import log_softmax
from minis2s.ops.validate import check_float


class EnsembleBatch(NamedTuple):
    """A source batch as each member checked it."""

    src: Any               # (Ts, N) host ids, as the first member checked them
    src_len: np.ndarray    # (N,) host
    members: tuple         # each member's CheckedBatch


class EnsembleMemory:
    """Each member's :class:`~minis2s.model.contexts.Memory`, and the decoder state of all
    members as one tuple (``state0``: member 0's arrays, then member 1's, ...)."""

    def __init__(self, models: tuple, members: Sequence[Memory]):
        self.models = models
        self.members = tuple(members)
        self.src_len = self.members[0].src_len
        self.state0 = tuple(s for m in self.members for s in m.state0)
        self.sizes = tuple(len(m.state0) for m in self.members)
        self._steps: list | None = None

    def select(self, rows: np.ndarray) -> EnsembleMemory:
        """The memory of rows ``rows`` (host ints) in every member: how beams share one
        source."""
        return EnsembleMemory(self.models, [m.select(rows) for m in self.members])

    def split(self, state: tuple) -> list[tuple]:
        """The ensemble's state -> one state tuple per member."""
        parts, start = [], 0
        for size in self.sizes:
            parts.append(tuple(state[start:start + size]))
            start += size
        return parts

    def steps(self) -> list:
        """Each member's forward-only fast step over its memory, made on first use."""
        if self._steps is None:
            self._steps = [model.decoder(mem).step
                           for model, mem in zip(self.models, self.members)]
        return self._steps


class Ensemble:
    """``M >= 1`` trained :class:`~minis2s.model.seq2seq.Seq2Seq` models decoded as one
    (see the module docstring): pass it to :func:`minis2s.decode.greedy_decode` or
    :func:`minis2s.decode.beam_decode` in place of a model."""

    def __init__(self, models: Sequence[Seq2Seq]):
        if isinstance(models, Seq2Seq) or not isinstance(models, Sequence) or not models:
            raise TypeError("models: expected a non-empty list of minis2s.model.Seq2Seq, "
                            f"got {type(models).__name__}")
        for k, model in enumerate(models):
            if not isinstance(model, Seq2Seq):
                raise TypeError(f"models[{k}]: expected a minis2s.model.Seq2Seq, got "
                                f"{type(model).__name__}")
        first = models[0].config
        for k, model in enumerate(models[1:], start=1):
            c = model.config
            if (c.src_vocab, c.tgt_vocab) != (first.src_vocab, first.tgt_vocab):
                raise ValueError(
                    f"models[{k}]: vocabulary sizes (source {c.src_vocab}, target "
                    f"{c.tgt_vocab}) differ from models[0]'s (source {first.src_vocab}, "
                    f"target {first.tgt_vocab}): an ensemble's members share vocabularies")
            if model.reading.equal_lengths != models[0].reading.equal_lengths:
                raise ValueError(
                    f"models[{k}] reads the context {c.context!r} and models[0] "
                    f"{first.context!r}: an 'aligned' model decodes one step per source "
                    "token and cannot share an ensemble with the other readings")
        self.models = tuple(models)
        self.config = first            # the shared sizes (decoding reads nothing else)
        self.reading = models[0].reading   # its step limit: the same for every member

    def __len__(self) -> int:
        return len(self.models)

    def check_batch(self, src: Any) -> EnsembleBatch:
        """Each member checks the host ids ``src (Ts, N)`` (shape, dtype, range, padding)."""
        checked = tuple(model.check_batch(src) for model in self.models)
        return EnsembleBatch(checked[0].src, checked[0].src_len, checked)

    def encode_memory(self, batch: EnsembleBatch) -> EnsembleMemory:
        """Every member's encoder over the source (nothing kept for a backward pass)."""
        return EnsembleMemory(self.models, [model.encode_memory(b)
                                            for model, b in zip(self.models, batch.members)])

    def encode(self, batch: EnsembleBatch) -> tuple[EnsembleMemory, None]:
        """:meth:`encode_memory`, with no cache (an ensemble is not trained)."""
        return self.encode_memory(batch), None

    def decode_step(self, memory: EnsembleMemory, y_prev: Any, state: tuple, t: int
                    ) -> tuple[tuple, tuple, Any, None]:
        """One step of every member, each fed ``y_prev (N,)``: ``(the members' top outputs
        (a tuple of (N, H_m)), new state, the members' mean attention weights (Ts, N) --
        for plots -- or None, no cache)``."""
        outputs, new_state, weights = [], [], []
        for step, part in zip(memory.steps(), memory.split(state)):
            h, part, w = step(y_prev, part, t)
            outputs.append(h)
            new_state.extend(part)
            if w is not None:
                weights.append(w)
        mean_weights = None if not weights else sum(weights[1:], weights[0]) / len(weights)
        return tuple(outputs), tuple(new_state), mean_weights, None

    def output_logits(self, outputs: tuple) -> Any:
        """The members' top outputs -> ``log p (N, V)``, the log of the mean of their
        next-token distributions (:func:`mean_log_probs`)."""
        xp = backend.get_xp()
        return mean_log_probs(xp.stack([log_softmax(model.output_logits(h))
                                        for model, h in zip(self.models, outputs)]))


def mean_log_probs(log_probs: Any) -> Any:
    r"""``log_probs (M, ..., V)``, M distributions' log-probabilities on the active backend
    -> ``(..., V)``, the log of their mean: :math:`a + \log \frac1M \sum_m
    \exp(\log p_m - a)` with :math:`a = \max_m \log p_m` per entry (the module
    docstring's equation; exact where every :math:`p_m` underflows)."""
    check_float(log_probs, "mean_log_probs log_probs (M, ..., V)")
    if log_probs.ndim < 2 or log_probs.shape[0] == 0:
        raise ValueError("mean_log_probs: expected log_probs of shape (M >= 1, ..., V), got "
                         f"shape {tuple(log_probs.shape)}")
    xp = backend.get_xp()
    top = log_probs.max(axis=0)
    top = xp.where(xp.isneginf(top), 0.0, top).astype(log_probs.dtype)  # p = 0 in every member
    with np.errstate(divide="ignore"):                                   # ... gives log 0
        return top + xp.log(xp.exp(log_probs - top).mean(axis=0))
