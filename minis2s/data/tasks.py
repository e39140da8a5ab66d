"""The built-in tasks: a registry and :func:`load_task`.

::

    data = load_task("dates", seed=0, train=2000)
    data.train[0]                    # (source tokens, target tokens)
    data.tokenizer("3 March 2021")   # new text, cut like the data: ['3', ' ', 'm', ...]

=========  ============================================  ===========================
name       example                                       default sizes
=========  ============================================  ===========================
dates      "jeudi 23 septembre 2021" -> "2021-09-23"     20000 / 1000 / 1000
g2p        "phoneme" -> "F OW N IY M"                    all (~106k) / 1000 / all (~5.9k)
copy       "b7k2" -> "b7k2"                              10000 / 500 / 500
reverse    "b7k2" -> "2k7b"                              10000 / 500 / 500
sort       "b7k2" -> "27bk"                              10000 / 500 / 500
addition   "123+45" -> "168"                             10000 / 500 / 500
=========  ============================================  ===========================

Sizes are train / valid / test, each at most 1,000,000
(:data:`~minis2s.data.splits.MAX_EXAMPLES`). Every task is reproducible from its
seed, and its splits never share a source: see each task's module for how.
Every option has a valid range (``TASKS[name].ranges``, listed below); a value
outside it is refused with a ``ValueError`` naming the option and the range.

=========  ==================================================================
task       options and their ranges
=========  ==================================================================
dates      train 1..1e6, valid/test 0..1e6, locales (1-8 distinct of
           ``dates.LOCALES``), lowercase (bool)
g2p        train 1..1e6 or None, valid/test 0..1e6 or None (words, None: all),
           max_word_len 1..100 or None
copy,      train 1..1e6, valid/test 0..1e6, min_len/max_len 1..100
reverse,   (min_len <= max_len), alphabet (1-1000 distinct non-space
sort       characters)
addition   train 1..1e6, valid/test 0..1e6, max_digits 1..15
=========  ==================================================================

A source may have several targets (g2p: a word's pronunciations): the pairs
then hold one pair per (source, target), the first-listed first; see
:mod:`minis2s.data.pairs`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minis2s.data import dates, g2p, toy
from minis2s.data.quote import short_repr
from minis2s.data.splits import MAX_EXAMPLES, Pair
from minis2s.data.tokenizer import Tokenizer

_SIZES = {
    "train": f"an int in [1, {MAX_EXAMPLES}]",
    "valid": f"an int in [0, {MAX_EXAMPLES}]",
    "test": f"an int in [0, {MAX_EXAMPLES}]",
}
_STRING_RANGES = {
    **_SIZES,
    "min_len": "an int in [1, 100], <= max_len",
    "max_len": "an int in [1, 100], >= min_len",
    "alphabet": "a str of 1 to 1000 distinct non-space characters",
}


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: how to build it and which options it takes.

    Attributes:
        name: the registry key.
        description: one line for ``--help`` and listings.
        build: ``build(seed, **options) -> (splits dict, Tokenizer)``.
        defaults: every option the task takes, with its default.
        ranges: every option's valid values, in words (for help texts); ``build``
            refuses the others.
    """

    name: str
    description: str
    build: Callable[..., tuple[dict[str, list[Pair]], Tokenizer]]
    defaults: dict[str, Any]
    ranges: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskData:
    """A loaded task.

    Attributes:
        name: the task's name.
        train, valid, test: lists of ``(src_tokens, tgt_tokens)`` pairs.
        tokenizer: cuts new source text the way the data was cut, and joins
            predicted target tokens back into text (:class:`Tokenizer`).
        seed: the seed the data was generated from.
        options: every option used (defaults filled in), to record with a model.
    """

    name: str
    train: list[Pair] = field(repr=False)
    valid: list[Pair] = field(repr=False)
    test: list[Pair] = field(repr=False)
    tokenizer: Tokenizer
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"TaskData(name={self.name!r}, train={len(self.train)}, valid={len(self.valid)}, "
            f"test={len(self.test)}, tokenizer={self.tokenizer}, seed={self.seed})"
        )


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "dates",
            "human-written dates in 8 languages -> ISO YYYY-MM-DD (characters)",
            dates.make_dates,
            dates.DEFAULTS,
            {
                **_SIZES,
                "locales": f"1 to {len(dates.LOCALES)} distinct of {', '.join(dates.LOCALES)}",
                "lowercase": "true or false",
            },
        ),
        TaskSpec(
            "g2p",
            "grapheme-to-phoneme on the CMU Pronouncing Dictionary (letters -> ARPAbet)",
            g2p.make_g2p,
            g2p.DEFAULTS,
            {
                **{k: f"{v} or None (words; None: all)" for k, v in _SIZES.items()},
                "max_word_len": "an int in [1, 100] or None",
                "split": "'hash' (fixed) or 'random' (seeded, same sizes)",
            },
        ),
        TaskSpec(
            "copy",
            "copy a random digit/letter string",
            functools.partial(toy.make_string_task, "copy"),
            toy.STRING_DEFAULTS,
            _STRING_RANGES,
        ),
        TaskSpec(
            "reverse",
            "reverse a random digit/letter string",
            functools.partial(toy.make_string_task, "reverse"),
            toy.STRING_DEFAULTS,
            _STRING_RANGES,
        ),
        TaskSpec(
            "sort",
            "sort the characters of a random digit/letter string",
            functools.partial(toy.make_string_task, "sort"),
            toy.STRING_DEFAULTS,
            _STRING_RANGES,
        ),
        TaskSpec(
            "addition",
            "add two integers written in decimal: '123+45' -> '168'",
            toy.make_addition,
            toy.ADDITION_DEFAULTS,
            {**_SIZES, "max_digits": "an int in [1, 15]"},
        ),
    )
}

DEFAULT_TASK = "dates"


def load_task(name: str, seed: int = 0, **options: Any) -> TaskData:
    """Generate (or read) a built-in task's train/valid/test splits.

    Args:
        name: a key of :data:`TASKS`.
        seed: the seed of everything random in the task (an int >= 0).
        **options: sizes (``train=``, ``valid=``, ``test=``) and the task's own
            options (see ``TASKS[name].defaults``); missing ones take defaults.

    Returns:
        A :class:`TaskData`.

    Raises:
        ValueError: an unknown task (the message lists the tasks), an option the
            task does not take (lists those it does), or an option value outside
            its range (names the option and the range, ``TASKS[name].ranges``).
    """
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {short_repr(name)}; the tasks are: {', '.join(TASKS)}")
    spec = TASKS[name]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {short_repr(seed)}")
    unknown = sorted(set(options) - set(spec.defaults))
    if unknown:
        raise ValueError(
            f"task {name!r} has no option(s) {short_repr(unknown)}; its options are: "
            f"{', '.join(spec.defaults)}"
        )
    merged = {**spec.defaults, **options}
    splits, tokenizer = spec.build(seed, **merged)
    return TaskData(
        name=name,
        train=splits["train"],
        valid=splits["valid"],
        test=splits["test"],
        tokenizer=tokenizer,
        seed=seed,
        options=merged,
    )
