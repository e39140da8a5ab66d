"""What does a wrong value get? Every public function of ``minis2s.data`` (issue 15).

Each wrong input must get a ``ValueError`` or ``TypeError`` (exactly those types: not a
raw ``KeyError``/``AttributeError``/``UnicodeDecodeError``, not a silent success) whose
message names what was expected and quotes what came -- at most ~80 characters of it.

Two kinds of test: a table of hand-picked wrong inputs, one per row (:data:`CASES`), and
hypothesis properties that generate wrong shapes, types and values at random.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from minis2s.data import (
    Batch,
    Tokenizer,
    Vocab,
    check_pairs,
    encode_pairs,
    group_references,
    init_embedding_from_vectors,
    load_task,
    make_batches,
    pad_sequences,
    padding_fraction,
    read_tsv,
    read_word2vec_text,
    select_references,
    split_pairs,
)
from minis2s.data.quote import short_repr
from minis2s.data.tokenizer import join_tokens, split_text

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
#: The words a clear message uses to say what was expected.
EXPECTED = re.compile(
    r"must|expect|needs?|empty|undefined|unknown|no option|not valid|found|"
    r"choose|is not|repeats|appears twice|announces|rounds to|only \d+|nothing|outside|"
    r"reserved|pass |encode it"
)
MAX_MESSAGE = 400

V = Vocab.build([["a", "b"], ["c"]])
RNG = np.random.default_rng(0)
GOOD_PAIRS = [(list("ab"), ["x"]), (list("cd"), ["y"])] * 10
LONG = "z" * 1_000_000


def assert_clear(call, exc=(TypeError, ValueError), match=None):
    """``call()`` raises exactly TypeError or ValueError with a short, explicit message."""
    try:
        call()
    except exc as error:
        message = str(error)
        if type(error) not in (TypeError, ValueError):
            raw = f"raw {type(error).__name__}: {short_repr(message, 200)}"
            raise AssertionError(raw) from None
        if len(message) > MAX_MESSAGE:
            raise AssertionError(f"{len(message)} characters: {message[:200]}...") from None
        if not EXPECTED.search(message):
            raise AssertionError(f"says nothing of what was expected: {message}") from None
        if match is not None and not re.search(match, message):
            raise AssertionError(f"does not match {match!r}: {message}") from None
        return message
    raise AssertionError("no error was raised")


# ------------------------------------------------------------------ quoting
def test_short_repr_caps_what_it_quotes():
    assert short_repr("abc") == "'abc'"
    assert short_repr("x" * 1000) == repr("x" * 80) + "... (1000 characters)"
    assert short_repr(b"\x00" * 100).endswith("... (100 bytes)")
    assert short_repr(list(range(1000))).endswith(
        f"... ({len(repr(list(range(1000))))} characters)"
    )
    assert len(short_repr(list(range(10**5)))) < 120


def test_a_1mb_malformed_tsv_line_is_not_echoed_whole(tmp_path):
    # issue 15: a 1 MB line without a tab was quoted whole (about a million characters)
    for text, what in (
        ("a\tb\n" + LONG + "\n", "found no tab"),
        ("a\tb\n\t" + LONG + "\n", "the source side is empty"),
        ("a\tb\n" + LONG + "\t\n", "the target side is empty"),
        ("a\tb\n" + LONG + "\tx\ty\n", "found 2 tabs"),
    ):
        path = tmp_path / "big.tsv"
        path.write_text(text, encoding="utf-8")
        message = assert_clear(lambda p=path: read_tsv(p), ValueError, what)
        assert "line 2" in message and "characters)" in message and len(message) < 300


def test_long_values_are_capped_in_every_data_error(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text(f"2 2\n{LONG} 1 2\n{LONG} 3 4\n", encoding="utf-8")
    calls = [
        lambda: load_task(LONG),
        lambda: load_task("copy", alphabet=LONG),
        lambda: load_task("copy", train=LONG),
        lambda: load_task("dates", locales=[LONG]),
        lambda: Vocab([*Vocab.build([]).tokens, LONG, LONG]),
        lambda: Vocab.build([[LONG, 1]]),
        lambda: V.encode(LONG),
        lambda: Tokenizer(LONG, "char"),
        lambda: read_tsv(tmp_path / "x.tsv", tokens=LONG),
        lambda: read_word2vec_text(path, limit=2),
        lambda: check_pairs([(LONG, ["x"])]),
        lambda: select_references(GOOD_PAIRS, LONG),
        lambda: pad_sequences([[1]], pad_id=LONG),
    ]
    for call in calls:
        assert_clear(call)


# ------------------------------------------------------------------ a table of wrong inputs
def _tsv(tmp_path_factory, text: str | bytes, name: str = "data.tsv"):
    path = tmp_path_factory.mktemp("tsv") / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def task_cases():
    """Every task option: wrong types and values just outside its documented range."""
    rows = [
        ("task-name-none", lambda: load_task(None), "unknown task None"),
        ("task-name-int", lambda: load_task(5), "unknown task 5"),
        ("task-name-list", lambda: load_task(["dates"]), "unknown task"),
        ("task-seed-negative", lambda: load_task("copy", seed=-1), "seed must be an int >= 0"),
        ("task-seed-float", lambda: load_task("copy", seed=1.5), "seed must be"),
        ("task-seed-bool", lambda: load_task("copy", seed=True), "seed must be"),
        ("task-seed-str", lambda: load_task("copy", seed="0"), "seed must be"),
        ("task-unknown-option", lambda: load_task("dates", max_len=5), "no option"),
    ]
    sizes = {"train": 1, "valid": 0, "test": 0}
    for task in ("dates", "copy", "reverse", "sort", "addition", "g2p"):
        for size, low in sizes.items():
            bad = [low - 1, 1_000_001, 1.5, "abc", True, float("nan"), [5]]
            if task != "g2p":
                bad.append(None)
            for value in bad:
                rows.append(
                    (
                        f"{task}-{size}={value!r}",
                        lambda t=task, s=size, v=value: load_task(t, **{s: v}),
                        rf"{size} must be an int in \[{low}, 1000000\]",
                    )
                )
    for name, value, match in [
        ("min_len", 0, r"min_len must be an int in \[1, 100\]"),
        ("min_len", 101, r"min_len must be an int in \[1, 100\]"),
        ("max_len", 1_000_000, r"max_len must be an int in \[1, 100\]"),
        ("max_len", "8", r"max_len must be an int in \[1, 100\]"),
        ("alphabet", "", "alphabet must be a str of 1 to 1000 characters"),
        ("alphabet", 5, "alphabet must be a str"),
        ("alphabet", None, "alphabet must be a str"),
        ("alphabet", "".join(chr(0x4E00 + k) for k in range(1001)), "1 to 1000 characters"),
        ("alphabet", "aab", "distinct non-space"),
        ("alphabet", "a b", "distinct non-space"),
    ]:
        rows.append((f"copy-{name}={short_repr(value, 10)}",
                     lambda n=name, v=value: load_task("copy", **{n: v}), match))  # fmt: skip
    rows += [
        (
            "reverse-min>max",
            lambda: load_task("reverse", min_len=6, max_len=5),
            "min_len must be <=",
        ),
        ("addition-digits-0", lambda: load_task("addition", max_digits=0), r"\[1, 15\]"),
        ("addition-digits-16", lambda: load_task("addition", max_digits=16), r"\[1, 15\]"),
        ("g2p-max-word-len-0", lambda: load_task("g2p", max_word_len=0), r"\[1, 100\] or None"),
        ("g2p-max-word-len-str", lambda: load_task("g2p", max_word_len="3"), r"\[1, 100\]"),
        ("dates-locales-none", lambda: load_task("dates", locales=None), "locales must be a list"),
        ("dates-locales-empty", lambda: load_task("dates", locales=[]), "at least one"),
        (
            "dates-locales-unknown",
            lambda: load_task("dates", locales=["xx"]),
            "unknown dates locale",
        ),
        ("dates-locales-int", lambda: load_task("dates", locales=[5]), "unknown dates locale 5"),
        ("dates-locales-twice", lambda: load_task("dates", locales=["de_DE", "de_DE"]), "distinct"),
        ("dates-locales-dict", lambda: load_task("dates", locales={"de_DE": 1}), "must be a list"),
        ("dates-lowercase-str", lambda: load_task("dates", lowercase="yes"), "True or False"),
        ("dates-lowercase-int", lambda: load_task("dates", lowercase=1), "True or False"),
    ]
    return rows


def pair_cases():
    split = lambda p, **kw: split_pairs(p, np.random.default_rng(0), **kw)  # noqa: E731
    rows = []
    bad_pairs = {
        "str": "ab\tx",
        "none": None,
        "int": 5,
        "dict": {"a": "b"},
        "generator": ((s, t) for s, t in GOOD_PAIRS),
        "pair-too-short": [(["a"],)],
        "pair-too-long": [(["a"], ["b"], ["c"])],
        "pair-str": ["ab"],
        "pair-none": [None],
        "source-str": [("ab", ["x"])],
        "target-str": [(["a"], "x")],
        "source-none": [(None, ["x"])],
        "source-int-token": [([1, 2], ["x"])],
        "target-none-token": [(["a"], [None])],
        "source-empty": [([], ["x"])],
        "target-empty": [(["a"], [])],
        "empty-token": [(["a", ""], ["x"])],
        "nan-token": [([float("nan")], ["x"])],
        "array-side": [(np.array(["a"]), ["x"])],
    }
    for name, pairs in bad_pairs.items():
        for fname, f in (
            ("check_pairs", check_pairs),
            ("group_references", group_references),
            ("select_references", select_references),
            ("split_pairs", split),
            ("encode_pairs", lambda p: encode_pairs(p, V, V)),
        ):
            if name == "generator":
                pairs = ((s, t) for s, t in GOOD_PAIRS)  # a fresh one each time
            rows.append((f"{fname}-{name}", lambda f=f, p=pairs: f(p), None))
    rows += [
        ("split-rng-none", lambda: split_pairs(GOOD_PAIRS, None), "numpy.random.Generator"),
        ("split-rng-int", lambda: split_pairs(GOOD_PAIRS, 0), "numpy.random.Generator"),
        ("split-rng-legacy", lambda: split_pairs(GOOD_PAIRS, np.random.RandomState(0)),
         "numpy.random.Generator"),
        ("split-no-pairs", lambda: split([]), "at least one pair"),
        ("split-too-few", lambda: split(GOOD_PAIRS[:2]), "rounds to 0"),
        ("split-nothing-left", lambda: split(GOOD_PAIRS, valid=0.5, test=0.45), "nothing"),
        ("split-sum-1", lambda: split(GOOD_PAIRS, valid=0.5, test=0.5), "< 1"),
        ("encode-pairs-vocab", lambda: encode_pairs(GOOD_PAIRS, None, V),
         "src_vocab must be a Vocab"),
        ("encode-pairs-tgt-vocab", lambda: encode_pairs(GOOD_PAIRS, V, "v"), "tgt_vocab must be"),
    ]  # fmt: skip
    for frac in (1, 1.0, -0.1, float("nan"), float("inf"), "0.1", True, None, [0.1]):
        for side in ("valid", "test"):
            rows.append((f"split-{side}={frac!r}",
                         lambda s=side, f=frac: split(GOOD_PAIRS, **{s: f}),
                         rf"{side} must be a fraction in \[0, 1\)"))  # fmt: skip
    return rows


def vocab_cases():
    specials = list(Vocab.build([]).tokens)
    rows = [
        ("vocab-str", lambda: Vocab("abc"), "list of str tokens"),
        ("vocab-none", lambda: Vocab(None), "list of str tokens"),
        ("vocab-int", lambda: Vocab(5), "list of str tokens"),
        ("vocab-no-specials", lambda: Vocab(["a"]), "must start with the special tokens"),
        ("vocab-specials-order", lambda: Vocab(specials[::-1]), "must start with"),
        ("vocab-twice", lambda: Vocab([*specials, "a", "a"]), "appears twice"),
        ("vocab-int-token", lambda: Vocab([*specials, 1]), "non-empty str"),
        ("vocab-empty-token", lambda: Vocab([*specials, ""]), "non-empty str"),
        ("vocab-list-token", lambda: Vocab([*specials, ["a"]]), "non-empty str"),
        ("build-none", lambda: Vocab.build(None), "iterable of token lists"),
        ("build-int", lambda: Vocab.build(5), "iterable of token lists"),
        ("build-str", lambda: Vocab.build("abc"), "iterable of token lists"),
        ("build-str-seq", lambda: Vocab.build(["abc"]), "is a str"),
        ("build-int-seq", lambda: Vocab.build([5]), "must be a list of str tokens"),
        ("build-set-seq", lambda: Vocab.build([{"a"}]), "must be a list of str tokens"),
        ("build-int-token", lambda: Vocab.build([["a", 1]]), "tokens must be str"),
        ("build-none-token", lambda: Vocab.build([[None]]), "tokens must be str"),
        ("build-nan-token", lambda: Vocab.build([[float("nan")]]), "tokens must be str"),
        ("encode-str", lambda: V.encode("abc"), "split it first"),
        ("encode-none", lambda: V.encode(None), "list of str tokens"),
        ("encode-int", lambda: V.encode(5), "list of str tokens"),
        ("encode-int-token", lambda: V.encode([1]), "tokens must be str"),
        ("encode-bos-str", lambda: V.encode(["a"], add_bos="yes"), "add_bos must be True or False"),
        ("encode-eos-int", lambda: V.encode(["a"], add_eos=1), "add_eos must be True or False"),
        ("encode-unknown-str", lambda: V.encode(["a"], unknown="x"), "unknown must be a list"),
        ("decode-float", lambda: V.decode([1.5]), "id must be an integer"),
        ("decode-nan", lambda: V.decode([float("nan")]), "id must be an integer"),
        ("decode-str-id", lambda: V.decode(["1"]), "id must be an integer"),
        ("decode-bool", lambda: V.decode([True]), "id must be an integer"),
        ("decode-range", lambda: V.decode([100]), "outside the vocabulary range"),
        ("decode-negative", lambda: V.decode([-1]), "outside the vocabulary range"),
        ("decode-int", lambda: V.decode(5), "iterable of integer ids"),
        ("decode-str", lambda: V.decode("12"), "iterable of integer ids"),
        ("decode-strip-int", lambda: V.decode([4], strip_special=1), "strip_special must be"),
        ("id-to-token-float", lambda: V.id_to_token(1.5), "id must be an integer"),
        ("id-to-token-range", lambda: V.id_to_token(len(V)), "outside the vocabulary range"),
        ("from-dict-none", lambda: Vocab.from_dict(None), "must be a dict"),
        ("from-dict-empty", lambda: Vocab.from_dict({}), "must have format"),
        ("from-dict-version", lambda: Vocab.from_dict({**V.to_dict(), "version": 9}),
         "not supported"),
        ("from-dict-tokens", lambda: Vocab.from_dict({**V.to_dict(), "tokens": "ab"}),
         "needs a list 'tokens'"),
        ("from-dict-bad-token", lambda: Vocab.from_dict({**V.to_dict(), "tokens": [1]}),
         "must start with"),
        ("tokenizer-kind", lambda: Tokenizer("chars", "char"), "must be one of"),
        ("tokenizer-kind-none", lambda: Tokenizer("char", None), "must be one of"),
        ("tokenizer-kind-list", lambda: Tokenizer(["char"], "char"), "must be one of"),
        ("tokenizer-lowercase", lambda: Tokenizer(lowercase=1), "must be a bool"),
        ("tokenizer-source-int", lambda: Tokenizer()(5), "expected source text as str"),
        ("tokenizer-target-none", lambda: Tokenizer().encode_target(None), "as str"),
        ("tokenizer-join-str", lambda: Tokenizer().join_target("abc"), "must be a list of str"),
        ("tokenizer-join-int", lambda: Tokenizer().join_source([1]), r"tokens\[0\] must be a str"),
        ("tokenizer-from-dict", lambda: Tokenizer.from_dict({"source": "x"}), "saved tokenizer"),
        ("tokenizer-from-dict-kind", lambda: Tokenizer.from_dict(
            {"source": "x", "target": "char", "lowercase": False}), "malformed"),
        ("split-text-kind", lambda: split_text("ab", "letters"), "must be one of"),
        ("split-text-bytes", lambda: split_text(b"ab", "char"), "text must be a str"),
        ("join-tokens-kind", lambda: join_tokens(["a"], 5), "must be one of"),
    ]  # fmt: skip
    return rows


def batching_cases():
    mb = lambda s, t, **kw: make_batches(s, t, kw.pop("batch_size", 2), **kw)  # noqa: E731
    rows = [
        ("pad-empty", lambda: pad_sequences([]), "at least one"),
        ("pad-empty-seq", lambda: pad_sequences([[]]), "is empty"),
        ("pad-str", lambda: pad_sequences("abc"), "list of id sequences"),
        ("pad-none", lambda: pad_sequences(None), "list of id sequences"),
        ("pad-str-seq", lambda: pad_sequences(["ab"]), "encode it to ids"),
        ("pad-int-seq", lambda: pad_sequences([5]), "must be a list of int ids"),
        ("pad-str-ids", lambda: pad_sequences([["a"]]), "flat list of ints"),
        ("pad-float-ids", lambda: pad_sequences([[1.5]]), "flat list of ints"),
        ("pad-nan-ids", lambda: pad_sequences([[float("nan")]]), "flat list of ints"),
        ("pad-bool-ids", lambda: pad_sequences([[True]]), "flat list of ints"),
        ("pad-nested-ids", lambda: pad_sequences([[[1]]]), "flat list of ints"),
        ("pad-ragged-ids", lambda: pad_sequences([[1, [2, 3]]]), "flat list of ints"),
        ("pad-bool-among-ints", lambda: pad_sequences([[1, 2], [3, True]]),
         r"sequence 1 must be a flat list of ints \(int64 ids\), got True \(bool\) at position 1"),
        ("pad-np-bool-among-ints", lambda: pad_sequences([[1, np.bool_(False)]]), "False"),
        ("pad-huge-id", lambda: pad_sequences([[2**70]]), "int64"),
        ("pad-id-str", lambda: pad_sequences([[1]], pad_id="x"), "pad_id must be an int"),
        ("pad-id-float", lambda: pad_sequences([[1]], pad_id=0.5), "pad_id must be an int"),
        ("pad-id-bool", lambda: pad_sequences([[1]], pad_id=False), "pad_id must be an int"),
        ("pad-id-huge", lambda: pad_sequences([[1]], pad_id=2**70), "fit in int64"),
        ("batches-size-0", lambda: mb([[4]], [[5]], batch_size=0), "batch_size must be a positive"),
        ("batches-size-neg", lambda: mb([[4]], [[5]], batch_size=-1), "batch_size must be"),
        ("batches-size-float", lambda: mb([[4]], [[5]], batch_size=1.5), "batch_size must be"),
        ("batches-size-bool", lambda: mb([[4]], [[5]], batch_size=True), "batch_size must be"),
        ("batches-size-str", lambda: mb([[4]], [[5]], batch_size="8"), "batch_size must be"),
        ("batches-rng-int", lambda: mb([[4]], [[5]], rng=3), "numpy.random.Generator or None"),
        ("batches-rng-legacy", lambda: mb([[4]], [[5]], rng=np.random.RandomState(0)),
         "Generator"),
        ("batches-bucket-str", lambda: mb([[4]], [[5]], bucket="yes"), "bucket must be True"),
        ("batches-differ", lambda: mb([[4], [5]], [[5]]), "must pair up"),
        ("batches-empty", lambda: mb([], []), "at least one pair"),
        ("batches-src-none", lambda: mb(None, [[5]]), "src_ids must be a list"),
        ("batches-tgt-str", lambda: mb([[4]], "5"), "tgt_ids must be a list"),
        ("batches-negative", lambda: mb([[-4]], [[5]]), "negative id"),
        ("batches-pad-src", lambda: mb([[0]], [[5]]), "PAD_ID is reserved"),
        ("batches-bos-tgt", lambda: mb([[4]], [[1]]), "without BOS_ID"),
        ("batches-eos-tgt", lambda: mb([[4]], [[2, 5]]), "without EOS_ID"),
        ("batches-float", lambda: mb([[4.0]], [[5]]), "flat list of ints"),
        ("batches-bool-among-ints", lambda: mb([[4]], [[5, True]]), "target sequence 0 must be"),
        ("batches-empty-seq", lambda: mb([[4]], [[]]), "is empty"),
        ("padding-fraction-empty", lambda: padding_fraction([]), "at least one batch"),
        ("padding-fraction-str", lambda: padding_fraction("ab"), "list of Batch"),
        ("padding-fraction-item", lambda: padding_fraction([5]), r"batches\[0\] must be a Batch"),
    ]  # fmt: skip
    return rows


def file_cases(tmp_path_factory):
    good = _tsv(tmp_path_factory, "a\tb\n")
    w2v = lambda text: _tsv(tmp_path_factory, text, "vectors.txt")  # noqa: E731
    vocab = Vocab.build([["cat"]])
    emb = lambda **kw: init_embedding_from_vectors(  # noqa: E731
        **{"vocab": vocab, "words": ["cat"], "vectors": np.ones((1, 3)), "rng": RNG, **kw}
    )
    rows = [
        ("tsv-path-int", lambda: read_tsv(3), "path must be a str or os.PathLike"),
        ("tsv-path-none", lambda: read_tsv(None), "path must be a str or os.PathLike"),
        ("tsv-path-list", lambda: read_tsv([good]), "path must be a str or os.PathLike"),
        ("tsv-tokens", lambda: read_tsv(good, tokens="chars"), "tokens must be 'char', 'word'"),
        ("tsv-tokens-one", lambda: read_tsv(good, tokens=("char",)), "tokens must be"),
        ("tsv-tokens-int", lambda: read_tsv(good, tokens=5), "tokens must be"),
        ("tsv-tokens-none", lambda: read_tsv(good, tokens=None), "tokens must be"),
        ("tsv-tokens-list-int", lambda: read_tsv(good, tokens=["char", 1]), "tokens must be"),
        ("tsv-lowercase", lambda: read_tsv(good, lowercase="yes"), "lowercase must be True"),
        ("tsv-no-tab", lambda: read_tsv(_tsv(tmp_path_factory, "ab\n")), "found no tab"),
        ("tsv-two-tabs", lambda: read_tsv(_tsv(tmp_path_factory, "a\tb\tc\n")), "2 tabs"),
        ("tsv-empty-side", lambda: read_tsv(_tsv(tmp_path_factory, " \tb\n")), "side is empty"),
        ("tsv-utf8", lambda: read_tsv(_tsv(tmp_path_factory, b"a\t\xff\n")), "not valid UTF-8"),
        ("tsv-bom-only", lambda: read_tsv(_tsv(tmp_path_factory, b"\xef\xbb\xbf")), "no 'source"),
        ("tsv-empty", lambda: read_tsv(_tsv(tmp_path_factory, "")), "no 'source<TAB>target'"),
        ("w2v-path", lambda: read_word2vec_text(5), "path must be a str"),
        ("w2v-limit-0", lambda: read_word2vec_text(good, limit=0), "limit must be a positive"),
        ("w2v-limit-float", lambda: read_word2vec_text(good, limit=1.5), "limit must be"),
        ("w2v-limit-bool", lambda: read_word2vec_text(good, limit=True), "limit must be"),
        ("w2v-header", lambda: read_word2vec_text(w2v("x y\n")), "header 'count dim'"),
        ("w2v-dim-0", lambda: read_word2vec_text(w2v("1 0\na\n")), "header"),
        ("w2v-fields", lambda: read_word2vec_text(w2v("1 2\na 1\n")), "expected a word and 2"),
        ("w2v-number", lambda: read_word2vec_text(w2v("1 2\na 1 x\n")), "is not a number"),
        ("w2v-nan", lambda: read_word2vec_text(w2v("1 2\na 1 nan\n")), "is not finite"),
        ("w2v-huge", lambda: read_word2vec_text(w2v("1 2\na 1 1e300\n")), "is not finite"),
        ("w2v-repeat", lambda: read_word2vec_text(w2v("2 1\na 1\na 2\n")), "repeats"),
        ("w2v-short", lambda: read_word2vec_text(w2v("3 1\na 1\n")), "announces 3"),
        ("w2v-utf8", lambda: read_word2vec_text(w2v(b"1 1\n\xff 1\n")), "not valid UTF-8"),
        ("w2v-blank", lambda: read_word2vec_text(w2v("2 1\na 1\n\n")), "empty line"),
        ("emb-vocab", lambda: emb(vocab=["cat"]), "vocab must be a Vocab"),
        ("emb-rng", lambda: emb(rng=0), "rng must be a numpy.random.Generator"),
        ("emb-words-str", lambda: emb(words="cat"), "words must be a list of str"),
        ("emb-words-int", lambda: emb(words=[1]), "words must be a list of str"),
        ("emb-words-none", lambda: emb(words=None), "words must be a list of str"),
        ("emb-vectors-1d", lambda: emb(vectors=np.ones(3)), r"shape \(len\(words\), D\)"),
        ("emb-vectors-rows", lambda: emb(vectors=np.ones((2, 3))), r"= \(1, D\), got \(2, 3\)"),
        ("emb-vectors-cols", lambda: emb(vectors=np.ones((1, 0))), "D >= 1"),
        ("emb-vectors-str", lambda: emb(vectors=np.array([["a"]])), "array of real numbers"),
        ("emb-vectors-object", lambda: emb(vectors=[[None, 1]]), "array of real numbers"),
        ("emb-vectors-complex", lambda: emb(vectors=np.ones((1, 2), complex)), "real numbers"),
        ("emb-vectors-nan", lambda: emb(vectors=np.full((1, 3), np.nan)), "inf or NaN"),
        ("emb-vectors-inf", lambda: emb(vectors=np.full((1, 3), np.inf)), "inf or NaN"),
        ("emb-scale-neg", lambda: emb(scale=-1.0), "scale must be a finite number >= 0"),
        ("emb-scale-nan", lambda: emb(scale=float("nan")), "scale must be a finite"),
        ("emb-scale-inf", lambda: emb(scale=float("inf")), "scale must be a finite"),
        ("emb-scale-str", lambda: emb(scale="1"), "scale must be a number"),
        ("emb-scale-bool", lambda: emb(scale=True), "scale must be a number"),
        ("emb-fallback", lambda: emb(lowercase_fallback="yes"), "lowercase_fallback must be"),
        ("emb-dtype-int", lambda: emb(dtype=np.int32), "floating-point type"),
        ("emb-dtype-str", lambda: emb(dtype="foo"), "floating-point type"),
        ("emb-dtype-obj", lambda: emb(dtype=object), "floating-point type"),
    ]  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def all_cases(tmp_path_factory):
    rows = task_cases() + pair_cases() + vocab_cases() + batching_cases()
    rows += file_cases(tmp_path_factory)
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "every case is a distinct wrong input"
    return rows


def test_every_wrong_input_in_the_table_gets_a_clear_error(all_cases):
    failures = []
    for name, call, match in all_cases:
        try:
            assert_clear(call, match=match)
        except AssertionError as exc:  # collect them all, then report
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)
    assert len(all_cases) == 440  # the count reported in the closing note


# ------------------------------------------------------------------ hypothesis: pairs
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
    st.text(max_size=3), st.binary(max_size=3),
)  # fmt: skip
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=2), inner, max_size=2),
    ),
    max_leaves=8,
)
token_lists = st.lists(st.sampled_from(["a", "b", "c", "dd"]), min_size=1, max_size=4)
good_pair = st.tuples(token_lists, token_lists)


def _valid_pairs(value) -> bool:
    try:
        check_pairs(value)
    except (TypeError, ValueError):
        return False
    return True


@SETTINGS
@given(anything)
def test_random_structures_as_pairs_are_refused_or_valid(value):
    """Random nested values: check_pairs and every function taking pairs either accepts
    them (then they really are valid pairs) or refuses them clearly, all alike."""
    if _valid_pairs(value):
        assert isinstance(value, list | tuple)
        for src, tgt in value:
            assert all(isinstance(t, str) and t for t in [*src, *tgt])
        return
    for call in (check_pairs, group_references, select_references,
                 lambda p: encode_pairs(p, V, V)):  # fmt: skip
        assert_clear(lambda c=call: c(value))


@SETTINGS
@given(st.lists(good_pair, min_size=1, max_size=12), st.integers(0, 11), anything)
def test_one_bad_pair_among_good_ones_is_named(pairs, where, bad):
    """A wrong item at position k is refused, and the message names position k."""
    pairs = list(pairs)
    where = where % len(pairs)
    pairs[where] = bad
    if _valid_pairs(pairs):
        return
    message = assert_clear(lambda: check_pairs(pairs))
    assert f"pairs[{where}]" in message


@SETTINGS
@given(st.lists(good_pair, min_size=1, max_size=30))
def test_grouping_and_choosing_references_properties(pairs):
    groups = group_references(pairs)
    sources = [tuple(s) for s, _ in groups]
    assert len(set(sources)) == len(sources)
    assert sources == list(dict.fromkeys(tuple(s) for s, _ in pairs))  # first-seen order
    assert {(tuple(s), tuple(t)) for s, t in pairs} == {
        (tuple(s), tuple(t)) for s, refs in groups for t in refs
    }
    first = select_references(pairs, "first")
    assert [(tuple(s), tuple(t)) for s, t in first] == [
        (tuple(s), tuple(refs[0])) for s, refs in groups
    ]
    assert select_references(pairs, "all") == [(list(s), list(t)) for s, t in pairs]


# ------------------------------------------------------------------ hypothesis: options
def _outside(low: int, high: int):
    return st.one_of(
        st.integers(max_value=low - 1), st.integers(min_value=high + 1),
        st.floats(allow_nan=True), st.text(max_size=5), st.booleans(),
        st.lists(st.integers(), max_size=2),
    )  # fmt: skip


OPTION_RANGES = [
    ("copy", "train", 1, 1_000_000), ("copy", "valid", 0, 1_000_000),
    ("reverse", "test", 0, 1_000_000), ("sort", "min_len", 1, 100),
    ("sort", "max_len", 1, 100), ("addition", "max_digits", 1, 15),
    ("dates", "train", 1, 1_000_000), ("dates", "test", 0, 1_000_000),
    ("g2p", "train", 1, 1_000_000), ("g2p", "max_word_len", 1, 100),
]  # fmt: skip


@pytest.mark.parametrize("task, option, low, high", OPTION_RANGES)
def test_task_options_outside_their_range_are_refused(task, option, low, high):
    @SETTINGS
    @given(_outside(low, high))
    def check(value):
        message = assert_clear(lambda: load_task(task, **{option: value}), ValueError)
        assert message.startswith(f"{option} must be an int in [{low}, {high}]"), message

    check()


# ------------------------------------------------------------------ hypothesis: ids and files
ids = st.one_of(
    st.integers(-3, 12), st.integers(2**63, 2**70), st.floats(allow_nan=True), st.booleans(),
    st.text(max_size=2), st.none(), st.lists(st.integers(0, 5), max_size=2),
)  # fmt: skip


@SETTINGS
@given(
    st.lists(st.lists(ids, max_size=4), max_size=4), st.lists(st.lists(ids, max_size=4), max_size=4)
)
def test_make_batches_takes_valid_ids_or_says_why_not(src, tgt):
    try:
        batches = make_batches(src, tgt, 2)
    except (TypeError, ValueError):
        assert_clear(lambda: make_batches(src, tgt, 2))
        return
    # accepted: then every id was a real int >= 3 (no pad/bos/eos in targets) or 3+ sources
    assert all(isinstance(b, Batch) for b in batches)
    for row in src + tgt:
        assert all(type(t) is int and t > 0 for t in row)
    for row in tgt:
        assert all(t > 2 for t in row)


@SETTINGS
@given(st.binary(max_size=300))
def test_read_tsv_reads_or_refuses_any_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "data.tsv"
    path.write_bytes(data)
    try:
        pairs = read_tsv(path)
    except (TypeError, ValueError):
        assert_clear(lambda: read_tsv(path))
        return
    check_pairs(pairs)
    assert len(pairs) <= data.count(b"\n") + 1


@SETTINGS
@given(st.lists(st.lists(st.one_of(st.text(max_size=2), scalars), max_size=3), max_size=4))
def test_vocab_build_takes_str_tokens_or_says_why_not(seqs):
    try:
        vocab = Vocab.build(seqs)
    except (TypeError, ValueError):
        assert_clear(lambda: Vocab.build(seqs))
        return
    assert all(isinstance(t, str) for s in seqs for t in s)
    assert Vocab.from_dict(vocab.to_dict()) == vocab
