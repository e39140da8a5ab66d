"""Gradient checks of the LSTM cell (float64, central differences, tolerance 1e-7).

Every parameter and every input is checked, including the initial states ``h0`` and
``c0``: ``lstm.step`` (one step), ``lstm.seq`` (a sequence, loss on every output and
on both final states), ``lstm.seq_masked`` (the same with a 0/1 mask that holds rows
at the start, in the middle and at the end), ``lstm.seq_final`` (loss on the final
states only: the ``dhs=None`` path of an encoder).
"""

from __future__ import annotations

import numpy as np

from minis2s import backend
from minis2s.cells import lstm
from minis2s.checks import GradCase

T, N, D, H = 3, 2, 3, 2
# Row 0 is real throughout; row 1 is held at t = 1 (a hole), row 2 at t = 0 and 3.
MASK = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [1, 1, 0]], dtype=np.float64)


def _arrays(rng: np.random.Generator, shape_x: tuple[int, ...], n: int) -> dict:
    params = lstm.init_params(rng, D, H, dtype=np.float64)
    host = {"x": rng.standard_normal(shape_x),
            "h0": rng.standard_normal((n, H)), "c0": rng.standard_normal((n, H)), **params}
    return {k: backend.to_device(v, dtype=np.float64) for k, v in host.items()}


def _params(a: dict) -> dict:
    return {k: a[k] for k in lstm.PARAM_NAMES}


def _build_step(rng):
    def forward(a):
        (h, c), cache = lstm.step_forward(a["x"], (a["h0"], a["c0"]), _params(a))
        return (h, c), cache

    def backward(dout, cache):
        dx, (dh0, dc0), grads = lstm.step_backward(dout, cache)
        return {"x": dx, "h0": dh0, "c0": dc0, **grads}

    return forward, backward, _arrays(rng, (N, D), N)


def _seq_case(mask: np.ndarray | None, final_only: bool):
    def build(rng):
        t, n = (T, N) if mask is None else mask.shape
        m = None if mask is None else backend.to_device(mask)

        def forward(a):
            hs, (hT, cT), cache = lstm.sequence_forward(
                a["x"], (a["h0"], a["c0"]), _params(a), mask=m)
            return ((hT, cT) if final_only else (hs, hT, cT)), cache

        def backward(dout, cache):
            dhs, dstate = (None, dout) if final_only else (dout[0], dout[1:])
            dx, (dh0, dc0), grads = lstm.sequence_backward(dhs, dstate, cache)
            return {"x": dx, "h0": dh0, "c0": dc0, **grads}

        return forward, backward, _arrays(rng, (t, n, D), n)

    return build


CASES = [
    GradCase("lstm.step", _build_step),
    GradCase("lstm.seq", _seq_case(None, final_only=False)),
    GradCase("lstm.seq_masked", _seq_case(MASK, final_only=False)),
    GradCase("lstm.seq_final", _seq_case(None, final_only=True)),
]
