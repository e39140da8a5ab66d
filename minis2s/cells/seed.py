"""The article's recurrences: the plain ("seed") RNN encoder and decoder.

The two formulas
================

Encoder, one step, a batch of ``N`` row vectors::

    h_t = f(W_h x_t + W_c h_{t-1} + b)          x_t (N, D), h_t (N, H)

Decoder, one step::

    o_t = g(W_o h_t + W_s s_{t-1} + b)          h_t (N, Dh), o_t = s_t (N, S)

Here ``h_t`` is "what the encoder tells the decoder at step t" and the
decoder's own state is its previous output, ``s_{t-1} = o_{t-1}``. As an
**extension** of the article's formula (not in the article), the decoder may
also read the vector of the previous target token ``y_{t-1}`` (teacher
forcing; an embedding, ``(N, E)``)::

    o_t = g(W_o h_t + W_s s_{t-1} + W_y y_{t-1} + b)

Both are one formula with different names: *an activation of an affine
function of some inputs, one of which is the previous state*,

    y = act(b + sum_k W_k x_k),

so this module implements that once (:func:`recurrent_step_forward`, and
:func:`recurrence_forward` for a whole sequence) and the article-named
functions only name the arguments.

Backward through one step
=========================

With ``a = b + sum_k W_k x_k`` and ``y = act(a)`` (code: ``x_k @ W_k.T``)::

    da   = dy * act'(a)                   written with y: tanh' = 1 - y^2, ...
    dx_k = da @ W_k                       W_k^T da on paper
    dW_k = da^T x_k                       sum over the batch of outer products
    db   = sum_n da[n]

For the encoder, ``x_1 = x_t`` and ``x_2 = h_{t-1}``: ``dx_2`` is ``dh_{t-1}``.

A whole sequence, and why it is fast
====================================

``W_h x_t + b`` does not depend on the recurrence, so all ``T`` of them are
computed before the loop as **one** ``(T N, D) @ (D, H)`` product
(:func:`minis2s.ops.linear.linear_forward`): the same numbers as ``T`` small
products, in one BLAS call. Only ``W_c h_{t-1}`` has to wait for the previous
step.

Backpropagation through time runs the loop backwards. The gradient reaching
``h_t`` is what the loss puts on it directly plus what step ``t + 1`` sends
back::

    g_t    = dhs[t] + dh_t^{from t+1}          (g_T also receives dh_last)
    da_t   = g_t * f'(a_t)
    dh_{t-1}^{from t} = da_t @ W_c

The weight gradients are *sums over time*, ``dW_c = sum_t da_t^T h_{t-1}``,
``dW_h = sum_t da_t^T x_t``, ``db = sum_t sum_n da_t[n]``: the loop only
stores each ``da_t``, and after it each sum is one matrix product over the
stacked ``(T N, H)`` arrays, the same arithmetic regrouped. Time-major
storage makes ``hs[:-1]`` (the ``h_{t-1}`` of steps ``2..T``) a contiguous
slice, so no copy is needed.

Padding masks
=============

A ``mask (T, N)`` of 0/1 freezes a sequence's state at padding::

    h_t = m_t * f(a_t) + (1 - m_t) * h_{t-1}

so ``hs[t]`` is the carried value and ``hs[-1]`` is each row's state at its
last real token. Backward::

    da_t      = m_t * g_t * f'(a_t)
    dh_{t-1}  = da_t @ W_c + (1 - m_t) * g_t

The code selects with ``where`` (same result for 0/1 masks, and robust to
non-finite values at padding). ``f'(a_t)`` is computed from ``hs[t]``, which
differs from ``f(a_t)`` only where ``m_t = 0``, exactly where the product is
discarded, so the cache needs nothing but the states.

The cell protocol
=================

``STATE_NAMES``, ``GATES``, ``TORCH_NAMES``, :func:`param_shapes`,
:func:`init_params`, :func:`step_forward`, :func:`step_backward`,
:func:`sequence_forward`, :func:`sequence_backward` follow
``docs/conventions.md`` with ``params = {"W_h", "W_c", "b"}``, so stacks and
models use this cell exactly like the LSTM and the GRU.

PyTorch's ``nn.RNN`` has two biases, ``bias_ih`` and ``bias_hh``, which only
ever appear as their sum. ``TORCH_NAMES`` maps ``b`` to ``bias_ih``; on
export (:mod:`minis2s.cells.torch_io`) ``bias_hh`` is written as zeros and
on import ``b = bias_ih + bias_hh``, which reproduces PyTorch's outputs exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.ops.activations import get_activation
from minis2s.ops.linear import LinearCache, linear_backward, linear_forward
from minis2s.ops.validate import (
    check_float,
    check_float_dtype,
    check_generator,
    check_mask,
    check_positive_int,
    check_same_dtype,
    check_shape,
)

# ---------------------------------------------------------------------------------------
# The shared core: y = act(b + sum_k x_k @ W_k.T), one step and a whole sequence
# ---------------------------------------------------------------------------------------


class StepCache(NamedTuple):
    """What :func:`recurrent_step_backward` needs."""

    inputs: tuple
    """``(x_1, ..., x_K)``, each ``(N, D_k)``; one of them is the previous state."""
    weights: tuple
    """``(W_1, ..., W_K)``, each ``(H, D_k)``."""
    y: Any
    """``(N, H)`` the output ``act(a)``."""
    act: str
    """the activation's name."""


