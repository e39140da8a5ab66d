"""Built-in tasks: registry, determinism, disjoint splits, and each task's correctness."""

from __future__ import annotations

import datetime
import zlib

import pytest

from minis2s.data import DEFAULT_TASK, TASKS, TaskData, load_task
from minis2s.data import dates as dates_mod
from minis2s.data import g2p as g2p_mod

SMALL = {"train": 300, "valid": 40, "test": 40}
TOY = ("copy", "reverse", "sort", "addition")


def sources(pairs):
    return {"".join(src) for src, _ in pairs}


def assert_disjoint(data: TaskData, one_target: bool = True):
    train, valid, test = sources(data.train), sources(data.valid), sources(data.test)
    if one_target:  # no repeats inside a split either
        assert len(train) == len(data.train)
        assert len(valid) == len(data.valid) and len(test) == len(data.test)
    else:  # a source may repeat with another target, never with the same one
        for split in (data.train, data.valid, data.test):
            assert len({(tuple(s), tuple(t)) for s, t in split}) == len(split)
    assert not train & valid and not train & test and not valid & test


# ------------------------------------------------------------------ registry
def test_registry_lists_the_tasks():
    assert set(TASKS) == {"dates", "g2p", "copy", "reverse", "sort", "addition"}
    assert DEFAULT_TASK == "dates"
    for spec in TASKS.values():
        assert spec.description and {"train", "valid", "test"} <= set(spec.defaults)


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown task 'dtaes'; the tasks are: dates, g2p"):
        load_task("dtaes")
    with pytest.raises(ValueError, match=r"no option\(s\) \['trian'\]; its options are: train"):
        load_task("copy", trian=5)
    with pytest.raises(ValueError, match="seed must be an int >= 0, got -1"):
        load_task("copy", seed=-1)
    with pytest.raises(ValueError, match=r"train must be an int in \[1, 1000000\], got 0"):
        load_task("copy", train=0)
    with pytest.raises(ValueError, match="min_len must be <= max_len"):
        load_task("reverse", min_len=5, max_len=4)
    with pytest.raises(ValueError, match="distinct non-space characters"):
        load_task("sort", alphabet="aab")
    with pytest.raises(ValueError, match="could draw only 6 distinct sources, not the 20"):
        load_task("copy", alphabet="ab", min_len=1, max_len=2, train=10, valid=5, test=5)
    with pytest.raises(ValueError, match="unknown dates locale 'xx_XX'"):
        load_task("dates", locales=("xx_XX",))


# ------------------------------------------------------------------ toy tasks
@pytest.mark.parametrize("name", TOY)
def test_toy_tasks_are_reproducible_and_disjoint(name):
    a = load_task(name, seed=3, **SMALL)
    b = load_task(name, seed=3, **SMALL)
    assert (a.train, a.valid, a.test) == (b.train, b.valid, b.test)
    assert a.train != load_task(name, seed=4, **SMALL).train
    assert (len(a.train), len(a.valid), len(a.test)) == (300, 40, 40)
    assert_disjoint(a)
    # the splits are fixed: asking for more training data leaves valid and test alone
    bigger = load_task(name, seed=3, train=500, valid=40, test=40)
    assert (bigger.valid, bigger.test) == (a.valid, a.test)


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
def test_string_tasks_follow_their_rule(name):
    data = load_task(name, seed=0, min_len=2, max_len=6, alphabet="xyz019", **SMALL)
    rule = {"copy": list, "reverse": lambda s: s[::-1], "sort": sorted}[name]
    lengths = set()
    for split in (data.train, data.valid, data.test):
        for src, tgt in split:
            assert tgt == list(rule(src))
            assert set(src) <= set("xyz019")
            lengths.add(len(src))
    assert lengths == {2, 3, 4, 5, 6}
    assert data.tokenizer("ab c") == ["a", "b", " ", "c"]


def test_addition_targets_are_true_sums():
    data = load_task("addition", seed=0, max_digits=4, **SMALL)
    digits = set()
    for src, tgt in data.train + data.valid + data.test:
        a, b = "".join(src).split("+")
        assert int("".join(tgt)) == int(a) + int(b)
        assert a == str(int(a)) and b == str(int(b))  # no leading zeros
        digits |= {len(a), len(b)}
    assert digits == {1, 2, 3, 4}


