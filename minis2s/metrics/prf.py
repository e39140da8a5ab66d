"""Token-level precision, recall and F1, micro- or macro-averaged, bag or position matching."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, NamedTuple

from minis2s.data.quote import short_repr
from minis2s.metrics.corpus import check_corpus

AVERAGES = ("micro", "macro")
MATCHES = ("bag", "position")


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


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0  # 0/0 -> 0, as scikit-learn's zero_division=0


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
    if average == "micro":
        TP, P, A = sum(tp.values()), sum(predicted.values()), sum(actual.values())
        return PRF(_div(TP, P), _div(TP, A), _div(2 * TP, P + A))
    # Every type seen in either corpus, in first-seen order (dict order: never hash order);
    # fsum rounds the exact sum once, so the average does not depend on the order at all.
    classes = list(dict.fromkeys([*predicted, *actual]))
    return PRF(
        math.fsum(_div(tp[c], predicted[c]) for c in classes) / len(classes),
        math.fsum(_div(tp[c], actual[c]) for c in classes) / len(classes),
        math.fsum(_div(2 * tp[c], predicted[c] + actual[c]) for c in classes) / len(classes),
    )


def check_prf_options(average: Any, match: Any) -> None:
    """ValueError unless ``average`` is in :data:`AVERAGES` and ``match`` in :data:`MATCHES`."""
    if not isinstance(average, str) or average not in AVERAGES:
        raise ValueError(f"average must be 'micro' or 'macro', got {short_repr(average)}")
    if not isinstance(match, str) or match not in MATCHES:
        raise ValueError(f"match must be 'bag' or 'position', got {short_repr(match)}")


def precision_recall_f1(
    hyps: Any,
    refs: Any = None,
    average: str = "micro",
    match: str = "bag",
    *,
    refs_per_output: Any = None,
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
      The sums are exactly rounded (``math.fsum``), so the result is the same to the
      last bit whatever order the types come in (and in every process).

    A ratio whose denominator is 0 counts as 0 (scikit-learn's ``zero_division=0``).
    With ``match="position"`` on equal-length pairs this is exactly scikit-learn's
    ``precision_recall_fscore_support`` on the flattened tags.

    With several references (``refs_per_output``), ``r_i`` is the **first**
    reference of hypothesis ``i``.
    """
    check_prf_options(average, match)
    c = check_corpus(hyps, refs, refs_per_output)
    return _prf(c.hyps, c.first, average, match)


def f1_score(
    hyps: Any,
    refs: Any = None,
    average: str = "micro",
    match: str = "bag",
    *,
    refs_per_output: Any = None,
) -> float:
    """The F1 of :func:`precision_recall_f1` alone."""
    return precision_recall_f1(hyps, refs, average, match, refs_per_output=refs_per_output).f1
