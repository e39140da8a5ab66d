r"""The LSTM cell: one step, a whole sequence, and their hand-derived backward passes.

The equations, for a batch of ``N`` rows (gate order i, f, g, o, as in PyTorch)::

    a   = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh         (N, 4H), four blocks of H
    i   = sigma(a_i)      input gate                     (N, H)
    f   = sigma(a_f)      forget gate
    g   = tanh(a_g)       candidate cell
    o   = sigma(a_o)      output gate
    c_t = f * c_{t-1} + i * g                            (N, H)
    h_t = o * tanh(c_t)                                  (N, H)

Weights are stored like PyTorch's: ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b_ih (4H,)``,
``b_hh (4H,)`` (rows ``0:H`` are the input gate, ``H:2H`` the forget gate, ...), so
``torch.nn.LSTM``'s ``weight_ih_l0`` *is* our ``W_ih``.

Two implementations of the same cell live here:

* :func:`step_forward` / :func:`step_backward` -- the textbook version, one step,
  one line of code per line of math; read these beside the derivation.
* :func:`sequence_forward` / :func:`sequence_backward` -- the fast version used
  for training. Same equations, arranged for speed (see the docstring of
  :func:`sequence_forward`); the tests prove that looping :func:`step_forward`
  gives the same numbers.

A mask ``m (T, N)`` of 0/1 freezes padded rows: ``s_t = m_t s~_t + (1 - m_t) s_{t-1}``
for both ``h`` and ``c``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.cells import _gated
from minis2s.cells._gated import mask_factors, padded_steps, zeros_if_none
from minis2s.cells._workspace import workspace
from minis2s.cells.validate import check_cell_grad, check_sequence, check_state_grads, check_step
from minis2s.ops.activations import sigmoid, sigmoid_into, tanh_via_exp_into
from minis2s.ops.validate import check_instance

CELL = "lstm"
STATE_NAMES = ("h", "c")
GATES = 4
TORCH_NAMES = dict(_gated.TORCH_NAMES)
PARAM_NAMES = _gated.PARAM_NAMES
LAYOUT = _gated.layout(CELL, GATES, STATE_NAMES)


def param_shapes(D: int, H: int) -> dict[str, tuple[int, ...]]:
    """``{"W_ih": (4H, D), "W_hh": (4H, H), "b_ih": (4H,), "b_hh": (4H,)}``."""
    return _gated.param_shapes(CELL, GATES, D, H)


def init_params(rng: np.random.Generator, D: int, H: int, dtype: Any = np.float32) -> dict:
    """Host (NumPy) parameters for input size ``D`` and hidden size ``H``.

    Every entry is drawn from ``U(-1/sqrt(H), 1/sqrt(H))``, as ``torch.nn.LSTM`` does.
    Move them to the active backend with :func:`minis2s.backend.to_device`.
    """
    return _gated.init_params(CELL, GATES, rng, D, H, dtype)


# ----------------------------------------------------------------------------------------
# One step: the textbook version
# ----------------------------------------------------------------------------------------


class LSTMStepCache(NamedTuple):
    """What :func:`step_backward` needs from :func:`step_forward` (all ``(N, .)`` arrays)."""

    x: Any  # (N, D) input
    h_prev: Any  # (N, H)
    c_prev: Any  # (N, H)
    i: Any  # (N, H) input gate
    f: Any  # (N, H) forget gate
    g: Any  # (N, H) candidate
    o: Any  # (N, H) output gate
    tanh_c: Any  # (N, H) tanh(c_t)
    W_ih: Any  # (4H, D)
    W_hh: Any  # (4H, H)


def step_forward(
    x: Any, state: Any, params: dict
) -> tuple[tuple[Any, Any], LSTMStepCache]:
    """One LSTM step.

    Parameters
    ----------
    x : (N, D) input at this step.
    state : ``(h_prev, c_prev)``, each (N, H); ``None`` (or a ``None`` entry) means zeros.
    params : ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b_ih (4H,)``, ``b_hh (4H,)``.

    Returns
    -------
    ``((h, c), cache)`` with ``h, c`` (N, H)::

        a = x W_ih^T + b_ih + h_prev W_hh^T + b_hh        (N, 4H) = [a_i | a_f | a_g | a_o]
        i, f, o = sigma(a_i), sigma(a_f), sigma(a_o);  g = tanh(a_g)
        c = f * c_prev + i * g
        h = o * tanh(c)
    """
    (h_prev, c_prev), H, dtype = check_step(LAYOUT, x, state, params)
    xp = backend.get_xp()
    h_prev = zeros_if_none(h_prev, (x.shape[0], H), dtype)
    c_prev = zeros_if_none(c_prev, (x.shape[0], H), dtype)
    W_ih, W_hh, b_ih, b_hh = (params[name] for name in PARAM_NAMES)

    a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh  # (N, 4H) all four pre-activations
    i = sigmoid(a[:, 0:H])  # input gate
    f = sigmoid(a[:, H:2 * H])  # forget gate
    g = xp.tanh(a[:, 2 * H:3 * H])  # candidate cell
    o = sigmoid(a[:, 3 * H:4 * H])  # output gate
    c = f * c_prev + i * g  # new cell state
    tanh_c = xp.tanh(c)
    h = o * tanh_c  # new hidden state
    return (h, c), LSTMStepCache(x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh)


def step_backward(dnew_state: Any, cache: LSTMStepCache) -> tuple[Any, tuple[Any, Any], dict]:
    """Backward pass of :func:`step_forward`.

    Parameters
    ----------
    dnew_state : ``(dh, dc)``, gradients of the loss w.r.t. ``h`` and ``c`` (N, H);
        ``None`` entries mean zero.
    cache : from :func:`step_forward`.

    Returns
    -------
    ``(dx, (dh_prev, dc_prev), grads)``: ``dx`` (N, D), ``dh_prev, dc_prev`` (N, H),
    ``grads`` with ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b_ih (4H,)``, ``b_hh (4H,)``.
    The chain rule, read bottom-up through the forward equations::

        do      = dh * tanh(c)                   from h = o * tanh(c)
        dc     += dh * o * (1 - tanh(c)^2)       ... and through tanh(c)
        di      = dc * g                         from c = f * c_prev + i * g
        dg      = dc * i
        df      = dc * c_prev
        dc_prev = dc * f
        da_i    = di * i (1 - i)                 sigma' = sigma (1 - sigma)
        da_f    = df * f (1 - f)
        da_g    = dg * (1 - g^2)                 tanh' = 1 - tanh^2
        da_o    = do * o (1 - o)
        da      = [da_i | da_f | da_g | da_o]    (N, 4H)
        dx      = da W_ih,   dh_prev = da W_hh   from a = x W_ih^T + h_prev W_hh^T + b
        dW_ih   = da^T x,    dW_hh   = da^T h_prev,    db_ih = db_hh = sum_n da
    """
    check_instance(cache, LSTMStepCache, "lstm step_backward cache", "lstm step_forward")
    (N, H), dtype = cache.h_prev.shape, cache.h_prev.dtype
    dh, dc = check_state_grads(LAYOUT, dnew_state, N, H, dtype, "dnew_state")
    dh, dc = zeros_if_none(dh, (N, H), dtype), zeros_if_none(dc, (N, H), dtype)
    xp = backend.get_xp()
    i, f, g, o, tanh_c, c_prev = cache.i, cache.f, cache.g, cache.o, cache.tanh_c, cache.c_prev

    # A tag such as L3 below numbers the equation of the docs' LSTM page the line computes
    do = dh * tanh_c  # (L1) from h = o * tanh(c)
    dc = dc + dh * o * (1 - tanh_c**2)  # (L2) and through tanh(c); a new array
    di = dc * g  # (L3) from c = f * c_prev + i * g
    dg = dc * i  # (L4)
    df = dc * c_prev  # (L5)
    dc_prev = dc * f  # (L6)
    da_i = di * i * (1 - i)  # (L7) i = sigma(a_i)
    da_f = df * f * (1 - f)  # (L8) f = sigma(a_f)
    da_g = dg * (1 - g**2)  # (L9) g = tanh(a_g)
    da_o = do * o * (1 - o)  # (L10) o = sigma(a_o)
    da = xp.concatenate([da_i, da_f, da_g, da_o], axis=1)  # (L11) (N, 4H)
    dx = da @ cache.W_ih  # (L12) from a = x W_ih^T + h_prev W_hh^T + b
    dh_prev = da @ cache.W_hh  # (L13)
    db = da.sum(axis=0)  # (L14) a sum over the batch's rows
    grads = {"W_ih": da.T @ cache.x, "W_hh": da.T @ cache.h_prev,  # (L15)
             "b_ih": db, "b_hh": db.copy()}
    return dx, (dh_prev, dc_prev), grads


# ----------------------------------------------------------------------------------------
# A whole sequence: the fast version
# ----------------------------------------------------------------------------------------


class LSTMSequenceCache(NamedTuple):
    """What :func:`sequence_backward` needs. ``gates[k, t]`` is gate ``k`` (i, f, g, o)
    at step ``t``; ``hs[t + 1]`` and ``cs[t + 1]`` are the states after step ``t``."""

    x: Any  # (T, N, D)
    gates: Any  # (4, T, N, H) i, f, g, o after their nonlinearity
    hs: Any  # (T+1, N, H) h_0 .. h_T (h_0 = initial state; hs[1:] is the output)
    cs: Any  # (T+1, N, H) c_0 .. c_T
    tanh_c: Any  # (T, N, H) tanh(c~_t) of the unmasked new cell state
    m: Any  # (T, N, 1) mask as floats, or None
    keep: Any  # (T, N, 1) bool, True where the state is carried (mask 0), or None
    W_ih: Any  # (4H, D)
    W_hh: Any  # (4H, H)
    zero_h0: bool  # h_0 was not given (zeros): step 0 had no recurrent product


def sequence_forward(
    x: Any, state0: Any, params: dict, mask: Any = None
) -> tuple[Any, tuple[Any, Any], LSTMSequenceCache]:
    """Run the LSTM over ``T`` steps.

    Parameters
    ----------
    x : (T, N, D) inputs, time-major.
    state0 : ``(h0, c0)``, each (N, H); ``None`` (or a ``None`` entry) means zeros.
    params : ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b_ih (4H,)``, ``b_hh (4H,)``.
    mask : optional (T, N) of 0/1 (any number or bool dtype). Where ``mask[t, n] = 0``
        row ``n`` keeps its state: ``h_t = m_t h~_t + (1 - m_t) h_{t-1}`` (same for ``c``),
        where ``h~_t, c~_t`` are the step equations of :func:`step_forward`.

    Returns
    -------
    ``(hs, (h_T, c_T), cache)``: ``hs`` (T, N, H) with ``hs[t] = h_t``; ``h_T, c_T`` (N, H).
    ``hs`` and the final states are views into the workspace held by ``cache``: do not
    write into them before :func:`sequence_backward`, and ``.copy()`` them to keep them
    without keeping the whole workspace alive.

    How it is fast (each rearrangement computes exactly the step equations):

    1. *Gate-major layout.* Pre-activations live in a ``(4, T, N, H)`` buffer, so each
       gate of each step is one contiguous ``(N, H)`` block: elementwise ops on
       slices of an ``(N, 4H)`` array run 2-4x slower. ``W_hh`` is viewed as four
       ``(H, H)`` blocks and one batched product fills all four gates:
       ``a_k = h_{t-1} W_k^T``.
    2. *Inputs projected once.* ``x_t W_ih^T + b_ih + b_hh`` does not depend on the
       recurrence, so it is computed for all ``T`` steps in one product before the loop.
    3. *One workspace per call* (:func:`minis2s.cells._workspace.workspace`); the loop writes
       into it with ``out=`` and allocates nothing.
    4. *One* ``exp`` *for the four gates.* ``tanh(a_g) = 2 sigma(2 a_g) - 1``, so every
       gate is a sigmoid, and one pass of ``exp`` over the step's ``(4, N, H)`` block
       turns them all (:func:`gates_forward_into`); ``tanh(c_t)`` the same way
       (:func:`minis2s.ops.activations.tanh_via_exp`). NumPy's float32 ``exp`` costs
       about half of its ``tanh``; the results differ from ``tanh``'s by rounding only.
    """
    (h0, c0), mask, H, dtype = check_sequence(LAYOUT, x, state0, params, mask)
    xp = backend.get_xp()
    T, N, D = x.shape
    m, keep = mask_factors(mask, dtype)
    W_ih, W_hh, b_ih, b_hh = (params[name] for name in PARAM_NAMES)

    # U_ih[k] = W_k_ih^T (D, H) and U_hh[k] = W_k_hh^T (H, H): gate k of W, transposed.
    U_ih = W_ih.reshape(GATES, H, D).transpose(0, 2, 1)
    gates, hs, cs, tanh_c, rec, ig = workspace(
        dtype, (GATES, T, N, H), (T + 1, N, H), (T + 1, N, H), (T, N, H), (GATES, N, H), (N, H))
    (U_hh,) = workspace(dtype, (GATES, H, H))  # its own block: free again when we return
    xp.copyto(U_hh, W_hh.reshape(GATES, H, H).transpose(0, 2, 1))  # contiguous gate blocks
    # a_k[t] = x_t W_k_ih^T + b_k_ih + b_k_hh for every t: one (batched) product.
    xp.matmul(x.reshape(T * N, D), U_ih, out=gates.reshape(GATES, T * N, H))
    gates += (b_ih + b_hh).reshape(GATES, 1, 1, H)
    hs[0] = 0 if h0 is None else h0
    cs[0] = 0 if c0 is None else c0
    padded = padded_steps(keep, T)
    with np.errstate(over="ignore"):  # exp overflows to inf: the gates' right limits
        for t in range(T):
            a = gates[:, t]  # (4, N, H): pre-activations, turned into the gates in place
            if t == 0 and h0 is None:
                rec[...] = 0  # h_0 = 0: no product needed
            else:
                xp.matmul(hs[t], U_hh, out=rec)  # h_{t-1} W_hh^T, gate by gate
            a += rec  # a = x_t W_ih^T + b + h_{t-1} W_hh^T
            gates_forward_into(a)  # i, f, g, o = sigma(a_i), sigma(a_f), tanh(a_g), sigma(a_o)
            i, f, g, o = a
            xp.multiply(f, cs[t], out=cs[t + 1])  # c_t = f * c_{t-1}
            xp.multiply(i, g, out=ig)
            cs[t + 1] += ig  # ... + i * g
            tanh_via_exp_into(cs[t + 1], out=tanh_c[t])
            xp.multiply(o, tanh_c[t], out=hs[t + 1])  # h_t = o * tanh(c_t)
            if padded[t]:  # mask 0: carry the previous state unchanged
                xp.copyto(hs[t + 1], hs[t], where=keep[t])
                xp.copyto(cs[t + 1], cs[t], where=keep[t])
    cache = LSTMSequenceCache(x, gates, hs, cs, tanh_c, m, keep, W_ih, W_hh, h0 is None)
    return hs[1:], (hs[T], cs[T]), cache


def sequence_backward(
    dhs: Any, dstate_T: Any, cache: LSTMSequenceCache
) -> tuple[Any, tuple[Any, Any], dict]:
    """Backward pass of :func:`sequence_forward`.

    Parameters
    ----------
    dhs : (T, N, H) gradient w.r.t. ``hs``, or ``None`` (zero, e.g. an encoder whose
        only output is its final state).
    dstate_T : ``(dh_T, dc_T)`` (N, H) gradients w.r.t. the final states; ``None`` entries
        (or ``None``) mean zero.
    cache : from :func:`sequence_forward`.

    Returns
    -------
    ``(dx, (dh0, dc0), grads)``: ``dx`` (T, N, D), ``dh0, dc0`` (N, H), ``grads`` with
    ``W_ih (4H, D)``, ``W_hh (4H, H)``, ``b_ih (4H,)``, ``b_hh (4H,)``.

    Each step runs the lines of :func:`step_backward`, with ``dh`` at step ``t`` being
    ``dhs[t]`` plus what flows back from step ``t + 1``. A mask splits it:
    ``dh~_t = m_t dh_t`` enters the cell, ``(1 - m_t) dh_t`` skips to ``h_{t-1}``
    (same for ``c``). The pre-activation gradients ``da_t = [da_i | da_f | da_g | da_o]``
    of all steps are kept in one ``(T, N, 4H)`` buffer (PyTorch's fused layout), so
    ``dh_prev = da_t W_hh`` is one product per step, and after the loop one product
    each over all ``T*N`` rows gives::

        dx    = dA W_ih                  dA = da of every step, (T*N, 4H)
        dW_ih = dA^T X                   X  = x of every step,  (T*N, D)
        dW_hh = dA^T H_prev              H_prev = h_0 .. h_{T-1}, (T*N, H)
        db    = sum of the rows of dA
    """
    check_instance(cache, LSTMSequenceCache, "lstm sequence_backward cache",
                   "lstm sequence_forward")
    x, gates, hs, cs, tanh_c, m = cache.x, cache.gates, cache.hs, cache.cs, cache.tanh_c, cache.m
    T, N, D = x.shape
    H, dtype = hs.shape[2], hs.dtype
    check_cell_grad(LAYOUT, dhs, (T, N, H), dtype, "dhs")
    dh_T, dc_T = check_state_grads(LAYOUT, dstate_T, N, H, dtype, "dstate_T")
    xp = backend.get_xp()
    dA, dh, dc, tmp = workspace(dtype, (T, N, GATES * H), (N, H), (N, H), (N, H))
    dh[...] = 0 if dh_T is None else dh_T  # running dL/dh_t and dL/dc_t (copies: the
    dc[...] = 0 if dc_T is None else dc_T  # caller's arrays stay as they are)
    padded = padded_steps(cache.keep, T)  # steps where some row was carried
    if m is not None:
        skip = 1 - m  # (T, N, 1): 1 where the state was carried
        dh_skip, dc_skip = workspace(dtype, (N, H), (N, H))
    for t in range(T - 1, -1, -1):
        if dhs is not None:
            dh += dhs[t]  # h_t is an output and feeds step t+1
        if padded[t]:  # s_t = m s~_t + (1 - m) s_{t-1}
            xp.multiply(dh, skip[t], out=dh_skip)
            xp.multiply(dc, skip[t], out=dc_skip)
            dh *= m[t]
            dc *= m[t]
        _gates_backward_into(dA[t], dh, dc, gates[:, t], tanh_c[t], cs[t], tmp)
        xp.matmul(dA[t], cache.W_hh, out=dh)  # dh_prev = da W_hh
        if padded[t]:
            dh += dh_skip
            dc += dc_skip

    dA = dA.reshape(T * N, GATES * H)
    dx, dW_ih, dW_hh, db = workspace(dtype, (T, N, D), (GATES * H, D), (GATES * H, H),
                                     (GATES * H,))
    xp.matmul(dA, cache.W_ih, out=dx.reshape(T * N, D))
    xp.matmul(dA.T, x.reshape(T * N, D), out=dW_ih)
    # dW_hh = dA^T H_prev; with h_0 = 0 the rows of step 0 add nothing, so skip them
    first = N if cache.zero_h0 else 0
    xp.matmul(dA[first:].T, hs[:T].reshape(T * N, H)[first:], out=dW_hh)  # h_0 .. h_{T-1}
    dA.sum(axis=0, out=db)
    grads = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy()}
    return dx, (dh.copy(), dc.copy()), grads


def gates_forward_into(a: Any) -> None:
    """One step's gate nonlinearities, in place on ``a (4, N, H) = [a_i, a_f, a_g, a_o]``
    (a core of the fast loops, here and in the attention decoder: no checks):
    ``i, f, o = sigma(a_i), sigma(a_f), sigma(a_o)`` and ``g = tanh(a_g) = 2 sigma(2 a_g) - 1``.

    Written as one sigmoid over the four blocks, so that a single ``exp`` pass serves
    them all::

        a_g <- 2 a_g
        a   <- 1 / (1 + exp(-a))         = [i, f, sigma(2 a_g), o]   (sigmoid_into)
        a_g <- 2 a_g - 1                 = tanh(a_g)

    Where ``exp`` overflows (``a`` below about -88 in float32) the gate is
    ``1 / inf = 0``, the right limit (and ``g = -1``); the caller's loop holds
    ``np.errstate(over="ignore")`` (once for all its steps: entering it costs as much
    as a pass over a hidden-64 block).
    """
    a[2] *= 2.0
    sigmoid_into(a, out=a)
    g = a[2]
    g *= 2.0
    g -= 1.0


def _gates_backward_into(da: Any, dh: Any, dc: Any, gates: Any, tc: Any, c_prev: Any,
                         tmp: Any) -> None:
    """One step of :func:`sequence_backward`: the lines of :func:`step_backward`, in place.

    Writes ``da`` ``(N, 4H) = [da_i | da_f | da_g | da_o]`` and turns ``dc`` into
    ``dc_prev``; ``gates`` ``(4, N, H)`` are ``i, f, g, o`` of the step, ``tc = tanh(c_t)``,
    ``tmp`` an ``(N, H)`` scratch buffer; ``dh`` is read only.
    """
    xp = backend.get_xp()
    i, f, g, o = gates
    H = i.shape[1]
    da_i, da_f, da_g, da_o = (da[:, k * H:(k + 1) * H] for k in range(GATES))
    xp.multiply(tc, tc, out=tmp)  # (L2) dc += dh * o * (1 - tanh(c)^2)
    xp.subtract(1, tmp, out=tmp)
    tmp *= o
    tmp *= dh
    dc += tmp
    xp.subtract(1, o, out=tmp)  # (L10) da_o = (dh * tanh(c)) * o (1 - o)
    tmp *= o
    tmp *= tc
    xp.multiply(dh, tmp, out=da_o)
    xp.subtract(1, i, out=tmp)  # (L7) da_i = (dc * g) * i (1 - i)
    tmp *= i
    tmp *= g
    xp.multiply(dc, tmp, out=da_i)
    xp.subtract(1, f, out=tmp)  # (L8) da_f = (dc * c_prev) * f (1 - f)
    tmp *= f
    tmp *= c_prev
    xp.multiply(dc, tmp, out=da_f)
    xp.multiply(g, g, out=tmp)  # (L9) da_g = (dc * i) * (1 - g^2)
    xp.subtract(1, tmp, out=tmp)
    tmp *= i
    xp.multiply(dc, tmp, out=da_g)
    dc *= f  # (L6) dc_prev = dc * f
