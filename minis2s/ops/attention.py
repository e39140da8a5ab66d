r"""Attention: the third reading of the decoder's :math:`h_t`, a mix of all encoder states.

At decoder step :math:`t` the *query* is the decoder's previous top state
:math:`s_{t-1}`; the *values* are the encoder states :math:`\bar h_j`,
:math:`j = 1..T_s`. A scorer gives one number per source position,

.. math::
    e_{tj} = \begin{cases}
      s_{t-1}^\top \bar h_j                                  & \text{dot (Luong)} \\
      s_{t-1}^\top W_a \bar h_j                              & \text{general (Luong)} \\
      v^\top \tanh(W_q s_{t-1} + W_k \bar h_j)               & \text{additive (Bahdanau)}
    \end{cases}

then a softmax over the *real* source positions (padding gets exactly zero
weight) and the weighted sum is the context the decoder reads:

.. math::
    a_{tj} = \frac{m_j \exp e_{tj}}{\sum_k m_k \exp e_{tk}}, \qquad
    c_t = \sum_j a_{tj} \bar h_j .

The part of each scorer that does not depend on the query -- :math:`W_a \bar h_j`
or :math:`W_k \bar h_j`, the *keys* -- is computed for all source positions in
one matrix product before the decoder loop (:func:`attention_keys_forward`);
each step then costs only the query-dependent work (:func:`attention_forward`).

Shapes: ``Ts`` source length, ``N`` batch, ``Hv`` value size (encoder output,
``2H`` when bidirectional), ``Hq`` query size (decoder hidden), ``A`` the
additive scorer's inner size. Parameters, stored (out, in):

* dot:       none (needs ``Hq == Hv``);
* general:   ``W_a (Hq, Hv)``;
* additive:  ``W_q (A, Hq)``, ``W_k (A, Hv)``, ``v (A,)``.

Every public function checks its inputs first, as the other ops do: arrays of the
active backend, one float dtype for the query, keys, values and parameters (never
silently promoted), the shapes above with one batch size ``N`` and one source length
``Ts`` throughout, exactly the scorer's parameters, a 0/1 mask of shape ``(Ts, N)``
with at least one real position per column (an all-padding column would give the
weights ``0/0``), and a known scorer name. Each raises ``TypeError`` or ``ValueError``
naming what was expected and what came.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.ops.validate import (
    check_dtype,
    check_float,
    check_instance,
    check_mask,
    check_name,
    check_names,
    check_positive_int,
    check_shape,
    check_tuple,
)

SCORERS = ("additive", "dot", "general")

PARAM_NAMES = {"additive": ("W_q", "W_k", "v"), "dot": (), "general": ("W_a",)}
"""The parameters of each scorer, by name."""


def check_scorer(scorer: Any) -> str:
    """Return ``scorer`` if it is a known scorer name (:data:`SCORERS`); else raise
    ``ValueError`` (``TypeError`` for a non-string) listing the names."""
    return check_name(scorer, SCORERS, "attention scorer")


def attention_param_shapes(scorer: str, query_size: int, value_size: int,
                           inner_size: int | None = None) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of a scorer: ``{}`` (dot), ``{"W_a": (Hq, Hv)}`` (general),
    ``{"W_q": (A, Hq), "W_k": (A, Hv), "v": (A,)}`` (additive; ``inner_size`` A defaults
    to ``query_size``). The sizes must be positive integers."""
    check_scorer(scorer)
    hq = check_positive_int(query_size, "attention query_size (Hq)")
    hv = check_positive_int(value_size, "attention value_size (Hv)")
    a = hq if inner_size is None else check_positive_int(inner_size, "attention inner_size (A)")
    if scorer == "dot":
        if hq != hv:
            raise ValueError(
                f"dot attention needs the decoder state size ({hq}) to equal the "
                f"encoder output size ({hv}); use the 'general' or 'additive' scorer"
            )
        return {}
    if scorer == "general":
        return {"W_a": (hq, hv)}
    return {"W_q": (a, hq), "W_k": (a, hv), "v": (a,)}


class KeysCache(NamedTuple):
    """What :func:`attention_keys_backward` needs."""

    scorer: str
    values: Any      # (Ts, N, Hv)
    params: dict


