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
"""

from __future__ import annotations

from typing import Any, NamedTuple

from minis2s import backend

SCORERS = ("additive", "dot", "general")


def check_scorer(scorer: str) -> str:
    """Return ``scorer`` if it is a known scorer name, else raise ``ValueError``."""
    if scorer not in SCORERS:
        raise ValueError(f"unknown attention scorer {scorer!r}: expected one of {SCORERS}")
    return scorer


def attention_param_shapes(scorer: str, query_size: int, value_size: int,
                           inner_size: int | None = None) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of a scorer (``inner_size`` A defaults to ``query_size``)."""
    check_scorer(scorer)
    if scorer == "dot":
        if query_size != value_size:
            raise ValueError(
                f"dot attention needs the decoder state size ({query_size}) to equal the "
                f"encoder output size ({value_size}); use the 'general' or 'additive' scorer"
            )
        return {}
    if scorer == "general":
        return {"W_a": (query_size, value_size)}
    a = inner_size or query_size
    return {"W_q": (a, query_size), "W_k": (a, value_size), "v": (a,)}


class KeysCache(NamedTuple):
    scorer: str
    values: Any      # (Ts, N, Hv)
    params: dict


def attention_keys_forward(values: Any, params: dict, scorer: str) -> tuple[Any, KeysCache]:
    r"""Keys for every source position, in one product before the decoder loop.

    ``values (Ts, N, Hv)`` -> ``keys``:

    * dot:      :math:`k_j = \bar h_j`                    ``(Ts, N, Hv)``
    * general:  :math:`k_j = W_a \bar h_j`                ``(Ts, N, Hq)``
    * additive: :math:`k_j = W_k \bar h_j`                ``(Ts, N, A)``
    """
    check_scorer(scorer)
    if scorer == "dot":
        keys = values
    else:
        W = params["W_a"] if scorer == "general" else params["W_k"]
        keys = values @ W.T
    return keys, KeysCache(scorer, values, params)


def attention_keys_backward(dkeys: Any, cache: KeysCache) -> tuple[Any, dict]:
    """``dkeys`` (shaped like keys) -> ``(dvalues (Ts, N, Hv), grads)``; one product per weight,
    over all source positions and batch rows at once."""
    if cache.scorer == "dot":
        return dkeys, {}
    name = "W_a" if cache.scorer == "general" else "W_k"
    W = cache.params[name]
    ts, n, hv = cache.values.shape
    dW = dkeys.reshape(ts * n, -1).T @ cache.values.reshape(ts * n, hv)
    return dkeys @ W, {name: dW}


class AttentionCache(NamedTuple):
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
    positions get exactly 0. Every column must have at least one real position.
    """
    xp = backend.get_xp()
    real = mask.astype(bool)
    masked = xp.where(real, scores, -xp.inf)
    shifted = masked - masked.max(axis=0, keepdims=True)
    e = xp.exp(shifted)  # exp(-inf) = 0 exactly on padding
    return e / e.sum(axis=0, keepdims=True)


def attention_forward(query: Any, keys: Any, values: Any, mask: Any, params: dict,
                      scorer: str) -> tuple[tuple[Any, Any], AttentionCache]:
    r"""One decoder step of attention.

    Parameters
    ----------
    query : (N, Hq)   the decoder's previous top state :math:`s_{t-1}`
    keys : from :func:`attention_keys_forward`, (Ts, N, K)
    values : (Ts, N, Hv)  the encoder states :math:`\bar h_j`
    mask : (Ts, N)  1 on real source positions, 0 on padding
    params : the scorer's parameters (see module docstring)

    Returns
    -------
    (context (N, Hv), weights (Ts, N)), cache

    .. math::
        e_j = k_j^\top s \;(\text{dot, general}) \quad\text{or}\quad
        e_j = v^\top \tanh(W_q s + k_j) \;(\text{additive});\qquad
        a = \mathrm{softmax}_m(e);\qquad c = \sum_j a_j \bar h_j
    """
    xp = backend.get_xp()
    z = None
    if scorer == "additive":
        q = query @ params["W_q"].T                  # (N, A)
        z = xp.tanh(keys + q[None])                   # (Ts, N, A)
        scores = z @ params["v"]                      # (Ts, N)
    else:
        scores = (keys * query[None]).sum(axis=2)     # (Ts, N)
    weights = masked_softmax(scores, mask)            # (Ts, N)
    context = (weights[:, :, None] * values).sum(axis=0)  # (N, Hv)
    return (context, weights), AttentionCache(scorer, query, keys, values, weights, z, params)


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
    dcontext, dweights = dout
    a, values, keys, query = cache.weights, cache.values, cache.keys, cache.query
    dvalues = a[:, :, None] * dcontext[None]                  # (Ts, N, Hv)
    da = (values * dcontext[None]).sum(axis=2)                # (Ts, N)
    if dweights is not None:
        da = da + dweights
    de = a * (da - (a * da).sum(axis=0, keepdims=True))       # softmax backward
    grads: dict[str, Any] = {}
    if cache.scorer == "additive":
        du = (de[:, :, None] * cache.params["v"]) * (1.0 - cache.z ** 2)   # (Ts, N, A)
        grads["v"] = (de[:, :, None] * cache.z).sum(axis=(0, 1))
        dq = du.sum(axis=0)                                   # (N, A)
        grads["W_q"] = dq.T @ query
        dquery = dq @ cache.params["W_q"]
        dkeys = du
    else:
        dquery = (de[:, :, None] * keys).sum(axis=0)          # (N, Hq)
        dkeys = de[:, :, None] * query[None]                  # (Ts, N, K)
    return dquery, dkeys, dvalues, grads
