"""The article's plain recurrent cell ("rnn"): its encoder, and the cell protocol.

The two formulas
================

Encoder, one step, a batch of ``N`` row vectors::

    h_t = f(W_h x_t + W_c h_{t-1} + b)          x_t (N, D), h_t (N, H)

Decoder, one step (:mod:`minis2s.cells.rnn_decoder`)::

    o_t = g(W_o h_t + W_s s_{t-1} + b)          h_t (N, Dh), o_t = s_t (N, S)

Here ``h_t`` is "what the encoder tells the decoder at step t" and the decoder's own
state is its previous output, ``s_{t-1} = o_{t-1}``. Both are one formula with
different names, implemented once in :mod:`minis2s.cells.recurrence` (one step,
and a whole sequence with all input projections in one product before the loop);
this module names its arguments for the encoder.

The cell protocol
=================

``STATE_NAMES``, ``GATES``, ``TORCH_NAMES``, :func:`param_shapes`,
:func:`init_params`, :func:`step_forward`, :func:`step_backward`,
:func:`sequence_forward`, :func:`sequence_backward` follow
``docs/conventions.md`` with ``params = {"W_h", "W_c", "b"}``, so stacks and
models use this cell exactly like the LSTM and the GRU (cell kind ``"rnn"``; the
older name ``"seed"`` is an alias, :data:`minis2s.cells.CELL_ALIASES`).

PyTorch's ``nn.RNN`` has two biases, ``bias_ih`` and ``bias_hh``, which only
ever appear as their sum. ``TORCH_NAMES`` maps ``b`` to ``bias_ih``; on
export (:mod:`minis2s.cells.torch_io`) ``bias_hh`` is written as zeros and
on import ``b = bias_ih + bias_hh``, which reproduces PyTorch's outputs exactly.

Every public function validates its inputs first, once
(:mod:`minis2s.cells.validate`); what follows is the math.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.cells.recurrence import (
    RecurrenceCache,
    RNNStepCache,
    recurrence_backward,
    recurrence_forward,
    recurrent_step_backward,
    recurrent_step_forward,
)
from minis2s.cells.rnn_decoder import (  # noqa: F401  (the decoder, under this module too)
    RNNDecoderCache,
    decoder_backward,
    decoder_forward,
    decoder_step_backward,
    decoder_step_forward,
)
from minis2s.cells.validate import (
    CellLayout,
    check_encoder,
    check_encoder_step,
    check_grad,
    check_sequence,
    check_state_grads,
    check_step,
)
from minis2s.ops.activations import get_activation
from minis2s.ops.linear import LinearCache, linear_backward, linear_forward
from minis2s.ops.validate import (
    check_float_dtype,
    check_generator,
    check_instance,
    check_positive_int,
)

# ---------------------------------------------------------------------------------------
# The encoder, in the article's names
# ---------------------------------------------------------------------------------------


def encoder_step_forward(
    x: Any, h_prev: Any, W_h: Any, W_c: Any, b: Any, f: str = "tanh"
) -> tuple[Any, RNNStepCache]:
    """One encoder step, ``h_t = f(W_h x_t + W_c h_{t-1} + b)``.

    Parameters
    ----------
    x : ``(N, D)`` the input ``x_t``.
    h_prev : ``(N, H)`` the previous state ``h_{t-1}``.
    W_h : ``(H, D)`` input weight.  W_c : ``(H, H)`` recurrent weight.  b : ``(H,)`` bias.
    f : activation name (``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"identity"``).

    Returns ``h`` ``(N, H)`` and the cache.
    """
    check_encoder_step(x, h_prev, W_h, W_c, b, f)
    return recurrent_step_forward((x, h_prev), (W_h, W_c), b, f)


def encoder_step_backward(dh: Any, cache: RNNStepCache) -> tuple[Any, Any, dict]:
    """Gradients of one encoder step.

    Parameters
    ----------
    dh : ``(N, H)`` ``dL/dh_t`` (not modified).
    cache : from :func:`encoder_step_forward`.

    Returns ``(dx (N, D), dh_prev (N, H), {"W_h": (H, D), "W_c": (H, H), "b": (H,)})``::

        da = dh * f'(a)    dx = da @ W_h    dh_prev = da @ W_c
        dW_h = da^T x      dW_c = da^T h_prev      db = sum_n da[n]
    """
    check_instance(cache, RNNStepCache, "encoder_step_backward cache", "encoder_step_forward")
    check_grad(dh, cache.y, "encoder dh", optional=False)
    (dx, dh_prev), (dW_h, dW_c), db = recurrent_step_backward(dh, cache)
    return dx, dh_prev, {"W_h": dW_h, "W_c": dW_c, "b": db}


class RNNEncoderCache(NamedTuple):
    """What :func:`encoder_backward` needs."""

    projection: LinearCache
    """the input projection ``W_h x_t + b`` of all steps (one product)."""
    recurrence: RecurrenceCache
    """the loop over ``h_t = f(... + W_c h_{t-1})``."""


def encoder_forward(
    x: Any, h0: Any, W_h: Any, W_c: Any, b: Any, f: str = "tanh", mask: Any = None
) -> tuple[Any, RNNEncoderCache]:
    """The encoder over a whole sequence, ``h_t = f(W_h x_t + W_c h_{t-1} + b)``, ``t = 1..T``.

    Parameters
    ----------
    x : ``(T, N, D)`` inputs, time-major.
    h0 : ``(N, H)`` initial state, or ``None`` for zeros.
    W_h : ``(H, D)``.  W_c : ``(H, H)``.  b : ``(H,)``.
    f : activation name.
    mask : ``(T, N)`` bool or 0/1, or ``None``; where 0 the state is carried:
        ``h_t = m f(...) + (1 - m) h_{t-1}``.

    Returns ``hs`` ``(T, N, H)`` (``hs[t]`` is ``h_{t+1}``; ``hs[-1]`` the final
    state) and the cache. All ``W_h x_t + b`` are one matrix product before the loop.
    """
    h0, mask = check_encoder(x, h0, W_h, W_c, b, f, mask)
    xw, projection = linear_forward(x, W_h, b)                # (T, N, H): one product, all t
    hs, recurrence = recurrence_forward(xw, W_c, h0, f, mask)
    return hs, RNNEncoderCache(projection, recurrence)


def encoder_backward(
    dhs: Any, cache: RNNEncoderCache, dh_last: Any = None
) -> tuple[Any, Any, dict]:
    """Backpropagation through time for :func:`encoder_forward`.

    Parameters
    ----------
    dhs : ``(T, N, H)`` ``dL/dhs`` (e.g. from attention or an aligned decoder),
        or ``None`` for zero. Not modified.
    cache : from :func:`encoder_forward`.
    dh_last : ``(N, H)`` extra gradient on the final state ``hs[-1]`` (e.g.
        from a decoder started from it), or ``None``.

    Returns ``(dx (T, N, D), dh0 (N, H), {"W_h": (H, D), "W_c": (H, H), "b": (H,)})``;
    ``dW_h``, ``dW_c`` and ``db`` are each one product after the loop.
    """
    check_instance(cache, RNNEncoderCache, "encoder_backward cache", "encoder_forward")
    check_grad(dhs, cache.recurrence.states, "encoder dhs")
    check_grad(dh_last, cache.recurrence.state0, "encoder dh_last")
    da, dh0, dW_c = recurrence_backward(dhs, dh_last, cache.recurrence)
    dx, dW_h, db = linear_backward(da, cache.projection)      # dW_h = sum_t da_t^T x_t
    return dx, dh0, {"W_h": dW_h, "W_c": dW_c, "b": db}


# ---------------------------------------------------------------------------------------
# The cell protocol (docs/conventions.md): what stacks and models call
# ---------------------------------------------------------------------------------------

CELL = "rnn"

STATE_NAMES = ("h",)
"""The state is one array, ``h`` ``(N, H)``."""

GATES = 1
"""Rows of the input weight per hidden unit (4 for the LSTM, 3 for the GRU)."""

TORCH_NAMES = {"W_h": "weight_ih", "W_c": "weight_hh", "b": "bias_ih"}
"""Our names -> PyTorch ``nn.RNN`` name stems (``weight_ih_l0`` ...). PyTorch's
second bias ``bias_hh`` has no counterpart: export writes zeros, import adds it
into ``b`` (:mod:`minis2s.cells.torch_io`)."""

PARAM_NAMES = ("W_h", "W_c", "b")

LAYOUT = CellLayout(CELL, GATES, "W_h", "W_c", ("b",), STATE_NAMES)


def param_shapes(D: int, H: int) -> dict[str, tuple[int, ...]]:
    """``{"W_h": (H, D), "W_c": (H, H), "b": (H,)}`` for input size ``D``, state size ``H``."""
    D = check_positive_int(D, "rnn input size D")
    H = check_positive_int(H, "rnn state size H")
    return {"W_h": (H, D), "W_c": (H, H), "b": (H,)}


def init_params(
    rng: np.random.Generator, D: int, H: int, dtype: Any = np.float32
) -> dict[str, np.ndarray]:
    """Host (NumPy) parameters drawn ``U(-1/sqrt(H), 1/sqrt(H))``, as PyTorch's ``nn.RNN``.

    Drawn in the order ``W_h``, ``W_c``, ``b`` from ``rng`` (a seeded
    ``numpy.random.Generator``), so a seed fixes the numbers on every backend;
    move them with ``backend.to_device``. (PyTorch draws a second bias too, so
    its effective bias is a sum of two uniforms; ours is one.)
    """
    check_generator(rng, "rnn init_params")
    dt = check_float_dtype(dtype, "rnn init_params")
    shapes = param_shapes(D, H)  # validates D and H
    k = 1.0 / np.sqrt(H)
    return {name: rng.uniform(-k, k, size=shape).astype(dt) for name, shape in shapes.items()}


def step_forward(
    x: Any, state: Any, params: Mapping[str, Any], f: str = "tanh"
) -> tuple[tuple[Any], RNNStepCache]:
    """Protocol step: ``h_t = f(W_h x_t + W_c h_{t-1} + b)``.

    ``x`` ``(N, D)``, ``state`` ``(h_prev,)`` with ``h_prev`` ``(N, H)`` (``None``, or a
    ``None`` entry: zeros), ``params`` ``{"W_h", "W_c", "b"}``. Returns ``((h,), cache)``.
    """
    (h_prev,), H, dtype = check_step(LAYOUT, x, state, params)
    get_activation(f)
    if h_prev is None:
        h_prev = backend.get_xp().zeros((x.shape[0], H), dtype=dtype)
    h, cache = recurrent_step_forward((x, h_prev), (params["W_h"], params["W_c"]), params["b"], f)
    return (h,), cache


def step_backward(dnew_state: Any, cache: RNNStepCache) -> tuple[Any, tuple[Any], dict]:
    """Protocol step backward: ``dnew_state`` ``(dh,)`` (``None`` means zero).

    Returns ``(dx (N, D), (dh_prev,) (N, H), {"W_h", "W_c", "b"})``, the equations of
    :func:`encoder_step_backward`.
    """
    check_instance(cache, RNNStepCache, "rnn step_backward cache", "rnn step_forward")
    (dh,) = check_state_grads(LAYOUT, dnew_state, *cache.y.shape, cache.y.dtype, "dnew_state")
    if dh is None:
        dh = backend.get_xp().zeros_like(cache.y)
    (dx, dh_prev), (dW_h, dW_c), db = recurrent_step_backward(dh, cache)
    return dx, (dh_prev,), {"W_h": dW_h, "W_c": dW_c, "b": db}


def sequence_forward(
    x: Any, state0: Any, params: Mapping[str, Any], mask: Any = None, f: str = "tanh"
) -> tuple[Any, tuple[Any], RNNEncoderCache]:
    """Protocol sequence: :func:`encoder_forward` with ``state0 = (h0,)`` (``None``, or a
    ``None`` entry: zeros).

    ``x`` ``(T, N, D)``, ``mask`` ``(T, N)`` or ``None``. Returns
    ``(hs (T, N, H), (h_T,), cache)``; ``h_T`` is a copy of ``hs[-1]``.
    """
    (h0,), mask, H, dtype = check_sequence(LAYOUT, x, state0, params, mask)
    get_activation(f)
    if h0 is None:
        h0 = backend.get_xp().zeros((x.shape[1], H), dtype=dtype)
    xw, projection = linear_forward(x, params["W_h"], params["b"])    # W_h x_t + b, all t
    hs, recurrence = recurrence_forward(xw, params["W_c"], h0, f, mask)
    return hs, (hs[-1].copy(),), RNNEncoderCache(projection, recurrence)


def sequence_backward(
    dhs: Any, dstate_T: Any, cache: RNNEncoderCache
) -> tuple[Any, tuple[Any], dict]:
    """Protocol sequence backward: :func:`encoder_backward`'s equations.

    ``dhs`` ``(T, N, H)`` or ``None``; ``dstate_T`` ``(dh_T,)`` or ``None`` (zero).

    Returns ``(dx (T, N, D), (dh0,) (N, H), {"W_h", "W_c", "b"})``.
    """
    check_instance(cache, RNNEncoderCache, "rnn sequence_backward cache",
                   "rnn sequence_forward")
    states = cache.recurrence.states
    check_grad(dhs, states, "rnn dhs")
    (dh_last,) = check_state_grads(LAYOUT, dstate_T, *states.shape[1:], states.dtype,
                                   "dstate_T")
    da, dh0, dW_c = recurrence_backward(dhs, dh_last, cache.recurrence)
    dx, dW_h, db = linear_backward(da, cache.projection)      # dW_h = sum_t da_t^T x_t
    return dx, (dh0,), {"W_h": dW_h, "W_c": dW_c, "b": db}
