r"""The GRU cell: one step, a whole sequence, and their hand-derived backward passes.

The equations, for a batch of ``N`` rows (gate order r, z, n, as in PyTorch)::

    gi  = W_ih x_t + b_ih           (N, 3H) = [gi_r | gi_z | gi_n]
    gh  = W_hh h_{t-1} + b_hh       (N, 3H) = [gh_r | gh_z | gh_n]
    r   = sigma(gi_r + gh_r)        reset gate                      (N, H)
    z   = sigma(gi_z + gh_z)        update gate
    n   = tanh(gi_n + r * gh_n)     candidate; r scales W_hn h + b_hn, bias included
    h_t = (1 - z) * n + z * h_{t-1}

The reset gate multiplies ``W_hn h_{t-1} + b_hn`` (PyTorch's and cuDNN's GRU), not
``h_{t-1}`` before the product (the original paper's); this is why ``b_hn`` cannot be
merged into ``b_in``. Weights are stored like PyTorch's: ``W_ih (3H, D)``,
``W_hh (3H, H)``, ``b_ih (3H,)``, ``b_hh (3H,)``.

As in :mod:`minis2s.cells.lstm`: :func:`step_forward` / :func:`step_backward` are the
textbook version (one line of code per line of math), :func:`sequence_forward` /
:func:`sequence_backward` the fast one used for training, and a mask ``m (T, N)`` of
0/1 freezes padded rows: ``h_t = m_t h~_t + (1 - m_t) h_{t-1}``.
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

CELL = "gru"
STATE_NAMES = ("h",)
GATES = 3
TORCH_NAMES = dict(_gated.TORCH_NAMES)
PARAM_NAMES = _gated.PARAM_NAMES
LAYOUT = _gated.layout(CELL, GATES, STATE_NAMES)


def param_shapes(D: int, H: int) -> dict[str, tuple[int, ...]]:
    """``{"W_ih": (3H, D), "W_hh": (3H, H), "b_ih": (3H,), "b_hh": (3H,)}``."""
    return _gated.param_shapes(CELL, GATES, D, H)


def init_params(rng: np.random.Generator, D: int, H: int, dtype: Any = np.float32) -> dict:
    """Host (NumPy) parameters for input size ``D`` and hidden size ``H``.

    Every entry is drawn from ``U(-1/sqrt(H), 1/sqrt(H))``, as ``torch.nn.GRU`` does.
    Move them to the active backend with :func:`minis2s.backend.to_device`.
    """
    return _gated.init_params(CELL, GATES, rng, D, H, dtype)


# ----------------------------------------------------------------------------------------
# One step: the textbook version
# ----------------------------------------------------------------------------------------


class GRUStepCache(NamedTuple):
    """What :func:`step_backward` needs from :func:`step_forward`."""

    x: Any  # (N, D) input
    h_prev: Any  # (N, H)
    r: Any  # (N, H) reset gate
    z: Any  # (N, H) update gate
    n: Any  # (N, H) candidate
    gh_n: Any  # (N, H) W_hn h_prev + b_hn, the term the reset gate scales
    W_ih: Any  # (3H, D)
    W_hh: Any  # (3H, H)


def step_forward(x: Any, state: Any, params: dict) -> tuple[tuple[Any], GRUStepCache]:
    """One GRU step.

    Parameters
    ----------
    x : (N, D) input at this step.
    state : ``(h_prev,)`` with ``h_prev`` (N, H); ``None`` (or ``(None,)``) means zeros.
    params : ``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih (3H,)``, ``b_hh (3H,)``.

    Returns
    -------
    ``((h,), cache)`` with ``h`` (N, H)::

        gi = x W_ih^T + b_ih,   gh = h_prev W_hh^T + b_hh          (N, 3H)
        r  = sigma(gi_r + gh_r),   z = sigma(gi_z + gh_z)
        n  = tanh(gi_n + r * gh_n)
        h  = (1 - z) * n + z * h_prev
    """
    (h_prev,), H, dtype = check_step(LAYOUT, x, state, params)
    xp = backend.get_xp()
    h_prev = zeros_if_none(h_prev, (x.shape[0], H), dtype)
    W_ih, W_hh, b_ih, b_hh = (params[name] for name in PARAM_NAMES)

    gi = x @ W_ih.T + b_ih  # (N, 3H) input part of the three pre-activations
    gh = h_prev @ W_hh.T + b_hh  # (N, 3H) recurrent part
    r = sigmoid(gi[:, 0:H] + gh[:, 0:H])  # reset gate
    z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])  # update gate
    gh_n = gh[:, 2 * H:3 * H]
    n = xp.tanh(gi[:, 2 * H:3 * H] + r * gh_n)  # candidate state
    h = (1 - z) * n + z * h_prev  # new hidden state
    return (h,), GRUStepCache(x, h_prev, r, z, n, gh_n, W_ih, W_hh)


def step_backward(dnew_state: Any, cache: GRUStepCache) -> tuple[Any, tuple[Any], dict]:
    """Backward pass of :func:`step_forward`.

    Parameters
    ----------
    dnew_state : ``(dh,)``, gradient of the loss w.r.t. ``h`` (N, H); ``None`` means zero.
    cache : from :func:`step_forward`.

    Returns
    -------
    ``(dx, (dh_prev,), grads)``: ``dx`` (N, D), ``dh_prev`` (N, H), ``grads`` with
    ``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih (3H,)``, ``b_hh (3H,)``.
    The chain rule, read bottom-up through the forward equations::

        dn      = dh * (1 - z)                   from h = (1 - z) n + z h_prev
        dz      = dh * (h_prev - n)
        dh_prev = dh * z                         (the direct path; more below)
        da_n    = dn * (1 - n^2)                 n = tanh(a_n), a_n = gi_n + r gh_n
        dr      = da_n * gh_n
        dgh_n   = da_n * r
        da_r    = dr * r (1 - r)                 r = sigma(gi_r + gh_r)
        da_z    = dz * z (1 - z)                 z = sigma(gi_z + gh_z)
        dgi     = [da_r | da_z | da_n]           (N, 3H)
        dgh     = [da_r | da_z | dgh_n]          (N, 3H)
        dx      = dgi W_ih,   dh_prev += dgh W_hh
        dW_ih   = dgi^T x,    db_ih = sum_n dgi
        dW_hh   = dgh^T h_prev,   db_hh = sum_n dgh
    """
    check_instance(cache, GRUStepCache, "gru step_backward cache", "gru step_forward")
    (N, H), dtype = cache.h_prev.shape, cache.h_prev.dtype
    (dh,) = check_state_grads(LAYOUT, dnew_state, N, H, dtype, "dnew_state")
    dh = zeros_if_none(dh, (N, H), dtype)
    xp = backend.get_xp()
    h_prev, r, z, n, gh_n = cache.h_prev, cache.r, cache.z, cache.n, cache.gh_n

    # A tag such as G3 below numbers the equation of the docs' GRU page the line computes
    dn = dh * (1 - z)  # (G1) from h = (1 - z) * n + z * h_prev
    dz = dh * (h_prev - n)  # (G2)
    dh_prev = dh * z  # (G3) the direct path; (G12) adds the rest
    da_n = dn * (1 - n**2)  # (G4) n = tanh(a_n)
    dr = da_n * gh_n  # (G5) a_n = gi_n + r * gh_n
    dgh_n = da_n * r  # (G6)
    da_r = dr * r * (1 - r)  # (G7) r = sigma(gi_r + gh_r)
    da_z = dz * z * (1 - z)  # (G8) z = sigma(gi_z + gh_z)
    dgi = xp.concatenate([da_r, da_z, da_n], axis=1)  # (G9) (N, 3H)
    dgh = xp.concatenate([da_r, da_z, dgh_n], axis=1)  # (G10) (N, 3H)
    dx = dgi @ cache.W_ih  # (G11) from gi = x W_ih^T + b_ih
    dh_prev = dh_prev + dgh @ cache.W_hh  # (G12) from gh = h_prev W_hh^T + b_hh
    grads = {"W_ih": dgi.T @ cache.x, "W_hh": dgh.T @ h_prev,  # (G13)
             "b_ih": dgi.sum(axis=0), "b_hh": dgh.sum(axis=0)}  # (G14)
    return dx, (dh_prev,), grads


# ----------------------------------------------------------------------------------------
# A whole sequence: the fast version
# ----------------------------------------------------------------------------------------


class GRUSequenceCache(NamedTuple):
    """What :func:`sequence_backward` needs. ``gates[k, t]`` is gate ``k`` (r, z, n)
    at step ``t``; ``hs[t + 1]`` is the state after step ``t``."""

    x: Any  # (T, N, D)
    gates: Any  # (3, T, N, H) r, z, n after their nonlinearity
    gh_n: Any  # (T, N, H) W_hn h_{t-1} + b_hn
    hs: Any  # (T+1, N, H) h_0 .. h_T (h_0 = initial state; hs[1:] is the output)
    m: Any  # (T, N, 1) mask as floats, or None
    keep: Any  # (T, N, 1) bool, True where the state is carried (mask 0), or None
    W_ih: Any  # (3H, D)
    W_hh: Any  # (3H, H)
    zero_h0: bool  # h_0 was not given (zeros): step 0 had no recurrent product


def sequence_forward(
    x: Any, state0: Any, params: dict, mask: Any = None
) -> tuple[Any, tuple[Any], GRUSequenceCache]:
    """Run the GRU over ``T`` steps.

    Parameters
    ----------
    x : (T, N, D) inputs, time-major.
    state0 : ``(h0,)`` with ``h0`` (N, H); ``None`` (or ``(None,)``) means zeros.
    params : ``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih (3H,)``, ``b_hh (3H,)``.
    mask : optional (T, N) of 0/1. Where ``mask[t, n] = 0`` row ``n`` keeps its state:
        ``h_t = m_t h~_t + (1 - m_t) h_{t-1}``, ``h~_t`` from the step equations.

    Returns
    -------
    ``(hs, (h_T,), cache)``: ``hs`` (T, N, H) with ``hs[t] = h_t``; ``h_T`` (N, H).
    ``hs`` and ``h_T`` are views into the workspace held by ``cache``: do not write into
    them before :func:`sequence_backward`, and ``.copy()`` them to keep them without
    keeping the whole workspace alive.

    Arranged for speed exactly as :func:`minis2s.cells.lstm.sequence_forward`: a
    gate-major ``(3, T, N, H)`` buffer (each gate of each step contiguous), the input
    part ``gi`` of all steps in one product before the loop (with ``b_hr, b_hz`` folded
    in; ``b_hn`` stays inside ``r * gh_n``), one batched product ``h_{t-1} W_k^T`` per
    step, one workspace per call, ``tanh`` as :func:`minis2s.ops.activations.tanh_via_exp`
    (one ``exp``). The last line is computed as
    ``h_t = n + z * (h_{t-1} - n)``, the same value in one pass fewer.
    """
    (h0,), mask, H, dtype = check_sequence(LAYOUT, x, state0, params, mask)
    xp = backend.get_xp()
    T, N, D = x.shape
    m, keep = mask_factors(mask, dtype)
    W_ih, W_hh, b_ih, b_hh = (params[name] for name in PARAM_NAMES)

    U_ih = W_ih.reshape(GATES, H, D).transpose(0, 2, 1)  # U_ih[k] = W_k_ih^T (D, H)
    b_hn = b_hh[2 * H:3 * H]
    # gi_k[t] = x_t W_k_ih^T + b_k_ih for every t in one (batched) product; r and z
    # also take their recurrent bias here, since it is simply added.
    gates, gh_n, hs, rec, tmp = workspace(
        dtype, (GATES, T, N, H), (T, N, H), (T + 1, N, H), (GATES, N, H), (N, H))
    (U_hh,) = workspace(dtype, (GATES, H, H))  # its own block: free again when we return
    xp.copyto(U_hh, W_hh.reshape(GATES, H, H).transpose(0, 2, 1))  # U_hh[k] = W_k_hh^T
    xp.matmul(x.reshape(T * N, D), U_ih, out=gates.reshape(GATES, T * N, H))
    gates += b_ih.reshape(GATES, 1, 1, H)
    gates[0:2] += b_hh[0:2 * H].reshape(2, 1, 1, H)
    hs[0] = 0 if h0 is None else h0
    padded = padded_steps(keep, T)
    with np.errstate(over="ignore"):  # exp overflows to inf: tanh's right limit
        for t in range(T):
            a = gates[:, t]  # (3, N, H): gi (+ b_hr, b_hz), turned into r, z, n in place
            if t == 0 and h0 is None:
                rec[...] = 0  # h_0 = 0: no product needed
            else:
                xp.matmul(hs[t], U_hh, out=rec)  # h_{t-1} W_hh^T, gate by gate
            a[0:2] += rec[0:2]
            sigmoid_into(a[0:2], out=a[0:2])  # r, z = sigma(gi_r + gh_r), sigma(gi_z + gh_z)
            r, z, n = a
            xp.add(rec[2], b_hn, out=gh_n[t])  # gh_n = h_{t-1} W_hn^T + b_hn
            xp.multiply(r, gh_n[t], out=tmp)
            n += tmp
            tanh_via_exp_into(n, out=n)  # n = tanh(gi_n + r * gh_n)
            xp.subtract(hs[t], n, out=tmp)  # h_t = (1 - z) n + z h_{t-1} = n + z (h_{t-1} - n)
            tmp *= z
            xp.add(n, tmp, out=hs[t + 1])
            if padded[t]:  # mask 0: carry the previous state unchanged
                xp.copyto(hs[t + 1], hs[t], where=keep[t])
    cache = GRUSequenceCache(x, gates, gh_n, hs, m, keep, W_ih, W_hh, h0 is None)
    return hs[1:], (hs[T],), cache


def sequence_backward(
    dhs: Any, dstate_T: Any, cache: GRUSequenceCache
) -> tuple[Any, tuple[Any], dict]:
    """Backward pass of :func:`sequence_forward`.

    Parameters
    ----------
    dhs : (T, N, H) gradient w.r.t. ``hs``, or ``None`` (zero).
    dstate_T : ``(dh_T,)`` (N, H) gradient w.r.t. the final state; ``None`` means zero.
    cache : from :func:`sequence_forward`.

    Returns
    -------
    ``(dx, (dh0,), grads)``: ``dx`` (T, N, D), ``dh0`` (N, H), ``grads`` with
    ``W_ih (3H, D)``, ``W_hh (3H, H)``, ``b_ih (3H,)``, ``b_hh (3H,)``.

    Each step runs the lines of :func:`step_backward`; a mask splits ``dh_t`` into
    ``m_t dh_t`` (into the cell) and ``(1 - m_t) dh_t`` (straight to ``h_{t-1}``).
    ``dgh_t = [da_r | da_z | dgh_n]`` of all steps is kept in one ``(T, N, 3H)``
    buffer (PyTorch's fused layout), so ``dh_prev += dgh_t W_hh`` is one product per
    step, and ``da_n`` in a ``(T, N, H)`` one. Since ``dgi = [da_r | da_z | da_n]``
    shares its first two blocks with ``dgh``, after the loop over all ``T*N`` rows::

        dW_hh = dGH^T H_prev,   db_hh = sum of the rows of dGH
        dW_ih = [dGH_rz | dA_n]^T X,   dx = dGH_rz W_ih_rz + dA_n W_in
    """
    check_instance(cache, GRUSequenceCache, "gru sequence_backward cache",
                   "gru sequence_forward")
    x, gates, gh_n, hs, m, W_ih = cache.x, cache.gates, cache.gh_n, cache.hs, cache.m, cache.W_ih
    T, N, D = x.shape
    H, dtype = hs.shape[2], hs.dtype
    check_cell_grad(LAYOUT, dhs, (T, N, H), dtype, "dhs")
    (dh_T,) = check_state_grads(LAYOUT, dstate_T, N, H, dtype, "dstate_T")
    xp = backend.get_xp()
    dGH, dA_n, dh, rec, tmp, tmp2 = workspace(
        dtype, (T, N, GATES * H), (T, N, H), (N, H), (N, H), (N, H), (N, H))
    dh[...] = 0 if dh_T is None else dh_T  # running dL/dh_t (a copy: the caller's stays)
    padded = padded_steps(cache.keep, T)  # steps where some row was carried
    if m is not None:
        skip = 1 - m  # (T, N, 1): 1 where the state was carried
        (dh_skip,) = workspace(dtype, (N, H))
    for t in range(T - 1, -1, -1):
        if dhs is not None:
            dh += dhs[t]  # h_t is an output and feeds step t+1
        if padded[t]:  # h_t = m h~_t + (1 - m) h_{t-1}
            xp.multiply(dh, skip[t], out=dh_skip)
            dh *= m[t]
        _gates_backward_into(dGH[t], dA_n[t], dh, gates[:, t], gh_n[t], hs[t], tmp, tmp2)
        dh *= gates[1, t]  # dh_prev = dh * z  ...
        xp.matmul(dGH[t], cache.W_hh, out=rec)  # ... + dgh W_hh
        dh += rec
        if padded[t]:
            dh += dh_skip

    dGH = dGH.reshape(T * N, GATES * H)
    dA_n = dA_n.reshape(T * N, H)
    X = x.reshape(T * N, D)
    dGH_rz, W_ih_rz, W_in = dGH[:, :2 * H], W_ih[:2 * H], W_ih[2 * H:]
    dx = dGH_rz @ W_ih_rz  # dx = dgi W_ih, with dgi = [da_r | da_z | da_n]
    dx += dA_n @ W_in
    dW_ih = xp.empty((GATES * H, D), dtype=dtype)
    xp.matmul(dGH_rz.T, X, out=dW_ih[:2 * H])
    xp.matmul(dA_n.T, X, out=dW_ih[2 * H:])
    # dW_hh = dGH^T H_prev; with h_0 = 0 the rows of step 0 add nothing, so skip them
    first = N if cache.zero_h0 else 0
    dW_hh = dGH[first:].T @ hs[:T].reshape(T * N, H)[first:]  # hs[:T] = h_0 .. h_{T-1}
    db_hh = dGH.sum(axis=0)
    db_ih = db_hh.copy()
    db_ih[2 * H:] = dA_n.sum(axis=0)
    grads = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db_ih, "b_hh": db_hh}
    return dx.reshape(T, N, D), (dh.copy(),), grads


def _gates_backward_into(dgh: Any, da_n: Any, dh: Any, gates: Any, gh_n: Any, h_prev: Any,
                         tmp: Any, tmp2: Any) -> None:
    """One step of :func:`sequence_backward`: the lines of :func:`step_backward`, in place.

    Writes ``dgh`` ``(N, 3H) = [da_r | da_z | dgh_n]`` and ``da_n`` ``(N, H)``;
    ``gates`` ``(3, N, H)`` are ``r, z, n`` of the step, ``gh_n = W_hn h_{t-1} + b_hn``,
    ``tmp`` and ``tmp2`` ``(N, H)`` scratch buffers; ``dh`` is read only.
    """
    xp = backend.get_xp()
    r, z, n = gates
    H = r.shape[1]
    da_r, da_z, dgh_n = (dgh[:, k * H:(k + 1) * H] for k in range(GATES))
    xp.subtract(1, z, out=tmp)  # (G1) dn = dh * (1 - z)
    xp.multiply(dh, tmp, out=da_n)
    xp.multiply(n, n, out=tmp)  # (G4) da_n = dn * (1 - n^2)
    xp.subtract(1, tmp, out=tmp)
    da_n *= tmp
    xp.multiply(da_n, r, out=dgh_n)  # (G6) dgh_n = da_n * r
    xp.subtract(1, r, out=tmp)  # (G7) da_r = (da_n * gh_n) * r (1 - r)
    tmp *= r
    tmp *= gh_n
    xp.multiply(da_n, tmp, out=da_r)
    xp.subtract(h_prev, n, out=tmp)  # (G8) da_z = (dh * (h_prev - n)) * z (1 - z)
    tmp *= dh
    xp.subtract(1, z, out=tmp2)
    tmp2 *= z
    xp.multiply(tmp, tmp2, out=da_z)
