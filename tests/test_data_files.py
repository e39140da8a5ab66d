"""User files: read_tsv, split_pairs, word2vec vectors and the embedding they seed."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s.data import (
    PAD_ID,
    SPECIALS,
    Vocab,
    init_embedding_from_vectors,
    read_tsv,
    read_word2vec_text,
    split_pairs,
)


def write(tmp_path, text: str | bytes, name="data.tsv"):
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


# ------------------------------------------------------------------ read_tsv
def test_read_tsv_tokens(tmp_path):
    path = write(tmp_path, "\ufeffthe Cat\tle chat\r\n\n  ab \t x y \n")
    assert read_tsv(path) == [
        (list("the Cat"), list("le chat")),
        (list("ab"), list("x y")),
    ]
    assert read_tsv(path, tokens="word") == [(["the", "Cat"], ["le", "chat"]), (["ab"], ["x", "y"])]
    assert read_tsv(str(path), tokens=("char", "word"), lowercase=True)[0] == (
        list("the cat"), ["le", "chat"],
    )  # fmt: skip


@pytest.mark.parametrize(
    "text, match",
    [
        ("a\tb\nno tab here\n", r"data\.tsv, line 2: expected 'source<TAB>target', found no tab"),
        ("a\tb\n\na\tb\tc\n", r"data\.tsv, line 3: expected .* found 2 tabs"),
        ("a\tb\n\t b\n", r"data\.tsv, line 2: the source side is empty"),
        ("a\t  \n", r"data\.tsv, line 1: the target side is empty"),
        (b"a\tb\nc\t\xff\xfe\n", r"data\.tsv, line 2: not valid UTF-8 \(byte 0xff at column 3\)"),
        ("", r"data\.tsv: no 'source<TAB>target' pairs found"),
        ("\n  \n\n", r"data\.tsv: no 'source<TAB>target' pairs found"),
    ],
)
def test_read_tsv_errors_name_file_and_line(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        read_tsv(path)


def test_read_tsv_bad_arguments(tmp_path):
    path = write(tmp_path, "a\tb\n")
    with pytest.raises(ValueError, match="tokens must be 'char', 'word', or a"):
        read_tsv(path, tokens="bpe")
    with pytest.raises(FileNotFoundError):
        read_tsv(tmp_path / "missing.tsv")


# ------------------------------------------------------------------ split_pairs
def make_pairs(n=200):
    # 100 distinct sources, each twice (two "translations")
    return [([f"s{i % 100}"], [f"t{i}"]) for i in range(n)]


def test_split_pairs_by_source():
    pairs = make_pairs()
    train, valid, test = split_pairs(pairs, np.random.default_rng(0), valid=0.1, test=0.2)
    src = [{p[0][0] for p in split} for split in (train, valid, test)]
    assert (len(src[0]), len(src[1]), len(src[2])) == (70, 10, 20)
    assert not src[0] & src[1] and not src[0] & src[2] and not src[1] & src[2]
    assert (len(train), len(valid), len(test)) == (140, 20, 40)  # each source brings both pairs
    assert sorted(train + valid + test) == sorted(pairs)
    # each split keeps the file's order
    assert [int(t[0][1:]) for _, t in train] == sorted(int(t[0][1:]) for _, t in train)
    again = split_pairs(pairs, np.random.default_rng(0), valid=0.1, test=0.2)
    assert again == (train, valid, test)
    other = split_pairs(pairs, np.random.default_rng(1), valid=0.1, test=0.2)
    assert other[1] != valid


def test_split_pairs_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        split_pairs(make_pairs(), 0)
    with pytest.raises(ValueError, match=r"valid must be a fraction in \[0, 1\), got 1.5"):
        split_pairs(make_pairs(), rng, valid=1.5)
    with pytest.raises(ValueError, match="valid \\+ test must be < 1"):
        split_pairs(make_pairs(), rng, valid=0.5, test=0.5)
    with pytest.raises(ValueError, match="at least one pair"):
        split_pairs([], rng)
    with pytest.raises(ValueError, match="test=0.05 of 3 distinct sources rounds to 0"):
        split_pairs(make_pairs(3), rng, valid=0.4)
    assert split_pairs(make_pairs(3), rng, valid=0, test=0)[0] == make_pairs(3)


# ------------------------------------------------------------------ word2vec
W2V = "3 4\nthe 0.1 -0.2 0.3 0.05\ncat 0.7 0.1 -0.4 0.2 \nsat -3e-1 2 1 9e-1\n"


def test_read_word2vec_text(tmp_path):
    words, vectors = read_word2vec_text(write(tmp_path, W2V, "v.txt"))
    assert words == ["the", "cat", "sat"]
    assert vectors.dtype == np.float32 and vectors.shape == (3, 4)
    np.testing.assert_allclose(vectors[2], [-0.3, 2.0, 1.0, 0.9], rtol=1e-7)
    words, vectors = read_word2vec_text(write(tmp_path, W2V, "v.txt"), limit=2)
    assert words == ["the", "cat"] and vectors.shape == (2, 4)


@pytest.mark.parametrize(
    "text, match",
    [
        ("3\nthe 1\n", r"v\.txt, line 1: expected the header 'count dim'"),
        ("2 x\n", r"v\.txt, line 1: expected the header"),
        ("2 2\nthe 1 2\ncat 1\n", r"v\.txt, line 3: expected a word and 2 numbers, found 2 fields"),
        ("2 2\nthe 1 2\ncat 1 2 3\n", r"v\.txt, line 3: .* found 4 fields"),
        ("2 2\nthe 1 2\ncat 1 zz\n", r"v\.txt, line 3: 'zz' is not a number \(word 'cat'\)"),
        ("2 2\nthe 1 nan\ncat 1 2\n", r"v\.txt, line 2: the vector of 'the' is not finite"),
        ("2 2\nthe 1 2\nthe 3 4\n", r"v\.txt, line 3: the word 'the' repeats \(first on line 2\)"),
        ("3 2\nthe 1 2\ncat 3 4\n", r"v\.txt: the header announces 3 vectors, but .* after 2"),
        ("2 2\nthe 1 2\n\ncat 3 4\n", r"v\.txt, line 3: empty line"),
        (b"1 2\nth\xe9 1 2\n", r"v\.txt, line 2: not valid UTF-8 \(byte 0xe9 at column 3\)"),
    ],
)
def test_read_word2vec_errors_name_file_and_line(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_word2vec_text(write(tmp_path, text, "v.txt"))


def test_init_embedding_from_vectors():
    vocab = Vocab([*SPECIALS, "cat", "dog", "The"])
    words = ["the", "cat", "sat"]
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    W, n_found, unknown = init_embedding_from_vectors(
        vocab, words, vectors, np.random.default_rng(0), scale=0.5
    )
    assert W.shape == (7, 4) and W.dtype == np.float32
    assert n_found == 1 and unknown == ["dog", "The"]
    np.testing.assert_array_equal(W[4], vectors[1])  # "cat" copied
    np.testing.assert_array_equal(W[PAD_ID], 0.0)  # pad row zero
    # the random rows are N(0, 0.5^2) drawn for the whole matrix, independent of the hits
    expected = np.random.default_rng(0).normal(0.0, 0.5, size=(7, 4)).astype(np.float32)
    np.testing.assert_array_equal(W[[1, 2, 3, 5, 6]], expected[[1, 2, 3, 5, 6]])
    # lower-case fallback finds "The" -> "the"; scale=None uses the vectors' own std
    W2, n2, unknown2 = init_embedding_from_vectors(
        vocab, words, vectors, np.random.default_rng(0), lowercase_fallback=True
    )
    assert n2 == 2 and unknown2 == ["dog"]
    np.testing.assert_array_equal(W2[6], vectors[0])
    scale = float(vectors.std())
    expected = np.random.default_rng(0).normal(0.0, scale, size=(7, 4)).astype(np.float32)
    np.testing.assert_array_equal(W2[5], expected[5])


def test_init_embedding_errors():
    vocab = Vocab(list(SPECIALS))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"shape \(len\(words\), D\) = \(2, D\), got \(3, 4\)"):
        init_embedding_from_vectors(vocab, ["a", "b"], np.zeros((3, 4)), rng)
    with pytest.raises(TypeError, match="vocab must be a Vocab, got list"):
        init_embedding_from_vectors(["a"], ["a"], np.zeros((1, 4)), rng)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        init_embedding_from_vectors(vocab, ["a"], np.zeros((1, 4)), 0)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        init_embedding_from_vectors(vocab, ["a"], np.zeros((1, 4)), rng, scale=-1.0)