def recurrent_step_forward(
    inputs: Sequence[Any], weights: Sequence[Any], b: Any, act: str
) -> tuple[Any, StepCache]:
    """``y = act(b + sum_k W_k x_k)``: the one formula behind both of the article's steps.

    Unchecked core (the article-named functions validate): ``inputs[k]``
    ``(N, D_k)``, ``weights[k]`` ``(H, D_k)``, ``b`` ``(H,)``, ``act`` a name in
    :data:`minis2s.ops.ACTIVATIONS`. Returns ``y`` ``(N, H)`` and the cache.
    """
    fn = get_activation(act)
    a = inputs[0] @ weights[0].T + b
    for x, W in zip(inputs[1:], weights[1:]):
        a += x @ W.T
    y = fn.forward(a)
    return y, StepCache(tuple(inputs), tuple(weights), y, fn.name)


def recurrent_step_backward(dy: Any, cache: StepCache) -> tuple[tuple, tuple, Any]:
    """Gradients of ``y = act(b + sum_k W_k x_k)``.

    ``dy`` ``(N, H)`` (not modified). Returns ``(dinputs, dweights, db)``::

        da = dy * act'(a)    dx_k = da @ W_k    dW_k = da^T x_k    db = sum_n da[n]
    """
    da = get_activation(cache.act).backward(dy, cache.y)
    dinputs = tuple(da @ W for W in cache.weights)
    dweights = tuple(da.T @ x for x in cache.inputs)
    return dinputs, dweights, da.sum(axis=0)


class RecurrenceCache(NamedTuple):
    """What :func:`recurrence_backward` needs."""

    states: Any
    """``(T, N, H)`` ``hs[t] = h_{t+1}`` in 0-based code: the (mask-carried) states."""
    state0: Any
    """``(N, H)`` the initial state ``h_0``."""
    W_rec: Any
    """``(H, H)`` the recurrent weight (``W_c`` or ``W_s``)."""
    mask: Any
    """``(T, N, 1)`` bool on the active backend, or ``None`` (no padding)."""
    act: str
    """the activation's name."""


