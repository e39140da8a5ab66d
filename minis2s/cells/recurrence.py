r"""The one formula behind both of the article's recurrences, one step and a whole sequence.

The encoder ``h_t = f(W_h x_t + W_c h_{t-1} + b)`` and the decoder
``o_t = g(W_o h_t + W_s s_{t-1} [+ W_y y_{t-1}] + b)`` are one formula with
different names: *an activation of an affine function of some inputs, one of which
is the previous state*,

    y = act(b + sum_k W_k x_k),

so it is implemented once, here (:func:`recurrent_step_forward`, and
:func:`recurrence_forward` for a whole sequence), and :mod:`minis2s.cells.rnn` and
:mod:`minis2s.cells.rnn_decoder` only name the arguments. The functions here do not
validate their inputs: the public functions that call them do, once.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from minis2s import backend
from minis2s.ops.activations import get_activation


class RNNStepCache(NamedTuple):
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
) -> tuple[Any, RNNStepCache]:
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
    return y, RNNStepCache(tuple(inputs), tuple(weights), y, fn.name)


def recurrent_step_backward(dy: Any, cache: RNNStepCache) -> tuple[tuple, tuple, Any]:
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
