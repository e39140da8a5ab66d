"""Attention: weights sum to one over real positions, are exactly zero on padding, and each
scorer's forward matches a plain per-position loop written from its equation."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend
from minis2s.ops.attention import (
    attention_backward,
    attention_forward,
    attention_keys_backward,
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
    with pytest.raises(ValueError, match="attention scorer: expected one of additive, dot, "
                                         "general, got 'cosine'"):
        attention_param_shapes("cosine", 4, 4)
    with pytest.raises(ValueError, match="dot attention needs.*\\(4\\).*\\(8\\)"):
        attention_param_shapes("dot", 4, 8)
    with pytest.raises(ValueError, match=r"inner_size \(A\): expected a positive integer, got 0"):
        attention_param_shapes("additive", 4, 4, inner_size=0)


# ---------------------------------------------------------------------------------------
# Bad input is refused, clearly (issue 15, item 4): each of these was accepted, or ended
# in a raw NumPy / KeyError, before the attention pieces validated their input.
# ---------------------------------------------------------------------------------------


def _step_inputs(scorer, ts=3, n=3, hq=4, hv=4, dtype=np.float64):
    rng = np.random.default_rng(0)
    shapes = attention_param_shapes(scorer, hq, hv, inner_size=2)
    params = {k: backend.to_device(rng.standard_normal(s), dtype=dtype) for k, s in shapes.items()}
    values = backend.to_device(rng.standard_normal((ts, n, hv)), dtype=dtype)
    query = backend.to_device(rng.standard_normal((n, hq)), dtype=dtype)
    mask = backend.to_device(np.ones((ts, n)))
    keys, _ = attention_keys_forward(values, params, scorer)
    return query, keys, values, mask, params


@pytest.mark.parametrize("scorer", ["additive", "dot", "general"])
def test_a_query_of_another_batch_size_is_refused(scorer, xp):
    query, keys, values, mask, params = _step_inputs(scorer)
    with pytest.raises(ValueError, match=r"attention_forward query: expected shape \(N, Hq\) = "
                                         r"\(3, \*\), got \(1, 4\)"):
        attention_forward(query[:1], keys, values, mask, params, scorer)


def test_an_all_padding_column_is_refused_not_nan(xp):
    query, keys, values, mask, params = _step_inputs("additive")
    empty = backend.to_device(np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=float))
    with pytest.raises(ValueError, match=r"attention_forward mask: expected at least one real "
                                         r"\(1\) source position in every column, got none in "
                                         r"column\(s\) \[1\]"):
        attention_forward(query, keys, values, empty, params, "additive")
    with pytest.raises(ValueError, match=r"masked_softmax mask: .*column\(s\) \[0, 1\]"):
        masked_softmax(backend.to_device(np.zeros((2, 2))), backend.to_device(np.zeros((2, 2))))


@pytest.mark.parametrize("name", ["cos", "Dot", None])
def test_an_unknown_scorer_is_refused_not_taken_as_dot(name, xp):
    query, keys, values, mask, params = _step_inputs("dot")
    error = TypeError if name is None else ValueError
    with pytest.raises(error, match="attention scorer: expected .*additive, dot, general"):
        attention_forward(query, keys, values, mask, params, name)
    with pytest.raises(error, match="attention scorer: expected .*additive, dot, general"):
        attention_keys_forward(values, params, name)


@pytest.mark.parametrize("scorer", ["additive", "dot", "general"])
def test_mixed_precision_is_refused_not_promoted(scorer, xp):
    query, keys, values, mask, params = _step_inputs(scorer)
    with pytest.raises(TypeError, match="attention_forward query: expected dtype float64 "
                                        r"\(that of the values\), got float16"):
        attention_forward(query.astype(np.float16), keys, values, mask, params, scorer)
    # one precision throughout is fine, float16 included, and stays float16
    q16, k16, v16, _, p16 = _step_inputs(scorer, dtype=np.float16)
    (context, weights), _ = attention_forward(q16, k16, v16, mask, p16, scorer)
    assert context.dtype == weights.dtype == np.float16
    if params:
        p_mixed = {k: v.astype(np.float32) for k, v in params.items()}
        with pytest.raises(TypeError, match=r"expected dtype float64 \(that of the values\), "
                                            r"got float32"):
            attention_keys_forward(values, p_mixed, scorer)


@pytest.mark.parametrize("bad, error, match", [
    (np.full((3, 3), 2.0), ValueError, "mask: expected only 0 and 1, got the value 2.0"),
    (np.ones((3, 1)), ValueError, r"mask: expected shape \(Ts, N\) = \(3, 3\), got \(3, 1\)"),
    (np.ones((3, 3, 1)), ValueError, r"mask: expected shape \(Ts, N\) = \(3, 3\), got "
                                     r"\(3, 3, 1\)"),
    (np.ones(3), ValueError, r"mask: expected shape \(Ts, N\) = \(3, 3\), got \(3,\)"),
    (np.array([["1"] * 3] * 3), TypeError, "mask: expected a bool or 0/1 numeric array"),
    ([[1, 1, 1]] * 3, TypeError, "mask: expected a 0/1 or bool array, got list"),
])
def test_bad_masks_are_refused(bad, error, match, xp):
    query, keys, values, mask, params = _step_inputs("general")
    with pytest.raises(error, match=match):
        attention_forward(query, keys, values, bad, params, "general")


def test_wrong_sizes_and_missing_or_misshapen_weights_are_named(xp):
    query, keys, values, mask, params = _step_inputs("general", hq=4, hv=5)
    with pytest.raises(ValueError, match=r"attention_forward W_a: expected shape \(Hq, Hv\) = "
                                         r"\(3, 5\), got \(4, 5\)"):
        attention_forward(query[:, :3], keys, values, mask, params, "general")
    with pytest.raises(ValueError, match=r"params \(general scorer\): expected keys W_a, "
                                         r"missing W_a \(got none\)"):
        attention_forward(query, keys, values, mask, {}, "general")
    with pytest.raises(ValueError, match=r"attention_keys_forward W_a: expected shape "
                                         r"\(Hq, Hv\) = \(4, 5\), got \(4, 4\)"):
        attention_keys_forward(values, {"W_a": params["W_a"][:, :4]}, "general")
    with pytest.raises(ValueError, match=r"expected keys W_a, got the unexpected W_q"):
        attention_keys_forward(values, dict(params, W_q=params["W_a"]), "general")
    with pytest.raises(TypeError, match="attention_keys_forward W_a: expected an array, got list"):
        attention_keys_forward(values, {"W_a": [[1.0]]}, "general")
    with pytest.raises(ValueError, match=r"attention_forward keys: expected shape \(Ts, N, K\) "
                                         r"= \(3, 3, 4\), got \(3, 3, 5\)"):
        attention_forward(query, values, values, mask, params, "general")
    q, k, v, m, p = _step_inputs("dot")
    with pytest.raises(ValueError, match="dot attention needs the query size Hq to equal the "
                                         "value size Hv = 4, got Hq = 3"):
        attention_forward(q[:, :3], k, v, m, p, "dot")


def test_backward_checks_its_gradients_and_cache(xp):
    query, keys, values, mask, params = _step_inputs("additive")
    keys, kcache = attention_keys_forward(values, params, "additive")
    _, cache = attention_forward(query, keys, values, mask, params, "additive")
    with pytest.raises(ValueError, match=r"attention_backward dcontext: expected shape \(3, 4\), "
                                         r"got \(3, 5\)"):
        attention_backward((backend.get_xp().zeros((3, 5)), None), cache)
    with pytest.raises(TypeError, match=r"attention_backward dout: expected a tuple \(dcontext, "
                                        r"dweights\)"):
        attention_backward(backend.get_xp().zeros((3, 4)), cache)
    with pytest.raises(TypeError, match="expected an AttentionCache .*got tuple"):
        attention_backward((backend.get_xp().zeros((3, 4)), None), tuple(cache))
    with pytest.raises(ValueError, match=r"attention_keys_backward dkeys: expected shape "
                                         r"\(3, 3, 2\), got \(3, 3, 4\)"):
        attention_keys_backward(values, kcache)
    with pytest.raises(TypeError, match="expected a KeysCache"):
        attention_keys_backward(keys, cache)
