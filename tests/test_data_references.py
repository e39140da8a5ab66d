"""Several references per source (issue 12): pairs, grouping, choosing, g2p, TSV, splits;
and the data layer giving the same data in every process (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s.data import (
    REFERENCE_MODES,
    Vocab,
    group_references,
    load_task,
    read_tsv,
    select_references,
    split_pairs,
)
from minis2s.data import g2p as g2p_mod
from minis2s.metrics import compute_all, count_references

EITHER = [(list("either"), ["IY", "DH", "ER"]), (list("either"), ["AY", "DH", "ER"])]


def P(src: str, tgt: str):
    return (list(src), tgt.split())


# ------------------------------------------------------------------ grouping and choosing
def test_group_references_keeps_source_order_and_first_listed_first():
    pairs = [P("b", "1"), P("a", "2"), P("b", "3"), P("a", "2"), P("c", "4"), P("b", "1 1")]
    assert group_references(pairs) == [
        (["b"], [["1"], ["3"], ["1", "1"]]),
        (["a"], [["2"]]),  # the same (source, target) twice: once
        (["c"], [["4"]]),
    ]
    # one target per source: a group per pair, in order
    simple = [P("xy", "1"), P("ab", "2")]
    assert group_references(simple) == [(list("xy"), [["1"]]), (list("ab"), [["2"]])]


def test_select_references_all_or_first():
    pairs = [P("b", "1"), P("a", "2"), P("b", "3"), P("a", "2")]
    assert REFERENCE_MODES == ("all", "first")
    assert select_references(pairs) == pairs and select_references(pairs) is not pairs
    assert select_references(pairs, "all") == pairs
    assert select_references(pairs, "first") == [P("b", "1"), P("a", "2")]
    with pytest.raises(ValueError, match=r"references must be one of 'all', 'first', got 'any'"):
        select_references(pairs, "any")
    with pytest.raises(TypeError, match=r"pairs\[1\] must be a \(source tokens, target tokens\)"):
        group_references([P("a", "1"), ("a",)])
    with pytest.raises(TypeError, match=r"pairs\[0\] source must be a list of str tokens"):
        group_references([("ab", ["1"])])


# ------------------------------------------------------------------ g2p: every pronunciation
def test_g2p_keeps_every_pronunciation_first_listed_first():
    prons = dict(g2p_mod.load_pronunciations())
    assert prons["either"] == (("IY", "DH", "ER"), ("AY", "DH", "ER"))
    assert prons["tomato"] == (("T", "AH", "M", "EY", "T", "OW"), ("T", "AH", "M", "AA", "T", "OW"))
    assert prons["boarded"] == (("B", "AO", "R", "D", "AH", "D"), ("B", "AO", "R", "D", "IH", "D"))
    # the first is the one-pronunciation lexicon's; variants differing only in stress: once
    lexicon = dict(g2p_mod.load_lexicon())
    assert all(lexicon[w] == p[0] for w, p in prons.items())
    assert all(len(set(p)) == len(p) for p in prons.values())
    counts = np.bincount([len(p) for p in prons.values()])
    assert counts.sum() == 117493 and counts[1] < 117493 and len(counts) == 5  # up to 4 each


def test_g2p_splits_hold_all_pronunciations_and_first_gives_the_old_data():
    data = load_task("g2p", seed=0, train=2000, valid=None, test=None)
    groups = group_references(data.test)
    assert len(groups) == 5901 and sum(len(r) > 1 for _, r in groups) == 353
    assert count_references(refs_per_output=[r for _, r in groups]).references == 6292
    # training on the first pronunciation only: exactly the earlier one-pronunciation data
    lexicon = dict(g2p_mod.load_lexicon())
    first = select_references(data.train, "first")
    assert [(s, t) for s, t in first] == [(s, list(lexicon["".join(s)])) for s, _ in first]
    assert len(first) == 2000 < len(data.train)
    # a word's pairs are adjacent, first pronunciation first
    words = ["".join(s) for s, _ in data.train]
    assert words == sorted(words)


def test_a_word_scored_against_its_second_pronunciation():
    """Acceptance (issue 12): boarded -> B AO R D IH D is right against all pronunciations."""
    prons = dict(g2p_mod.load_pronunciations())
    pairs = [(list(w), list(p)) for w in ("boarded", "either", "cat") for p in prons[w]]
    groups = group_references(pairs)
    outputs = [["B", "AO", "R", "D", "IH", "D"], ["AY", "DH", "ER"], ["K", "AE", "T"]]
    scores = compute_all(outputs, refs_per_output=[r for _, r in groups])
    assert scores["exact_match"] == 1.0 and scores["error_rate"] == 0.0
    first_only = compute_all(outputs, [r[0] for _, r in groups])
    assert first_only["exact_match"] == pytest.approx(1 / 3)


# ------------------------------------------------------------------ TSV and splits
def test_tsv_repeated_sources_are_references_and_stay_in_one_split(tmp_path):
    lines = []
    for k in range(60):
        lines.append(f"src{k}\ttarget {k}")
        if k % 3 == 0:
            lines.append(f"src{k}\tvariant {k}")
    path = tmp_path / "data.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = read_tsv(path, tokens=("char", "word"))
    assert len(pairs) == 80
    assert pairs[:2] == [P("src0", "target 0"), P("src0", "variant 0")]
    train, valid, test = split_pairs(pairs, np.random.default_rng(0), valid=0.2, test=0.2)
    assert len(train) + len(valid) + len(test) == 80
    where = {}
    for name, split in (("train", train), ("valid", valid), ("test", test)):
        for src, _ in split:
            assert where.setdefault("".join(src), name) == name  # never in two splits
    assert len(where) == 60
    for split in (train, valid, test):
        for src, refs in group_references(split):
            k = int("".join(src)[3:])
            assert refs == ([["target", str(k)], ["variant", str(k)]] if k % 3 == 0
                            else [["target", str(k)]])  # fmt: skip


# ------------------------------------------------------------------ the same data everywhere
DATA_SCRIPT = """
import hashlib
import numpy as np
from minis2s.data import Vocab, group_references, load_task, select_references, split_pairs
parts = []
for name in ("copy", "addition", "dates"):
    t = load_task(name, seed=5, train=200, valid=20, test=20)
    parts.append((t.train, t.valid, t.test, Vocab.build(s for s, _ in t.train).tokens))
pairs = [(list(w), list(w[::-1])) for w in ("ab", "ba", "abc", "ca", "ab", "bb", "ccc")] * 3
parts.append(split_pairs(pairs, np.random.default_rng(1), valid=0.2, test=0.2))
parts.append((group_references(pairs), select_references(pairs, "first")))
print(hashlib.sha256(repr(parts).encode()).hexdigest())
"""


def test_the_data_layer_is_the_same_in_every_process():
    import os
    import subprocess
    import sys

    outs = []
    for seed in ("0", "1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", DATA_SCRIPT], env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outs.append(done.stdout)
    assert len(outs[0].strip()) == 64 and all(out == outs[0] for out in outs), outs


def test_vocab_order_does_not_depend_on_the_input_order():
    seqs = [list("hello"), list("world"), list("abc"), list("cab")]
    assert Vocab.build(seqs).tokens == Vocab.build(seqs[::-1]).tokens
