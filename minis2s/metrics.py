"""Evaluation metrics on token sequences: accuracy, exact match, F1, BLEU, edit-distance rates.

Every metric takes a corpus of hypotheses and a corpus of references,

    hyps = [h_1, ..., h_N]      refs = [r_1, ..., r_N]

each ``h_i``/``r_i`` a sequence of hashable tokens (a list or tuple of strings or
ints, or a 1-D NumPy array of ids), one reference per hypothesis. This is host
data: decode on the device, move ids to the host with ``backend.to_host``, strip
padding and the end token, then measure. ``|s|`` below is the length of ``s``.

A sentence must not be a ``str``: ``"cat"`` could mean three characters or one
word. Pass ``list("cat")`` for characters or ``"the cat".split()`` for words.

Which numbers a task reports
----------------------------
* grapheme-to-phoneme: **PER** (phoneme error rate) is :func:`error_rate` on the
  phoneme sequences; **WER** (word error rate) is :func:`sequence_error_rate`,
  the share of words whose pronunciation has any error.
* sentence tasks (translation-like): **WER** is :func:`error_rate` on word
  tokens, **CER** is :func:`error_rate` on characters; BLEU is :func:`corpus_bleu`.

All rates and scores are fractions in [0, 1] (BLEU too: multiply by 100 for the
usual scale), except :func:`error_rate`, which exceeds 1 when the hypotheses
insert more tokens than the references hold.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np

Tokens = Sequence[Hashable]

SMOOTHING = ("exp", "floor", "add-k", "none")
_SMOOTH_DEFAULTS = {"exp": None, "floor": 0.1, "add-k": 1.0, "none": None}


# -- input checks -------------------------------------------------------------------------
def _as_tokens(seq: Any, where: str) -> list:
    if isinstance(seq, (str, bytes)):
        raise TypeError(
            f"{where} is a string ({seq[:20]!r}); expected a sequence of tokens: "
            "use list(s) for characters or s.split() for words"
        )
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1:
            raise ValueError(f"{where} is an array of shape {seq.shape}, expected 1-D")
        return seq.tolist()
    if not isinstance(seq, (list, tuple)):
        raise TypeError(
            f"{where} is a {type(seq).__name__}, expected a list/tuple of tokens or a 1-D "
            "numpy array (move device arrays to the host with backend.to_host first)"
        )
    for k, tok in enumerate(seq):
        if not isinstance(tok, Hashable):
            raise TypeError(f"{where}[{k}] is an unhashable {type(tok).__name__}: {tok!r}")
    return list(seq)


def _check_corpora(hyps: Any, refs: Any) -> tuple[list[list], list[list]]:
    """Both corpora as lists of token lists, after checking types and lengths."""
    for what, corpus in (("hyps", hyps), ("refs", refs)):
        if not isinstance(corpus, (list, tuple)):
            raise TypeError(
                f"{what} must be a list of token sequences, got {type(corpus).__name__}"
            )
    if len(hyps) != len(refs):
        raise ValueError(
            f"hyps and refs differ in length: {len(hyps)} hypotheses, {len(refs)} references"
        )
    if not hyps:
        raise ValueError("hyps and refs are empty: a metric needs at least one pair")
    return (
        [_as_tokens(h, f"hyps[{i}]") for i, h in enumerate(hyps)],
        [_as_tokens(r, f"refs[{i}]") for i, r in enumerate(refs)],
    )


def _ratio(num: float, den: float, what: str) -> float:
    if den == 0:
        raise ValueError(f"{what} is undefined: its denominator is 0 (every sequence is empty)")
    return num / den


# -- accuracy and exact match --------------------------------------------------------------
def _token_accuracy(H: list[list], R: list[list]) -> float:
    correct = sum(sum(a == b for a, b in zip(h, r)) for h, r in zip(H, R))
    positions = sum(max(len(h), len(r)) for h, r in zip(H, R))
    return _ratio(correct, positions, "token accuracy")


def token_accuracy(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> float:
    """Position-wise token accuracy, missing and extra positions counting as errors::

        accuracy = sum_i #{ j < min(|h_i|, |r_i|) : h_i[j] = r_i[j] }
                   / sum_i max(|h_i|, |r_i|)

    Tokens are compared at the same position, with no alignment. When every
    hypothesis has its reference's length this is the usual "correct tokens /
    reference tokens"; a hypothesis that stops early loses the positions it
    misses, and one that runs on past the reference adds its extra positions to
    the denominator (otherwise trailing garbage would be free). It is 1 exactly
    when every pair matches. ``ValueError`` if every sequence is empty.
    """
    return _token_accuracy(*_check_corpora(hyps, refs))


def _exact_match(H: list[list], R: list[list]) -> float:
    return sum(h == r for h, r in zip(H, R)) / len(H)


def exact_match(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> float:
    """Share of pairs whose hypothesis equals its reference token for token::

        exact_match = #{ i : h_i = r_i } / N
    """
    return _exact_match(*_check_corpora(hyps, refs))


def sequence_error_rate(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> float:
    """Share of pairs with any error, ``1 - exact_match``: the WER of grapheme-to-phoneme
    (a word counts as wrong when any of its phonemes is)."""
    return 1.0 - _exact_match(*_check_corpora(hyps, refs))


# -- precision, recall, F1 -----------------------------------------------------------------
class PRF(NamedTuple):
    """Precision, recall and F1, each in [0, 1]."""

    precision: float
    recall: float
    f1: float


def _matched(h: list, r: list, match: str) -> Counter:
    """Per token type, how many tokens of ``h`` are matched in ``r``."""
    if match == "bag":
        return Counter(h) & Counter(r)  # min(count in h, count in r) per type
    return Counter(a for a, b in zip(h, r) if a == b)


def _prf(H: list[list], R: list[list], average: str, match: str) -> PRF:
    tp: Counter = Counter()
    predicted: Counter = Counter()
    actual: Counter = Counter()
    for h, r in zip(H, R):
        tp.update(_matched(h, r, match))
        predicted.update(h)
        actual.update(r)
    if not predicted and not actual:
        raise ValueError("precision/recall/F1 are undefined: every sequence is empty")

    def div(a: float, b: float) -> float:  # 0/0 -> 0, as scikit-learn's zero_division=0
        return a / b if b else 0.0

    if average == "micro":
        TP, P, A = sum(tp.values()), sum(predicted.values()), sum(actual.values())
        return PRF(div(TP, P), div(TP, A), div(2 * TP, P + A))
    classes = predicted.keys() | actual.keys()
    return PRF(
        sum(div(tp[c], predicted[c]) for c in classes) / len(classes),
        sum(div(tp[c], actual[c]) for c in classes) / len(classes),
        sum(div(2 * tp[c], predicted[c] + actual[c]) for c in classes) / len(classes),
    )


def precision_recall_f1(
    hyps: Sequence[Tokens],
    refs: Sequence[Tokens],
    average: str = "micro",
    match: str = "bag",
) -> PRF:
    """Token-level precision, recall and F1 (a :class:`PRF`).

    Matching (``match``) decides how many hypothesis tokens of type ``c`` are
    true positives in pair ``i``:

    * ``"bag"`` (default, order-free): ``tp_i(c) = min(count_{h_i}(c), count_{r_i}(c))``,
      the multiset overlap of the two sentences;
    * ``"position"`` (tagging, where source and target are aligned):
      ``tp_i(c) = #{ j : h_i[j] = r_i[j] = c }``.

    With ``tp(c) = sum_i tp_i(c)``, ``pred(c) = sum_i count_{h_i}(c)`` and
    ``true(c) = sum_i count_{r_i}(c)``:

    * ``average="micro"`` pools all types: ``P = sum_c tp(c) / sum_c pred(c)``,
      ``R = sum_c tp(c) / sum_c true(c)``, ``F1 = 2 P R / (P + R)``;
    * ``average="macro"`` computes ``P_c = tp(c) / pred(c)``, ``R_c = tp(c) / true(c)``,
      ``F1_c = 2 tp(c) / (pred(c) + true(c))`` for every type ``c`` seen in either
      corpus and averages each over the types (rare types count as much as common ones).

    A ratio whose denominator is 0 counts as 0 (scikit-learn's ``zero_division=0``).
    With ``match="position"`` on equal-length pairs this is exactly scikit-learn's
    ``precision_recall_fscore_support`` on the flattened tags.
    """
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro', got {average!r}")
    if match not in ("bag", "position"):
        raise ValueError(f"match must be 'bag' or 'position', got {match!r}")
    return _prf(*_check_corpora(hyps, refs), average, match)


def f1_score(
    hyps: Sequence[Tokens], refs: Sequence[Tokens], average: str = "micro", match: str = "bag"
) -> float:
    """The F1 of :func:`precision_recall_f1` alone."""
    return precision_recall_f1(hyps, refs, average, match).f1


# -- BLEU ------------------------------------------------------------------------------------
class BleuComponents(NamedTuple):
    """The pieces of corpus BLEU.

    ``score`` in [0, 1]; ``precisions``: the (smoothed) n-gram precisions
    ``p_1 ... p_N``; ``brevity_penalty``; ``hyp_len``/``ref_len``: total tokens;
    ``matches``/``totals``: clipped n-gram matches and hypothesis n-grams per order.
    """

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hyp_len: int
    ref_len: int
    matches: tuple[int, ...]
    totals: tuple[int, ...]


def _ngram_counts(tokens: list, n: int) -> Counter:
    return Counter(tuple(tokens[k : k + n]) for k in range(len(tokens) - n + 1))


def _bleu(
    H: list[list], R: list[list], max_order: int, smooth: str, smooth_value: float | None
) -> BleuComponents:
    matches = [0] * max_order
    totals = [0] * max_order
    for h, r in zip(H, R):
        for n in range(1, max_order + 1):
            hyp_ngrams = _ngram_counts(h, n)
            matches[n - 1] += sum((hyp_ngrams & _ngram_counts(r, n)).values())  # clipped
            totals[n - 1] += max(len(h) - n + 1, 0)
    c = sum(len(h) for h in H)
    r = sum(len(x) for x in R)
    bp = 1.0 if c >= r else (math.exp(1.0 - r / c) if c > 0 else 0.0)
    k = _SMOOTH_DEFAULTS[smooth] if smooth_value is None else smooth_value
    precisions = []
    halvings = 1  # 'exp': the k-th order without a match gets 1 / (2^k total)
    for n in range(1, max_order + 1):
        m, t = matches[n - 1], totals[n - 1]
        if smooth == "add-k" and n > 1:
            m, t = m + k, t + k
        if t == 0:
            p = 0.0
        elif m > 0:
            p = m / t
        elif smooth == "exp":
            halvings *= 2
            p = 1.0 / (halvings * t)
        elif smooth == "floor":
            p = k / t
        else:
            p = 0.0
        precisions.append(p)
    if sum(matches) == 0 or min(precisions) == 0.0:
        score = 0.0
    else:
        score = bp * math.exp(sum(math.log(p) for p in precisions) / max_order)
    return BleuComponents(score, tuple(precisions), bp, c, r, tuple(matches), tuple(totals))


def bleu_components(
    hyps: Sequence[Tokens],
    refs: Sequence[Tokens],
    max_order: int = 4,
    smooth: str = "exp",
    smooth_value: float | None = None,
) -> BleuComponents:
    """Corpus BLEU (Papineni et al., 2002) and its pieces, one reference per hypothesis.

    Counts are pooled over the whole corpus before anything is divided::

        p_n  = sum_i sum_{g in ngrams_n(h_i)} min(count_{h_i}(g), count_{r_i}(g))
               / sum_i max(|h_i| - n + 1, 0)              (clipped n-gram precision)
        BP   = 1 if c >= r else exp(1 - r / c)            (c = sum |h_i|, r = sum |r_i|)
        BLEU = BP * exp( (1/N) sum_{n=1..N} log p_n )     (N = max_order, default 4)

    BLEU is 0 when no n-gram of any order matches, or when some ``p_n`` is 0 after
    smoothing. ``smooth`` says what a zero-match order gets:

    * ``"exp"`` (default, as ``sacrebleu.corpus_bleu``): the k-th order with no
      match, counting from the lowest, gets ``p_n = 1 / (2^k total_n)`` (NIST's
      smoothing, Chen and Cherry's method 3);
    * ``"floor"``: ``p_n = eps / total_n``, ``eps = smooth_value`` (default 0.1);
    * ``"add-k"``: for ``n >= 2`` add ``k = smooth_value`` (default 1) to both
      matches and totals -- the add-one smoothing of Lin and Och for short sentences;
    * ``"none"``: ``p_n = 0``, so BLEU = 0 (the original definition).

    The numbers equal ``sacrebleu.corpus_bleu`` with ``tokenize="none"`` on the
    space-joined tokens (``score / 100``), same smoothing.
    """
    if smooth not in SMOOTHING:
        raise ValueError(f"smooth must be one of {', '.join(SMOOTHING)}, got {smooth!r}")
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"max_order must be an integer >= 1, got {max_order!r}")
    if smooth_value is not None and not (
        isinstance(smooth_value, (int, float)) and math.isfinite(smooth_value) and smooth_value > 0
    ):
        raise ValueError(f"smooth_value must be a positive number or None, got {smooth_value!r}")
    return _bleu(*_check_corpora(hyps, refs), max_order, smooth, smooth_value)


def corpus_bleu(
    hyps: Sequence[Tokens],
    refs: Sequence[Tokens],
    max_order: int = 4,
    smooth: str = "exp",
    smooth_value: float | None = None,
) -> float:
    """Corpus BLEU in [0, 1]; see :func:`bleu_components` for the definition and smoothing."""
    return bleu_components(hyps, refs, max_order, smooth, smooth_value).score


# -- edit distance ---------------------------------------------------------------------------
def _levenshtein(a: list, b: list) -> int:
    if len(a) < len(b):
        a, b = b, a  # the row runs over the shorter sequence: O(min(n, m)) memory
    prev = list(range(len(b) + 1))  # D[0][j] = j: insert the first j tokens of b
    for i, x in enumerate(a, start=1):
        cur = [i]  # D[i][0] = i: delete the first i tokens of a
        for j, y in enumerate(b, start=1):
            cur.append(
                min(
                    prev[j] + 1,  # delete x
                    cur[j - 1] + 1,  # insert y
                    prev[j - 1] + (x != y),  # substitute x by y (free if equal)
                )
            )
        prev = cur
    return prev[-1]


def edit_distance(a: Tokens, b: Tokens) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions
    (each costing 1) that turn token sequence ``a`` into ``b``.

    Dynamic programming over ``D[i][j]`` = distance between the first ``i``
    tokens of ``a`` and the first ``j`` of ``b``::

        D[i][0] = i,   D[0][j] = j
        D[i][j] = min( D[i-1][j] + 1,                        (delete a_i)
                       D[i][j-1] + 1,                        (insert b_j)
                       D[i-1][j-1] + [a_i != b_j] )          (substitute / keep)

    ``O(|a| |b|)`` time; only the previous row is kept, ``O(min(|a|, |b|))`` memory.
    """
    return _levenshtein(_as_tokens(a, "a"), _as_tokens(b, "b"))


def _error_rate(H: list[list], R: list[list]) -> float:
    errors = sum(_levenshtein(h, r) for h, r in zip(H, R))
    return _ratio(errors, sum(len(r) for r in R), "the error rate (no reference tokens)")


def error_rate(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> float:
    """Token error rate: total edit distance over total reference length::

        rate = sum_i edit_distance(h_i, r_i) / sum_i |r_i|

    On phonemes this is the PER, on characters the CER, on the words of
    sentences the WER. It can exceed 1 (insertions). ``ValueError`` if every
    reference is empty.
    """
    return _error_rate(*_check_corpora(hyps, refs))


# -- all at once -----------------------------------------------------------------------------
def compute_all(hyps: Sequence[Tokens], refs: Sequence[Tokens]) -> dict[str, float]:
    """Every metric of this module on one corpus (checked once), for the training loop::

        {"token_accuracy", "exact_match", "precision", "recall", "f1"   (micro, bag),
         "macro_f1" (bag), "bleu" (4-gram, 'exp' smoothing), "error_rate",
         "sequence_error_rate"}

    For grapheme-to-phoneme, report ``error_rate`` as PER and
    ``sequence_error_rate`` as WER; for sentence tasks ``error_rate`` on word
    tokens is the WER.
    """
    H, R = _check_corpora(hyps, refs)
    micro = _prf(H, R, "micro", "bag")
    em = _exact_match(H, R)
    return {
        "token_accuracy": _token_accuracy(H, R),
        "exact_match": em,
        "precision": micro.precision,
        "recall": micro.recall,
        "f1": micro.f1,
        "macro_f1": _prf(H, R, "macro", "bag").f1,
        "bleu": _bleu(H, R, 4, "exp", None).score,
        "error_rate": _error_rate(H, R),
        "sequence_error_rate": 1.0 - em,
    }
