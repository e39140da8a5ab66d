"""Toy tasks: copy, reverse, sort and addition, generated on the fly.

Each is a one-line rule on short random strings, so a model that fails one has
a bug, not a data problem -- the first thing to try after a change:

===========  ====================  ================  ================================
task         source                target            what it needs
===========  ====================  ================  ================================
copy         ``"b7k2"``            ``"b7k2"``        memory of the whole input
reverse      ``"b7k2"``            ``"2k7b"``        the last input first: attention helps
sort         ``"b7k2"``            ``"27bk"``        counting symbols, not order
addition     ``"123+45"``          ``"168"``         carrying, right to left
===========  ====================  ================  ================================

All tokens are characters. ``sort`` orders by code point (digits before
letters). Splits never share a source (see :mod:`minis2s.data.splits`).
"""

from __future__ import annotations

import numpy as np

from minis2s.data.quote import short_repr
from minis2s.data.splits import SIZE_RANGES, Pair, check_ranges, generate_splits
from minis2s.data.tokenizer import Tokenizer

#: The default alphabet of copy/reverse/sort: digits and lower-case letters.
DEFAULT_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

STRING_DEFAULTS = {
    "train": 10000,
    "valid": 500,
    "test": 500,
    "min_len": 3,
    "max_len": 10,
    "alphabet": DEFAULT_ALPHABET,
}
ADDITION_DEFAULTS = {"train": 10000, "valid": 500, "test": 500, "max_digits": 3}

#: The valid ranges of the integer options of copy/reverse/sort.
STRING_RANGES = {**SIZE_RANGES, "min_len": (1, 100), "max_len": (1, 100)}
#: The fewest and most characters of ``alphabet``.
ALPHABET_RANGE = (1, 1000)
#: The valid ranges of addition (``max_digits <= 15``: float64-exact draws).
ADDITION_RANGES = {**SIZE_RANGES, "max_digits": (1, 15)}

_RULES = {
    "copy": lambda s: list(s),
    "reverse": lambda s: s[::-1],
    "sort": lambda s: sorted(s),
}


def _sizes(options: dict) -> dict[str, int]:
    return {k: int(options[k]) for k in ("train", "valid", "test")}


def make_string_task(name: str, seed: int, **options) -> tuple[dict[str, list[Pair]], Tokenizer]:
    """Random strings and their copy / reversal / sorted version.

    Source: ``L ~ U{min_len..max_len}`` symbols drawn uniformly from
    ``alphabet``; target: ``rule(source)`` with ``rule`` one of copy, reverse,
    sort.

    Options (defaults in :data:`STRING_DEFAULTS`, ranges in :data:`STRING_RANGES`):
    ``train`` (1..1000000), ``valid``, ``test`` (0..1000000) (sizes), ``min_len``,
    ``max_len`` (1..100, ``min_len <= max_len``), ``alphabet`` (a str of 1..1000
    distinct, non-space characters).
    """
    rule = _RULES[name]
    check_ranges(options, STRING_RANGES)
    sizes = _sizes(options)
    lo, hi = int(options["min_len"]), int(options["max_len"])
    if lo > hi:
        raise ValueError(f"min_len must be <= max_len, got min_len={lo}, max_len={hi}")
    alphabet = options["alphabet"]
    low, high = ALPHABET_RANGE
    if not isinstance(alphabet, str) or not low <= len(alphabet) <= high:
        raise ValueError(
            f"alphabet must be a str of {low} to {high} characters, got {short_repr(alphabet)}"
        )
    if len(set(alphabet)) != len(alphabet) or any(c.isspace() for c in alphabet):
        raise ValueError(
            f"alphabet must hold distinct non-space characters, got {short_repr(alphabet)}"
        )
    symbols = list(alphabet)

    def sample(rng: np.random.Generator, k: int) -> list[Pair]:
        lengths = rng.integers(lo, hi + 1, size=k)
        codes = rng.integers(0, len(symbols), size=(k, hi))  # row i uses its first L_i
        pairs = []
        for length, row in zip(lengths, codes):
            src = [symbols[c] for c in row[:length]]
            pairs.append((src, list(rule(src))))
        return pairs

    return generate_splits(sample, sizes, seed, task=name), Tokenizer("char", "char")


def sample_operands(rng: np.random.Generator, k: int, max_digits: int) -> list[int]:
    """``k`` integers whose digit counts are uniform on ``1..max_digits``.

    ``d ~ U{1..max_digits}``, then ``x ~ U[low_d, 10**d)`` with
    ``low_d = 10**(d-1)`` (0 for ``d = 1``), computed as
    ``low_d + floor(u * (10**d - low_d))`` with ``u ~ U[0, 1)`` -- exact for ``d <= 15``.
    """
    out = []
    for d, u in zip(rng.integers(1, max_digits + 1, size=k).tolist(), rng.random(k).tolist()):
        low = 0 if d == 1 else 10 ** (d - 1)
        out.append(low + int(u * (10**d - low)))
    return out


def make_addition(seed: int, **options) -> tuple[dict[str, list[Pair]], Tokenizer]:
    """``"a+b" -> str(a + b)`` for ``0 <= a, b < 10**max_digits``.

    Each operand first draws its number of digits ``d ~ U{1..max_digits}``,
    then a number with exactly ``d`` digits (``0..9`` for ``d = 1``), so short
    and long operands are drawn equally often (drawing ``a`` uniformly would make
    almost every operand ``max_digits`` long). Repeated sources are then
    rejected, which thins the 100 possible one-digit + one-digit sums.

    Options (defaults in :data:`ADDITION_DEFAULTS`, ranges in :data:`ADDITION_RANGES`):
    ``train`` (1..1000000), ``valid``, ``test`` (0..1000000), ``max_digits`` (1..15:
    the draws are exact in float64 up to 15 digits).
    """
    check_ranges(options, ADDITION_RANGES)
    sizes = _sizes(options)
    max_digits = int(options["max_digits"])

    def sample(rng: np.random.Generator, k: int) -> list[Pair]:
        left = sample_operands(rng, k, max_digits)
        right = sample_operands(rng, k, max_digits)
        return [(list(f"{a}+{b}"), list(str(a + b))) for a, b in zip(left, right)]

    return generate_splits(sample, sizes, seed, task="addition"), Tokenizer("char", "char")
