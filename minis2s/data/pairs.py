"""(source, target) pairs, and sources with several references.

Every task and :func:`~minis2s.data.files.read_tsv` give their data as a list of
pairs of token lists, ``[(src_tokens, tgt_tokens), ...]``. A source may have
several right targets -- a word with two pronunciations, a sentence with two
translations. They are kept as **one pair per (source, target)**, the
first-listed target first::

    (list("either"), ["IY", "DH", "ER"])
    (list("either"), ["AY", "DH", "ER"])       <- a second reference of the same source

so training code that walks the pairs needs no change. The splits are cut by
distinct source (a source's pairs are never in two splits). Two helpers:

* :func:`group_references` -- ``[(source, [target, ...]), ...]``, one entry per
  distinct source, for evaluation: decode each source once and score the output
  against all its references (``minis2s.metrics``' ``refs_per_output``);
* :func:`select_references` -- ``"all"`` pairs, or only each source's ``"first"``
  (the training option: train on every reference or on the first-listed one).

Host-side: plain Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minis2s.data.quote import short_repr

Pair = tuple[list[str], list[str]]

#: The values of the ``references`` option: train on every reference or the first.
REFERENCE_MODES = ("all", "first")
_STR = frozenset({str})
_SIDE_TYPES = (list, tuple)


def _fine(tokens: Any) -> bool:
    """The quick test of one side: a non-empty list/tuple of non-empty plain ``str``."""
    return (
        isinstance(tokens, _SIDE_TYPES)
        and len(tokens) > 0
        and _STR.issuperset(map(type, tokens))  # at C speed
        and "" not in tokens
    )


def _explain_side(tokens: Any, where: str) -> None:
    """Raise the error that says what is wrong with one side (returns if nothing is)."""
    if isinstance(tokens, str | bytes) or not isinstance(tokens, _SIDE_TYPES):
        raise TypeError(
            f"{where} must be a list of str tokens, got {type(tokens).__name__} "
            f"{short_repr(tokens)} (cut text with list(text) or text.split() first)"
        )
    if not tokens:
        raise ValueError(f"{where} is empty; every side of a pair needs at least one token")
    for k, tok in enumerate(tokens):
        if not isinstance(tok, str) or not tok:
            raise TypeError(
                f"{where}[{k}] must be a non-empty str token, got {type(tok).__name__} "
                f"{short_repr(tok)}"
            )


def check_pairs(pairs: Any, what: str = "pairs") -> None:
    """Check ``pairs`` is a list of ``(source tokens, target tokens)``.

    Each side a non-empty list or tuple of non-empty ``str`` tokens.

    Raises:
        TypeError: not a list/tuple, an item that is not a 2-item pair, a side that
            is a ``str`` or holds a non-str token (named by index).
        ValueError: an empty side (named by index).
    """
    if not isinstance(pairs, list | tuple):
        raise TypeError(
            f"{what} must be a list of (source tokens, target tokens) pairs, "
            f"got {type(pairs).__name__}"
        )
    for i, pair in enumerate(pairs):
        if isinstance(pair, _SIDE_TYPES) and len(pair) == 2 and _fine(pair[0]) and _fine(pair[1]):
            continue
        if not isinstance(pair, _SIDE_TYPES) or len(pair) != 2:
            raise TypeError(
                f"{what}[{i}] must be a (source tokens, target tokens) pair, "
                f"got {type(pair).__name__} {short_repr(pair)}"
            )
        _explain_side(pair[0], f"{what}[{i}] source")
        _explain_side(pair[1], f"{what}[{i}] target")


def group_references(pairs: Sequence[Pair]) -> list[tuple[list[str], list[list[str]]]]:
    """The references of each distinct source: ``[(source, [target_1, target_2, ...]), ...]``.

    Sources come in the order of their first pair; each source's targets in the
    order of its pairs, the first-listed first. A target repeated for the same
    source (the same TSV line twice) is kept once.

    Args:
        pairs: ``[(src_tokens, tgt_tokens), ...]`` (see :func:`check_pairs`).

    Returns:
        One ``(source, references)`` per distinct source; lists are copies.
    """
    check_pairs(pairs)
    groups: dict[tuple[str, ...], tuple[list[str], list[list[str]]]] = {}
    seen: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()  # membership only
    for src, tgt in pairs:
        key, target = tuple(src), tuple(tgt)
        if key not in groups:
            groups[key] = (list(src), [])
        if (key, target) not in seen:
            seen.add((key, target))
            groups[key][1].append(list(tgt))
    return list(groups.values())  # dict order: first-seen, never hash order


def check_reference_mode(references: Any) -> str:
    """``references`` if it is one of :data:`REFERENCE_MODES`, else ValueError naming them."""
    if not isinstance(references, str) or references not in REFERENCE_MODES:
        raise ValueError(
            f"references must be one of {', '.join(map(repr, REFERENCE_MODES))}, "
            f"got {short_repr(references)}"
        )
    return references


def select_references(pairs: Sequence[Pair], references: str = "all") -> list[Pair]:
    """The pairs to train on: all of them, or each source's first-listed one.

    Args:
        pairs: ``[(src_tokens, tgt_tokens), ...]``.
        references: ``"all"`` -- every pair, in order (a copy); ``"first"`` -- only
            the first pair of each distinct source, in order (a task whose sources
            have one target each is unchanged).

    Returns:
        A new list of pairs.
    """
    check_reference_mode(references)
    check_pairs(pairs)
    if references == "all":
        return [(list(s), list(t)) for s, t in pairs]
    seen: set[tuple[str, ...]] = set()  # membership only
    out: list[Pair] = []
    for src, tgt in pairs:
        key = tuple(src)
        if key not in seen:
            seen.add(key)
            out.append((list(src), list(tgt)))
    return out
