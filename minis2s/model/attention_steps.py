r"""Attention at its floor, for a decoder that steps: the same scores, weights and context as
:func:`minis2s.ops.attention.attention_forward`, arranged so that each step does only what
depends on :math:`s_{t-1}`, in place, and every gradient that can wait does so until after
the loop.

Layout: batch-major, ``(N, Ts, .)``, so that the softmax reduces along contiguous rows
and the context is one batched product per step,
:math:`c_t[n] = a_t[n]^\top \bar H[n]` (``(1, Ts) @ (Ts, Hv)`` for every row ``n``; measured
against ``einsum`` and the broadcast-multiply-and-sum of the textbook version on this
project's 2-core CPU: 18 us against 32 and 60 at the default size, 80 us against 144 and
654 at hidden 512).

The additive scorer :math:`e_j = v^\top \tanh(W_q s + k_j)` is computed as

.. math::
    e'_j = 2 v^\top \sigma(2 u_j), \qquad u_j = W_q s + k_j,

because :math:`\tanh u = 2\sigma(2u) - 1` gives :math:`e_j = e'_j - \sum_i v_i`, a shift
that is the same for every position :math:`j` and so leaves the softmax (the weights, the
context, every gradient) unchanged; and NumPy's ``exp`` costs about half of its ``tanh``
(:func:`minis2s.ops.activations.sigmoid`), the largest element-wise work of a step being
this ``(N, Ts, A)`` nonlinearity. The factors ``-2`` are folded into copies of the keys and
of ``W_q`` made once per call (exact: a power of two), so a step is ``add``, ``exp``,
``+1``, ``1/x``. Backward, with :math:`\sigma_j = \sigma(2u_j)`:
:math:`\partial e_j / \partial u_j = v \odot 4\sigma_j(1 - \sigma_j) = v \odot (1 - \tanh^2 u_j)`,
and :math:`\partial L/\partial v = \sum \delta_j \tanh u_j = 2\sum \delta_j\sigma_j - \sum \delta_j`
(:math:`\delta_j = \partial L/\partial e_j`).

After the loop, one product each over all steps:
:math:`\partial L/\partial \bar h_j = \sum_t a_{tj}\, \partial L/\partial c_t` (per row, a
``(Ts, Tt) @ (Tt, Hv)`` product), :math:`\mathrm{d}W_q = \sum_t \mathrm{d}q_t^\top s_{t-1}`,
:math:`\partial L / \partial v` as above, and for the dot and general scorers
:math:`\partial L/\partial k_j = \sum_t \delta_{tj} s_{t-1}`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend


class AttentionMemory(NamedTuple):
    """The encoder's memory arranged for the fast step (once per forward or decoding)."""

    scorer: str
    values: Any    # (N, Ts, Hv) view of Memory.values
    keys: Any      # (N, Ts, K): a view of Memory.keys (additive: W_k h_j)
    bias: Any      # (N, Ts) 0 at real source positions, -inf at padding
    W_q: Any = None     # additive: (A, Hq) W_q
    W_q2: Any = None    # additive: (Hq, A) (-2 W_q)^T
    v: Any = None       # additive: (A,) 2 v
    ekeys: Any = None   # additive: (N, Ts, A) exp(2 k_j), None where some |2 k| > limit
    limit: float = 0.0  # the largest |2 k|, |2 q| whose exp is split (see attention_memory)


