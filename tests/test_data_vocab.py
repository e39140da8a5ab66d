"""Vocab and Tokenizer: ids, order, encode/decode, saving, and every error message."""

from __future__ import annotations

import json

import numpy as np
import pytest

from minis2s.data import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    Tokenizer,
    Vocab,
    encode_pairs,
)

SEQS = [["b", "a"], ["a", "c"], ["c", "a"], ["d"]]  # a:3, c:2, b:1, d:1


def test_special_ids_are_fixed():
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert SPECIALS == ("<pad>", "<s>", "</s>", "<unk>")


def test_build_orders_by_count_then_token():
    # counted by hand: a 3, c 2, then b and d once each (tie -> alphabetical)
    assert Vocab.build(SEQS).tokens == [*SPECIALS, "a", "c", "b", "d"]


def test_build_does_not_depend_on_sequence_order():
    assert Vocab.build(SEQS) == Vocab.build(SEQS[::-1])
    assert Vocab.build([["y", "x"]]).tokens[4:] == ["x", "y"]


def test_min_count_drops_rare_tokens():
    assert Vocab.build(SEQS, min_count=2).tokens == [*SPECIALS, "a", "c"]


def test_special_spelled_in_data_is_not_added_twice():
    v = Vocab.build([["<unk>", "a", "</s>"]])
    assert v.tokens == [*SPECIALS, "a"]


def test_encode_unknowns_and_framing():
    v = Vocab.build(SEQS)
    unknown: list[str] = []
    ids = v.encode(["a", "z", "d", "q"], add_bos=True, add_eos=True, unknown=unknown)
    assert ids == [BOS_ID, 4, UNK_ID, 7, UNK_ID, EOS_ID]
    assert unknown == ["z", "q"]
    assert v.encode([]) == []
    assert len(v) == 8
    assert "a" in v and "z" not in v
    assert v.token_to_id("c") == 5 and v.token_to_id("zz") == UNK_ID
    assert v.id_to_token(6) == "b"


def test_decode_stops_at_eos_and_strips_specials():
    v = Vocab.build(SEQS)
    ids = [BOS_ID, 4, UNK_ID, 5, EOS_ID, 6, PAD_ID]
    assert v.decode(ids) == ["a", "<unk>", "c"]
    assert v.decode(ids, strip_special=False) == [
        "<s>", "a", "<unk>", "c", "</s>", "b", "<pad>",
    ]  # fmt: skip
    assert v.decode(np.array([[4, 5, 0, 0]])[0]) == ["a", "c"]  # numpy ints welcome
    assert v.decode(v.encode(["d", "a", "b"], add_bos=True, add_eos=True)) == ["d", "a", "b"]


def test_to_dict_round_trips_through_json():
    v = Vocab.build([["é", " ", "x"], ["x"]])
    d = json.loads(json.dumps(v.to_dict()))
    assert Vocab.from_dict(d) == v
    assert Vocab.from_dict(d).tokens == v.tokens


@pytest.mark.parametrize(
    "bad, match",
    [
        ([1, 2], "must be a dict, got list"),
        ({"format": "other", "version": 1, "tokens": list(SPECIALS)}, "format 'minis2s.vocab'"),
        ({"format": "minis2s.vocab", "version": 9, "tokens": list(SPECIALS)}, "version 9"),
        ({"format": "minis2s.vocab", "version": 1, "tokens": "abc"}, "list 'tokens', got str"),
        ({"format": "minis2s.vocab", "version": 1, "tokens": ["a", *SPECIALS]}, "start with"),
        (
            {"format": "minis2s.vocab", "version": 1, "tokens": [*SPECIALS, "a", "a"]},
            "'a' appears twice",
        ),
        ({"format": "minis2s.vocab", "version": 1, "tokens": [*SPECIALS, 7]}, "non-empty str"),
    ],
)
def test_from_dict_rejects_malformed(bad, match):
    with pytest.raises(ValueError, match=match):
        Vocab.from_dict(bad)


def test_errors_name_what_came():
    v = Vocab.build(SEQS)
    with pytest.raises(TypeError, match="list of tokens, got the str 'abc'"):
        v.encode("abc")
    with pytest.raises(TypeError, match="tokens must be str, got int"):
        v.encode(["a", 5])
    with pytest.raises(ValueError, match=r"id 8 is outside the vocabulary range \[0, 8\)"):
        v.decode([4, 8])
    with pytest.raises(ValueError, match="id -1 is outside"):
        v.decode([-1])
    with pytest.raises(TypeError, match="id must be an integer, got float"):
        v.decode([1.0])
    with pytest.raises(TypeError, match="sequence 1 is a str"):
        Vocab.build([["a"], "bc"])
    with pytest.raises(TypeError, match="sequence 0 holds a int"):
        Vocab.build([[1]])
    with pytest.raises(ValueError, match="min_count must be a positive int, got 0"):
        Vocab.build(SEQS, min_count=0)


def test_encode_pairs():
    pairs = [(["a", "b"], ["x"]), (["q"], ["y", "x"])]
    sv = Vocab.build(p[0] for p in pairs[:1])
    tv = Vocab.build(p[1] for p in pairs)
    unknown: list[str] = []
    src, tgt = encode_pairs(pairs, sv, tv, unknown=unknown)
    assert src == [[4, 5], [UNK_ID]]
    assert tgt == [[4], [5, 4]]
    assert unknown == ["q"]


# ------------------------------------------------------------------ Tokenizer
def test_tokenizer_cuts_and_joins():
    tok = Tokenizer("char", "word", lowercase=True)
    assert tok("  Ab\u00a0 c ") == ["a", "b", " ", "c"]  # whitespace runs -> one space
    assert tok.encode_target("HH  AH L") == ["HH", "AH", "L"]
    assert tok.join_target(["HH", "AH"]) == "HH AH"
    assert tok.join_source(["a", " ", "b"]) == "a b"
    assert Tokenizer().encode_source("Ab") == ["A", "b"]  # no lower-casing by default


def test_tokenizer_saves_and_rejects_bad_input():
    tok = Tokenizer("word", "char", lowercase=True)
    assert Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict()))) == tok
    with pytest.raises(ValueError, match="source kind must be one of"):
        Tokenizer("bpe", "char")
    with pytest.raises(ValueError, match="a saved tokenizer must be a dict"):
        Tokenizer.from_dict({"source": "char"})
    with pytest.raises(ValueError, match="malformed saved tokenizer"):
        Tokenizer.from_dict({"source": "char", "target": "x", "lowercase": False})
    with pytest.raises(TypeError, match="expected source text as str, got list"):
        tok(["a"])
