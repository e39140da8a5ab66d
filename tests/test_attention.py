"""Attention: weights sum to one over real positions, are exactly zero on padding, and each
scorer's forward matches a plain per-position loop written from its equation."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend
from minis2s.ops.attention import (
    attention_forward,
    attention_keys_forward,
    attention_param_shapes,
    masked_softmax,
)


def _golden_inputs(scorer):
    ts, n, hq = 3, 2, 2
    hv = 2 if scorer == "dot" else 3
    query = np.linspace(-1.0, 1.0, n * hq).reshape(n, hq)
    values = np.linspace(-0.5, 1.5, ts * n * hv).reshape(ts, n, hv)
    mask = np.array([[1, 1], [1, 1], [1, 0]], dtype=float)  # row 1 has 2 real positions
    shapes = attention_param_shapes(scorer, hq, hv, inner_size=2)
    params = {k: np.linspace(-0.7, 0.9, int(np.prod(s))).reshape(s) for k, s in shapes.items()}
    return query, values, mask, params


def _naive(scorer, query, values, mask, params):
    ts, n, _ = values.shape
    context = np.zeros((n, values.shape[2]))
    weights = np.zeros((ts, n))
    for i in range(n):
        scores = []
        for j in range(ts):
            s, h = query[i], values[j, i]
            if scorer == "dot":
                scores.append(s @ h)
            elif scorer == "general":
                scores.append(s @ (params["W_a"] @ h))
            else:
                scores.append(params["v"] @ np.tanh(params["W_q"] @ s + params["W_k"] @ h))
        real = [j for j in range(ts) if mask[j, i]]
        z = sum(np.exp(scores[j]) for j in real)
        for j in real:
            weights[j, i] = np.exp(scores[j]) / z
            context[i] += weights[j, i] * values[j, i]
    return context, weights


@pytest.mark.parametrize("scorer", ["additive", "dot", "general"])
def test_scorer_golden_values(scorer, xp):
    query, values, mask, params = _golden_inputs(scorer)
    expected_context, expected_weights = _naive(scorer, query, values, mask, params)
    dev = {k: backend.to_device(v) for k, v in params.items()}
    keys, _ = attention_keys_forward(backend.to_device(values), dev, scorer)
    (context, weights), _ = attention_forward(
        backend.to_device(query), keys, backend.to_device(values), backend.to_device(mask),
        dev, scorer)
    np.testing.assert_allclose(backend.to_host(context), expected_context, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(backend.to_host(weights), expected_weights, rtol=1e-12, atol=1e-14)


def test_golden_additive_pinned_number():
    """One number pinned by hand, so the naive loop above cannot share a mistake with the code:
    with one real position the weight is exactly 1 and the context is that value."""
    values = backend.to_device(np.array([[[2.0, -1.0]], [[5.0, 7.0]]]))
    mask = backend.to_device(np.array([[1.0], [0.0]]))
    keys, _ = attention_keys_forward(values, {}, "dot")
    (context, weights), _ = attention_forward(
        backend.to_device(np.array([[0.3, 0.1]])), keys, values, mask, {}, "dot")
    np.testing.assert_array_equal(backend.to_host(weights), [[1.0], [0.0]])
    np.testing.assert_array_equal(backend.to_host(context), [[2.0, -1.0]])


def test_weights_sum_to_one_and_padding_is_exactly_zero(xp, rng):
    scores = backend.to_device(rng.standard_normal((6, 4)) * 30.0)
    mask_host = np.ones((6, 4))
    mask_host[2:, 1] = 0
    mask_host[5:, 3] = 0
    weights = backend.to_host(masked_softmax(scores, backend.to_device(mask_host)))
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-12)
    assert np.all(weights[mask_host == 0] == 0.0)
    assert np.all(weights[mask_host == 1] >= 0.0)


def test_large_scores_do_not_overflow(xp):
    scores = backend.to_device(np.array([[1e4, -1e4], [1e4 - 1.0, 3e4]]))
    weights = backend.to_host(masked_softmax(scores, backend.to_device(np.ones((2, 2)))))
    assert np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights[:, 0], [1 / (1 + np.exp(-1.0)), 1 - 1 / (1 + np.exp(-1.0))])


def test_bad_scorer_and_dot_size_mismatch():
    with pytest.raises(ValueError, match="unknown attention scorer 'cosine'"):
        attention_param_shapes("cosine", 4, 4)
    with pytest.raises(ValueError, match="dot attention needs.*\\(4\\).*\\(8\\)"):
        attention_param_shapes("dot", 4, 8)
