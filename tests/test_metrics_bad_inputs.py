"""What does a wrong value get? Every public function of ``minis2s.metrics`` (issue 15).

A table of hand-picked wrong inputs, then hypothesis properties: random wrong corpora
(types, shapes, NaN, unhashable tokens, mismatched lengths) get exactly a ``TypeError``
or ``ValueError`` naming the position, and random *valid* corpora get numbers in range,
the same whichever way one reference per hypothesis is passed.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from minis2s import backend, metrics
from minis2s.metrics import (
    bleu_components,
    closest_reference,
    compute_all,
    corpus_bleu,
    count_references,
    edit_distance,
    error_rate,
    exact_match,
    f1_score,
    precision_recall_f1,
    sequence_error_rate,
    token_accuracy,
)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=80, deadline=None, derandomize=True)
EXPECTED = re.compile(r"must|expect|needs?|empty|undefined|differ|exactly one|NaN|1-D|use list")

#: Every corpus metric: f(hyps, refs=None, *, refs_per_output=None).
CORPUS_METRICS = {
    "token_accuracy": token_accuracy,
    "exact_match": exact_match,
    "sequence_error_rate": sequence_error_rate,
    "precision_recall_f1": precision_recall_f1,
    "f1_score": f1_score,
    "bleu_components": bleu_components,
    "corpus_bleu": corpus_bleu,
    "error_rate": error_rate,
    "compute_all": compute_all,
}
OK = [["a", "b"]]
NAN = float("nan")


def assert_clear(call, match=None):
    try:
        call()
    except (TypeError, ValueError) as error:
        message = str(error)
        assert type(error) in (TypeError, ValueError), f"raw {type(error).__name__}: {message}"
        assert len(message) <= 300, message[:300]
        assert EXPECTED.search(message), f"says nothing of what was expected: {message}"
        if match is not None:
            assert re.search(match, message), f"does not match {match!r}: {message}"
        return message
    raise AssertionError("no error was raised")


def corpus_cases():
    """Wrong corpora, each tried on every corpus metric, as refs and as refs_per_output."""
    bad_sentences = {
        "str": ("abc", "is a string"),
        "bytes": (b"abc", "is a string"),
        "int": (5, "expected a list/tuple of tokens"),
        "none": (None, "expected a list/tuple"),
        "dict": ({"a": 1}, "expected a list/tuple"),
        "set": ({"a"}, "expected a list/tuple"),
        "float": (1.5, "expected a list/tuple"),
        "array-2d": (np.zeros((2, 2)), "expected 1-D"),
        "array-0d": (np.array(3), "expected 1-D"),
        "list-token": (["a", ["b"]], "unhashable list"),
        "dict-token": ([{"a": 1}], "unhashable dict"),
        "set-token": ([{"a"}], "unhashable set"),
        "array-token": ([np.array([1, 2])], "unhashable"),
        "nan-token": (["a", NAN], "is NaN"),
        "np-nan-token": ([np.float64("nan")], "is NaN"),
        "np32-nan-token": ([np.float32("nan")], "is NaN"),
        "nan-array": (np.array([1.0, NAN]), "is NaN"),
        "object-array-lists": (np.array([None, [1]], dtype=object), "unhashable list"),
    }
    rows = []
    for name, (sentence, match) in bad_sentences.items():
        rows.append((f"hyp-{name}", lambda s=sentence: ([OK[0], s], [OK[0], OK[0]]),
                     r"hyps\[1\]" + ".*" + match))  # fmt: skip
        rows.append((f"ref-{name}", lambda s=sentence: ([OK[0], OK[0]], [OK[0], s]),
                     r"refs(_per_output)?\[1\]" + ".*" + match))  # fmt: skip
    for name, corpus in {
        "str": "a b", "none": None, "int": 3, "dict": {0: ["a"]}, "array": np.array([["a"]]),
        "generator": (s for s in OK), "set": {("a",)},
    }.items():  # fmt: skip
        rows.append((f"hyps-corpus-{name}", lambda c=corpus: (c, OK), "hyps must be a list"))
        rows.append((f"refs-corpus-{name}", lambda c=corpus: (OK, c),
                     "got neither" if corpus is None else "must be a list"))  # fmt: skip
    rows += [
        ("lengths-differ", lambda: (OK * 2, OK), "differ in length"),
        ("both-empty", lambda: ([], []), "empty"),
    ]
    return rows


CORPUS_CASES = corpus_cases()


@pytest.mark.parametrize("name, make, match", CORPUS_CASES, ids=[c[0] for c in CORPUS_CASES])
@pytest.mark.parametrize("metric", CORPUS_METRICS)
def test_every_metric_refuses_every_wrong_corpus(metric, name, make, match):
    f = CORPUS_METRICS[metric]
    hyps, refs = make()
    assert_clear(lambda: f(hyps, refs), match)
    if isinstance(refs, list) and name != "lengths-differ":  # the same wrong reference, listed
        hyps, refs = make()
        assert_clear(lambda: f(hyps, refs_per_output=[[r] for r in refs]), match)


def option_cases():
    rows = []
    for value in ("weighted", None, 1, ["micro"], "MICRO"):
        rows.append((f"average={value!r}", lambda v=value: f1_score(OK, OK, average=v),
                     "average must be 'micro' or 'macro'"))  # fmt: skip
        rows.append((f"match={value!r}", lambda v=value: f1_score(OK, OK, match=v),
                     "match must be 'bag' or 'position'"))  # fmt: skip
    for value in ("add-one", None, 3, ["exp"], "EXP"):
        rows.append((f"smooth={value!r}", lambda v=value: corpus_bleu(OK, OK, smooth=v),
                     "smooth must be one of exp, floor, add-k, none"))  # fmt: skip
    for value in (0, -1, 1.5, True, "4", 10**9, None, NAN, 101):
        rows.append((f"max_order={value!r}", lambda v=value: corpus_bleu(OK, OK, max_order=v),
                     r"max_order must be an integer in \[1, 100\]"))  # fmt: skip
    for value in (0, -1.0, NAN, float("inf"), True, "0.1", [1]):
        rows.append((f"smooth_value={value!r}",
                     lambda v=value: corpus_bleu(OK, OK, smooth="floor", smooth_value=v),
                     "smooth_value must be a positive finite number or None"))  # fmt: skip
    rows += [
        ("undefined-accuracy", lambda: token_accuracy([[]], [[]]), "token accuracy is undefined"),
        ("undefined-prf", lambda: precision_recall_f1([[]], [[]]), "undefined"),
        ("undefined-error-rate", lambda: error_rate([["a"]], [[]]), "no reference tokens"),
        ("undefined-closest-empty", lambda: error_rate([["a"]], refs_per_output=[[[], []]]),
         "no reference tokens"),
        ("both-forms", lambda: exact_match(OK, OK, refs_per_output=[OK]), "got both"),
        ("neither-form", lambda: exact_match(OK), "got neither"),
        ("neither-form-all", lambda: compute_all(OK, None), "got neither"),
        ("empty-reference-list", lambda: exact_match(OK, refs_per_output=[[]]), "is empty"),
        ("refs-list-str", lambda: exact_match(OK, refs_per_output=["a b"]), "is a str, expected"),
        ("refs-list-int", lambda: exact_match(OK, refs_per_output=[5]), "is a int, expected"),
        ("refs-list-flat", lambda: exact_match(OK, refs_per_output=OK), r"\[0\]\[0\] is a string"),
        ("refs-per-output-dict", lambda: exact_match(OK, refs_per_output={0: OK}),
         "must be a list"),
        ("refs-per-output-long", lambda: exact_match(OK, refs_per_output=[OK, OK]), "differ"),
        ("edit-a-str", lambda: edit_distance("abc", ["a"]), r"^a is a string"),
        ("edit-b-none", lambda: edit_distance(["a"], None), r"^b is a NoneType"),
        ("edit-b-unhashable", lambda: edit_distance(["a"], [["a"]]), r"b\[0\] is an unhashable"),
        ("edit-nan", lambda: edit_distance([NAN], [NAN]), "is NaN"),
        ("closest-str", lambda: closest_reference(["a"], "ab"), "refs must be a non-empty list"),
        ("closest-empty", lambda: closest_reference(["a"], []), "refs must be a non-empty list"),
        ("closest-none", lambda: closest_reference(["a"], None), "refs must be a non-empty list"),
        ("closest-hyp-str", lambda: closest_reference("a", [["a"]]), "is a string"),
        ("closest-ref-str", lambda: closest_reference(["a"], ["a"]), "is a string"),
        ("count-neither", lambda: count_references(), "got neither"),
        ("count-both", lambda: count_references(OK, refs_per_output=[OK]), "got both"),
        ("count-str", lambda: count_references("ab"), "refs must be a list"),
        ("count-empty", lambda: count_references([]), "empty"),
        ("count-bad-list", lambda: count_references(refs_per_output=[[]]), "is empty"),
    ]  # fmt: skip
    return rows


OPTION_CASES = option_cases()


@pytest.mark.parametrize("name, call, match", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_every_wrong_option_gets_a_clear_error(name, call, match):
    assert_clear(call, match)


def test_device_arrays_are_refused_with_the_way_out():
    with backend.use_backend("devicesim"):
        ids = backend.to_device(np.array([1, 2]))
        for f in CORPUS_METRICS.values():
            assert_clear(lambda f=f: f([ids], [[1, 2]]), "backend.to_host")
            assert_clear(lambda f=f: f([[1, 2]], refs_per_output=[[ids]]), "backend.to_host")


def test_the_count_of_wrong_inputs():
    """The numbers the closing note reports: distinct wrong inputs in the tables (154) and
    the (input, function) calls they make (922)."""
    listed = [n for n, make, _ in CORPUS_CASES if isinstance(make()[1], list)]
    listed = [n for n in listed if n != "lengths-differ"]
    inputs = len(CORPUS_CASES) + len(listed) + len(OPTION_CASES)
    calls = (len(CORPUS_CASES) + len(listed)) * len(CORPUS_METRICS) + len(OPTION_CASES)
    assert (inputs, calls) == (154, 922)


# ------------------------------------------------------------------ hypothesis: wrong corpora
tokens = st.one_of(st.sampled_from(["a", "b", "c"]), st.integers(0, 3))
sentences = st.lists(tokens, max_size=5)
wrong_sentence = st.one_of(
    st.text(max_size=4), st.binary(max_size=4), st.none(), st.integers(), st.floats(),
    st.dictionaries(st.text(max_size=1), st.integers(), max_size=2),
    st.lists(st.one_of(st.lists(st.integers(), max_size=2), st.just(NAN), st.sets(st.integers())),
             min_size=1, max_size=3),
)  # fmt: skip


@SETTINGS
@given(
    st.lists(sentences, min_size=1, max_size=6),
    st.integers(0, 5),
    wrong_sentence,
    st.booleans(),
    st.sampled_from(sorted(CORPUS_METRICS)),
)
def test_a_wrong_sentence_anywhere_is_refused_and_located(good, where, bad, in_refs, metric):
    where %= len(good)
    hyps, refs = [list(s) for s in good], [list(s) for s in good]
    (refs if in_refs else hyps)[where] = bad
    message = assert_clear(lambda: CORPUS_METRICS[metric](hyps, refs))
    assert f"{'refs' if in_refs else 'hyps'}[{where}]" in message
    message = assert_clear(
        lambda: CORPUS_METRICS[metric](hyps, refs_per_output=[[r, ["a"]] for r in refs])
    )
    assert f"{'refs_per_output' if in_refs else 'hyps'}[{where}]" in message


@SETTINGS
@given(st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none(), st.booleans()))
def test_any_wrong_bleu_order_or_smoothing_value_is_refused(value):
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
        assert 0 <= corpus_bleu(OK, OK, max_order=value) <= 1
    else:
        assert_clear(lambda: corpus_bleu(OK, OK, max_order=value), "max_order")
    finite_positive = (
        isinstance(value, int | float) and not isinstance(value, bool)
        and math.isfinite(value) and value > 0
    )  # fmt: skip
    if finite_positive or value is None:
        assert 0 <= corpus_bleu(OK, [["a", "c"]], smooth="floor", smooth_value=value) <= 1
    else:
        assert_clear(lambda: corpus_bleu(OK, OK, smooth="add-k", smooth_value=value))


# ------------------------------------------------------------------ hypothesis: valid corpora
@st.composite
def corpora(draw):
    n = draw(st.integers(1, 6))
    hyps = draw(st.lists(sentences, min_size=n, max_size=n))
    refs = draw(st.lists(st.lists(sentences, min_size=1, max_size=3), min_size=n, max_size=n))
    return hyps, refs


@SETTINGS
@given(corpora())
def test_valid_corpora_get_numbers_in_range(corpus):
    hyps, refs = corpus
    first = [rs[0] for rs in refs]
    try:
        scores = compute_all(hyps, refs_per_output=refs)
        one = compute_all(hyps, first)
    except ValueError as error:  # only the documented undefined cases (all empty)
        assert re.search("undefined", str(error)), error
        return
    for name, value in scores.items():
        assert isinstance(value, float) and math.isfinite(value), (name, value)
        assert value >= 0 and (value <= 1 or name == "error_rate"), (name, value)
    # several references can only help exact match and BLEU's clipped matches (not the
    # error rate: the closest reference may also be a shorter one, a smaller denominator)
    assert scores["exact_match"] >= one["exact_match"]
    assert sum(bleu_components(hyps, refs_per_output=refs).matches) >= sum(
        bleu_components(hyps, first).matches
    )
    # first-reference metrics are the one-reference numbers
    for name in ("token_accuracy", "precision", "recall", "f1", "macro_f1"):
        assert scores[name] == one[name]
    # one reference passed either way: the same numbers, bit for bit
    assert compute_all(hyps, refs_per_output=[[r] for r in first]) == one
    assert metrics.count_references(refs_per_output=refs).references == sum(map(len, refs))
