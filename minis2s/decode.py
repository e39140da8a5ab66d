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

Beam search keeps the ``k`` best unfinished prefixes of every sentence. At each
step it ranks all ``k x V`` one-token extensions by log-probability; an
extension ending in ``</s>`` becomes a *finished* hypothesis (it stops
growing), the best ``k`` others continue. A sentence is done when it has ``k``
finished hypotheses (or at ``max_len``, where live prefixes are finished as
they stand); the ``n_best`` highest scores are returned. With ``k = 1`` this is
exactly greedy search.
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
    memory = base.select(np.repeat(np.arange(n), k))        # row i*k + b: sentence i, beam b
    state = memory.state0
    beam_logp = np.full((n, k), -np.inf)
    beam_logp[:, 0] = 0.0                                   # one live prefix to start
    prefixes: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(n)]
    attn_hist: list[list[list[np.ndarray]]] = [[[] for _ in range(k)] for _ in range(n)]
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    y = np.full(n * k, BOS_ID)
    for t in range(int(limits.max())):
        logp, state, attn = _step_log_probs(model, memory, y, state, t)
        vocab = logp.shape[1]
        total = beam_logp[:, :, None] + logp.reshape(n, k, vocab)   # (n, k, V)
        parents = np.repeat(np.arange(n) * k, k)                   # dead slots keep their row
        next_y = np.full(n * k, EOS_ID)
        next_logp = np.full((n, k), -np.inf)
        next_prefixes = [[[] for _ in range(k)] for _ in range(n)]
        next_attn = [[[] for _ in range(k)] for _ in range(n)]
        for i in np.flatnonzero(~done):
            flat = total[i].reshape(-1)
            order = np.argsort(-flat, kind="stable")[: 2 * k]
            alive = 0
            for idx in order:
                if not np.isfinite(flat[idx]):
                    break
                b, v = divmod(int(idx), vocab)
                hist = attn_hist[i][b] + ([] if attn is None else
                                          [attn[: batch.src_len[i], i * k + b]])
                if v == EOS_ID:
                    toks = prefixes[i][b]
                    finished[i].append(Hypothesis(
                        list(toks), float(flat[idx] / length_penalty(len(toks) + 1, alpha)),
                        float(flat[idx]), np.array(hist) if hist else None))
                else:
                    parents[i * k + alive] = i * k + b
                    next_y[i * k + alive] = v
                    next_logp[i, alive] = flat[idx]
                    next_prefixes[i][alive] = prefixes[i][b] + [v]
                    next_attn[i][alive] = hist
                    alive += 1
                if alive == k or len(finished[i]) >= k:
                    break
            if len(finished[i]) >= k or alive == 0:
                done[i] = True
            elif t + 1 >= limits[i]:                        # cut at max_len: keep live prefixes
                for b in range(alive):
                    toks, hist = next_prefixes[i][b], next_attn[i][b]
                    finished[i].append(Hypothesis(
                        list(toks), float(next_logp[i, b] / length_penalty(len(toks), alpha)),
                        float(next_logp[i, b]), np.array(hist) if hist else None, False))
                done[i] = True
        beam_logp, prefixes, attn_hist, y = next_logp, next_prefixes, next_attn, next_y
        if done.all():
            break
        rows = backend.to_device(parents)
        state = tuple(s[:, rows] for s in state)
        done_rows = np.repeat(done, k)
        beam_logp[done] = -np.inf                           # done sentences stop growing
        y = np.where(done_rows, EOS_ID, y)
    return [sorted(f, key=lambda h: -h.score)[:n_best] for f in finished]
