"""One-hot encoding and the learned embedding: golden values, repeated ids, validation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.ops import embedding_backward, embedding_forward, onehot


def test_onehot_golden(xp):
    ids = np.array([[0, 2], [3, 2]])
    out = onehot(ids, 4, dtype=np.float64)
    expected = np.array([
        [[1, 0, 0, 0], [0, 0, 1, 0]],
        [[0, 0, 0, 1], [0, 0, 1, 0]],
    ], dtype=np.float64)
    assert isinstance(out, xp.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(host(out), expected)
    assert onehot(to_dev(ids, np.int32), 4).dtype == np.float32  # float32 by default, device ids


def test_onehot_validates_ids_and_vocab_size(xp):
    with pytest.raises(ValueError, match=r"onehot ids: expected token ids in \[0, 4\).*got 4"):
        onehot(np.array([[1, 4]]), 4)
    with pytest.raises(TypeError, match="onehot ids: expected an integer dtype.*float64"):
        onehot(np.array([[1.0]]), 4)
    with pytest.raises(ValueError, match="onehot vocab_size: expected a positive integer, got 0"):
        onehot(np.array([[0]]), 0)


def test_embedding_forward_golden_and_equals_onehot_product(xp):
    W = np.linspace(-1.0, 1.0, 12).reshape(4, 3)           # (V, D) = (4, 3)
    ids = np.array([[3, 0, 1], [1, 1, 2]])                 # (T, N) = (2, 3)
    out, _ = embedding_forward(ids, to_dev(W))
    expected = np.empty((2, 3, 3))
    for t in range(2):
        for n in range(3):
            expected[t, n] = W[ids[t, n]]                   # row ids[t, n] of W
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(host(out), expected)
    via_onehot = host(onehot(ids, 4, np.float64)) @ W        # onehot(y) W picks the row
    np.testing.assert_allclose(host(out), via_onehot, rtol=0, atol=1e-15)


def test_embedding_backward_accumulates_repeated_ids(xp):
    V, D = 5, 2
    ids = np.array([[1, 1], [1, 3]])                        # token 1 three times, token 3 once
    dout = np.arange(1.0, 9.0).reshape(2, 2, D)             # rows (1,2) (3,4) (5,6) (7,8)
    dout_dev = to_dev(dout)
    _, cache = embedding_forward(ids, to_dev(np.zeros((V, D))))
    dW = embedding_backward(dout_dev, cache)
    expected = np.zeros((V, D))
    expected[1] = [1 + 3 + 5, 2 + 4 + 6]                   # all three contributions, summed
    expected[3] = [7, 8]
    np.testing.assert_array_equal(host(dW), expected)
    np.testing.assert_array_equal(host(dout_dev), dout)     # the incoming gradient is untouched


def test_embedding_one_step_ids(xp):
    W = to_dev(np.arange(6.0).reshape(3, 2))
    out, cache = embedding_forward(np.array([2, 0]), W)     # (N,) ids of one decoding step
    np.testing.assert_array_equal(host(out), [[4.0, 5.0], [0.0, 1.0]])
    dW = embedding_backward(to_dev(np.ones((2, 2))), cache)
    np.testing.assert_array_equal(host(dW), [[1, 1], [0, 0], [1, 1]])


def test_embedding_validation(xp):
    W = to_dev(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"embedding ids: expected token ids in \[0, 4\).*got -1"):
        embedding_forward(np.array([[0, -1]]), W)
    with pytest.raises(ValueError, match=r"got 7 at index \(1, 0\)"):
        embedding_forward(np.array([[0, 1], [7, 2]]), W)
    with pytest.raises(TypeError, match="embedding ids: expected an integer dtype"):
        embedding_forward(np.array([[0.0]]), W)
    with pytest.raises(TypeError, match=r"embedding W \(V, D\): expected a floating-point"):
        embedding_forward(np.array([[0]]), to_dev(np.zeros((4, 3)), np.int64))
    with pytest.raises(ValueError, match=r"expected shape \(T, N\) or \(N,\), got \(1, 1, 1\)"):
        embedding_forward(np.zeros((1, 1, 1), dtype=np.int64), W)
    _, cache = embedding_forward(np.array([[0, 1]]), W)
    with pytest.raises(ValueError, match=r"embedding dout: expected shape \(1, 2, 3\)"):
        embedding_backward(to_dev(np.zeros((1, 2, 4))), cache)