def attention_keys_forward(values: Any, params: Mapping[str, Any], scorer: str
                           ) -> tuple[Any, KeysCache]:
    r"""Keys for every source position, in one product before the decoder loop.

    ``values (Ts, N, Hv)`` -> ``keys``:

    * dot:      :math:`k_j = \bar h_j`                    ``(Ts, N, Hv)``
    * general:  :math:`k_j = W_a \bar h_j`                ``(Ts, N, Hq)``
    * additive: :math:`k_j = W_k \bar h_j`                ``(Ts, N, A)``
    """
    _check_values(values, "attention_keys_forward")
    _check_params(params, check_scorer(scorer), values, "attention_keys_forward")
    if scorer == "dot":
        keys = values
    else:
        W = params["W_a"] if scorer == "general" else params["W_k"]
        keys = values @ W.T
    return keys, KeysCache(scorer, values, dict(params))


def attention_keys_backward(dkeys: Any, cache: KeysCache) -> tuple[Any, dict]:
    """``dkeys`` (shaped like keys) -> ``(dvalues (Ts, N, Hv), grads)``; one product per weight,
    over all source positions and batch rows at once."""
    check_instance(cache, KeysCache, "attention_keys_backward cache", "attention_keys_forward")
    _check_grad(dkeys, _keys_shape(cache.scorer, cache.values, cache.params), cache.values,
                "attention_keys_backward dkeys")
    if cache.scorer == "dot":
        return dkeys, {}
    name = "W_a" if cache.scorer == "general" else "W_k"
    W = cache.params[name]
    ts, n, hv = cache.values.shape
    dW = dkeys.reshape(ts * n, -1).T @ cache.values.reshape(ts * n, hv)
    return dkeys @ W, {name: dW}


class AttentionCache(NamedTuple):
    """What :func:`attention_backward` needs."""

    scorer: str
    query: Any       # (N, Hq)
    keys: Any        # (Ts, N, K)
    values: Any      # (Ts, N, Hv)
    weights: Any     # (Ts, N)  a_tj, time-major like everything else
    z: Any           # additive only: tanh(W_q s + k_j), (Ts, N, A); else None
    params: dict


def masked_softmax(scores: Any, mask: Any) -> Any:
    r"""Softmax over axis 0 (source positions) of ``scores (Ts, N)``, zero where ``mask`` is 0.

    :math:`a_j = m_j e^{e_j - \max_k e_k} / \sum_k m_k e^{e_k - \max_k e_k}`, the maximum
    taken over real positions only, so large scores cannot overflow and padded
    positions get exactly 0. Every column must have at least one real position
    (checked, with the mask's values and shape).
    """
    check_float(scores, "masked_softmax scores (Ts, N)", ndim=2)
    _check_nonempty(scores, "masked_softmax scores")
    return _softmax_over_real(scores, _check_attention_mask(mask, scores.shape, "masked_softmax"))


def _softmax_over_real(scores: Any, real: Any) -> Any:
    """:func:`masked_softmax` after its checks; ``real`` ``(Ts, N)`` bool on the device."""
    xp = backend.get_xp()
    masked = xp.where(real, scores, -xp.inf)
    shifted = masked - masked.max(axis=0, keepdims=True)
    e = xp.exp(shifted)  # exp(-inf) = 0 exactly on padding
    return e / e.sum(axis=0, keepdims=True)


def attention_forward(query: Any, keys: Any, values: Any, mask: Any, params: Mapping[str, Any],
                      scorer: str) -> tuple[tuple[Any, Any], AttentionCache]:
    r"""One decoder step of attention.

    Parameters
    ----------
    query : (N, Hq)   the decoder's previous top state :math:`s_{t-1}`
    keys : from :func:`attention_keys_forward`, (Ts, N, K)
    values : (Ts, N, Hv)  the encoder states :math:`\bar h_j`
    mask : (Ts, N)  1 on real source positions, 0 on padding (at least one 1 per column)
    params : the scorer's parameters (see module docstring)

    Returns
    -------
    (context (N, Hv), weights (Ts, N)), cache

    .. math::
        e_j = k_j^\top s \;(\text{dot, general}) \quad\text{or}\quad
        e_j = v^\top \tanh(W_q s + k_j) \;(\text{additive});\qquad
        a = \mathrm{softmax}_m(e);\qquad c = \sum_j a_j \bar h_j
    """
    real = _check_step(query, keys, values, mask, params, scorer)
    xp = backend.get_xp()
    z = None
    if scorer == "additive":
        q = query @ params["W_q"].T                  # (N, A)
        z = xp.tanh(keys + q[None])                   # (Ts, N, A)
        scores = z @ params["v"]                      # (Ts, N)
    else:
        scores = (keys * query[None]).sum(axis=2)     # (Ts, N)
    weights = _softmax_over_real(scores, real)        # (Ts, N)
    context = (weights[:, :, None] * values).sum(axis=0)  # (N, Hv)
    cache = AttentionCache(scorer, query, keys, values, weights, z, dict(params))
    return (context, weights), cache

