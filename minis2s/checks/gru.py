"""Gradient checks of the GRU cell (float64, central differences, tolerance 1e-7).

Every parameter and every input is checked, including the initial state ``h0``:
``gru.step`` (one step), ``gru.seq`` (a sequence, loss on every output and on the
final state), ``gru.seq_masked`` (the same with a 0/1 mask that holds rows at the
start, in the middle and at the end), ``gru.seq_final`` (loss on the final state
only: the ``dhs=None`` path of an encoder).
"""

from __future__ import annotations

import numpy as np

from minis2s import backend
from minis2s.cells import gru
from minis2s.checks import GradCase

T, N, D, H = 3, 2, 3, 2
# Row 0 is real throughout; row 1 is held at t = 1 (a hole), row 2 at t = 0 and 3.
MASK = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [1, 1, 0]], dtype=np.float64)


def _arrays(rng: np.random.Generator, shape_x: tuple[int, ...], n: int) -> dict:
    params = gru.init_params(rng, D, H, dtype=np.float64)
    host = {"x": rng.standard_normal(shape_x), "h0": rng.standard_normal((n, H)), **params}
    return {k: backend.to_device(v, dtype=np.float64) for k, v in host.items()}


def _params(a: dict) -> dict:
    return {k: a[k] for k in gru.PARAM_NAMES}


def _build_step(rng):
    def forward(a):
        (h,), cache = gru.step_forward(a["x"], (a["h0"],), _params(a))
        return h, cache

    def backward(dout, cache):
        dx, (dh0,), grads = gru.step_backward((dout,), cache)
        return {"x": dx, "h0": dh0, **grads}

    return forward, backward, _arrays(rng, (N, D), N)


def _seq_case(mask: np.ndarray | None, final_only: bool):
    def build(rng):
        t, n = (T, N) if mask is None else mask.shape
        m = None if mask is None else backend.to_device(mask)

        def forward(a):
            hs, (hT,), cache = gru.sequence_forward(a["x"], (a["h0"],), _params(a), mask=m)
            return (hT if final_only else (hs, hT)), cache

        def backward(dout, cache):
            dhs, dstate = (None, (dout,)) if final_only else (dout[0], dout[1:])
            dx, (dh0,), grads = gru.sequence_backward(dhs, dstate, cache)
            return {"x": dx, "h0": dh0, **grads}

        return forward, backward, _arrays(rng, (t, n, D), n)

    return build


CASES = [
    GradCase("gru.step", _build_step),
    GradCase("gru.seq", _seq_case(None, final_only=False)),
    GradCase("gru.seq_masked", _seq_case(MASK, final_only=False)),
    GradCase("gru.seq_final", _seq_case(None, final_only=True)),
]
