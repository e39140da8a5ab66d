"""Gradient checks of the article's recurrences (:mod:`minis2s.cells.rnn`, its decoder in
:mod:`minis2s.cells.rnn_decoder`), float64, tol 1e-7.

Sequence checks project both ``hs`` and the final state, so the extra
final-state gradient (``dh_last`` / ``dstate_T``) is checked too, and every
case checks the gradient with respect to the initial state.
"""

from __future__ import annotations

import numpy as np

from minis2s import backend
from minis2s.cells import rnn
from minis2s.checks import GradCase

T, N, D, H = 4, 3, 3, 4          # encoder: steps, batch, input size, state size
DH, S, E = 4, 3, 2               # decoder: h size, state size, token-vector size

# Right padding of three lengths: 4, 2, 3 (row 1 stops after two steps).
MASK = np.array([[1, 1, 1], [1, 1, 1], [1, 0, 1], [1, 0, 0]], dtype=bool)


def _dev(rng, *shape):
    return backend.to_device(rng.standard_normal(shape), dtype=np.float64)


def _encoder_step(f):
    def build(rng):
        arrays = {"x": _dev(rng, N, D), "h_prev": _dev(rng, N, H), "W_h": _dev(rng, H, D),
                  "W_c": _dev(rng, H, H), "b": _dev(rng, H)}

        def forward(a):
            return rnn.encoder_step_forward(a["x"], a["h_prev"], a["W_h"], a["W_c"], a["b"], f)

        def backward(dh, cache):
            dx, dh_prev, grads = rnn.encoder_step_backward(dh, cache)
            return {"x": dx, "h_prev": dh_prev, **grads}

        return forward, backward, arrays

    return build


def _encoder_seq(f, mask):
    def build(rng):
        arrays = {"x": _dev(rng, T, N, D), "h0": _dev(rng, N, H), "W_h": _dev(rng, H, D),
                  "W_c": _dev(rng, H, H), "b": _dev(rng, H)}

        def forward(a):
            hs, cache = rnn.encoder_forward(a["x"], a["h0"], a["W_h"], a["W_c"], a["b"],
                                             f=f, mask=mask)
            return (hs, hs[-1]), cache                    # hs[-1] again: checks dh_last

        def backward(douts, cache):
            dhs, dh_last = douts
            dx, dh0, grads = rnn.encoder_backward(dhs, cache, dh_last=dh_last)
            return {"x": dx, "h0": dh0, **grads}

        return forward, backward, arrays

    return build


def _decoder_step(with_y):
    def build(rng):
        arrays = {"h": _dev(rng, N, DH), "s_prev": _dev(rng, N, S), "W_o": _dev(rng, S, DH),
                  "W_s": _dev(rng, S, S), "b": _dev(rng, S)}
        if with_y:
            arrays.update(y_prev=_dev(rng, N, E), W_y=_dev(rng, S, E))

        def forward(a):
            return rnn.decoder_step_forward(a["h"], a["s_prev"], a["W_o"], a["W_s"], a["b"],
                                             "tanh", a.get("y_prev"), a.get("W_y"))

        def backward(do, cache):
            dh, ds_prev, dy_prev, grads = rnn.decoder_step_backward(do, cache)
            out = {"h": dh, "s_prev": ds_prev, **grads}
            if with_y:
                out["y_prev"] = dy_prev
            return out

        return forward, backward, arrays

    return build


def _decoder_seq(final, with_y, g, mask):
    def build(rng):
        h = _dev(rng, N, DH) if final else _dev(rng, T, N, DH)
        arrays = {"h": h, "s0": _dev(rng, N, S), "W_o": _dev(rng, S, DH),
                  "W_s": _dev(rng, S, S), "b": _dev(rng, S)}
        if with_y:
            arrays.update(y_prev=_dev(rng, T, N, E), W_y=_dev(rng, S, E))

        def forward(a):
            os_, cache = rnn.decoder_forward(
                a["h"], a["s0"], a["W_o"], a["W_s"], a["b"], g=g,
                y_prev=a.get("y_prev"), W_y=a.get("W_y"), mask=mask, steps=T,
            )
            return (os_, os_[-1]), cache

        def backward(douts, cache):
            dos, ds_last = douts
            dh, ds0, dy_prev, grads = rnn.decoder_backward(dos, cache, ds_last=ds_last)
            out = {"h": dh, "s0": ds0, **grads}
            if with_y:
                out["y_prev"] = dy_prev
            return out

        return forward, backward, arrays

    return build


def _cell_step(rng):
    arrays = {"x": _dev(rng, N, D), "h": _dev(rng, N, H), "W_h": _dev(rng, H, D),
              "W_c": _dev(rng, H, H), "b": _dev(rng, H)}
    names = ("W_h", "W_c", "b")

    def forward(a):
        (h,), cache = rnn.step_forward(a["x"], (a["h"],), {k: a[k] for k in names})
        return h, cache

    def backward(dh, cache):
        dx, (dh_prev,), grads = rnn.step_backward((dh,), cache)
        return {"x": dx, "h": dh_prev, **grads}

    return forward, backward, arrays


def _cell_seq(rng):
    arrays = {"x": _dev(rng, T, N, D), "h0": _dev(rng, N, H), "W_h": _dev(rng, H, D),
              "W_c": _dev(rng, H, H), "b": _dev(rng, H)}
    names = ("W_h", "W_c", "b")

    def forward(a):
        hs, (h_T,), cache = rnn.sequence_forward(a["x"], (a["h0"],), {k: a[k] for k in names},
                                                  mask=MASK)
        return (hs, h_T), cache

    def backward(douts, cache):
        dhs, dh_T = douts
        dx, (dh0,), grads = rnn.sequence_backward(dhs, (dh_T,), cache)
        return {"x": dx, "h0": dh0, **grads}

    return forward, backward, arrays


CASES = [
    GradCase("rnn.encoder_step", _encoder_step("tanh")),
    GradCase("rnn.encoder_step.sigmoid", _encoder_step("sigmoid")),
    GradCase("rnn.encoder_seq", _encoder_seq("tanh", MASK)),
    GradCase("rnn.encoder_seq.identity", _encoder_seq("identity", None)),
    GradCase("rnn.decoder_step", _decoder_step(with_y=False)),
    GradCase("rnn.decoder_step_y", _decoder_step(with_y=True)),
    GradCase("rnn.decoder_seq", _decoder_seq(final=False, with_y=True, g="tanh", mask=MASK)),
    GradCase("rnn.decoder_seq_final",
             _decoder_seq(final=True, with_y=False, g="sigmoid", mask=None)),
    GradCase("rnn.cell_step", _cell_step),
    GradCase("rnn.cell_seq", _cell_seq),
]
