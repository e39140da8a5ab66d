r"""Decoding without teacher forcing: greedy search and beam search.

Both run the model's forward-only fast step (:meth:`minis2s.model.seq2seq.Seq2Seq.decoder`:
the same function as :meth:`~minis2s.model.seq2seq.Seq2Seq.decode_step`, with its weights
and memory arranged once and no gradient caches), feed the model its previous choice,
and run a whole batch at once. Bookkeeping
(which token, which beam) is done on the host from the log-probabilities of
each step; states stay on the device and are reordered there.

Scores. A hypothesis :math:`y_1 \dots y_m` (its last token ``</s>``, or cut at
``max_len``) has log-probability :math:`\log p = \sum_t \log p(y_t \mid y_{<t}, x)`
and *score*

.. math::  \mathrm{score} = \frac{\log p}{\mathrm{lp}(m)}, \qquad
           \mathrm{lp}(m) = \Big(\frac{5 + m}{6}\Big)^{\alpha}

(the length penalty of Wu et al., 2016, "GNMT"): :math:`\alpha = 0` compares raw
log-probabilities, which favour short outputs; :math:`\alpha \approx 0.6`
offsets that. :math:`m` counts ``</s>``. Greedy hypotheses carry the same score
so the two searches can be compared.

Beam search keeps ``k`` entries per sentence, each a live prefix or a finished
hypothesis. At each step the candidates are every finished entry as it stands
and every live prefix extended by one token; the ``k`` with the highest
log-probability form the new beam. An extension ending in ``</s>`` is finished:
it stops growing, but keeps its place for as long as it beats the live
candidates. A sentence is done when all ``k`` entries are finished (or at
``max_len``, where live prefixes are kept as they stand, marked unfinished);
the ``n_best`` entries with the highest *score* (the length-normalised
log-probability) are returned. Ranking by log-probability during the search
means a finished hypothesis is only dropped for ``k`` more likely ones; with
``k = 1`` this is exactly greedy search.

Step limit. A row stops at ``</s>`` or after ``max_len`` steps (``</s>`` included; by
default the reading's limit, 2 x source length + 10, or source length + 1 for
``aligned``). A hypothesis cut there has ``finished=False``, and ``limit`` says how
many steps its row had: a model that never emits ``</s>`` (untrained, or asked for
something it never saw) shows there, for the caller to report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minis2s import backend
from minis2s.data.vocab import BOS_ID, EOS_ID
from minis2s.model import Seq2Seq
from minis2s.model.inputs import check_count, check_real
from minis2s.ops.softmax_ce import log_softmax


@dataclass
class Hypothesis:
    """One decoded output."""

    tokens: list[int]           # without <s> and </s>
    score: float                # log_prob / lp(length), the beam objective
    log_prob: float             # sum of the token log-probabilities (</s> included)
    attention: np.ndarray | None  # (steps, source length) weights, or None
    finished: bool = True       # False: cut at the step limit without </s>
    limit: int | None = None    # the most steps its row could take (</s> included)


def length_penalty(length: int, alpha: float) -> float:
    """:math:`((5 + m) / 6)^\\alpha` for a hypothesis of ``m`` tokens (``</s>`` included),
    ``alpha`` a finite number >= 0."""
    if isinstance(length, (bool, np.bool_)) or not isinstance(length, (int, np.integer)) \
            or length < 0:
        raise ValueError(f"length: expected an integer >= 0, got {length!r}")
    return ((5.0 + length) / 6.0) ** check_real(alpha, "alpha", low=0.0)


_MODEL_API = ("config", "reading", "check_batch", "encode", "decode_step", "output_logits")


def _check_model(model) -> None:
    if not all(hasattr(model, name) for name in _MODEL_API):
        raise TypeError(f"model: expected a minis2s.model.Seq2Seq, got {type(model).__name__}")


def row_limits(model: Seq2Seq, src_len: np.ndarray, max_len: int | None) -> np.ndarray:
    """The most output steps of each row (``</s>`` included): ``max_len`` if given, else
    the reading's default (:meth:`~minis2s.model.contexts.base.ContextReading.max_steps`:
    2 x source length + 10; source length + 1 for ``aligned``) -- per row, so that a
    sentence's result does not depend on the rest of its batch."""
    if max_len is None:
        return model.reading.max_steps(np.asarray(src_len))
    if not isinstance(max_len, (int, np.integer)) or isinstance(max_len, (bool, np.bool_)) \
            or max_len < 1:
        raise ValueError(f"max_len: expected a positive integer, got {max_len!r}")
    return np.full(len(src_len), int(max_len))


