"""Token accuracy, exact match and the sequence error rate (the WER of grapheme-to-phoneme)."""

from __future__ import annotations

from typing import Any

from minis2s.metrics.corpus import Corpus, check_corpus, ratio


def _token_accuracy(H: list[list], R: list[list]) -> float:
    correct = sum(sum(a == b for a, b in zip(h, r)) for h, r in zip(H, R))
    positions = sum(max(len(h), len(r)) for h, r in zip(H, R))
    return ratio(correct, positions, "token accuracy")


def token_accuracy(hyps: Any, refs: Any = None, *, refs_per_output: Any = None) -> float:
    """Position-wise token accuracy, missing and extra positions counting as errors::

        accuracy = sum_i #{ j < min(|h_i|, |r_i|) : h_i[j] = r_i[j] }
                   / sum_i max(|h_i|, |r_i|)

    Tokens are compared at the same position, with no alignment. When every
    hypothesis has its reference's length this is the usual "correct tokens /
    reference tokens"; a hypothesis that stops early loses the positions it
    misses, and one that runs on past the reference adds its extra positions to
    the denominator (otherwise trailing garbage would be free). It is 1 exactly
    when every pair matches. ``ValueError`` if every sequence is empty.

    With several references (``refs_per_output``), ``r_i`` is the **first**
    reference: position-wise counts have no standard multi-reference form.
    """
    c = check_corpus(hyps, refs, refs_per_output)
    return _token_accuracy(c.hyps, c.first)


def _exact_match(c: Corpus) -> float:
    return sum(any(h == r for r in rs) for h, rs in zip(c.hyps, c.refs)) / len(c.hyps)


def exact_match(hyps: Any, refs: Any = None, *, refs_per_output: Any = None) -> float:
    """Share of hypotheses equal, token for token, to one of their references::

        exact_match = #{ i : h_i = r_ik for some k } / N

    With one reference per hypothesis (``refs``) that is ``#{ i : h_i = r_i } / N``;
    with several (``refs_per_output``) a hypothesis matching *any* of its
    references counts (a word's second pronunciation is as right as its first).
    """
    return _exact_match(check_corpus(hyps, refs, refs_per_output))


def sequence_error_rate(hyps: Any, refs: Any = None, *, refs_per_output: Any = None) -> float:
    """Share of hypotheses matching none of their references, ``1 - exact_match``: the
    WER of grapheme-to-phoneme (a word is wrong when its pronunciation matches no
    listed pronunciation)."""
    return 1.0 - _exact_match(check_corpus(hyps, refs, refs_per_output))
