"""Edit distance and the token error rates built on it (PER, CER, WER of sentences)."""

from __future__ import annotations

from typing import Any

from minis2s.data.quote import short_repr
from minis2s.metrics.corpus import Corpus, Tokens, as_tokens, check_corpus, ratio


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
    return _levenshtein(as_tokens(a, "a"), as_tokens(b, "b"))


def _closest(h: list, rs: list[list]) -> tuple[int, int]:
    """(index, distance) of the reference nearest ``h``: fewest edits, ties -> the first."""
    best_k, best_d = 0, _levenshtein(h, rs[0])
    for k in range(1, len(rs)):
        d = _levenshtein(h, rs[k])
        if d < best_d:
            best_k, best_d = k, d
    return best_k, best_d


def closest_reference(hyp: Tokens, refs: Any) -> tuple[int, int]:
    """Which of ``refs`` (a non-empty list of token sequences) ``hyp`` is closest to.

    Returns ``(k, d)``: ``d = min_k edit_distance(hyp, refs[k])`` and ``k`` the first
    reference at that distance (the first listed wins a tie).
    """
    if isinstance(refs, str | bytes) or not isinstance(refs, list | tuple) or not refs:
        raise TypeError(
            f"refs must be a non-empty list of token sequences, got {type(refs).__name__} "
            f"{short_repr(refs)}"
        )
    c = check_corpus([hyp], refs_per_output=[refs])
    return _closest(c.hyps[0], c.refs[0])


def _error_rate(c: Corpus) -> float:
    errors = length = 0
    for h, rs in zip(c.hyps, c.refs):
        k, d = _closest(h, rs)
        errors += d
        length += len(rs[k])
    return ratio(errors, length, "the error rate (no reference tokens)")


def error_rate(hyps: Any, refs: Any = None, *, refs_per_output: Any = None) -> float:
    """Token error rate: total edit distance over total reference length::

        rate = sum_i edit_distance(h_i, r*_i) / sum_i |r*_i|

    where ``r*_i`` is the reference of hypothesis ``i`` (``refs``) or, with several
    (``refs_per_output``), the **closest** one: the fewest edits from ``h_i``, ties
    to the first listed (:func:`closest_reference`); its length is what the
    denominator counts.

    On phonemes this is the PER, on characters the CER, on the words of
    sentences the WER. It can exceed 1 (insertions). ``ValueError`` if every
    chosen reference is empty.
    """
    return _error_rate(check_corpus(hyps, refs, refs_per_output))
