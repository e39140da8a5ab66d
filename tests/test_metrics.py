"""Metrics on token sequences: hand-computed cases, properties, and sacrebleu / scikit-learn."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from minis2s import backend
from minis2s.metrics import (
    bleu_components,
    compute_all,
    corpus_bleu,
    edit_distance,
    error_rate,
    exact_match,
    f1_score,
    precision_recall_f1,
    sequence_error_rate,
    token_accuracy,
)


def toks(*sentences):
    """'a b c' -> ['a', 'b', 'c'] for each sentence."""
    return [s.split() for s in sentences]


# -- accuracy and exact match -------------------------------------------------------------------
def test_token_accuracy_counts_missing_and_extra_positions():
    # pair 1: a b c | a b d -> 2 right of 3; pair 2: x | x y -> 1 right of max(1, 2) = 2
    assert token_accuracy(toks("a b c", "x"), toks("a b d", "x y")) == pytest.approx(3 / 5)
    # extra tokens count: a b c d | a b -> 2 right of 4
    assert token_accuracy(toks("a b c d"), toks("a b")) == 0.5
    # no alignment: a shifted sequence gets no credit
    assert token_accuracy(toks("z a b"), toks("a b")) == 0.0
    assert token_accuracy(toks("a b", "c"), toks("a b", "c")) == 1.0
    assert token_accuracy([[], ["a"]], [[], ["a"]]) == 1.0


def test_exact_match_and_sequence_error_rate():
    hyps, refs = toks("a b", "c d", "e", "f g"), toks("a b", "c", "e", "g f")
    assert exact_match(hyps, refs) == 0.5
    assert sequence_error_rate(hyps, refs) == 0.5
    assert exact_match([[1, 2], [3]], [[1, 2], [3]]) == 1.0


# -- precision / recall / F1 ------------------------------------------------------------------
def test_bag_of_tokens_micro_and_macro_by_hand():
    hyps, refs = toks("the cat the"), toks("the the the dog")
    # overlap: min(2, 3) = 2 'the'; 3 hypothesis tokens, 4 reference tokens
    p, r, f = precision_recall_f1(hyps, refs)
    assert (p, r, f) == pytest.approx((2 / 3, 2 / 4, 2 * 2 / (3 + 4)))
    assert f1_score(hyps, refs) == pytest.approx(4 / 7)
    # per class: the (tp 2, pred 2, true 3), cat (0, 1, 0), dog (0, 0, 1); 0/0 counts as 0
    p, r, f = precision_recall_f1(hyps, refs, average="macro")
    assert p == pytest.approx((1 + 0 + 0) / 3)
    assert r == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert f == pytest.approx((2 * 2 / (2 + 3)) / 3)


def test_position_matching_differs_from_bag_matching():
    hyps, refs = toks("A B"), toks("B A")
    assert precision_recall_f1(hyps, refs, match="bag") == (1.0, 1.0, 1.0)
    assert precision_recall_f1(hyps, refs, match="position") == (0.0, 0.0, 0.0)
    # A B A vs A A A: positions 0 and 2 right -> tp 2 of 3 predicted, 3 true
    p, r, f = precision_recall_f1(toks("A B A"), toks("A A A"), match="position")
    assert (p, r, f) == pytest.approx((2 / 3, 2 / 3, 2 / 3))


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_f1_matches_sklearn_on_aligned_tagging(rng, average):
    sk = pytest.importorskip("sklearn.metrics")
    tags = ["N", "V", "D", "A", "P"]
    for _ in range(5):
        lengths = rng.integers(1, 8, size=12)
        refs = [list(rng.choice(tags, size=n)) for n in lengths]
        # a noisy tagger: each tag kept with probability 0.6
        hyps = [[t if rng.random() < 0.6 else str(rng.choice(tags)) for t in r] for r in refs]
        flat_r, flat_h = sum(refs, []), sum(hyps, [])
        want = sk.precision_recall_fscore_support(
            flat_r, flat_h, average=average, zero_division=0
        )[:3]
        got = precision_recall_f1(hyps, refs, average=average, match="position")
        assert got == pytest.approx(want, rel=1e-12)
        # one-token sequences: bag matching is position matching
        got_bag = precision_recall_f1([[t] for t in flat_h], [[t] for t in flat_r], average)
        assert got_bag == pytest.approx(want, rel=1e-12)


# -- BLEU -----------------------------------------------------------------------------------------
def test_bleu_by_hand():
    hyp, ref = toks("a b c d"), toks("a b c e")
    # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0/1; BP = 1 (same length)
    parts = bleu_components(hyp, ref)
    assert parts.matches == (3, 2, 1, 0) and parts.totals == (4, 3, 2, 1)
    # 'exp' smoothing: the first zero-match order gets 1 / (2 * total) = 1/2
    assert parts.score == pytest.approx((3 / 4 * 2 / 3 * 1 / 2 * 1 / 2) ** 0.25)
    assert corpus_bleu(hyp, ref, smooth="none") == 0.0
    # 'floor': p4 = 0.1 / 1
    floor = (3 / 4 * 2 / 3 * 1 / 2 * 0.1) ** 0.25
    assert corpus_bleu(hyp, ref, smooth="floor") == pytest.approx(floor)
    # add-one for n >= 2: p2 = 3/4, p3 = 2/3, p4 = 1/2
    add_one = (3 / 4 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert corpus_bleu(hyp, ref, smooth="add-k") == pytest.approx(add_one)
    assert corpus_bleu(toks("the cat sat on the mat"), toks("the cat sat on the mat")) == 1.0


def test_bleu_clips_counts_and_penalises_brevity():
    # Papineni's example: 'the' x4 against a reference with one 'the' -> p1 = 1/4 (clipped)
    assert corpus_bleu(toks("the the the the"), toks("the cat"), max_order=1) == 0.25
    # a b against a b c d: p1 = p2 = 1, BP = exp(1 - 4/2)
    parts = bleu_components(toks("a b"), toks("a b c d"), max_order=2)
    assert parts.brevity_penalty == pytest.approx(math.exp(-1.0))
    assert parts.score == pytest.approx(math.exp(-1.0))
    # counts are pooled over the corpus before dividing, not averaged per sentence
    parts = bleu_components(toks("a b", "c d e f"), toks("a x", "c d e f"), max_order=1)
    assert parts.precisions == (5 / 6,)
    assert corpus_bleu(toks("x y"), toks("a b")) == 0.0


@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k", "none"])
def test_bleu_matches_sacrebleu(rng, smooth):
    sacrebleu = pytest.importorskip("sacrebleu")
    vocab = [f"w{k}" for k in range(6)]
    zero_orders = 0
    for trial in range(12):
        n = int(rng.integers(1, 6))
        if trial % 2:  # short random sentences: some n-gram orders have no match at all
            refs = [list(rng.choice(vocab, size=rng.integers(1, 5))) for _ in range(n)]
            hyps = [list(rng.choice(vocab, size=rng.integers(1, 5))) for _ in range(n)]
        else:  # noisy copies: tokens dropped, tokens appended
            refs = [list(rng.choice(vocab, size=rng.integers(1, 9))) for _ in range(n)]
            hyps = [
                [t for t in r if rng.random() < 0.8] + list(rng.choice(vocab, rng.integers(0, 3)))
                for r in refs
            ]
        if trial == 0:
            hyps[0] = []  # an empty hypothesis
        parts = bleu_components(hyps, refs)
        zero_orders += parts.matches[0] > 0 and min(parts.matches) == 0
        ours = corpus_bleu(hyps, refs, smooth=smooth)
        theirs = sacrebleu.corpus_bleu(
            [" ".join(h) for h in hyps], [[" ".join(r) for r in refs]],
            smooth_method=smooth, tokenize="none",
        ).score
        assert 100 * ours == pytest.approx(theirs, rel=1e-9, abs=1e-12), (hyps, refs)
    assert zero_orders >= 2  # the smoothing was exercised


# -- edit distance and error rates ------------------------------------------------------------
@pytest.mark.parametrize(
    "a, b, d",
    [
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("intention", "execution", 5),
        ("", "abc", 3),
        ("abc", "", 3),
        ("", "", 0),
        ("same", "same", 0),
        ("ab", "ba", 2),
    ],
)
def test_edit_distance_known_values(a, b, d):
    assert edit_distance(list(a), list(b)) == d


def naive_levenshtein(a, b):
    """The recursive definition, memoised: an independent oracle."""

    @functools.cache
    def D(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(D(i - 1, j) + 1, D(i, j - 1) + 1, D(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return D(len(a), len(b))


def test_edit_distance_properties(rng):
    seqs = [list(rng.integers(0, 3, size=rng.integers(0, 7))) for _ in range(12)]
    for a in seqs:
        assert edit_distance(a, a) == 0
        for b in seqs:
            d = edit_distance(a, b)
            assert d == naive_levenshtein(tuple(a), tuple(b))
            assert d == edit_distance(b, a)
            assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
            assert (d == 0) == (a == b)
            for c in seqs[:4]:
                assert d <= edit_distance(a, c) + edit_distance(c, b)


def test_error_rate_by_hand():
    # a b -> a c: 1 substitution; c -> c d e: 2 insertions; 3 errors / 5 reference tokens
    assert error_rate(toks("a b", "c"), toks("a c", "c d e")) == pytest.approx(3 / 5)
    assert error_rate(toks("a b c"), toks("x")) == 3.0  # insertions push it above 1
    # G2P: PER over phonemes, WER = share of words with any error
    hyps = [["K", "AE1", "T"], ["D", "AO1", "G"]]
    refs = [["K", "AE1", "T"], ["D", "AA1", "G"]]
    assert error_rate(hyps, refs) == pytest.approx(1 / 6)
    assert sequence_error_rate(hyps, refs) == 0.5


# -- all at once, and the input checks -----------------------------------------------------------
def test_compute_all_agrees_with_each_metric():
    hyps, refs = toks("a b c", "d e", "f"), toks("a b d", "d e", "g f")
    out = compute_all(hyps, refs)
    assert out == {
        "token_accuracy": token_accuracy(hyps, refs),
        "exact_match": exact_match(hyps, refs),
        "precision": precision_recall_f1(hyps, refs).precision,
        "recall": precision_recall_f1(hyps, refs).recall,
        "f1": f1_score(hyps, refs),
        "macro_f1": f1_score(hyps, refs, average="macro"),
        "bleu": corpus_bleu(hyps, refs),
        "error_rate": error_rate(hyps, refs),
        "sequence_error_rate": sequence_error_rate(hyps, refs),
    }
    assert out["exact_match"] == pytest.approx(1 / 3)
    # c -> d: 1 substitution; f -> g f: 1 insertion; 7 reference tokens
    assert out["error_rate"] == pytest.approx((1 + 0 + 1) / 7)


def test_numpy_id_arrays_are_accepted():
    hyps = [np.array([3, 4, 5]), np.array([7])]
    refs = [np.array([3, 4, 6]), np.array([7, 8])]
    as_lists = compute_all([h.tolist() for h in hyps], [r.tolist() for r in refs])
    assert compute_all(hyps, refs) == as_lists


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2 hypotheses, 1 references"):
        exact_match(toks("a", "b"), toks("a"))
    with pytest.raises(ValueError, match="empty"):
        corpus_bleu([], [])
    with pytest.raises(TypeError, match=r"hyps\[0\] is a string.*list\(s\).*s.split\(\)"):
        error_rate(["abc"], [["a", "b", "c"]])
    with pytest.raises(TypeError, match="refs must be a list of token sequences"):
        token_accuracy([["a"]], "a")
    with pytest.raises(ValueError, match=r"refs\[0\] is an array of shape \(1, 2\)"):
        token_accuracy([["a"]], [np.zeros((1, 2))])
    with pytest.raises(TypeError, match=r"hyps\[0\]\[1\] is an unhashable list"):
        f1_score([["a", ["b"]]], [["a"]])
    with pytest.raises(ValueError, match="error rate.*no reference tokens"):
        error_rate([["a"]], [[]])
    with pytest.raises(ValueError, match="token accuracy is undefined"):
        token_accuracy([[]], [[]])
    with pytest.raises(ValueError, match="average must be 'micro' or 'macro'"):
        f1_score([["a"]], [["a"]], average="weighted")
    with pytest.raises(ValueError, match="match must be 'bag' or 'position'"):
        f1_score([["a"]], [["a"]], match="aligned")
    with pytest.raises(ValueError, match="smooth must be one of exp, floor, add-k, none"):
        corpus_bleu([["a"]], [["a"]], smooth="add-one")
    with pytest.raises(ValueError, match="max_order"):
        corpus_bleu([["a"]], [["a"]], max_order=0)
    with backend.use_backend("devicesim"):
        ids = backend.to_device(np.array([1, 2]))
        with pytest.raises(TypeError, match="backend.to_host"):
            exact_match([ids], [[1, 2]])


# -- the same numbers in every process ---------------------------------------------------------
METRICS_SCRIPT = """
import numpy as np
from minis2s import metrics
rng = np.random.default_rng(7)
V = [f"t{k}" for k in range(40)]
refs = [list(rng.choice(V, size=rng.integers(1, 9))) for _ in range(60)]
hyps = [[t if rng.random() < 0.7 else str(rng.choice(V)) for t in r] for r in refs]
alts = [[r, list(rng.choice(V, size=rng.integers(1, 9)))] for r in refs]
out = [metrics.compute_all(hyps, refs), metrics.compute_all(hyps, refs_per_output=alts)]
for average in ("micro", "macro"):
    for match in ("bag", "position"):
        out.append(metrics.precision_recall_f1(hyps, refs, average, match))