def attention_memory(values: Any, keys: Any, mask: Any, params: dict[str, Any], scorer: str
                     ) -> AttentionMemory:
    r"""``values (Ts, N, Hv)``, ``keys (Ts, N, K)``, ``mask (Ts, N)`` (the
    :class:`~minis2s.model.contexts.base.Memory`'s), ``params`` the model's -> the step's view.

    Additive: :math:`\sigma(2u_j) = 1 / (1 + e^{-2k_j} e^{-2q}) = e^{2k_j} / (e^{2k_j} +
    e^{-2q})`, so the ``(N, Ts, A)`` exponential of the keys is taken once here, and a step
    takes only the ``(N, A)`` one of its query, an addition and a division -- while both
    arguments stay within ``limit`` (a quarter of the largest argument whose ``exp`` is
    finite: no term can overflow or vanish). Beyond it a step adds and exponentiates as
    written.
    """
    xp = backend.get_xp()
    bias = xp.ascontiguousarray(xp.where(mask.T > 0, 0.0, -np.inf).astype(values.dtype))
    if scorer != "additive":
        return AttentionMemory(scorer, values.transpose(1, 0, 2), keys.transpose(1, 0, 2), bias)
    Ts, N, A = keys.shape
    ekeys = xp.empty((N, Ts, A), dtype=keys.dtype)
    xp.multiply(keys.transpose(1, 0, 2), 2.0, out=ekeys)                # 2 k_j
    limit = float(np.log(np.finfo(keys.dtype).max)) / 4
    if max(-backend.to_float(ekeys.min()), backend.to_float(ekeys.max())) <= limit:
        xp.exp(ekeys, out=ekeys)                                         # exp(2 k_j)
    else:
        ekeys = None
    W_q = params["attn.W_q"]
    return AttentionMemory(scorer, values.transpose(1, 0, 2), keys.transpose(1, 0, 2), bias,
                           W_q, (-2.0 * W_q).T, 2.0 * params["attn.v"], ekeys, limit)


