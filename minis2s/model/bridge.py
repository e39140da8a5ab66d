r"""The bridge of a bidirectional encoder: its two directions' final states, concatenated per
layer, become the unidirectional decoder's initial state,

.. math::  s_0 = \tanh\big(W_b\, [\overrightarrow{h}_T ; \overleftarrow{h}_1] + b_b\big),

one :math:`(W_b, b_b)` per state component (``h``, and ``c`` for an LSTM), named
``bridge.<component>.W`` and ``bridge.<component>.b``.

Backward, the activation rule then the linear rule, with
:math:`u = [\overrightarrow{h}_T ; \overleftarrow{h}_1]`:

.. math::  \delta = \mathrm{d}s_0 \odot (1 - s_0^2), \quad
           \mathrm{d}W_b = \delta^\top u, \quad \mathrm{d}b_b = \textstyle\sum \delta, \quad
           \mathrm{d}u = \delta\, W_b .
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.ops.activations import ActivationCache, activation_backward, activation_forward
from minis2s.ops.linear import LinearCache, linear_backward, linear_forward


class BridgeCache(NamedTuple):
    """One state component's bridge."""

    linear: LinearCache
    activation: ActivationCache


def init_bridge(rng: np.random.Generator, names: tuple[str, ...], hidden: int,
                memory_size: int, dtype: Any) -> dict[str, np.ndarray]:
    """``W`` uniform in :math:`\\pm 1/\\sqrt{2H}` ``(H, 2H)``, ``b`` zero, per component."""
    bound = 1.0 / np.sqrt(memory_size)
    params = {}
    for s in names:
        params[f"bridge.{s}.W"] = rng.uniform(-bound, bound, (hidden, memory_size)).astype(dtype)
        params[f"bridge.{s}.b"] = np.zeros(hidden, dtype=dtype)
    return params


def bridge_forward(merged: tuple, params: dict[str, Any], names: tuple[str, ...]
                   ) -> tuple[tuple, tuple[BridgeCache, ...]]:
    """``merged``: per component, ``(L, N, 2H)`` -> ``s_0`` per component ``(L, N, H)``."""
    state0, caches = [], []
    for name, u in zip(names, merged):
        a, lin = linear_forward(u, params[f"bridge.{name}.W"], params[f"bridge.{name}.b"])
        s0, act = activation_forward("tanh", a)
        state0.append(s0)
        caches.append(BridgeCache(lin, act))
    return tuple(state0), tuple(caches)


def bridge_backward(dstate0: tuple, caches: tuple[BridgeCache, ...], names: tuple[str, ...]
                    ) -> tuple[list, dict[str, Any]]:
    """``ds_0`` per component (``None``: zero) -> ``(du per component (L, N, 2H), grads)``."""
    xp = backend.get_xp()
    dmerged, grads = [], {}
    for name, ds0, cache in zip(names, dstate0, caches):
        if ds0 is None:
            ds0 = xp.zeros_like(cache.activation.y)
        da = activation_backward(ds0, cache.activation)
        du, dW, db = linear_backward(da, cache.linear)
        grads[f"bridge.{name}.W"], grads[f"bridge.{name}.b"] = dW, db
        dmerged.append(du)
    return dmerged, grads
