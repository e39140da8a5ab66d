"""The activations f and g: golden values from the math module, stability, the registry."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.ops import ACTIVATIONS, activation_backward, activation_forward, get_activation
from minis2s.ops.activations import tanh_via_exp

A = np.linspace(-3.0, 3.0, 7)                      # -3, -2, ..., 3 (0 included)
GOLDEN = {
    "tanh": (math.tanh, lambda a: 1.0 - math.tanh(a) ** 2),
    "sigmoid": (lambda a: 1.0 / (1.0 + math.exp(-a)),
                lambda a: math.exp(-a) / (1.0 + math.exp(-a)) ** 2),
    "relu": (lambda a: max(a, 0.0), lambda a: 1.0 if a > 0 else 0.0),
    "identity": (lambda a: a, lambda a: 1.0),
}


def test_registry_holds_the_four_activations():
    assert set(ACTIVATIONS) == {"tanh", "sigmoid", "relu", "identity"}
    assert get_activation("tanh").name == "tanh"


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_forward_and_backward_golden(name, xp):
    f, df = GOLDEN[name]
    dy = np.linspace(0.5, 2.0, 7)
    dy_dev = to_dev(dy)
    y, cache = activation_forward(name, to_dev(A))
    da = activation_backward(dy_dev, cache)
    np.testing.assert_allclose(host(y), [f(a) for a in A], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(host(da), [g * df(a) for g, a in zip(dy, A)], rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_array_equal(host(dy_dev), dy)      # dy untouched


def test_identity_returns_a_new_array(xp):
    a = to_dev(A)
    y, _ = activation_forward("identity", a)
    y[0] = 100.0
    assert host(a)[0] == -3.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_huge_inputs(dtype, xp):
    a = to_dev(np.array([-1e4, -800.0, -20.0, 0.0, 100.0, 800.0, 1e4]), dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise"):
        warnings.simplefilter("error")
        y, cache = activation_forward("sigmoid", a)
        da = activation_backward(to_dev(np.ones(7), dtype), cache)
    y = host(y)
    assert y.dtype == dtype and np.all(np.isfinite(y)) and np.all(np.isfinite(host(da)))
    assert y[0] == 0.0 and y[-1] == 1.0 and y[3] == 0.5
    np.testing.assert_allclose(y[2], math.exp(-20.0) / (1 + math.exp(-20.0)), rtol=1e-6)


def test_unknown_activation_lists_the_known_ones(xp):
    with pytest.raises(ValueError, match="unknown activation 'gelu': expected one of "
                                         "tanh, sigmoid, relu, identity"):
        activation_forward("gelu", to_dev(A))
    with pytest.raises(TypeError, match="activation: expected a name"):
        get_activation(None)


def test_activation_validation(xp):
    with pytest.raises(TypeError, match="activation input a: expected a floating-point array"):
        activation_forward("tanh", to_dev(np.arange(3), np.int64))
    _, cache = activation_forward("tanh", to_dev(A))
    with pytest.raises(ValueError, match=r"activation dy: expected shape \(7,\), got \(6,\)"):
        activation_backward(to_dev(np.ones(6)), cache)


# --- tanh_via_exp and the LSTM's one-exp gates: the fast paths' nonlinearities ---------


@pytest.mark.parametrize("dtype, ulps", [(np.float64, 4), (np.float32, 4)])
def test_tanh_via_exp_is_tanh_to_a_few_units_of_one(dtype, ulps, xp):
    """Golden values from ``math.tanh``; the error is absolute (rounding of ``2s - 1``)."""
    a = np.concatenate([A, np.linspace(-20.0, 20.0, 401), [1e-9, -1e-7, 0.0]])
    y = host(tanh_via_exp(to_dev(a, dtype)))
    want = np.array([math.tanh(v) for v in a])
    assert y.dtype == dtype
    np.testing.assert_allclose(y, want, rtol=0, atol=ulps * np.finfo(dtype).eps)
    assert host(tanh_via_exp(to_dev(np.zeros(3), dtype)))[0] == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_via_exp_saturates_without_nan_or_warning(dtype, xp):
    a = to_dev(np.array([-1e4, -800.0, -60.0, 60.0, 800.0, 1e4]), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = host(tanh_via_exp(a))
    np.testing.assert_array_equal(y, [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])


def test_tanh_via_exp_in_place_and_into_out(xp):
    a = to_dev(A)
    out = to_dev(np.zeros(7))
    assert tanh_via_exp(a, out=out) is out
    assert tanh_via_exp(a, out=a) is a
    np.testing.assert_allclose(host(a), host(out), rtol=0, atol=0)
    with pytest.raises(ValueError, match="out"):
        tanh_via_exp(a, out=to_dev(np.zeros(6)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_gates_are_three_sigmoids_and_a_tanh(dtype, xp):
    """``gates_forward_into`` against the math module, block by block, at values that
    reach both saturations (where its ``exp`` overflows: no NaN)."""
    from minis2s.cells.lstm import gates_forward_into

    rng = np.random.default_rng(0)
    raw = rng.uniform(-6.0, 6.0, (4, 3, 5))
    raw[:, 0, 0], raw[:, 0, 1] = -1000.0, 1000.0     # exp overflows in both dtypes
    a = to_dev(raw.copy(), dtype)       # (on NumPy, float64: not the same array as raw)
    with np.errstate(over="ignore"):    # as its callers' loops hold it
        gates_forward_into(a)
    got = host(a)
    sig = np.vectorize(lambda v: 0.5 * (1.0 + math.tanh(0.5 * v)))
    want = np.stack([sig(raw[0]), sig(raw[1]), np.tanh(raw[2]), sig(raw[3])])
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * np.finfo(dtype).eps)
    assert got[2, 0, 0] == -1.0 and got[2, 0, 1] == 1.0 and got[0, 0, 0] == 0.0
