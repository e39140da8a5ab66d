"""Measuring a model on pairs: decoding many sources, scoring the outputs, the mean loss,
and the attention weights of a few examples.

Shared by the training loop (validation after each epoch, the test split at the
end), the ``evaluate`` and ``translate`` commands, and the lessons.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.data.vocab import PAD_ID


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


class Evaluation(NamedTuple):
    """What :func:`evaluate_pairs` measured (host data)."""

    metrics: dict[str, float]     # minis2s.metrics.compute_all, against every reference
    hypotheses: list              # one Hypothesis per distinct source, in ``groups`` order
    groups: list                  # [(source tokens, [reference tokens, ...]), ...]
    references: Any               # minis2s.metrics.ReferenceCount: how many were scored


def evaluate_pairs(model: Any, pairs: Sequence, src_vocab: Any, tgt_vocab: Any, *,
                   beam: int = 1, max_len: int | None = None) -> Evaluation:
    """Decode each distinct source of ``pairs`` once and score the output against all of
    that source's targets.

    A source may come with several targets (a word with several pronunciations, a TSV
    source on several lines): :func:`minis2s.data.group_references` gathers them, first
    listed first. Exact match and the sequence error rate count an output right if it
    equals *any* reference; the token error rate (PER, WER) uses the *closest*; BLEU is
    multi-reference as sacreBLEU computes it; token accuracy and F1 use the first (see
    :func:`minis2s.metrics.compute_all`). With one target per source this is the plain
    one-reference score.

    Returns an :class:`Evaluation` (its first two fields unpack as
    ``metrics, hypotheses = evaluate_pairs(...)[:2]``).
    """
    from minis2s import metrics
    from minis2s.data import group_references

    if not pairs:
        raise ValueError("nothing to evaluate: the split is empty")
    groups = group_references(pairs)
    hyps = decode_sources(model, [src_vocab.encode(src) for src, _ in groups],
                          beam=beam, max_len=max_len)
    outputs = [tgt_vocab.decode(h.tokens) for h in hyps]
    refs = [r for _, r in groups]
    return Evaluation(metrics.compute_all(outputs, refs_per_output=refs), hyps, groups,
                      metrics.count_references(refs_per_output=refs))


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


def attention_examples(model: Any, pairs: Sequence, src_vocab: Any, tgt_vocab: Any, *,
                       max_len: int | None = None) -> list[tuple[list, list, np.ndarray]]:
    """Where an attention model looks, for each of ``pairs``: its greedy output and the
    weights of every decoder step.

    Returns one ``(source tokens, output tokens, weights)`` per pair, the form
    :func:`minis2s.plot.plot_attention` draws: ``weights[t, j] = a_tj``, shape
    ``(len(output) + 1, len(source))`` -- the last row is the step that wrote ``</s>``
    -- or ``(len(output), len(source))`` for an output cut at the length limit.
    ``ValueError`` for a model whose context is not ``attention``.
    """
    if model.config.context != "attention":
        raise ValueError(f"attention_examples: the model's context is "
                         f"{model.config.context!r}; only an attention model has weights")
    hyps = decode_sources(model, [src_vocab.encode(s) for s, _ in pairs], max_len=max_len)
    return [(list(src), [tgt_vocab.id_to_token(i) for i in h.tokens],
             backend.to_host(h.attention)) for (src, _), h in zip(pairs, hyps)]