def recurrence_forward(
    xw: Any, W_rec: Any, state0: Any, act: str, mask: Any = None, steps: int | None = None
) -> tuple[Any, RecurrenceCache]:
    """``h_t = act(xw_t + W_rec h_{t-1})`` for ``t = 1..T``, masked rows carried.

    Unchecked core (the article-named functions validate).

    Parameters
    ----------
    xw : ``(T, N, H)`` the input part of every step, already projected
        (``W_h x_t + b``), or ``(N, H)`` the same for every step (then give ``steps``).
    W_rec : ``(H, H)`` the recurrent weight.
    state0 : ``(N, H)`` the initial state.
    act : activation name.
    mask : ``(T, N)`` bool on the active backend, or ``None``.
    steps : ``T`` when ``xw`` is ``(N, H)``.

    Returns ``hs`` ``(T, N, H)`` and the cache.
    """
    T = xw.shape[0] if xw.ndim == 3 else steps
    xp = backend.get_xp()
    fn = get_activation(act)
    N, H = state0.shape
    hs = xp.empty((T, N, H), dtype=state0.dtype)
    m = None if mask is None else mask[..., None]             # (T, N, 1)
    W_rec_T = W_rec.T
    h = state0
    for t in range(T):
        a = h @ W_rec_T                                       # W_c h_{t-1}
        a += xw if xw.ndim == 2 else xw[t]                    # + (W_h x_t + b), precomputed
        h_new = fn.forward(a)                                 # f(a_t)
        if m is not None:
            h_new = xp.where(m[t], h_new, h)                  # m f(a_t) + (1 - m) h_{t-1}
        hs[t] = h_new
        h = h_new
    return hs, RecurrenceCache(hs, state0, W_rec, m, fn.name)


def recurrence_backward(
    dstates: Any, dstate_T: Any, cache: RecurrenceCache
) -> tuple[Any, Any, Any]:
    """Backpropagation through time for :func:`recurrence_forward`.

    Parameters
    ----------
    dstates : ``(T, N, H)`` ``dL/dhs`` from the layer above, or ``None`` (zero).
    dstate_T : ``(N, H)`` extra gradient on the final state ``hs[-1]``, or ``None``.
    cache : from :func:`recurrence_forward`.

    Returns ``(dxw (T, N, H), dstate0 (N, H), dW_rec (H, H))``, where ``dxw[t]``
    is ``da_t``, the gradient of the pre-activation: the caller turns it into
    ``dx``, ``dW_h`` and ``db`` with one product each.
    """
    xp = backend.get_xp()
    fn = get_activation(cache.act)
    hs, W_rec, m = cache.states, cache.W_rec, cache.mask
    T, N, H = hs.shape
    da_all = xp.empty_like(hs)
    g = xp.zeros((N, H), dtype=hs.dtype) if dstate_T is None else dstate_T
    for t in range(T - 1, -1, -1):
        if dstates is not None:
            g = g + dstates[t]                                # g_t = dhs[t] + from step t+1
        da = fn.backward(g, hs[t])                            # g_t * f'(a_t), f' from h_t
        if m is None:
            g = da @ W_rec                                    # dh_{t-1} = W_c^T da_t
        else:
            da = xp.where(m[t], da, 0.0)                      # m_t g_t f'(a_t)
            g = da @ W_rec + xp.where(m[t], 0.0, g)           # + (1 - m_t) g_t
        da_all[t] = da
    # dW_rec = sum_t da_t^T h_{t-1}: step 1 reads h_0, steps 2..T read hs[:-1] (contiguous).
    dW_rec = da_all[0].T @ cache.state0
    if T > 1:
        dW_rec = dW_rec + da_all[1:].reshape(-1, H).T @ hs[:-1].reshape(-1, H)
    return da_all, g, dW_rec


# ---------------------------------------------------------------------------------------
# Validation shared by the public entry points
# ---------------------------------------------------------------------------------------


def _check_matrix(W: Any, what: str, shape: tuple, names: tuple) -> None:
    check_float(W, what)
    check_shape(W, shape, what, names=names)


def _device_mask(mask: Any, T: int, N: int, what: str) -> Any:
    if mask is None:
        return None
    return backend.to_device(check_mask(mask, (T, N), what))


def _zeros_or_checked(state: Any, N: int, H: int, dtype: Any, what: str, names: tuple) -> Any:
    if state is None:
        return backend.get_xp().zeros((N, H), dtype=dtype)
    _check_matrix(state, what, (N, H), names)
    return state


# ---------------------------------------------------------------------------------------
# The encoder, in the article's names
# ---------------------------------------------------------------------------------------


