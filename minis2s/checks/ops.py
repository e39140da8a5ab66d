"""Gradient checks of the stateless pieces in :mod:`minis2s.ops` (float64, tolerance 1e-7).

Shapes are tiny on purpose: a check costs two forward passes per checked number.
"""

from __future__ import annotations

import numpy as np

from minis2s import backend
from minis2s.checks import GradCase
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


def _dev(a):
    return backend.to_device(np.asarray(a, dtype=np.float64))


def _embedding(rng):
    # Token 2 appears three times and token 0 twice: the scatter-add must accumulate them.
    ids = np.array([[2, 0, 2], [4, 2, 0]])
    arrays = {"W": _dev(rng.standard_normal((5, 3)))}
    forward = lambda a: embedding_forward(ids, a["W"])
    backward = lambda dout, cache: {"W": embedding_backward(dout, cache)}
    return forward, backward, arrays


def _linear(rng, bias=True):
    arrays = {
        "x": _dev(rng.standard_normal((3, 2, 4))),       # (T, N, D): all leading dims at once
        "W": _dev(rng.standard_normal((5, 4))),
    }
    if bias:
        arrays["b"] = _dev(rng.standard_normal(5))

    def forward(a):
        return linear_forward(a["x"], a["W"], a.get("b"))

    def backward(dy, cache):
        dx, dW, db = linear_backward(dy, cache)
        grads = {"x": dx, "W": dW}
        if bias:
            grads["b"] = db
        return grads

    return forward, backward, arrays


def _activation(name):
    def build(rng):
        a = rng.standard_normal((3, 4)) * 2.0
        if name == "relu":
            # Away from the kink at 0: |a| >= 0.1, far beyond the finite-difference step 1e-5,
            # so that a +- h never changes sign and the derivative is well defined.
            a = np.sign(a) * (0.1 + np.abs(a))
        arrays = {"a": _dev(a)}
        forward = lambda arr: activation_forward(name, arr["a"])
        backward = lambda dy, cache: {"a": activation_backward(dy, cache)}
        return forward, backward, arrays

    return build


def _softmax_ce(rng, smoothing=0.0):
    T, N, V = 4, 3, 5
    targets = rng.integers(0, V, size=(T, N))
    mask = np.ones((T, N), dtype=bool)
    mask[3, :] = False          # a time step that is padding in every sequence
    mask[:, 2] = False          # a sequence that is padding from start to end
    mask[2, 1] = False          # a shorter sequence
    targets[~mask] = -1         # padded targets may hold anything: they are never read
    arrays = {"logits": _dev(rng.standard_normal((T, N, V)) * 3.0)}
    forward = lambda a: softmax_cross_entropy_forward(a["logits"], targets, mask, smoothing)
    backward = lambda dloss, cache: {"logits": softmax_cross_entropy_backward(dloss, cache)}
    return forward, backward, arrays


CASES = [
    GradCase("embedding", _embedding),
    GradCase("linear", _linear),
    GradCase("linear.nobias", lambda rng: _linear(rng, bias=False)),
    GradCase("act.tanh", _activation("tanh")),
    GradCase("act.sigmoid", _activation("sigmoid")),
    GradCase("act.relu", _activation("relu")),
    GradCase("act.identity", _activation("identity")),
    GradCase("softmax_ce", _softmax_ce),
    GradCase("softmax_ce.smoothed", lambda rng: _softmax_ce(rng, smoothing=0.1)),
]
