"""Gradient checks of attention: keys (hoisted) + one step, for each scorer, with padding."""

from __future__ import annotations

import numpy as np

from minis2s import backend
from minis2s.checks import GradCase
from minis2s.ops.attention import (
    SCORERS,
    attention_backward,
    attention_forward,
    attention_keys_backward,
    attention_keys_forward,
    attention_param_shapes,
)


def _build(scorer: str):
    def build(rng: np.random.Generator):
        ts, n, hq, hv = 4, 3, 5, 5 if scorer == "dot" else 6
        shapes = attention_param_shapes(scorer, hq, hv, inner_size=4)
        arrays = {name: backend.to_device(rng.standard_normal(shape) * 0.5)
                  for name, shape in shapes.items()}
        arrays["query"] = backend.to_device(rng.standard_normal((n, hq)))
        arrays["values"] = backend.to_device(rng.standard_normal((ts, n, hv)))
        mask = np.ones((ts, n))
        mask[3:, 0] = 0.0   # row 0 has 3 real positions, row 2 has 2
        mask[2:, 2] = 0.0
        mask = backend.to_device(mask)

        def params(a):
            return {k: a[k] for k in shapes}

        def forward(a):
            keys, kcache = attention_keys_forward(a["values"], params(a), scorer)
            (context, weights), acache = attention_forward(
                a["query"], keys, a["values"], mask, params(a), scorer)
            return (context, weights), (kcache, acache)

        def backward(dout, cache):
            kcache, acache = cache
            dquery, dkeys, dvalues, grads = attention_backward(dout, acache)
            dvalues_k, grads_k = attention_keys_backward(dkeys, kcache)
            return {"query": dquery, "values": dvalues + dvalues_k, **grads, **grads_k}

        return forward, backward, arrays

    return build


CASES = [GradCase(f"attention.{scorer}", _build(scorer)) for scorer in SCORERS]