def attention_backward(dout: tuple[Any, Any | None], cache: AttentionCache
                       ) -> tuple[Any, Any, Any, dict]:
    r"""Backward of one attention step.

    ``dout = (dcontext (N, Hv), dweights (Ts, N) or None)`` ->
    ``(dquery (N, Hq), dkeys (Ts, N, K), dvalues (Ts, N, Hv), grads)``.

    .. math::
        \frac{\partial L}{\partial \bar h_j} \mathrel{+}= a_j\,\frac{\partial L}{\partial c},
        \quad
        \frac{\partial L}{\partial a_j} = \Big\langle \frac{\partial L}{\partial c},
            \bar h_j\Big\rangle,\quad
        \frac{\partial L}{\partial e_j} = a_j\Big(\frac{\partial L}{\partial a_j}
            - \sum_k a_k \frac{\partial L}{\partial a_k}\Big)

    (the softmax Jacobian; padded positions have :math:`a_j = 0` and so get no
    gradient), then through the scorer:
    dot/general :math:`\partial e_j/\partial s = k_j`, :math:`\partial e_j/\partial k_j = s`;
    additive :math:`\partial L/\partial u_j = (\partial L/\partial e_j)\, v \odot (1 - z_j^2)`
    with :math:`u_j = W_q s + k_j`.
    """
    dcontext, dweights = _check_step_grads(dout, cache)
    a, values, keys, query = cache.weights, cache.values, cache.keys, cache.query
    # A tag such as A3 numbers the equation of the docs' attention page that the line computes
    dvalues = a[:, :, None] * dcontext[None]                  # (A1) (Ts, N, Hv)
    da = (values * dcontext[None]).sum(axis=2)                # (A2) (Ts, N)
    if dweights is not None:
        da = da + dweights                                    # (A3)
    de = a * (da - (a * da).sum(axis=0, keepdims=True))       # (A4) softmax backward
    grads: dict[str, Any] = {}
    if cache.scorer == "additive":
        du = (de[:, :, None] * cache.params["v"]) * (1.0 - cache.z ** 2)  # (A5) (Ts, N, A)
        grads["v"] = (de[:, :, None] * cache.z).sum(axis=(0, 1))  # (A6)
        dq = du.sum(axis=0)                                   # (A7) (N, A)
        grads["W_q"] = dq.T @ query                           # (A8)
        dquery = dq @ cache.params["W_q"]                     # (A9)
        dkeys = du                                            # (A10)
    else:
        dquery = (de[:, :, None] * keys).sum(axis=0)          # (A11) (N, Hq)
        dkeys = de[:, :, None] * query[None]                  # (A12) (Ts, N, K)
    return dquery, dkeys, dvalues, grads


# ---------------------------------------------------------------------------------------
# The checks of the public functions above
# ---------------------------------------------------------------------------------------


def _check_nonempty(a: Any, what: str) -> None:
    if 0 in a.shape:
        raise ValueError(f"{what}: expected a non-empty array, got shape {tuple(a.shape)}")


def _check_values(values: Any, where: str) -> None:
    check_float(values, f"{where} values (Ts, N, Hv)", ndim=3)
    _check_nonempty(values, f"{where} values")