def encoder_step_forward(
    x: Any, h_prev: Any, W_h: Any, W_c: Any, b: Any, f: str = "tanh"
) -> tuple[Any, StepCache]:
    """One encoder step, ``h_t = f(W_h x_t + W_c h_{t-1} + b)``.

    Parameters
    ----------
    x : ``(N, D)`` the input ``x_t``.
    h_prev : ``(N, H)`` the previous state ``h_{t-1}``.
    W_h : ``(H, D)`` input weight.  W_c : ``(H, H)`` recurrent weight.  b : ``(H,)`` bias.
    f : activation name (``"tanh"``, ``"sigmoid"``, ``"relu"``, ``"identity"``).

    Returns ``h`` ``(N, H)`` and the cache.
    """
    get_activation(f)
    check_float(W_h, "encoder W_h (H, D)", ndim=2)
    H, D = W_h.shape
    check_float(x, "encoder x (N, D)", ndim=2)
    N = x.shape[0]
    check_shape(x, (N, D), "encoder x", names=("N", "D"))
    _check_matrix(h_prev, "encoder h_prev", (N, H), ("N", "H"))
    _check_matrix(W_c, "encoder W_c", (H, H), ("H", "H"))
    _check_matrix(b, "encoder b", (H,), ("H",))
    check_same_dtype({"x": x, "h_prev": h_prev, "W_h": W_h, "W_c": W_c, "b": b}, "encoder step")
    return recurrent_step_forward((x, h_prev), (W_h, W_c), b, f)


def encoder_step_backward(dh: Any, cache: StepCache) -> tuple[Any, Any, dict]:
    """Gradients of one encoder step.

    Parameters
    ----------
    dh : ``(N, H)`` ``dL/dh_t`` (not modified).
    cache : from :func:`encoder_step_forward`.

    Returns ``(dx (N, D), dh_prev (N, H), {"W_h": (H, D), "W_c": (H, H), "b": (H,)})``::

        da = dh * f'(a)    dx = da @ W_h    dh_prev = da @ W_c
        dW_h = da^T x      dW_c = da^T h_prev      db = sum_n da[n]
    """
    check_shape(dh, tuple(cache.y.shape), "encoder dh")
    (dx, dh_prev), (dW_h, dW_c), db = recurrent_step_backward(dh, cache)
    return dx, dh_prev, {"W_h": dW_h, "W_c": dW_c, "b": db}


class EncoderCache(NamedTuple):
    """What :func:`encoder_backward` needs."""

    projection: LinearCache
    """the input projection ``W_h x_t + b`` of all steps (one product)."""
    recurrence: RecurrenceCache
    """the loop over ``h_t = f(... + W_c h_{t-1})``."""


def encoder_forward(
    x: Any, h0: Any, W_h: Any, W_c: Any, b: Any, f: str = "tanh", mask: Any = None
) -> tuple[Any, EncoderCache]:
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
    get_activation(f)
    check_float(W_h, "encoder W_h (H, D)", ndim=2)
    H, D = W_h.shape
    check_float(x, "encoder x (T, N, D)", ndim=3)
    T, N = x.shape[:2]
    check_shape(x, (T, N, D), "encoder x", names=("T", "N", "D"))
    if T == 0:
        raise ValueError("encoder x: expected at least one time step, got T = 0")
    _check_matrix(W_c, "encoder W_c", (H, H), ("H", "H"))
    _check_matrix(b, "encoder b", (H,), ("H",))
    h0 = _zeros_or_checked(h0, N, H, x.dtype, "encoder h0", ("N", "H"))
    check_same_dtype({"x": x, "h0": h0, "W_h": W_h, "W_c": W_c, "b": b}, "encoder")
    m = _device_mask(mask, T, N, "encoder mask")
    xw, projection = linear_forward(x, W_h, b)                # (T, N, H): one product, all t
    hs, recurrence = recurrence_forward(xw, W_c, h0, f, m)
    return hs, EncoderCache(projection, recurrence)


