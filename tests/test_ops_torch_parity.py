"""The ops against PyTorch autograd in float64 (skipped where PyTorch is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s import backend
from minis2s.ops import (
    activation_backward,
    activation_forward,
    embedding_backward,
    embedding_forward,
    linear_backward,
    linear_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _t(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.9])
def test_softmax_ce_matches_cross_entropy_with_ignore_index(xp, rng, smoothing):
    T, N, V = 5, 3, 7
    logits = rng.standard_normal((T, N, V)) * 2
    targets = rng.integers(0, V, size=(T, N))
    mask = np.ones((T, N), dtype=bool)
    mask[3:, 0] = mask[1:, 2] = False
    loss, cache = softmax_cross_entropy_forward(to_dev(logits), targets, mask, smoothing)
    dlogits = softmax_cross_entropy_backward(1.0, cache)

    z = _t(logits)
    ignored = torch.tensor(np.where(mask, targets, -100))
    ref = torch.nn.functional.cross_entropy(z.reshape(-1, V), ignored.reshape(-1),
                                            ignore_index=-100, reduction="mean",
                                            label_smoothing=smoothing)
    ref.backward()
    np.testing.assert_allclose(backend.to_float(loss), ref.item(), rtol=1e-13)
    np.testing.assert_allclose(host(dlogits), z.grad.numpy(), rtol=1e-11, atol=1e-15)


def test_embedding_matches_nn_embedding(xp, rng):
    W = rng.standard_normal((6, 3))
    ids = np.array([[1, 5, 1], [0, 1, 5]])
    dout = rng.standard_normal((2, 3, 3))
    out, cache = embedding_forward(ids, to_dev(W))
    dW = embedding_backward(to_dev(dout), cache)
    Wt = _t(W)
    ref = torch.nn.functional.embedding(torch.tensor(ids), Wt)
    ref.backward(torch.tensor(dout))
    np.testing.assert_array_equal(host(out), ref.detach().numpy())
    np.testing.assert_allclose(host(dW), Wt.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_linear_matches_functional_linear(xp, rng):
    x, W, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((5, 3)), rng.standard_normal(5)
    dy = rng.standard_normal((4, 2, 5))
    y, cache = linear_forward(to_dev(x), to_dev(W), to_dev(b))
    dx, dW, db = linear_backward(to_dev(dy), cache)
    xt, Wt, bt = _t(x), _t(W), _t(b)
    ref = torch.nn.functional.linear(xt, Wt, bt)
    ref.backward(torch.tensor(dy))
    np.testing.assert_allclose(host(y), ref.detach().numpy(), rtol=1e-13, atol=1e-14)
    for ours, theirs in ((dx, xt), (dW, Wt), (db, bt)):
        np.testing.assert_allclose(host(ours), theirs.grad.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "identity"])
def test_activations_match_torch(name, xp, rng):
    a = rng.standard_normal(20) * 4
    dy = rng.standard_normal(20)
    y, cache = activation_forward(name, to_dev(a))
    da = activation_backward(to_dev(dy), cache)
    at = _t(a)
    fn = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
          "identity": lambda v: v * 1.0}[name]
    ref = fn(at)
    ref.backward(torch.tensor(dy))
    np.testing.assert_allclose(host(y), ref.detach().numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(host(da), at.grad.numpy(), rtol=1e-12, atol=1e-15)