class AttentionSteps:
    """``T`` steps of attention over one :class:`AttentionMemory`: :meth:`forward` at each step,
    :meth:`backward` at each step (last first), then :meth:`grads` once.

    Kept for the backward pass: the weights ``(T, N, Ts)`` and, for the additive scorer,
    :math:`\\sigma(2u)` ``(T, N, Ts, A)`` (as the textbook keeps :math:`\\tanh u`).
    """

    def __init__(self, memory: AttentionMemory, steps: int):
        xp = backend.get_xp()
        self.memory = memory
        N, Ts, _ = memory.values.shape
        dtype = memory.values.dtype
        self.weights = xp.empty((steps, N, Ts), dtype=dtype)
        self.sig = (xp.empty((steps,) + tuple(memory.keys.shape), dtype=dtype)
                    if memory.scorer == "additive" else None)
        self.scores = xp.empty((N, Ts), dtype=dtype)
        self.q = xp.empty((N, memory.keys.shape[2]), dtype=dtype)

    def forward(self, t: int, query: Any, out: Any) -> None:
        """Step ``t``: ``query (N, Hq)`` = :math:`s_{t-1}` -> the context into ``out (N, Hv)``,
        the weights into ``self.weights[t]``."""
        xp, mem, scores = backend.get_xp(), self.memory, self.scores
        if mem.scorer == "additive":
            s, q = self.sig[t], self.q
            xp.matmul(query, mem.W_q2, out=q)                 # -2 q = -2 W_q s
            if mem.ekeys is not None and max(-backend.to_float(q.min()),
                                             backend.to_float(q.max())) <= mem.limit:
                xp.exp(q, out=q)                              # exp(-2 q)
                xp.add(mem.ekeys, q[:, None, :], out=s)
                xp.divide(mem.ekeys, s, out=s)                # e^2k / (e^2k + e^-2q)
            else:
                xp.multiply(mem.keys, -2.0, out=s)
                s += q[:, None, :]                            # -2 u_j = -2 k_j - 2 q
                with np.errstate(over="ignore"):              # exp -> inf: sigma = 0, right
                    xp.exp(s, out=s)
                s += 1.0
                xp.divide(1.0, s, out=s)                      # sigma(2 u_j)
            xp.matmul(s, mem.v, out=scores)                   # e'_j = 2 v . sigma(2 u_j)
        else:
            xp.matmul(mem.keys, query[:, :, None], out=scores[:, :, None])   # k_j . s
        scores += mem.bias                                    # -inf at padding
        a = self.weights[t]
        xp.subtract(scores, scores.max(axis=1, keepdims=True), out=a)
        xp.exp(a, out=a)
        a /= a.sum(axis=1, keepdims=True)                     # softmax over the source
        xp.matmul(a[:, None, :], mem.values, out=out[:, None, :])   # c_t = sum_j a_j h_j

    def backward_buffers(self) -> None:
        """The backward buffers: ``dL/de`` of every step, and per scorer ``dL/dk`` (summed in
        place) and ``dq`` of every step."""
        xp, mem = backend.get_xp(), self.memory
        T, N, Ts = self.weights.shape
        dtype = self.weights.dtype
        self.de = xp.empty((T, N, Ts), dtype=dtype)
        self.da = xp.empty((N, Ts, 1), dtype=dtype)
        if mem.scorer == "additive":
            self.dkeys = xp.zeros(mem.keys.shape, dtype=dtype)   # sum_t de_j s_j (1 - s_j)
            self.w = xp.empty(mem.keys.shape, dtype=dtype)
            self.dq = xp.empty((T, N, mem.keys.shape[2]), dtype=dtype)
            self.v4 = 2.0 * mem.v                             # 4 v

    def backward(self, t: int, dctx: Any) -> Any:
        """Step ``t``: ``dctx (N, Hv)`` = :math:`\\partial L/\\partial c_t` -> ``dL/ds_{t-1}``
        ``(N, Hq)`` (a new array)."""
        xp, mem = backend.get_xp(), self.memory
        a, de, da = self.weights[t], self.de[t], self.da
        xp.matmul(mem.values, dctx[:, :, None], out=da)      # dL/da_j = <dctx, h_j>
        da = da[:, :, 0]
        xp.multiply(a, da, out=de)                            # softmax backward:
        xp.subtract(da, de.sum(axis=1, keepdims=True), out=de)
        de *= a                                               # de_j = a_j (da_j - sum a da)
        if mem.scorer != "additive":
            return xp.matmul(de[:, None, :], mem.keys)[:, 0]  # dL/ds = sum_j de_j k_j
        # dL/du_j = de_j 4v s_j (1 - s_j) (s_j = sigma(2 u_j)); the factor 4v is common
        # to every j and t, so it is applied to the sums, after them
        s, w, dq = self.sig[t], self.w, self.dq[t]
        xp.subtract(1.0, s, out=w)
        w *= s                                                # s (1 - s)
        xp.matmul(de[:, None, :], w, out=dq[:, None, :])      # sum_j de_j s_j (1 - s_j)
        dq *= self.v4                                         # dL/dq = sum_j dL/du_j
        w *= de[:, :, None]
        self.dkeys += w                                       # dL/dk_j / 4v, summed over t
        return dq @ mem.W_q                                   # dL/ds = dq W_q

    def grads(self, dctx: Any, queries: Any) -> tuple[Any, Any, dict[str, Any]]:
        """After the loop: ``dctx (T, N, Hv)`` and ``queries (T, N, Hq)`` (:math:`s_{t-1}` of
        every step) -> ``(dvalues (Ts, N, Hv), dkeys (Ts, N, K), parameter grads)``."""
        xp, mem = backend.get_xp(), self.memory
        T, N, Ts = self.weights.shape
        # dL/dh_j = sum_t a_tj dctx_t, per row n: (Ts, T) @ (T, Hv)
        dvalues = xp.matmul(self.weights.transpose(1, 2, 0), dctx.transpose(1, 0, 2))
        if mem.scorer != "additive":      # dL/dk_j = sum_t de_tj s_{t-1}
            dkeys = xp.matmul(self.de.transpose(1, 2, 0), queries.transpose(1, 0, 2))
            return dvalues.transpose(1, 0, 2), dkeys.transpose(1, 0, 2), {}
        A = mem.keys.shape[2]
        de = self.de.reshape(T * N * Ts)
        dv = 2.0 * (de @ self.sig.reshape(T * N * Ts, A)) - de.sum()   # sum de tanh(u)
        dW_q = self.dq.reshape(T * N, A).T @ queries.reshape(T * N, -1)
        dkeys = self.dkeys * self.v4
        return (dvalues.transpose(1, 0, 2), dkeys.transpose(1, 0, 2),
                {"attn.W_q": dW_q, "attn.v": dv})