def encoder_backward(
    dhs: Any, cache: EncoderCache, dh_last: Any = None
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
    hs = cache.recurrence.states
    _check_grad(dhs, tuple(hs.shape), "encoder dhs")
    _check_grad(dh_last, tuple(hs.shape[1:]), "encoder dh_last")
    da, dh0, dW_c = recurrence_backward(dhs, dh_last, cache.recurrence)
    dx, dW_h, db = linear_backward(da, cache.projection)      # dW_h = sum_t da_t^T x_t
    return dx, dh0, {"W_h": dW_h, "W_c": dW_c, "b": db}


def _check_grad(g: Any, shape: tuple, what: str) -> None:
    if g is not None:
        check_float(g, what)
        check_shape(g, shape, what)


# ---------------------------------------------------------------------------------------
# The decoder, in the article's names (the same core)
# ---------------------------------------------------------------------------------------


def _check_decoder_weights(W_o, W_s, b, W_y, y_has: bool, what: str) -> tuple[int, int]:
    check_float(W_o, f"{what} W_o (S, Dh)", ndim=2)
    S, Dh = W_o.shape
    _check_matrix(W_s, f"{what} W_s", (S, S), ("S", "S"))
    _check_matrix(b, f"{what} b", (S,), ("S",))
    if (W_y is None) != (not y_has):
        raise ValueError(
            f"{what}: y_prev and W_y go together (the W_y y_{{t-1}} extension); got "
            f"y_prev {'given' if y_has else 'None'} and W_y {'None' if W_y is None else 'given'}"
        )
    if W_y is not None:
        check_float(W_y, f"{what} W_y (S, E)", ndim=2)
        if W_y.shape[0] != S:
            raise ValueError(
                f"{what} W_y: expected shape (S, E) with S = {S} (from W_o), "
                f"got {tuple(W_y.shape)}"
            )
    return S, Dh


def decoder_step_forward(
    h: Any, s_prev: Any, W_o: Any, W_s: Any, b: Any, g: str = "tanh",
    y_prev: Any = None, W_y: Any = None,
) -> tuple[Any, StepCache]:
    """One decoder step, ``o_t = g(W_o h_t + W_s s_{t-1} [+ W_y y_{t-1}] + b)``; ``s_t = o_t``.

    Parameters
    ----------
    h : ``(N, Dh)`` what the encoder tells the decoder at step t.
    s_prev : ``(N, S)`` the decoder's previous state ``s_{t-1} = o_{t-1}``.
    W_o : ``(S, Dh)``.  W_s : ``(S, S)``.  b : ``(S,)``.
    g : activation name.
    y_prev : ``(N, E)`` the previous target token's vector, or ``None``
        (the ``W_y y_{t-1}`` term is an extension of the article's formula).
    W_y : ``(S, E)``, given exactly when ``y_prev`` is.

    Returns ``o`` ``(N, S)`` and the cache.
    """
    get_activation(g)
    S, Dh = _check_decoder_weights(W_o, W_s, b, W_y, y_prev is not None, "decoder")
    check_float(h, "decoder h (N, Dh)", ndim=2)
    N = h.shape[0]
    check_shape(h, (N, Dh), "decoder h", names=("N", "Dh"))
    _check_matrix(s_prev, "decoder s_prev", (N, S), ("N", "S"))
    inputs, weights = [h, s_prev], [W_o, W_s]
    if y_prev is not None:
        _check_matrix(y_prev, "decoder y_prev", (N, W_y.shape[1]), ("N", "E"))
        inputs.append(y_prev)
        weights.append(W_y)
    check_same_dtype(
        {"h": h, "s_prev": s_prev, "W_o": W_o, "W_s": W_s, "b": b, "y_prev": y_prev, "W_y": W_y},
        "decoder step",
    )
    return recurrent_step_forward(inputs, weights, b, g)


def decoder_step_backward(do: Any, cache: StepCache) -> tuple[Any, Any, Any, dict]:
    """Gradients of one decoder step.

    Parameters
    ----------
    do : ``(N, S)`` ``dL/do_t`` (not modified).
    cache : from :func:`decoder_step_forward`.

    Returns ``(dh (N, Dh), ds_prev (N, S), dy_prev (N, E) or None, grads)`` with
    ``grads = {"W_o": (S, Dh), "W_s": (S, S), "b": (S,)}`` plus ``"W_y": (S, E)``
    when the extension was used. Same equations as :func:`encoder_step_backward`.
    """
    check_shape(do, tuple(cache.y.shape), "decoder do")
    dinputs, dweights, db = recurrent_step_backward(do, cache)
    grads = {"W_o": dweights[0], "W_s": dweights[1], "b": db}
    dy_prev = None
    if len(dinputs) == 3:
        dy_prev, grads["W_y"] = dinputs[2], dweights[2]
    return dinputs[0], dinputs[1], dy_prev, grads


class DecoderCache(NamedTuple):
    """What :func:`decoder_backward` needs."""

    projection: LinearCache
    """``W_o h_t + b`` of all steps (one product; once when ``h`` is ``(N, Dh)``)."""
    token_projection: LinearCache | None
    """``W_y y_{t-1}`` of all steps, or ``None`` without the extension."""
    recurrence: RecurrenceCache
    """the loop over ``o_t = g(... + W_s s_{t-1})``."""
    final: bool
    """True when one ``h`` ``(N, Dh)`` served every step."""


def decoder_forward(
    h: Any, s0: Any, W_o: Any, W_s: Any, b: Any, g: str = "tanh",
    y_prev: Any = None, W_y: Any = None, mask: Any = None, steps: int | None = None,
) -> tuple[Any, DecoderCache]:
    """The decoder over a whole sequence, ``o_t = g(W_o h_t + W_s s_{t-1} [+ W_y y_{t-1}] + b)``.

    Parameters
    ----------
    h : ``(T, N, Dh)`` a different ``h_t`` per step (the *aligned* reading,
        or precomputed contexts), or ``(N, Dh)`` one vector for every step
        (the *final* reading: ``W_o h + b`` is then computed once, not ``T`` times).
    s0 : ``(N, S)`` the initial state, or ``None`` for zeros.
    W_o : ``(S, Dh)``.  W_s : ``(S, S)``.  b : ``(S,)``.
    g : activation name.
    y_prev : ``(T, N, E)`` the previous target tokens' vectors (teacher
        forcing; ``y_prev[0]`` is the start token's), or ``None``.
    W_y : ``(S, E)``, given exactly when ``y_prev`` is.
    mask : ``(T, N)`` bool or 0/1, or ``None``: where 0 the state is carried.
    steps : ``T``; needed only when ``h`` is ``(N, Dh)`` and there is neither
        ``y_prev`` nor ``mask`` to read it from.

    Returns ``os`` ``(T, N, S)`` (``os[-1]`` the final state) and the cache.
    """
    get_activation(g)
    S, Dh = _check_decoder_weights(W_o, W_s, b, W_y, y_prev is not None, "decoder")
    check_float(h, "decoder h (T, N, Dh) or (N, Dh)")
    if h.ndim not in (2, 3) or h.shape[-1] != Dh:
        raise ValueError(
            f"decoder h: expected shape (T, N, Dh) or (N, Dh) with Dh = {Dh} (from W_o), "
            f"got {tuple(h.shape)}"
        )
    final = h.ndim == 2
    N = h.shape[-2]
    T = _decoder_steps(h, y_prev, mask, steps)
    if T == 0:
        raise ValueError("decoder: expected at least one time step, got T = 0")
    if y_prev is not None:
        _check_matrix(y_prev, "decoder y_prev", (T, N, W_y.shape[1]), ("T", "N", "E"))
    s0 = _zeros_or_checked(s0, N, S, h.dtype, "decoder s0", ("N", "S"))
    check_same_dtype(
        {"h": h, "s0": s0, "W_o": W_o, "W_s": W_s, "b": b, "y_prev": y_prev, "W_y": W_y},
        "decoder",
    )
    m = _device_mask(mask, T, N, "decoder mask")
    xw, projection = linear_forward(h, W_o, b)                # (T, N, S), or (N, S) once
    token_projection = None
    if y_prev is not None:
        yw, token_projection = linear_forward(y_prev, W_y)    # (T, N, S)
        xw = xw + yw                                          # broadcasts over T if final
    os_, recurrence = recurrence_forward(xw, W_s, s0, g, m, steps=T)
    return os_, DecoderCache(projection, token_projection, recurrence, final)


def _decoder_steps(h: Any, y_prev: Any, mask: Any, steps: Any) -> int:
    candidates = {}
    if h.ndim == 3:
        candidates["h"] = h.shape[0]
    if y_prev is not None:
        check_float(y_prev, "decoder y_prev (T, N, E)", ndim=3)
        candidates["y_prev"] = y_prev.shape[0]
    if mask is not None and hasattr(mask, "shape") and len(mask.shape) == 2:
        candidates["mask"] = mask.shape[0]
    if steps is not None:
        candidates["steps"] = check_positive_int(steps, "decoder steps")
    if not candidates:
        raise ValueError(
            "decoder: with one h (N, Dh) for every step, the number of steps T must come "
            "from y_prev, mask or steps; got none of them"
        )
    if len(set(candidates.values())) > 1:
        listing = ", ".join(f"{k}: {v}" for k, v in candidates.items())
        raise ValueError(f"decoder: the number of steps T disagrees between inputs ({listing})")
    return next(iter(candidates.values()))


def decoder_backward(
    dos: Any, cache: DecoderCache, ds_last: Any = None
) -> tuple[Any, Any, Any, dict]:
    """Backpropagation through time for :func:`decoder_forward`.

    Parameters
    ----------
    dos : ``(T, N, S)`` ``dL/dos`` (e.g. from the output projection), or ``None``. Not modified.
    cache : from :func:`decoder_forward`.
    ds_last : ``(N, S)`` extra gradient on the final state ``os[-1]``, or ``None``.

    Returns ``(dh, ds0 (N, S), dy_prev (T, N, E) or None, grads)``: ``dh`` has
    the shape of ``h``, ``(T, N, Dh)`` or ``(N, Dh)`` (then summed over the
    steps: ``dL/dh = sum_t W_o^T da_t``); ``grads = {"W_o", "W_s", "b"}`` plus
    ``"W_y"`` with the extension.
    """
    os_ = cache.recurrence.states
    _check_grad(dos, tuple(os_.shape), "decoder dos")
    _check_grad(ds_last, tuple(os_.shape[1:]), "decoder ds_last")
    da, ds0, dW_s = recurrence_backward(dos, ds_last, cache.recurrence)
    da_h = da.sum(axis=0) if cache.final else da              # one h served every step
    dh, dW_o, db = linear_backward(da_h, cache.projection)
    grads = {"W_o": dW_o, "W_s": dW_s, "b": db}
    dy_prev = None
    if cache.token_projection is not None:
        dy_prev, grads["W_y"], _ = linear_backward(da, cache.token_projection)
    return dh, ds0, dy_prev, grads


# ---------------------------------------------------------------------------------------
# The cell protocol (docs/conventions.md): what stacks and models call
# ---------------------------------------------------------------------------------------

STATE_NAMES = ("h",)
"""The state is one array, ``h`` ``(N, H)``."""

GATES = 1
"""Rows of the input weight per hidden unit (4 for the LSTM, 3 for the GRU)."""

TORCH_NAMES = {"W_h": "weight_ih", "W_c": "weight_hh", "b": "bias_ih"}
"""Our names -> PyTorch ``nn.RNN`` name stems (``weight_ih_l0`` ...). PyTorch's
second bias ``bias_hh`` has no counterpart: export writes zeros, import adds it
into ``b`` (:mod:`minis2s.cells.torch_io`)."""


def param_shapes(D: int, H: int) -> dict[str, tuple[int, ...]]:
    """``{"W_h": (H, D), "W_c": (H, H), "b": (H,)}`` for input size ``D``, state size ``H``."""
    D = check_positive_int(D, "seed input size D")
    H = check_positive_int(H, "seed state size H")
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
    check_generator(rng, "seed init_params")
    dt = check_float_dtype(dtype, "seed init_params")
    k = 1.0 / np.sqrt(check_positive_int(H, "seed state size H"))
    return {
        name: rng.uniform(-k, k, size=shape).astype(dt)
        for name, shape in param_shapes(D, H).items()
    }


def _check_params(params: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    if not isinstance(params, Mapping):
        raise TypeError(f"seed params: expected a dict with W_h, W_c, b, got {type(params)}")
    missing = [k for k in TORCH_NAMES if k not in params]
    if missing:
        raise ValueError(
            f"seed params: expected keys W_h, W_c, b, missing {', '.join(missing)} "
            f"(got {', '.join(map(str, params))})"
        )
    return params["W_h"], params["W_c"], params["b"]


def _unpack_state(state: Any, what: str) -> Any:
    if state is None:
        return None
    if not isinstance(state, (tuple, list)) or len(state) != 1:
        raise TypeError(f"{what}: expected a 1-tuple (h,), got {type(state).__name__}")
    return state[0]


def step_forward(x: Any, state: Any, params: Mapping[str, Any], f: str = "tanh") -> tuple:
    """Protocol step: ``h_t = f(W_h x_t + W_c h_{t-1} + b)``.

    ``x`` ``(N, D)``, ``state`` ``(h_prev,)`` with ``h_prev`` ``(N, H)`` (or ``None``: zeros),
    ``params`` ``{"W_h", "W_c", "b"}``. Returns ``((h,), cache)``.
    """
    W_h, W_c, b = _check_params(params)
    h_prev = _unpack_state(state, "seed step state")
    if h_prev is None:
        check_float(x, "seed step x (N, D)", ndim=2)
        h_prev = backend.get_xp().zeros((x.shape[0], W_c.shape[0]), dtype=x.dtype)
    h, cache = encoder_step_forward(x, h_prev, W_h, W_c, b, f)
    return (h,), cache


def step_backward(dnew_state: Any, cache: StepCache) -> tuple:
    """Protocol step backward: ``dnew_state`` ``(dh,)`` (``None`` means zero).

    Returns ``(dx (N, D), (dh_prev,) (N, H), {"W_h", "W_c", "b"})``.
    """
    dh = _unpack_state(dnew_state, "seed step dnew_state")
    if dh is None:
        dh = backend.get_xp().zeros_like(cache.y)
    dx, dh_prev, grads = encoder_step_backward(dh, cache)
    return dx, (dh_prev,), grads


def sequence_forward(
    x: Any, state0: Any, params: Mapping[str, Any], mask: Any = None, f: str = "tanh"
) -> tuple:
    """Protocol sequence: :func:`encoder_forward` with ``state0 = (h0,)`` (or ``None``: zeros).

    ``x`` ``(T, N, D)``, ``mask`` ``(T, N)`` or ``None``. Returns
    ``(hs (T, N, H), (h_T,), cache)``; ``h_T`` is a copy of ``hs[-1]``.
    """
    W_h, W_c, b = _check_params(params)
    h0 = _unpack_state(state0, "seed state0")
    hs, cache = encoder_forward(x, h0, W_h, W_c, b, f=f, mask=mask)
    return hs, (hs[-1].copy(),), cache


def sequence_backward(dhs: Any, dstate_T: Any, cache: EncoderCache) -> tuple:
    """Protocol sequence backward (BPTT through :func:`encoder_backward`).

    ``dhs`` ``(T, N, H)`` or ``None``; ``dstate_T`` ``(dh_T,)`` or ``None`` (zero).

    Returns ``(dx (T, N, D), (dh0,) (N, H), {"W_h", "W_c", "b"})``.
    """
    dh_last = _unpack_state(dstate_T, "seed dstate_T")
    dx, dh0, grads = encoder_backward(dhs, cache, dh_last=dh_last)
    return dx, (dh0,), grads

