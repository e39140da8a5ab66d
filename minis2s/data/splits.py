"""Train / valid / test splits that never share a source.

Two situations:

* **generated tasks** (:func:`generate_splits`): examples are drawn on the fly
  from a sampler. The test split is drawn first, then valid, then train, each
  from its own generator seeded by ``(seed, split)``, and a source already drawn
  is rejected. So the same seed gives the same splits; no source is in two
  splits; and asking for more (or fewer) training examples leaves the valid
  and test splits unchanged.
* **user data** (:func:`split_pairs`): a list of pairs read from a file is cut
  at random, *by distinct source*, so two pairs with the same source (e.g. two
  translations of one sentence) always land in the same split.

Host-side: plain Python and NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from minis2s.data.pairs import Pair, check_pairs
from minis2s.data.quote import short_repr

__all__ = [
    "MAX_EXAMPLES",
    "SIZE_RANGES",
    "SPLITS",
    "Pair",
    "check_ranges",
    "check_size",
    "generate_splits",
    "split_pairs",
]

SPLITS = ("train", "valid", "test")
_STREAM = {"test": 0, "valid": 1, "train": 2}  # drawn in this order

#: The most examples a task may be asked for per split (bounds the generation time:
#: a million dates take about a minute to write).
MAX_EXAMPLES = 1_000_000
#: The valid range of every task's size options (the number of distinct sources).
SIZE_RANGES = {"train": (1, MAX_EXAMPLES), "valid": (0, MAX_EXAMPLES), "test": (0, MAX_EXAMPLES)}


def check_size(
    name: str,
    value: object,
    minimum: int = 0,
    allow_none: bool = False,
    maximum: int = MAX_EXAMPLES,
) -> None:
    """Raise ValueError unless ``value`` is an int in ``[minimum, maximum]`` (or None if
    allowed), naming the option, the range and what came."""
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not minimum <= value <= maximum
    ):
        what = f"an int in [{minimum}, {maximum}]" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {what}, got {short_repr(value)}")


def check_ranges(
    options: dict, ranges: dict[str, tuple[int, int]], allow_none: bool = False
) -> None:
    """:func:`check_size` on every option named in ``ranges`` (``name: (low, high)``)."""
    for name, (low, high) in ranges.items():
        check_size(name, options[name], minimum=low, maximum=high, allow_none=allow_none)


def generate_splits(
    sample: Callable[[np.random.Generator, int], list[Pair]],
    sizes: dict[str, int],
    seed: int,
    task: str = "task",
) -> dict[str, list[Pair]]:
    """Draw disjoint train/valid/test splits from a sampler.

    Args:
        sample: ``sample(rng, k) -> [(src_tokens, tgt_tokens), ...]``, ``k``
            random examples (drawn at once: vectorised draws are much faster
            than ``k`` scalar ones).
        sizes: ``{"train": n, "valid": n, "test": n}``, the number of distinct
            sources per split.
        seed: the task seed; split ``s`` uses ``np.random.default_rng([seed, k_s])``.
        task: the task's name, for error messages.

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}``, lists of pairs.

    Raises:
        ValueError: the sampler cannot produce that many distinct sources
            (the task's options allow too few different inputs).
    """
    seen: set[tuple[str, ...]] = set()
    out: dict[str, list[Pair]] = {}
    for split in sorted(SPLITS, key=_STREAM.get):
        n = int(sizes[split])
        rng = np.random.default_rng([int(seed), _STREAM[split]])
        pairs: list[Pair] = []
        drawn = 0
        while len(pairs) < n:
            if drawn > 1000 + 20 * n:
                raise ValueError(
                    f"the {task} task could draw only {len(seen)} distinct sources, "
                    f"not the {sum(sizes.values())} asked for (train+valid+test); "
                    "ask for fewer examples or widen the task's options"
                )
            want = n - len(pairs)
            drawn += want
            for src, tgt in sample(rng, want):
                key = tuple(src)
                if key not in seen and len(pairs) < n:
                    seen.add(key)
                    pairs.append((src, tgt))
        out[split] = pairs
    return {s: out[s] for s in SPLITS}


def _fewest_sources(frac: float) -> int:
    """The fewest distinct sources ``n`` with ``round(frac * n) >= 1``."""
    n = max(1, int(0.5 / frac))
    while round(frac * n) < 1:
        n += 1
    return n


def split_pairs(
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
    rng: np.random.Generator,
    valid: float = 0.05,
    test: float = 0.05,
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Cut user pairs into train / valid / test, by distinct source.

    The distinct sources are shuffled with ``rng``; the first
    ``round(valid * S)`` go to valid, the next ``round(test * S)`` to test, the
    rest to train (``S`` = number of distinct sources). Every pair follows its
    source, and each split keeps the pairs' original order.

    Args:
        pairs: ``[(src_tokens, tgt_tokens), ...]``, e.g. from :func:`read_tsv`.
        rng: a seeded ``numpy.random.Generator``.
        valid, test: fractions in ``[0, 1)`` with ``valid + test < 1``.

    The cut depends only on the set of distinct sources and ``rng`` (the sources
    are sorted before shuffling), never on Python's hash order.

    Returns:
        ``(train, valid, test)`` lists of pairs.

    Raises:
        ValueError: bad fractions, no pairs, or a split that a nonzero
            fraction asks for would be empty, or train would be empty.
        TypeError: ``rng`` is not a Generator, or ``pairs`` is not a list of
            token-list pairs (see :func:`~minis2s.data.pairs.check_pairs`).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__} "
            "(make one with np.random.default_rng(seed))"
        )
    for name, frac in (("valid", valid), ("test", test)):
        if isinstance(frac, bool) or not isinstance(frac, int | float) or not 0 <= frac < 1:
            raise ValueError(f"{name} must be a fraction in [0, 1), got {short_repr(frac)}")
    if valid + test >= 1:
        raise ValueError(f"valid + test must be < 1 to leave training data, got {valid + test}")
    check_pairs(pairs)
    if len(pairs) == 0:
        raise ValueError("split_pairs needs at least one pair, got none")
    sources = sorted({tuple(src) for src, _ in pairs})  # sorted: never hash order
    n = len(sources)
    n_valid, n_test = round(valid * n), round(test * n)
    for name, frac, k in (("valid", valid, n_valid), ("test", test, n_test)):
        if frac > 0 and k == 0:
            raise ValueError(
                f"{name}={frac} of {n} distinct sources rounds to 0 examples: "
                f"at least {_fewest_sources(frac)} distinct sources are needed"
            )
    if n_valid + n_test >= n:
        raise ValueError(f"only {n} distinct sources: nothing would be left to train on")
    perm = rng.permutation(n)
    label = ["train"] * n
    for k in perm[:n_valid]:
        label[k] = "valid"
    for k in perm[n_valid : n_valid + n_test]:
        label[k] = "test"
    where = dict(zip(sources, label))
    out: dict[str, list[Pair]] = {s: [] for s in SPLITS}
    for src, tgt in pairs:
        out[where[tuple(src)]].append((list(src), list(tgt)))
    return out["train"], out["valid"], out["test"]