def test_addition_operand_lengths_are_uniform():
    from collections import Counter

    import numpy as np

    from minis2s.data.toy import sample_operands

    xs = sample_operands(np.random.default_rng(0), 30000, max_digits=3)
    share = Counter(len(str(x)) for x in xs)
    for d in (1, 2, 3):  # 1/3 each, +-0.015 is > 5 standard deviations
        assert abs(share[d] / len(xs) - 1 / 3) < 0.015
    assert min(xs) == 0 and max(xs) == 999


# ------------------------------------------------------------------ dates
@pytest.fixture(scope="module")
def dates_data():
    return load_task("dates", seed=0, **SMALL)


def test_dates_reproducible_and_disjoint(dates_data):
    again = load_task("dates", seed=0, **SMALL)
    assert (again.train, again.valid, again.test) == (
        dates_data.train, dates_data.valid, dates_data.test,
    )  # fmt: skip
    assert again.train != load_task("dates", seed=1, **SMALL).train
    assert_disjoint(dates_data)


def test_dates_targets_are_the_rendered_dates(dates_data):
    combos = [(loc, fmt) for loc in dates_mod.LOCALES for fmt in dates_mod.formats_for(loc)]
    for src, tgt in dates_data.train[:60] + dates_data.test[:20]:
        iso = "".join(tgt)
        date = datetime.date.fromisoformat(iso)  # the target parses back to a date ...
        assert iso == date.isoformat()
        assert dates_mod.FIRST_DATE <= date <= dates_mod.LAST_DATE
        text = "".join(src)
        assert text == text.lower() and len(text) <= 38
        # ... and Babel writes exactly the source for that date in one of the formats
        assert any(dates_mod.render_date(date, loc, fmt) == text for loc, fmt in combos)


def test_dates_sample_renders_what_it_drew():
    import numpy as np

    rng = np.random.default_rng(0)
    for date, loc, fmt in dates_mod.sample_dates(rng, 50):
        assert loc in dates_mod.LOCALES and fmt in dates_mod.formats_for(loc)
        assert dates_mod.FIRST_DATE <= date <= dates_mod.LAST_DATE


def find_clashes(combos, days):
    """(text, date_1, date_2) for every text that two different dates render to."""
    meaning, clashes = {}, []
    for day in days:
        for loc, fmt in combos:
            text = dates_mod.render_date(day, loc, fmt)
            if meaning.setdefault(text, day) != day:
                clashes.append((text, meaning[text], day))
    return clashes


def clash_days():
    """A whole leap year, a whole common year, and two day/month-swappable days of
    every year 1950..2049 (the only way a 2-digit year could clash is across years)."""
    days = [datetime.date(2020, 1, 1) + datetime.timedelta(k) for k in range(366)]
    days += [datetime.date(1999, 1, 1) + datetime.timedelta(k) for k in range(365)]
    days += [datetime.date(y, m, d) for y in range(1950, 2050) for m, d in ((3, 4), (4, 3))]
    return days


def test_no_two_dates_render_the_same():
    combos = [(loc, fmt) for loc in dates_mod.LOCALES for fmt in dates_mod.formats_for(loc)]
    assert len(combos) == 64
    assert find_clashes(combos, clash_days()) == []


def test_the_clash_check_catches_month_first_numbers():
    # the US short form is excluded for a reason: with it, "3/4/21" means two dates
    days = [datetime.date(2021, 3, 4), datetime.date(2021, 4, 3)]
    clashes = find_clashes([("en_US", "short"), ("es_ES", "short")], days)
    assert set(clashes) == {("3/4/21", days[0], days[1]), ("4/3/21", days[0], days[1])}


def test_dates_options():
    data = load_task("dates", seed=0, train=50, valid=5, test=5, locales=("de_DE",),
                     lowercase=False)
    texts = sources(data.train)
    assert any(any(c.isupper() for c in t) for t in texts)  # "Donnerstag", "März"
    assert data.tokenizer("3. März 2021") == list("3. März 2021")
    assert load_task("dates", train=5, valid=1, test=1).tokenizer("3 MAR") == list("3 mar")


# ------------------------------------------------------------------ g2p
@pytest.fixture(scope="module")
def g2p_full():
    return load_task("g2p", seed=0, train=None, valid=None, test=None)


