"""The input of every metric: hypotheses and their references, checked once.

A metric takes ``N`` hypotheses and, for each, its references in one of two
explicit forms (never guessed from the types):

* ``refs``: one reference per hypothesis, ``[r_1, ..., r_N]``;
* ``refs_per_output``: a non-empty list of references per hypothesis,
  ``[[r_11, r_12, ...], ..., [r_N1, ...]]``, the first listed first
  (e.g. a word's pronunciations in dictionary order).

Both become a :class:`Corpus` whose ``refs[i]`` is the list of references of
hypothesis ``i`` (one reference is a list of one). A sequence is a list or
tuple of hashable tokens, or a 1-D NumPy array of ids -- never a ``str``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np

from minis2s.data.quote import short_repr

Tokens = Sequence[Hashable]


class Corpus(NamedTuple):
    """Checked metric input: ``hyps``, ``N`` token lists, and ``refs``, ``N`` non-empty
    lists of reference token lists (``refs[i][0]`` is the first-listed reference of
    hypothesis ``i``)."""

    hyps: list[list]
    refs: list[list[list]]

    @property
    def first(self) -> list[list]:
        """The first reference of every hypothesis, ``[refs[i][0] for i]``."""
        return [rs[0] for rs in self.refs]


def as_tokens(seq: Any, where: str) -> list:
    """``seq`` as a list of hashable tokens (TypeError/ValueError naming ``where``)."""
    if isinstance(seq, str | bytes):
        raise TypeError(
            f"{where} is a string ({short_repr(seq, 20)}); expected a sequence of tokens: "
            "use list(s) for characters or s.split() for words"
        )
    if isinstance(seq, np.ndarray):
        if seq.ndim != 1:
            raise ValueError(f"{where} is an array of shape {seq.shape}, expected 1-D")
        seq = seq.tolist()
    elif not isinstance(seq, list | tuple):
        raise TypeError(
            f"{where} is a {type(seq).__name__}, expected a list/tuple of tokens or a 1-D "
            "numpy array (move device arrays to the host with backend.to_host first)"
        )
    for k, tok in enumerate(seq):
        if not isinstance(tok, Hashable):
            raise TypeError(
                f"{where}[{k}] is an unhashable {type(tok).__name__} ({short_repr(tok)}); "
                "tokens must be hashable: str, int, ..."
            )
        if isinstance(tok, float | np.floating) and math.isnan(tok):
            raise ValueError(f"{where}[{k}] is NaN, which equals no token (not even itself)")
    return list(seq)


def _check_list(corpus: Any, what: str, holds: str) -> None:
    if not isinstance(corpus, list | tuple):
        raise TypeError(f"{what} must be a list of {holds}, got {type(corpus).__name__}")


def check_corpus(hyps: Any, refs: Any = None, refs_per_output: Any = None) -> Corpus:
    """Check ``hyps`` and exactly one of ``refs`` / ``refs_per_output``; return a :class:`Corpus`.

    Raises:
        TypeError: neither or both reference forms given, or a wrong type
            (a corpus that is not a list, a sentence that is a ``str``, an
            unhashable token), naming the position.
        ValueError: the lengths differ, the corpus is empty, a hypothesis has
            no reference, an array is not 1-D, or a token is NaN.
    """
    if (refs is None) == (refs_per_output is None):
        raise TypeError(
            "give the references as exactly one of refs= (one reference per hypothesis) "
            "or refs_per_output= (a list of references per hypothesis), got "
            + ("neither" if refs is None else "both")
        )
    _check_list(hyps, "hyps", "token sequences")
    if refs is not None:
        _check_list(refs, "refs", "token sequences")
        groups: Sequence = refs
        name = "refs"
    else:
        _check_list(refs_per_output, "refs_per_output", "lists of token sequences")
        groups, name = refs_per_output, "refs_per_output"
    if len(hyps) != len(groups):
        raise ValueError(
            f"hyps and {name} differ in length: {len(hyps)} hypotheses, {len(groups)} "
            + ("references" if refs is not None else "lists of references")
        )
    if not hyps:
        raise ValueError(f"hyps and {name} are empty: a metric needs at least one pair")
    H = [as_tokens(h, f"hyps[{i}]") for i, h in enumerate(hyps)]
    if refs is not None:
        return Corpus(H, [[as_tokens(r, f"refs[{i}]")] for i, r in enumerate(refs)])
    R = []
    for i, rs in enumerate(refs_per_output):
        if not isinstance(rs, list | tuple):
            raise TypeError(
                f"refs_per_output[{i}] is a {type(rs).__name__}, expected a list of the "
                "references of hypothesis i (each a token sequence)"
            )
        if not rs:
            raise ValueError(
                f"refs_per_output[{i}] is empty: each hypothesis needs at least one reference"
            )
        R.append([as_tokens(r, f"refs_per_output[{i}][{k}]") for k, r in enumerate(rs)])
    return Corpus(H, R)


def ratio(num: float, den: float, what: str) -> float:
    """``num / den``; ValueError naming ``what`` when ``den`` is 0."""
    if den == 0:
        raise ValueError(f"{what} is undefined: its denominator is 0 (every sequence is empty)")
    return num / den


class ReferenceCount(NamedTuple):
    """How many references a corpus was scored against: ``outputs`` (``N``, the number
    of hypotheses), ``references`` (over all hypotheses, ``>= N``) and ``with_several``
    (the hypotheses that have more than one reference)."""

    outputs: int
    references: int
    with_several: int

    def describe(self) -> str:
        """One line for a report, e.g. ``'6254 references for 5901 outputs (353 with
        several)'``."""
        several = f" ({self.with_several} with several)" if self.with_several else ""
        return f"{self.references} references for {self.outputs} outputs{several}"


def count_references(refs: Any = None, *, refs_per_output: Any = None) -> ReferenceCount:
    """Count the references of a corpus given either way (see :func:`check_corpus`)."""
    groups = refs_per_output if refs is None else refs
    n = len(groups) if isinstance(groups, list | tuple) else 0
    corpus = check_corpus([[]] * n, refs, refs_per_output)
    sizes = [len(rs) for rs in corpus.refs]
    return ReferenceCount(len(sizes), sum(sizes), sum(s > 1 for s in sizes))