out.append(metrics.bleu_components(hyps, refs_per_output=alts))
print(repr(out))
"""


def run_with_hash_seeds(script: str, seeds=("0", "1", "2", "3")) -> list[str]:
    """stdout of ``script`` run in a fresh interpreter under each PYTHONHASHSEED."""
    import os
    import subprocess
    import sys

    outs = []
    for seed in seeds:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        outs.append(done.stdout)
    return outs


def test_every_metric_is_bitwise_the_same_in_every_process():
    # macro F1 used to sum over a set of classes: its last bits followed PYTHONHASHSEED
    outs = run_with_hash_seeds(METRICS_SCRIPT)
    assert outs[0].startswith("[{'token_accuracy'")
    assert all(out == outs[0] for out in outs), outs


def test_macro_f1_does_not_depend_on_the_order_of_the_types():
    # the same corpus with its types renamed in another order: exactly the same sum
    rng = np.random.default_rng(3)
    refs = [[f"t{k}" for k in rng.integers(0, 30, size=rng.integers(1, 9))] for _ in range(50)]
    hyps = [[t if rng.random() < 0.6 else f"t{rng.integers(0, 30)}" for t in r] for r in refs]
    base = precision_recall_f1(hyps, refs, average="macro")
    rename = {f"t{k}": f"t{(7 * k) % 31}" for k in range(30)}
    for perm in (list(reversed(range(50))), list(rng.permutation(50))):
        h = [[rename[t] for t in hyps[i]] for i in perm]
        r = [[rename[t] for t in refs[i]] for i in perm]
        assert precision_recall_f1(h, r, average="macro") == base
