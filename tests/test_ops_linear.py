"""The affine map at every position: golden values against a loop, the one-product gradient."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.ops import linear_backward, linear_forward


def _golden_inputs():
    x = np.linspace(-1.0, 1.0, 2 * 3 * 4).reshape(2, 3, 4)   # (T, N, D)
    W = np.linspace(0.5, -0.5, 5 * 4).reshape(5, 4)          # (M, D)
    b = np.linspace(-0.2, 0.2, 5)                            # (M,)
    return x, W, b


def test_linear_forward_golden_against_a_loop(xp):
    x, W, b = _golden_inputs()
    y, _ = linear_forward(to_dev(x), to_dev(W), to_dev(b))
    expected = np.zeros((2, 3, 5))
    for t in range(2):
        for n in range(3):
            for m in range(5):
                expected[t, n, m] = b[m] + sum(W[m, d] * x[t, n, d] for d in range(4))
    assert y.shape == (2, 3, 5)
    np.testing.assert_allclose(host(y), expected, rtol=1e-13, atol=1e-15)
    y2, _ = linear_forward(to_dev(x[0]), to_dev(W))           # (N, D), no bias
    np.testing.assert_allclose(host(y2), expected[0] - b, rtol=1e-13, atol=1e-15)


def test_linear_backward_golden_against_sums_over_positions(xp):
    x, W, b = _golden_inputs()
    dy = np.linspace(1.0, -1.0, 2 * 3 * 5).reshape(2, 3, 5)
    dy_dev = to_dev(dy)
    _, cache = linear_forward(to_dev(x), to_dev(W), to_dev(b))
    dx, dW, db = linear_backward(dy_dev, cache)
    dW_loop = sum(np.outer(dy[t, n], x[t, n]) for t in range(2) for n in range(3))
    np.testing.assert_allclose(host(dW), dW_loop, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(host(db), dy.sum(axis=(0, 1)), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(host(dx), dy @ W, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(host(dy_dev), dy)            # dy untouched
    _, cache_nb = linear_forward(to_dev(x), to_dev(W))
    assert linear_backward(dy_dev, cache_nb)[2] is None


def test_linear_validation(xp):
    x, W, b = (to_dev(a) for a in _golden_inputs())
    with pytest.raises(ValueError, match=r"last axis of length D = 4.*got x of shape \(2, 3, 5\)"):
        linear_forward(to_dev(np.zeros((2, 3, 5))), W, b)
    with pytest.raises(ValueError, match=r"linear b: expected shape \(M,\) = \(5,\), got \(4,\)"):
        linear_forward(x, W, to_dev(np.zeros(4)))
    with pytest.raises(TypeError, match="linear x .*floating-point array, got dtype int"):
        linear_forward(to_dev(np.zeros((2, 4)), np.int64), W, b)
    with pytest.raises(TypeError, match="linear: expected all arrays to share one dtype"):
        linear_forward(to_dev(np.zeros((2, 4)), np.float32), W, b)
    _, cache = linear_forward(x, W, b)
    with pytest.raises(ValueError, match=r"linear dy: expected shape \(2, 3, 5\)"):
        linear_backward(to_dev(np.zeros((2, 3, 4))), cache)