def _check_params(params: Any, scorer: str, values: Any, where: str,
                  query_size: int | None = None) -> int:
    """Exactly the scorer's parameters, float arrays of ``values``' dtype and of the shapes
    the sizes imply (``Hv`` from ``values``, ``Hq`` from ``query_size`` or the weights,
    ``A`` from the weights). Returns the keys' size ``K``."""
    names = PARAM_NAMES[scorer]
    check_names(params, names, f"{where} params ({scorer} scorer)", exact=True)
    for name in names:
        check_float(params[name], f"{where} {name}")
        check_dtype(params[name], values.dtype, f"{where} {name}", source="the values")
    hv = values.shape[2]
    if scorer == "dot":
        return hv
    first = params["W_a"] if scorer == "general" else params["W_q"]
    check_float(first, f"{where} {names[0]}", ndim=2)
    hq = first.shape[0 if scorer == "general" else 1] if query_size is None else query_size
    inner = None if scorer == "general" else first.shape[0]
    labels = {"W_a": ("Hq", "Hv"), "W_q": ("A", "Hq"), "W_k": ("A", "Hv"), "v": ("A",)}
    for name, shape in attention_param_shapes(scorer, hq, hv, inner).items():
        check_shape(params[name], shape, f"{where} {name}", names=labels[name])
    return hq if scorer == "general" else inner


def _keys_shape(scorer: str, values: Any, params: Mapping[str, Any]) -> tuple:
    """``(Ts, N, K)``: ``K = Hv`` (dot), ``Hq`` (general), ``A`` (additive)."""
    if scorer == "dot":
        return tuple(values.shape)
    W = params["W_a"] if scorer == "general" else params["W_k"]
    return tuple(values.shape[:2]) + (W.shape[0],)


def _check_grad(g: Any, shape: tuple, like: Any, what: str) -> None:
    check_float(g, what)
    check_shape(g, shape, what)
    check_dtype(g, like.dtype, what, source="the forward pass")


def _check_attention_mask(mask: Any, shape: tuple, where: str) -> Any:
    """A 0/1 ``(Ts, N)`` mask with a real position in every column -> bool on the device."""
    host = check_mask(mask, shape, f"{where} mask", names=("Ts", "N"))
    empty = np.flatnonzero(~host.any(axis=0))
    if empty.size:
        raise ValueError(
            f"{where} mask: expected at least one real (1) source position in every column, "
            f"got none in column(s) {empty.tolist()[:10]}: their weights would be 0/0 = NaN"
        )
    if isinstance(mask, backend.get_xp().ndarray):
        return mask.astype(bool)  # already on the device: no copy back
    return backend.to_device(host)


def _check_step(query: Any, keys: Any, values: Any, mask: Any, params: Any,
                scorer: Any) -> Any:
    """:func:`attention_forward`'s inputs; returns the mask as a device bool array."""
    where = "attention_forward"
    check_scorer(scorer)
    _check_values(values, where)
    ts, n, hv = values.shape
    check_float(query, f"{where} query (N, Hq)", ndim=2)
    check_shape(query, (n, None), f"{where} query", names=("N", "Hq"))
    _check_nonempty(query, f"{where} query")
    check_dtype(query, values.dtype, f"{where} query", source="the values")
    if scorer == "dot" and query.shape[1] != hv:
        raise ValueError(f"{where}: dot attention needs the query size Hq to equal the value "
                         f"size Hv = {hv}, got Hq = {query.shape[1]}")
    k = _check_params(params, scorer, values, where, query_size=query.shape[1])
    check_float(keys, f"{where} keys (Ts, N, K)", ndim=3)
    check_shape(keys, (ts, n, k), f"{where} keys", names=("Ts", "N", "K"))
    check_dtype(keys, values.dtype, f"{where} keys", source="the values")
    return _check_attention_mask(mask, (ts, n), where)


def _check_step_grads(dout: Any, cache: Any) -> tuple:
    """:func:`attention_backward`'s inputs; returns ``(dcontext, dweights or None)``."""
    where = "attention_backward"
    check_instance(cache, AttentionCache, f"{where} cache", "attention_forward")
    dcontext, dweights = check_tuple(dout, ("dcontext", "dweights"), f"{where} dout",
                                     allow_none=False)
    ts, n, hv = cache.values.shape
    if dcontext is None:
        dcontext = backend.get_xp().zeros((n, hv), dtype=cache.values.dtype)
    _check_grad(dcontext, (n, hv), cache.values, f"{where} dcontext")
    if dweights is not None:
        _check_grad(dweights, (ts, n), cache.values, f"{where} dweights")
    return dcontext, dweights