def test_g2p_split_by_word_is_fixed_and_disjoint(g2p_full):
    assert_disjoint(g2p_full, one_target=False)
    words = [sources(getattr(g2p_full, s)) for s in ("train", "valid", "test")]
    n = sum(map(len, words))
    assert n == len(g2p_mod.load_lexicon()) == len(g2p_mod.load_pronunciations()) == 117493
    # every pronunciation is a pair: 125,571 pairs for 117,493 words
    assert len(g2p_full.train) + len(g2p_full.valid) + len(g2p_full.test) == 125571
    assert 0.04 < len(g2p_full.test) / n < 0.06 and 0.04 < len(g2p_full.valid) / n < 0.06
    for split in ("train", "valid", "test"):
        for src, _ in getattr(g2p_full, split)[:200]:
            bucket = zlib.crc32("".join(src).encode()) % 100
            assert split == ("test" if bucket < 5 else "valid" if bucket < 10 else "train")


def test_g2p_rules(g2p_full):
    lexicon = dict(g2p_mod.load_lexicon())
    # several pronunciations: the first listed is kept, stress digits removed
    assert lexicon["tomato"] == ("T", "AH", "M", "EY", "T", "OW")  # not T AH M AA T OW
    assert lexicon["either"] == ("IY", "DH", "ER")
    assert lexicon["live"] == ("L", "AY", "V")
    # only a-z words: no apostrophes, periods, digits
    assert "abbott's" not in lexicon and "a.m." not in lexicon and "aaa" in lexicon
    phones = {p for _, ph in g2p_full.test + g2p_full.valid for p in ph}
    assert len(phones) == 39 and not any(c.isdigit() for p in phones for c in p)
    for src, _ in g2p_full.test:
        assert "".join(src).isalpha() and "".join(src).islower()
    assert g2p_full.tokenizer("Phone") == list("phone")
    assert g2p_full.tokenizer.join_target(["F", "OW", "N"]) == "F OW N"


def test_g2p_caps_keep_a_seeded_subset(g2p_full):
    a = load_task("g2p", seed=0, train=100, valid=10, test=10)
    b = load_task("g2p", seed=0, train=100, valid=10, test=10)
    c = load_task("g2p", seed=1, train=100, valid=10, test=10)
    assert a.train == b.train and a.train != c.train
    # sizes count words; a word with several pronunciations brings several pairs
    assert (len(sources(a.train)), len(sources(a.valid)), len(sources(a.test))) == (100, 10, 10)
    assert (len(a.train), len(a.valid), len(a.test)) == (106, 12, 11)
    assert sources(a.train) <= sources(g2p_full.train)
    assert sources(a.test) <= sources(g2p_full.test)
    assert [w for w, _ in a.train] == sorted(w for w, _ in a.train)
    # capping train leaves valid and test alone
    d = load_task("g2p", seed=0, train=50, valid=10, test=10)
    assert (d.valid, d.test) == (a.valid, a.test)
    short = load_task("g2p", train=None, valid=0, test=0, max_word_len=3)
    assert max(len(w) for w, _ in short.train) == 3
    with pytest.raises(ValueError, match=r"max_word_len must be an int in \[1, 100\] or None"):
        load_task("g2p", max_word_len=0)


def test_g2p_random_split_has_the_hash_split_sizes_and_no_shared_word():
    """The second g2p split (issue 12): seeded, word-level, the same sizes as the
    fixed hash split, no word in two splits, a different cut for another seed."""
    from minis2s.data import load_task
    from minis2s.data.pairs import group_references

    def words(task, split):
        return [tuple(src) for src, _ in group_references(getattr(task, split))]

    fixed = load_task("g2p", train=None, valid=None, test=None)
    drawn = load_task("g2p", seed=0, train=None, valid=None, test=None, split="random")
    again = load_task("g2p", seed=0, train=None, valid=None, test=None, split="random")
    other = load_task("g2p", seed=1, train=None, valid=None, test=None, split="random")
    for split in ("train", "valid", "test"):
        assert len(words(drawn, split)) == len(words(fixed, split))
        assert words(drawn, split) == words(again, split)
    assert words(drawn, "test") != words(fixed, "test")
    assert words(drawn, "test") != words(other, "test")
    seen = [set(words(drawn, s)) for s in ("train", "valid", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    with pytest.raises(ValueError, match="split must be one of 'hash', 'random'"):
        load_task("g2p", split="alphabetical")
