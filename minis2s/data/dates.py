"""The dates task: human-written dates in eight languages -> ISO ``YYYY-MM-DD``.

The project's default task. A date is drawn uniformly from 1950-01-01 to
2049-12-31, then written by Babel (``babel.dates.format_date``) in a random
locale and a random format::

    "jeudi 23 septembre 2021"          (fr_FR, full)        -> "2021-09-23"
    "23.09.21"                          (de_DE, short)       -> "2021-09-23"
    "23 de set. de 2021"                (pt_BR, medium)      -> "2021-09-23"
    "thursday 23 september 2021"        (en_GB, EEEE d MMMM y)

Every source maps to exactly one date -- the task is a function, so 100 %
exact match is reachable -- because of two choices:

* **Day first.** All numeric formats write the day before the month. The US
  short form ``M/d/yy`` ("9/23/21") is left out: next to Spanish ``d/M/yy``
  the string "3/4/21" would mean both 4 March and 3 April.
* **A 100-year window.** Two-digit years ("21") are unambiguous because the
  years span exactly 1950..2049: ``yy >= 50`` means 19yy, else 20yy.

Month names never clash across the languages either (e.g. "mar" is March in
every language that writes it). All 64 (locale, format) pairs were rendered for
every day of the hundred years once: 1.2 million distinct strings, no string
meaning two dates. ``tests/test_data_tasks.py`` repeats the check on two whole
years and two days of every year, and generation itself refuses a clash.

Tokens are characters. The source is **lower-cased** by default (the case of
"Sept"/"sept" carries no information and lower-casing shrinks the source
vocabulary from 61 to 51 symbols), and Babel's no-break spaces are normalised to plain
spaces. Sources are at most 38 characters long (Portuguese full dates, e.g.
"segunda-feira, 13 de fevereiro de 1950"); 90 % are 8 to 26 long.

Default sizes: 20000 train / 1000 valid / 1000 test (see :data:`DEFAULTS`).
"""

from __future__ import annotations

import datetime
import functools

import numpy as np
from babel import Locale
from babel.dates import format_date

from minis2s.data.quote import short_repr
from minis2s.data.splits import SIZE_RANGES, Pair, check_ranges, generate_splits
from minis2s.data.tokenizer import Tokenizer

#: The locales dates are written in.
LOCALES: tuple[str, ...] = (
    "en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL",
)  # fmt: skip

#: Babel's standard formats and CLDR patterns every locale renders ...
COMMON_FORMATS: tuple[str, ...] = (
    "short", "medium", "long", "full",
    "d MMM y", "d MMMM y", "dd.MM.yy", "EEEE d MMMM y",
)  # fmt: skip
#: ... plus these, per locale ...
EXTRA_FORMATS: dict[str, tuple[str, ...]] = {"en_GB": ("MMMM d, y",)}
#: ... minus these: month-first numeric forms, which would clash with day-first ones.
EXCLUDED_FORMATS: frozenset[tuple[str, str]] = frozenset({("en_US", "short")})

FIRST_DATE = datetime.date(1950, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)

DEFAULTS = {"train": 20000, "valid": 1000, "test": 1000, "locales": LOCALES, "lowercase": True}
#: The valid range of each size option (``locales``: distinct names of :data:`LOCALES`;
#: ``lowercase``: a bool).
RANGES = dict(SIZE_RANGES)


def formats_for(locale: str) -> tuple[str, ...]:
    """The formats ``locale`` writes dates in (common + extra - excluded)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown dates locale {short_repr(locale)}; choose from {list(LOCALES)}")
    fmts = COMMON_FORMATS + EXTRA_FORMATS.get(locale, ())
    return tuple(f for f in fmts if (locale, f) not in EXCLUDED_FORMATS)


@functools.cache
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)  # parsed once: format_date would re-parse a str every call


def render_date(date: datetime.date, locale: str, fmt: str, lowercase: bool = True) -> str:
    """Write ``date`` as Babel does for ``(locale, fmt)``, whitespace normalised.

    ``" ".join(format_date(date, fmt, locale).split())``, lower-cased if asked
    (the split also turns Babel's no-break spaces into plain ones).
    """
    text = " ".join(format_date(date, fmt, locale=_babel_locale(locale)).split())
    return text.lower() if lowercase else text


def sample_dates(
    rng: np.random.Generator, k: int, locales: tuple[str, ...] = LOCALES
) -> list[tuple[datetime.date, str, str]]:
    """``k`` random ``(date, locale, fmt)``: a uniform day, then locale, then format."""
    span = (LAST_DATE - FIRST_DATE).days + 1
    days = rng.integers(0, span, size=k).tolist()
    locs = rng.integers(0, len(locales), size=k).tolist()
    u = rng.random(k).tolist()  # picks the format: floor(u * number of the locale's formats)
    out = []
    for day, loc, x in zip(days, locs, u):
        fmts = formats_for(locales[loc])
        date = FIRST_DATE + datetime.timedelta(days=day)
        out.append((date, locales[loc], fmts[int(x * len(fmts))]))
    return out


def _check_locales(locales: object) -> tuple[str, ...]:
    """``locales`` as a tuple of distinct known locale names (one name may be a str)."""
    if isinstance(locales, str):
        locales = (locales,)
    if not isinstance(locales, list | tuple):
        raise ValueError(
            f"locales must be a list of names from {list(LOCALES)}, got "
            f"{type(locales).__name__} {short_repr(locales)}"
        )
    if not locales:
        raise ValueError(f"locales must name at least one of {list(LOCALES)}, got none")
    for loc in locales:
        formats_for(loc)  # validates
    if len(set(locales)) != len(locales):
        raise ValueError(f"locales must be distinct, got {short_repr(locales)}")
    return tuple(locales)


def make_dates(seed: int, **options) -> tuple[dict[str, list[Pair]], Tokenizer]:
    """Build the dates splits.

    Options (defaults in :data:`DEFAULTS`, ranges in :data:`RANGES`): ``train``
    (1..1000000), ``valid``, ``test`` (0..1000000) (sizes), ``locales`` (1 to 8
    distinct names of :data:`LOCALES`, e.g. ``("en_US",)`` for an easier task; one
    name may be given as a str), ``lowercase`` (True or False: lower-case the source).

    Returns:
        ``(splits, tokenizer)``; pairs are ``(list(source), list("YYYY-MM-DD"))``.
    """
    check_ranges(options, RANGES)
    sizes = {k: int(options[k]) for k in ("train", "valid", "test")}
    locales = _check_locales(options["locales"])
    lowercase = options["lowercase"]
    if not isinstance(lowercase, bool):
        raise ValueError(f"lowercase must be True or False, got {short_repr(lowercase)}")
    tokenizer = Tokenizer("char", "char", lowercase=lowercase)
    meaning: dict[str, datetime.date] = {}

    def sample(rng: np.random.Generator, k: int) -> list[Pair]:
        pairs = []
        for date, locale, fmt in sample_dates(rng, k, locales):
            text = render_date(date, locale, fmt, lowercase)
            # The task must be a function of its source; a clash is a bug in the format table.
            if meaning.setdefault(text, date) != date:
                raise RuntimeError(
                    f"dates task: {text!r} ({locale}, {fmt!r}) means both "
                    f"{meaning[text]} and {date}"
                )
            pairs.append((list(text), list(date.isoformat())))
        return pairs

    return generate_splits(sample, sizes, seed, task="dates"), tokenizer
