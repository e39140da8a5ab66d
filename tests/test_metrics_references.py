"""Metrics with several references per hypothesis (issue 12): any / closest / sacreBLEU."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s.metrics import (
    ReferenceCount,
    bleu_components,
    closest_reference,
    compute_all,
    corpus_bleu,
    count_references,
    error_rate,
    exact_match,
    f1_score,
    precision_recall_f1,
    sequence_error_rate,
    token_accuracy,
)

BOARDED = [["B", "AO", "R", "D", "AH", "D"], ["B", "AO", "R", "D", "IH", "D"]]  # CMUdict order


def toks(*sentences):
    return [s.split() for s in sentences]


# -- acceptance: any reference, closest reference ---------------------------------------------
def test_a_second_pronunciation_counts_as_correct():
    hyps = [["B", "AO", "R", "D", "IH", "D"], ["K", "AE", "T"]]  # boarded: the 2nd variant
    refs_per_output = [BOARDED, [["K", "AE", "T"]]]
    assert exact_match(hyps, refs_per_output=refs_per_output) == 1.0
    assert sequence_error_rate(hyps, refs_per_output=refs_per_output) == 0.0
    assert error_rate(hyps, refs_per_output=refs_per_output) == 0.0  # the closest: 0 edits
    # against the first pronunciation only, the word is wrong
    first = [BOARDED[0], ["K", "AE", "T"]]
    assert exact_match(hyps, first) == 0.5
    assert error_rate(hyps, first) == pytest.approx(1 / 9)
    scores = compute_all(hyps, refs_per_output=refs_per_output)
    assert scores["exact_match"] == 1.0 and scores["sequence_error_rate"] == 0.0
    assert scores["error_rate"] == 0.0


def test_per_uses_the_closest_reference_ties_to_the_first():
    # A B D vs [A X Y Z, A B C D]: 3 edits to the first, 1 (insert C) to the second
    hyps = [["A", "B", "D"]]
    per = error_rate(hyps, refs_per_output=[[["A", "X", "Y", "Z"], ["A", "B", "C", "D"]]])
    assert per == pytest.approx(1 / 4)  # the closest's edits over the closest's length
    assert closest_reference(["A", "B", "D"], [["A", "X", "Y", "Z"], ["A", "B", "C", "D"]]) == (
        1,
        1,
    )
    # a tie (1 edit each): the first listed is chosen, and its length is the denominator
    tie = [["A", "C"], ["A", "B", "D"]]  # A B -> A C: 1 substitution; A B -> A B D: 1 insertion
    assert error_rate([["A", "B"]], refs_per_output=[tie]) == pytest.approx(1 / 2)
    assert error_rate([["A", "B"]], refs_per_output=[tie[::-1]]) == pytest.approx(1 / 3)
    assert closest_reference(["A", "B"], tie) == (0, 1)
    # the closest's length is counted, not the first's: 1 edit over 3, not over 5
    far_first = [["X", "Y", "Z", "W", "V"], ["A", "B", "C"]]
    assert error_rate([["A", "B"]], refs_per_output=[far_first]) == pytest.approx(1 / 3)
    # summed over the corpus: (1 + 0) edits over (4 + 2) chosen reference tokens
    per = error_rate(
        [["A", "B", "D"], ["K", "T"]],
        refs_per_output=[[["A", "X", "Y", "Z"], ["A", "B", "C", "D"]], [["K", "T"], ["K"]]],
    )
    assert per == pytest.approx(1 / 6)


def test_token_accuracy_and_f1_use_the_first_reference():
    hyps = [["B", "AO", "R", "D", "IH", "D"]]
    assert token_accuracy(hyps, refs_per_output=[BOARDED]) == token_accuracy(hyps, [BOARDED[0]])
    assert token_accuracy(hyps, refs_per_output=[BOARDED]) == pytest.approx(5 / 6)
    for average in ("micro", "macro"):
        assert precision_recall_f1(
            hyps, refs_per_output=[BOARDED], average=average
        ) == precision_recall_f1(hyps, [BOARDED[0]], average=average)
        assert f1_score(hyps, None, average, refs_per_output=[BOARDED]) == f1_score(
            hyps, [BOARDED[0]], average
        )


# -- BLEU: exactly sacreBLEU with several references ------------------------------------------
def random_corpus(rng, n, vocab, most_refs=3):
    refs = [
        [
            list(rng.choice(vocab, size=rng.integers(1, 9)))
            for _ in range(rng.integers(1, 1 + most_refs))
        ]
        for _ in range(n)
    ]
    hyps = []
    for rs in refs:
        base = rs[int(rng.integers(len(rs)))]
        hyps.append(
            [t for t in base if rng.random() < 0.8] + list(rng.choice(vocab, rng.integers(0, 3)))
        )
    return hyps, refs


def sacre_streams(refs):
    """sacreBLEU's reference streams: stream j holds every hypothesis's j-th reference,
    None where a hypothesis has fewer (its documented way to vary the count)."""
    most = max(len(rs) for rs in refs)
    return [[" ".join(rs[j]) if j < len(rs) else None for rs in refs] for j in range(most)]


@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k", "none"])
def test_multi_reference_bleu_equals_sacrebleu(rng, smooth):
    sacrebleu = pytest.importorskip("sacrebleu")
    vocab = [f"w{k}" for k in range(7)]
    for trial in range(15):
        hyps, refs = random_corpus(rng, int(rng.integers(1, 8)), vocab)
        if trial == 0:
            hyps[0] = []  # an empty hypothesis
        if trial == 1:  # a length tie: |h| = 3 between references of 2 and 4 -> the shorter
            hyps, refs = [["w1", "w2", "w3"]], [[["w1", "w2"], ["w1", "w2", "w3", "w4"]]]
            assert bleu_components(hyps, refs_per_output=refs).ref_len == 2
        ours = bleu_components(hyps, refs_per_output=refs, smooth=smooth)
        theirs = sacrebleu.corpus_bleu(
            [" ".join(h) for h in hyps], sacre_streams(refs), smooth_method=smooth, tokenize="none"
        )
        assert 100 * ours.score == pytest.approx(theirs.score, rel=1e-9, abs=1e-12), (hyps, refs)
        assert (ours.hyp_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
        if smooth != "add-k":  # sacreBLEU reports add-k's counts with k added
            assert list(ours.matches) == list(theirs.counts)
            assert list(ours.totals) == list(theirs.totals)


def test_bleu_clips_by_the_best_reference_and_takes_the_nearest_length():
    # 'the' x3: one reference holds it twice, another once -> clipped at 2 (the max), not 3
    parts = bleu_components(
        [["the", "the", "the"]],
        refs_per_output=[[["the", "cat", "the"], ["the", "mat"]]],
        max_order=1,
    )
    assert parts.matches == (2,) and parts.precisions == (2 / 3,)
    assert parts.ref_len == 3  # |h| = 3: the reference of length 3, not 2
    # a hypothesis matching its second reference exactly scores 1
    assert corpus_bleu([BOARDED[1]], refs_per_output=[BOARDED]) == 1.0
    assert corpus_bleu([BOARDED[1]], [BOARDED[0]]) < 1.0


# -- one reference, either way: the same numbers to the last bit --------------------------------
def test_one_reference_per_output_gives_the_numbers_of_refs(rng):
    vocab = [f"w{k}" for k in range(6)]
    for _ in range(40):
        hyps, refs = random_corpus(rng, int(rng.integers(1, 7)), vocab, most_refs=1)
        single = [rs[0] for rs in refs]
        assert compute_all(hyps, refs_per_output=refs) == compute_all(hyps, single)


def test_compute_all_golden_values_one_reference():
    """The numbers of the one-reference code before several references existed (repr-exact)."""
    hyps = toks("the cat sat on the mat", "a b c d e", "x y", "HH AH L OW", "one two three")
    refs = toks("the cat sat on a mat", "a b d e", "x y z", "HH EH L OW", "one two three four five")
    assert compute_all(hyps, refs) == {
        "token_accuracy": 0.6521739130434783,
        "exact_match": 0.0,
        "precision": 0.85,
        "recall": 0.7727272727272727,
        "f1": 0.8095238095238095,
        "macro_f1": 0.7101449275362318,
        "bleu": 0.36158099616288847,
        "error_rate": 0.2727272727272727,
        "sequence_error_rate": 1.0,
    }


def test_compute_all_with_several_references_agrees_with_each_metric(rng):
    hyps, refs = random_corpus(rng, 12, [f"w{k}" for k in range(5)])
    first = [rs[0] for rs in refs]
    assert compute_all(hyps, refs_per_output=refs) == {
        "token_accuracy": token_accuracy(hyps, first),
        "exact_match": exact_match(hyps, refs_per_output=refs),
        "precision": precision_recall_f1(hyps, first).precision,
        "recall": precision_recall_f1(hyps, first).recall,
        "f1": f1_score(hyps, first),
        "macro_f1": f1_score(hyps, first, average="macro"),
        "bleu": corpus_bleu(hyps, refs_per_output=refs),
        "error_rate": error_rate(hyps, refs_per_output=refs),
        "sequence_error_rate": sequence_error_rate(hyps, refs_per_output=refs),
    }
    # several references really were used: the any-reference numbers differ from the first's
    assert corpus_bleu(hyps, refs_per_output=refs) != corpus_bleu(hyps, first)
    assert error_rate(hyps, refs_per_output=refs) < error_rate(hyps, first)
    assert exact_match(hyps, refs_per_output=refs) > exact_match(hyps, first)


def test_count_references():
    assert count_references(refs_per_output=[BOARDED, [["K"]], [["A"], ["B"], ["C"]]]) == (
        ReferenceCount(outputs=3, references=6, with_several=2)
    )
    assert count_references(toks("a b", "c")) == ReferenceCount(2, 2, 0)
    counted = count_references(refs_per_output=[BOARDED, [["K"]]])
    assert counted.describe() == "3 references for 2 outputs (1 with several)"
    assert count_references([["a"]]).describe() == "1 references for 1 outputs"


# -- the explicit choice is checked ------------------------------------------------------------
def test_reference_forms_are_explicit():
    with pytest.raises(TypeError, match="exactly one of refs=.*or refs_per_output=.*got both"):
        exact_match([["a"]], [["a"]], refs_per_output=[[["a"]]])
    with pytest.raises(TypeError, match="got neither"):
        compute_all([["a"]])
    with pytest.raises(ValueError, match=r"refs_per_output\[1\] is empty"):
        error_rate([["a"], ["b"]], refs_per_output=[[["a"]], []])
    # one reference list passed as refs_per_output: each "reference" is a str token
    with pytest.raises(TypeError, match=r"refs_per_output\[0\]\[0\] is a string"):
        exact_match([["a", "b"]], refs_per_output=[["a", "b"]])
    with pytest.raises(TypeError, match=r"refs_per_output\[0\]\[0\] is a int"):
        exact_match([[1, 2]], refs_per_output=[[1, 2]])
    with pytest.raises(TypeError, match=r"refs_per_output\[0\] is a str, expected a list"):
        exact_match([["a"]], refs_per_output=["a"])
    with pytest.raises(ValueError, match="1 hypotheses, 2 lists of references"):
        exact_match([["a"]], refs_per_output=[[["a"]], [["b"]]])
    with pytest.raises(TypeError, match="refs must be a non-empty list of token sequences"):
        closest_reference(["a"], "a")
    with pytest.raises(TypeError, match="refs must be a non-empty list"):
        closest_reference(["a"], [])


def test_numpy_references_are_accepted():
    hyps = [np.array([3, 4, 5])]
    refs = [[np.array([3, 4, 6]), np.array([3, 4, 5])]]
    assert compute_all(hyps, refs_per_output=refs)["exact_match"] == 1.0