def decoder_steps(model: Seq2Seq, memory):
    """The step decoding runs: ``step(y_prev, state, t) -> (top output, new state, attention
    weights or None)``. A :class:`~minis2s.model.seq2seq.Seq2Seq`'s forward-only fast step
    (:meth:`~minis2s.model.seq2seq.Seq2Seq.decoder`: weights and memory arranged once, no
    gradient caches kept); for a stand-in model with only ``decode_step``, or a model that
    redefines it (a scripted model in a lesson), its ``decode_step``."""
    make = getattr(model, "decoder", None)
    if make is not None and getattr(type(model), "decode_step", None) is Seq2Seq.decode_step:
        return make(memory).step

    def step(y, state, t):
        h, state, weights, _ = model.decode_step(memory, y, state, t)
        return h, state, weights

    return step


def encoded_memory(model: Seq2Seq, batch):
    """The encoder's memory for decoding: :meth:`~minis2s.model.seq2seq.Seq2Seq.encode_memory`
    (nothing kept for a backward pass), or ``encode`` for a stand-in model without it."""
    encode = getattr(model, "encode_memory", None)
    return encode(batch) if encode is not None else model.encode(batch)[0]


def _step_log_probs(model: Seq2Seq, step, y, state, t, live: np.ndarray):
    """One step of every row: ``(log-probabilities (rows, V) float64 host, state,
    attention (Ts, rows) host or None)``; a NaN at a ``live`` row is refused."""
    h, state, weights = step(y, state, t)
    logp = backend.to_host(log_softmax(model.output_logits(h))).astype(np.float64)
    bad = live & np.isnan(logp.max(axis=1))          # a row's max is NaN iff it holds one
    if bad.any():
        raise ValueError(
            f"decoding: the model's log-probabilities are NaN at step {t} (rows "
            f"{np.flatnonzero(bad)[:10].tolist()}): its parameters hold NaN or inf, or are "
            "so large that its logits overflow (a diverged training run, a damaged checkpoint)")
    attn = None if weights is None else backend.to_host(weights)   # (Ts, rows)
    return logp, state, attn


def greedy_decode(model: Seq2Seq, src, max_len: int | None = None,
                  alpha: float = 0.6) -> list[Hypothesis]:
    """The article's greedy search: the argmax token at each step, until ``</s>``.

    ``src (Ts, N)`` host ids (padded with 0) -> one :class:`Hypothesis` per sentence.
    ``max_len`` bounds the output length (default: see :func:`row_limits`); ``alpha``
    is the length penalty's exponent (>= 0, see the module docstring).
    """
    _check_model(model)
    alpha = check_real(alpha, "alpha", low=0.0)
    batch = model.check_batch(src)
    n = batch.src.shape[1]
    limits = row_limits(model, batch.src_len, max_len)
    memory = encoded_memory(model, batch)
    step = decoder_steps(model, memory)
    state = memory.state0
    y = np.full(n, BOS_ID)
    logp_sum = np.zeros(n)
    taken = np.zeros(n, dtype=int)               # steps each row ran (its </s> included)
    done = np.zeros(n, dtype=bool)
    finished = np.zeros(n, dtype=bool)
    chosen, attn_steps = [], []
    for t in range(int(limits.max())):
        logp, state, attn = _step_log_probs(model, step, y, state, t, ~done)
        y = logp.argmax(axis=1)
        live = np.flatnonzero(~done)             # the bookkeeping of every live row at once
        logp_sum[live] += logp[live, y[live]]
        taken[live] += 1
        chosen.append(y)
        attn_steps.append(attn)
        ended = live[y[live] == EOS_ID]
        done[ended] = finished[ended] = True
        done[live[t + 1 >= limits[live]]] = True
        if done.all():
            break
    chosen_all = np.stack(chosen).T                                # (N, steps)
    attn_all = None if attn_steps[0] is None else np.stack(attn_steps, axis=2)  # (Ts, N, steps)
    hyps = []
    for i in range(n):
        m = int(taken[i] - finished[i])                               # tokens without </s>
        attention = (None if attn_all is None
                     else attn_all[: batch.src_len[i], i, :taken[i]].T.copy())
        log_prob = float(logp_sum[i])
        penalty = ((5.0 + (m + finished[i])) / 6.0) ** alpha         # length_penalty's
        hyps.append(Hypothesis(chosen_all[i, :m].tolist(), float(log_prob / penalty),
                               log_prob, attention, bool(finished[i]), int(limits[i])))
    return hyps


