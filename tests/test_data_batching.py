"""Batching: padding, shifted targets, masks, bucketing, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend
from minis2s.data import BOS_ID, EOS_ID, PAD_ID, make_batches, pad_sequences, padding_fraction
from minis2s.data.batching import BUCKET_CHUNK_BATCHES


def random_data(rng, n=300, lo=1, hi=30, vocab=20):
    src = [list(rng.integers(4, vocab, size=rng.integers(lo, hi + 1))) for _ in range(n)]
    tgt = [list(rng.integers(4, vocab, size=rng.integers(lo, hi + 1))) for _ in range(n)]
    return [[int(t) for t in s] for s in src], [[int(t) for t in s] for s in tgt]


def test_pad_sequences_golden():
    out, lengths = pad_sequences([[5, 6, 7], [8]], pad_id=0)
    np.testing.assert_array_equal(out, [[5, 8], [6, 0], [7, 0]])
    np.testing.assert_array_equal(lengths, [3, 1])
    assert out.dtype == np.int64 and lengths.dtype == np.int64
    out, _ = pad_sequences([[1], [2, 3]], pad_id=-1)
    np.testing.assert_array_equal(out, [[1, 2], [-1, 3]])


def test_make_batches_golden():
    # two pairs, one batch, given order: every array written out by hand
    src = [[4, 5, 6], [7]]
    tgt = [[8], [9, 10]]
    (b,) = make_batches(src, tgt, batch_size=2, rng=None, bucket=False)
    np.testing.assert_array_equal(b.src, [[4, 7], [5, 0], [6, 0]])
    np.testing.assert_array_equal(b.tgt_in, [[BOS_ID, BOS_ID], [8, 9], [0, 10]])
    np.testing.assert_array_equal(b.tgt_out, [[8, 9], [EOS_ID, 10], [0, EOS_ID]])
    np.testing.assert_array_equal(b.src_mask, [[1, 1], [1, 0], [1, 0]])
    np.testing.assert_array_equal(b.tgt_mask, [[1, 1], [1, 1], [0, 1]])
    np.testing.assert_array_equal(b.src_lengths, [3, 1])
    np.testing.assert_array_equal(b.tgt_lengths, [2, 3])
    np.testing.assert_array_equal(b.indices, [0, 1])
    assert b.size == 2 and b.n_tgt_tokens == 5
    assert b.src_mask.dtype == bool and b.tgt_in.dtype == np.int64


@pytest.mark.parametrize("bucket", [True, False])
@pytest.mark.parametrize("shuffle", [True, False])
def test_batches_rebuild_every_pair_exactly_once(bucket, shuffle):
    rng = np.random.default_rng(0)
    src, tgt = random_data(rng, n=157)
    batches = make_batches(src, tgt, 16, rng=np.random.default_rng(1) if shuffle else None,
                           bucket=bucket)
    seen = np.concatenate([b.indices for b in batches])
    assert sorted(seen.tolist()) == list(range(157))
    assert all(b.size <= 16 for b in batches) and len(batches) == 10
    for b in batches:
        assert b.src.shape == (b.src_lengths.max(), b.size)
        assert b.tgt_in.shape == b.tgt_out.shape == (b.tgt_lengths.max(), b.size)
        np.testing.assert_array_equal(b.src_mask, b.src != PAD_ID)
        np.testing.assert_array_equal(b.tgt_mask, b.tgt_out != PAD_ID)
        np.testing.assert_array_equal(b.tgt_mask.sum(0), b.tgt_lengths)
        for col, i in enumerate(b.indices):
            n, m = len(src[i]), len(tgt[i])
            assert b.src[:n, col].tolist() == src[i] and (b.src[n:, col] == PAD_ID).all()
            assert b.tgt_in[: m + 1, col].tolist() == [BOS_ID, *tgt[i]]
            assert b.tgt_out[: m + 1, col].tolist() == [*tgt[i], EOS_ID]
            assert (b.tgt_in[m + 1 :, col] == PAD_ID).all()
    if not shuffle and not bucket:
        assert seen.tolist() == list(range(157))


def test_same_generator_same_batches_other_seed_other_order():
    src, tgt = random_data(np.random.default_rng(0))

    def order(seed):
        return np.concatenate([b.indices for b in make_batches(
            src, tgt, 8, rng=np.random.default_rng(seed))]).tolist()

    assert order(5) == order(5)
    assert order(5) != order(6)
    # a generator advances: two epochs from one generator differ
    g = np.random.default_rng(5)
    first = [b.indices.tolist() for b in make_batches(src, tgt, 8, rng=g)]
    second = [b.indices.tolist() for b in make_batches(src, tgt, 8, rng=g)]
    assert first != second


def test_bucketing_cuts_padding():
    rng = np.random.default_rng(0)
    src, tgt = random_data(rng, n=2000, lo=1, hi=40)
    plain = padding_fraction(make_batches(src, tgt, 32, rng=np.random.default_rng(1),
                                          bucket=False))
    bucketed = padding_fraction(make_batches(src, tgt, 32, rng=np.random.default_rng(1)))
    # uniform lengths 1..40 in batches of 32: about half the cells are padding without
    # bucketing; sorted within chunks of 50 batches, well under a tenth
    assert plain > 0.4
    assert bucketed < 0.1


def test_bucketing_sorts_inside_chunks_and_shuffles_batches():
    src, tgt = random_data(np.random.default_rng(0), n=4 * 10 * BUCKET_CHUNK_BATCHES // 2)
    # without rng: within each chunk of 50 batches, lengths never decrease
    batches = make_batches(src, tgt, 4, rng=None, bucket=True)
    lengths = np.concatenate([b.src_lengths for b in batches])
    chunk = 4 * BUCKET_CHUNK_BATCHES
    for start in range(0, len(lengths), chunk):
        assert (np.diff(lengths[start : start + chunk]) >= 0).all()
    # with rng: the batches come in a shuffled order, not short-to-long
    maxima = [b.src_lengths.max() for b in make_batches(src, tgt, 4,
                                                        rng=np.random.default_rng(0))]
    assert (np.diff(maxima) < 0).any()


def test_batches_move_to_every_backend(xp):
    (b,) = make_batches([[4, 5], [6]], [[7], [8, 9]], 2)
    src = backend.to_device(b.src)
    mask = backend.to_device(b.tgt_mask, dtype=np.float64)
    assert isinstance(src, xp.ndarray)
    np.testing.assert_array_equal(backend.to_host(src), b.src)
    assert backend.to_float(mask.sum()) == 5.0


@pytest.mark.parametrize(
    "src, tgt, kwargs, exc, match",
    [
        ([[4]], [[5], [6]], {}, ValueError, "1 sources and 2 targets"),
        ([], [], {}, ValueError, "at least one pair"),
        ([[4], []], [[5], [6]], {}, ValueError, "source sequence 1 is empty"),
        ([[4], [5]], [[5], []], {}, ValueError, "target sequence 1 is empty"),
        ([[4, 0]], [[5]], {}, ValueError, "source sequence 0 holds id 0: PAD_ID"),
        ([[4], [5]], [[5], [6, EOS_ID]], {}, ValueError, "target sequence 1 holds id 2: pass"),
        ([[4]], [[BOS_ID, 5]], {}, ValueError, "target sequence 0 holds id 1: pass"),
        ([[4], [5, -3]], [[5], [6]], {}, ValueError, "source sequence 1 holds the negative id -3"),
        ([[4], [5.5]], [[5], [6]], {}, TypeError, "source sequence 1 must be a flat list of ints"),
        (["ab"], [[5]], {}, TypeError, "source sequence 0 is a str"),
        ([[4]], [[5]], {"batch_size": 0}, ValueError, "batch_size must be a positive int"),
        ([[4]], [[5]], {"batch_size": 2.0}, ValueError, "batch_size must be a positive int"),
        ([[4]], [[5]], {"rng": 3}, TypeError, "numpy.random.Generator"),
    ],
)
def test_make_batches_errors(src, tgt, kwargs, exc, match):
    kwargs = {"batch_size": 2, **kwargs}
    with pytest.raises(exc, match=match):
        make_batches(src, tgt, **kwargs)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="sequence 2 is empty"):
        pad_sequences([[1], [2], []])
    with pytest.raises(ValueError, match="at least one"):
        pad_sequences([])
    with pytest.raises(TypeError, match="sequence 0 must be a flat list of ints"):
        pad_sequences([["a"]])
