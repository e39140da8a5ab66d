r"""Decoding without teacher forcing: greedy search and beam search.

Both reuse the model's own step (:meth:`minis2s.model.Seq2Seq.decode_step`), feed
the model its previous choice, and run a whole batch at once. Bookkeeping
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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minis2s import backend
from minis2s.model import BOS_ID, EOS_ID, Seq2Seq, log_softmax


@dataclass
class Hypothesis:
    """One decoded output."""

    tokens: list[int]           # without <s> and </s>
    score: float                # log_prob / lp(length), the beam objective
    log_prob: float             # sum of the token log-probabilities (</s> included)
    attention: np.ndarray | None  # (steps, source length) weights, or None
    finished: bool = True       # False when cut at max_len


def length_penalty(length: int, alpha: float) -> float:
    """:math:`((5 + m) / 6)^\\alpha` for a hypothesis of ``m`` tokens (``</s>`` included)."""
    return ((5.0 + length) / 6.0) ** alpha


def row_limits(model: Seq2Seq, src_len: np.ndarray, max_len: int | None) -> np.ndarray:
    """The most output steps of each row (``</s>`` included): ``max_len`` if given, else
    source length + 1 (aligned) or 2 x source length + 10 -- per row, so that a
    sentence's result does not depend on the rest of its batch."""
    if max_len is None:
        return src_len + 1 if model.config.context == "aligned" else 2 * src_len + 10
    if not isinstance(max_len, (int, np.integer)) or isinstance(max_len, bool) or max_len < 1:
        raise ValueError(f"max_len: expected a positive integer, got {max_len!r}")
    return np.full(len(src_len), int(max_len))


def _step_log_probs(model: Seq2Seq, memory, y, state, t):
    h, state, weights, _ = model.decode_step(memory, y, state, t)
    logp = backend.to_host(log_softmax(model.output_logits(h))).astype(np.float64)
    attn = None if weights is None else backend.to_host(weights)   # (Ts, rows)
    return logp, state, attn


def greedy_decode(model: Seq2Seq, src, max_len: int | None = None,
                  alpha: float = 0.6) -> list[Hypothesis]:
    """The article's greedy search: the argmax token at each step, until ``</s>``.

    ``src (Ts, N)`` host ids (padded with 0) -> one :class:`Hypothesis` per sentence.
    ``max_len`` bounds the output length (default: see :func:`row_limits`).
    """
    batch = model.check_batch(src)
    n = batch.src.shape[1]
    limits = row_limits(model, batch.src_len, max_len)
    memory, _ = model.encode(batch)
    state = memory.state0
    y = np.full(n, BOS_ID)
    tokens: list[list[int]] = [[] for _ in range(n)]
    logp_sum = np.zeros(n)
    attn_rows: list[list[np.ndarray]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    finished = np.zeros(n, dtype=bool)
    for t in range(int(limits.max())):
        logp, state, attn = _step_log_probs(model, memory, y, state, t)
        y = logp.argmax(axis=1)
        for i in np.flatnonzero(~done):
            logp_sum[i] += logp[i, y[i]]
            if attn is not None:
                attn_rows[i].append(attn[: batch.src_len[i], i])
            if y[i] == EOS_ID:
                done[i] = finished[i] = True
            else:
                tokens[i].append(int(y[i]))
                done[i] = t + 1 >= limits[i]
        if done.all():
            break
    return [
        Hypothesis(tokens[i],
                   float(logp_sum[i] / length_penalty(len(tokens[i]) + finished[i], alpha)),
                   float(logp_sum[i]), np.array(attn_rows[i]) if attn_rows[i] else None,
                   bool(finished[i]))
        for i in range(n)
    ]


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

    ``src (Ts, N)`` host ids -> for each sentence, its ``n_best`` hypotheses, best first.
    """
    if not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
        raise ValueError(f"beam_size: expected an integer >= 1, got {beam_size!r}")
    if not isinstance(n_best, (int, np.integer)) or not 1 <= n_best <= beam_size:
        raise ValueError(
            f"n_best: expected an integer in [1, beam_size={beam_size}], got {n_best!r}")
    batch = model.check_batch(src)
    n, k = batch.src.shape[1], int(beam_size)
    limits = row_limits(model, batch.src_len, max_len)
    base, _ = model.encode(batch)
    memory = base.select(np.repeat(np.arange(n), k))        # row i*k + b: sentence i, slot b
    state = memory.state0
    beams: list[list[_Entry | None]] = [
        [_Entry([], 0.0, [], False)] + [None] * (k - 1) for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    y = np.full(n * k, BOS_ID)
    for t in range(int(limits.max())):
        logp, state, attn = _step_log_probs(model, memory, y, state, t)
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
    for beam in beams:
        hyps = [Hypothesis(list(e.tokens),
                           e.log_prob / length_penalty(len(e.tokens) + e.finished, alpha),
                           e.log_prob, np.array(e.attention) if e.attention else None,
                           e.finished)
                for e in beam if e is not None]
        results.append(sorted(hyps, key=lambda h: -h.score)[:n_best])
    return results
