"""The activations f and g: golden values from the math module, stability, the registry."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.ops import ACTIVATIONS, activation_backward, activation_forward, get_activation

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
