"""Corpus BLEU with one or several references per hypothesis, as sacreBLEU computes it."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, NamedTuple

from minis2s.data.quote import short_repr
from minis2s.metrics.corpus import check_corpus

SMOOTHING = ("exp", "floor", "add-k", "none")
_SMOOTH_DEFAULTS = {"exp": None, "floor": 0.1, "add-k": 1.0, "none": None}


class BleuComponents(NamedTuple):
    """The pieces of corpus BLEU.

    ``score`` in [0, 1]; ``precisions``: the (smoothed) n-gram precisions
    ``p_1 ... p_N``; ``brevity_penalty``; ``hyp_len``/``ref_len``: total tokens
    (``ref_len`` sums each hypothesis's closest reference length);
    ``matches``/``totals``: clipped n-gram matches and hypothesis n-grams per order.
    """

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hyp_len: int
    ref_len: int
    matches: tuple[int, ...]
    totals: tuple[int, ...]


def _ngrams(tokens: list, max_order: int) -> Counter:
    """Counts of every n-gram of ``tokens``, ``1 <= n <= max_order``, keyed by tuple."""
    return Counter(
        tuple(tokens[k : k + n])
        for n in range(1, max_order + 1)
        for k in range(len(tokens) - n + 1)
    )


def closest_length(hyp_len: int, ref_lens: list[int]) -> int:
    """The reference length BLEU charges a hypothesis: the one nearest ``hyp_len``,
    ties to the shorter (``min`` over ``(|hyp_len - r|, r)``, as sacreBLEU)."""
    return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


def _precision(m: float, t: float, smooth: str, k: float | None, halvings: int) -> tuple:
    """The smoothed precision ``p_n`` of one order (``m`` matches of ``t``), and the
    updated count ``2^k`` of the 'exp' smoothing."""
    if t == 0:
        return 0.0, halvings
    if m > 0:
        return m / t, halvings
    if smooth == "exp":  # the k-th order without a match gets 1 / (2^k total)
        return 1.0 / (2 * halvings * t), 2 * halvings
    if smooth == "floor":
        return k / t, halvings
    return 0.0, halvings


def _bleu(
    H: list[list], Rs: list[list[list]], max_order: int, smooth: str, smooth_value: float | None
) -> BleuComponents:
    matches = [0] * max_order
    totals = [0] * max_order
    ref_len = 0
    for h, rs in zip(H, Rs):
        ref_max: Counter = Counter()  # per n-gram: its most occurrences in one reference
        for r in rs:
            ref_max |= _ngrams(r, max_order)
        for g, count in _ngrams(h, max_order).items():
            matches[len(g) - 1] += min(count, ref_max[g])  # clipped count
        for n in range(1, max_order + 1):
            totals[n - 1] += max(len(h) - n + 1, 0)
        ref_len += closest_length(len(h), [len(r) for r in rs])
    c = sum(len(h) for h in H)
    bp = 1.0 if c >= ref_len else (math.exp(1.0 - ref_len / c) if c > 0 else 0.0)
    k = _SMOOTH_DEFAULTS[smooth] if smooth_value is None else smooth_value
    precisions = []
    halvings = 1
    for n in range(1, max_order + 1):
        m, t = matches[n - 1], totals[n - 1]
        if smooth == "add-k" and n > 1:
            m, t = m + k, t + k
        p, halvings = _precision(m, t, smooth, k, halvings)
        precisions.append(p)
    if sum(matches) == 0 or min(precisions) == 0.0:
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions) / max_order)
    return BleuComponents(score, tuple(precisions), bp, c, ref_len, tuple(matches), tuple(totals))


def check_bleu_options(max_order: Any, smooth: Any, smooth_value: Any) -> None:
    """ValueError/TypeError naming a bad ``max_order``, ``smooth`` or ``smooth_value``."""
    if not isinstance(smooth, str) or smooth not in SMOOTHING:
        raise ValueError(f"smooth must be one of {', '.join(SMOOTHING)}, got {short_repr(smooth)}")
    if isinstance(max_order, bool) or not isinstance(max_order, int) or not 1 <= max_order <= 100:
        raise ValueError(f"max_order must be an integer in [1, 100], got {short_repr(max_order)}")
    if smooth_value is not None and not (
        isinstance(smooth_value, int | float)
        and not isinstance(smooth_value, bool)
        and math.isfinite(smooth_value)
        and smooth_value > 0
    ):
        raise ValueError(
            f"smooth_value must be a positive finite number or None, got {short_repr(smooth_value)}"
        )


def bleu_components(
    hyps: Any,
    refs: Any = None,
    max_order: int = 4,
    smooth: str = "exp",
    smooth_value: float | None = None,
    *,
    refs_per_output: Any = None,
) -> BleuComponents:
    """Corpus BLEU (Papineni et al., 2002) and its pieces.

    Counts are pooled over the whole corpus before anything is divided. With
    ``R_i`` the references of hypothesis ``i`` (one, ``refs``, or several,
    ``refs_per_output``)::

        m_n  = sum_i sum_{g in ngrams_n(h_i)} min(count_{h_i}(g), max_{r in R_i} count_r(g))
        p_n  = m_n / sum_i max(|h_i| - n + 1, 0)         (clipped n-gram precision)
        r*_i = the |r|, r in R_i, nearest |h_i|; ties -> the shorter
        BP   = 1 if c >= r else exp(1 - r / c)            (c = sum |h_i|, r = sum r*_i)
        BLEU = BP * exp( (1/N) sum_{n=1..N} log p_n )     (N = max_order, default 4)

    With one reference per hypothesis the max and the nearest length are just
    that reference's. BLEU is 0 when no n-gram of any order matches, or when
    some ``p_n`` is 0 after smoothing. ``smooth`` says what a zero-match order gets:

    * ``"exp"`` (default, as ``sacrebleu.corpus_bleu``): the k-th order with no
      match, counting from the lowest, gets ``p_n = 1 / (2^k total_n)`` (NIST's
      smoothing, Chen and Cherry's method 3);
    * ``"floor"``: ``p_n = eps / total_n``, ``eps = smooth_value`` (default 0.1);
    * ``"add-k"``: for ``n >= 2`` add ``k = smooth_value`` (default 1) to both
      matches and totals -- the add-one smoothing of Lin and Och for short sentences;
    * ``"none"``: ``p_n = 0``, so BLEU = 0 (the original definition).

    The numbers equal ``sacrebleu.corpus_bleu`` with ``tokenize="none"`` on the
    space-joined tokens (``score / 100``), same smoothing, with several references
    passed as sacreBLEU's reference streams (``None`` where a hypothesis has fewer).
    """
    check_bleu_options(max_order, smooth, smooth_value)
    c = check_corpus(hyps, refs, refs_per_output)
    return _bleu(c.hyps, c.refs, max_order, smooth, smooth_value)


def corpus_bleu(
    hyps: Any,
    refs: Any = None,
    max_order: int = 4,
    smooth: str = "exp",
    smooth_value: float | None = None,
    *,
    refs_per_output: Any = None,
) -> float:
    """Corpus BLEU in [0, 1]; see :func:`bleu_components` for the definition and smoothing."""
    return bleu_components(
        hyps, refs, max_order, smooth, smooth_value, refs_per_output=refs_per_output
    ).score