@dataclass
class _Entry:
    """One slot of a sentence's beam: a live prefix, or a finished hypothesis."""

    tokens: list[int]
    log_prob: float
    attention: list[np.ndarray]
    finished: bool


def beam_decode(model: Seq2Seq, src, beam_size: int = 5, max_len: int | None = None,
                alpha: float = 0.6, n_best: int = 1) -> list[list[Hypothesis]]:
    """Beam search of width ``beam_size`` (see the module docstring).

    ``src (Ts, N)`` host ids -> for each sentence, its ``n_best`` hypotheses, best first
    (``1 <= n_best <= beam_size``).
    """
    _check_model(model)
    beam_size = check_count(beam_size, "beam_size")
    n_best = check_count(n_best, "n_best (at most beam_size)", high=beam_size)
    alpha = check_real(alpha, "alpha", low=0.0)
    batch = model.check_batch(src)
    n, k = batch.src.shape[1], int(beam_size)
    limits = row_limits(model, batch.src_len, max_len)
    base = encoded_memory(model, batch)
    memory = base.select(np.repeat(np.arange(n), k))        # row i*k + b: sentence i, slot b
    step = decoder_steps(model, memory)
    state = memory.state0
    beams: list[list[_Entry | None]] = [
        [_Entry([], 0.0, [], False)] + [None] * (k - 1) for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    y = np.full(n * k, BOS_ID)
    for t in range(int(limits.max())):
        live = np.repeat(~done, k)
        logp, state, attn = _step_log_probs(model, step, y, state, t, live)
        parents = np.arange(n * k)
        for i in np.flatnonzero(~done):
            # candidates: each finished entry as it stands, each live prefix + its k best tokens
            candidates = []
            for b, entry in enumerate(beams[i]):
                if entry is None:
                    continue
                if entry.finished:
                    candidates.append((entry.log_prob, b, None))
                    continue
                row = logp[i * k + b]
                for v in np.argsort(-row, kind="stable")[:k]:
                    candidates.append((entry.log_prob + row[v], b, int(v)))
            candidates.sort(key=lambda c: -c[0])             # stable: ties keep their order
            new: list[_Entry | None] = [None] * k
            for slot, (score, b, v) in enumerate(candidates[:k]):
                old = beams[i][b]
                parents[i * k + slot] = i * k + b
                if v is None:
                    new[slot] = old
                    continue
                hist = old.attention + ([] if attn is None else
                                        [attn[: batch.src_len[i], i * k + b]])
                ended = v == EOS_ID
                new[slot] = _Entry(old.tokens + ([] if ended else [v]), float(score), hist, ended)
            beams[i] = new
            if all(e is None or e.finished for e in new) or t + 1 >= limits[i]:
                done[i] = True
        if done.all():
            break
        state = tuple(s[:, backend.to_device(parents)] for s in state)
        y = np.array([EOS_ID if e is None or e.finished else (e.tokens[-1] if e.tokens else BOS_ID)
                      for beam in beams for e in beam])
    results = []
    for beam, limit in zip(beams, limits):
        hyps = [Hypothesis(list(e.tokens),
                           e.log_prob / length_penalty(len(e.tokens) + e.finished, alpha),
                           e.log_prob, np.array(e.attention) if e.attention else None,
                           e.finished, int(limit))
                for e in beam if e is not None]
        results.append(sorted(hyps, key=lambda h: -h.score)[:n_best])
    return results
