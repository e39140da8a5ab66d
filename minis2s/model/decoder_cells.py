r"""The decoder's cells arranged for a decoder that must step (attention): the products of one
step and layer, gate math on contiguous gate-major blocks, weight gradients after the loop.

The attention decoder's layer ``k`` reads at step ``t`` its previous state :math:`h_{t-1}`
and an input :math:`x_t`. Layer 0's input is :math:`[c_t ; y_{t-1}]` (context, previous
token's vector); the token part is known for every step before the loop (teacher
forcing), the context is not (it reads :math:`s_{t-1}`). So the input weight splits by
columns, :math:`W_{ih} = [W_c \; W_y]`, and

.. math::
    a_t = \underbrace{W_y y_{t-1} + b}_{\text{all } t \text{ in one product}}
          + \underbrace{W_{hh} h_{t-1} + W_c c_t}_{\text{per step}}

(layers above have no token part: :math:`a_t = b + W_{hh} h_{t-1} + W_{ih} x_t`,
:math:`x_t` the layer below's output at the same step). Each layer keeps
:math:`Z_t = [h_{t-1} ; x_t ; y_{t-1}]` of every step in one ``(T + 1, N, H + P + E)``
array (its new state is written straight into the next row's first columns), so that
after the loop *one* product gives every weight gradient of the layer,

.. math::
    \mathrm{d}A^\top Z = \sum_t \mathrm{d}a_t^\top [h_{t-1} ; c_t ; y_{t-1}]
    = [\,\mathrm{d}W_{hh} \;\; \mathrm{d}W_{ih}\,]

(``docs/fast_paths.md``, sections 1-3; the two gradients are the column blocks of one
array). Per step, forward, the products :math:`h_{t-1} W_{hh}^\top` and
:math:`x_t W_x^\top` fill the gate-major blocks (views of the weights, no copy), and
backward :math:`[\partial L/\partial h_{t-1} ; \partial L/\partial x_t] =
[\mathrm{d}a_t W_{hh} \;\; \mathrm{d}a_t W_x]`.

Per cell:

* LSTM: gate blocks ``i, f, g, o``; the gate math and its backward are those of
  :func:`minis2s.cells.lstm.sequence_forward` / :func:`~minis2s.cells.lstm.sequence_backward`.
* GRU: the reset gate scales only the recurrent part of the candidate, so its step matrix
  has four blocks ``r, z, n_h, n_x``: ``[W_hr W_xr]``, ``[W_hz W_xz]``, ``[W_hn 0]``,
  ``[0 W_xn]`` (a quarter of zeros: one product per step instead of two).
* rnn (the article's cell): one block, ``h_t = f(a_t)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from minis2s import backend
from minis2s.cells import gru, lstm
from minis2s.cells._workspace import workspace
from minis2s.ops.activations import get_activation, sigmoid_into, tanh_via_exp_into


class LayerWeights(NamedTuple):
    """One layer's weights, arranged once per forward call (or per decoding)."""

    H: int        # hidden size
    P: int        # size of the per-step input x_t (layer 0: the context; above: H)
    E: int        # size of the token input y_{t-1} (layer 0; 0 above)
    W_h: Any      # (G*H, H) the recurrent weight (GRU: the 4-block step matrix (4H, H+P))
    W_x: Any      # (G*H, P) the per-step input's columns of W_ih (GRU: None)
    U_y: Any      # (G, E, H): the token columns' gate blocks, transposed (layer 0), or None
    W_y: Any      # (G*H, E): the token columns (GRU: in the step matrix's 4 blocks), or None
    bias: Any     # (G, 1, H): what the hoisted pre-activations start from
    extra: Any    # GRU: b_hn (H,); rnn: the activation; LSTM: None


class LayerRun(NamedTuple):
    """One layer's forward buffers over ``T`` steps (what its backward reads)."""

    Z: Any        # (T+1, N, H+P+E): Z[t] = [h_{t-1} ; x_t ; y_{t-1}]; h_t is Z[t+1, :, :H]
    gates: Any    # (G, T, N, H): the gates after their nonlinearity
    cs: Any       # LSTM: (T+1, N, H) cell states; GRU: (T, N, H) W_hn h_{t-1} + b_hn
    tanh_c: Any   # LSTM: (T, N, H) tanh(c_t); else None
    weights: LayerWeights


def _gate_blocks(W: Any, blocks: int) -> Any:
    """``W (blocks*H, D)`` as ``(blocks, D, H)``: each gate block transposed (a view)."""
    return W.reshape(blocks, -1, W.shape[1]).transpose(0, 2, 1)


def _split_weights(W_ih: Any, W_hh: Any, bias: Any, P: int, gates: int, extra: Any
                   ) -> LayerWeights:
    """LSTM and rnn: views of the weights, nothing copied."""
    H, E = W_hh.shape[1], W_ih.shape[1] - P
    W_y = W_ih[:, P:] if E else None
    U_y = _gate_blocks(W_y, gates) if E else None
    return LayerWeights(H, P, E, W_hh, W_ih[:, :P], U_y, W_y, bias.reshape(gates, 1, H), extra)


def _split_products(run: LayerRun, t: int, a: Any, rec: Any) -> None:
    """``a += h_{t-1} W_hh^T + x_t W_x^T``, gate by gate."""
    xp, w = backend.get_xp(), run.weights
    blocks = a.shape[0]
    xp.matmul(run.Z[t, :, :w.H], _gate_blocks(w.W_h, blocks), out=rec)
    a += rec
    xp.matmul(run.Z[t, :, w.H:w.H + w.P], _gate_blocks(w.W_x, blocks), out=rec)
    a += rec


def _split_input_grads(run: LayerRun, da: Any, dz: Any) -> None:
    """``dz = [da W_hh ; da W_x]``: the gradients of ``h_{t-1}`` and ``x_t``."""
    xp, w = backend.get_xp(), run.weights
    xp.matmul(da, w.W_h, out=dz[:, :w.H])
    xp.matmul(da, w.W_x, out=dz[:, w.H:])


class LSTMKernel:
    """The LSTM's step, forward and backward, on a :class:`LayerRun`."""

    GATES = BLOCKS = 4
    STATES = 2

    @staticmethod
    def weights(p: dict, P: int, opts: dict) -> LayerWeights:
        return _split_weights(p["W_ih"], p["W_hh"], p["b_ih"] + p["b_hh"], P, 4, None)

    @staticmethod
    def buffers(T: int, N: int, w: LayerWeights, dtype: Any) -> tuple:
        H = w.H
        Z, gates, cs, tanh_c = workspace(dtype, (T + 1, N, H + w.P + w.E), (4, T, N, H),
                                         (T + 1, N, H), (T, N, H))
        return Z, gates, cs, tanh_c

    @staticmethod
    def start(run: LayerRun, state0: tuple, k: int) -> None:
        run.Z[0, :, :run.weights.H] = state0[0][k]
        run.cs[0] = state0[1][k]

    @staticmethod
    def forward(run: LayerRun, t: int, rec: Any, tmp: Any) -> None:
        """``a = pre[t] + h_{t-1} W_hh^T + x_t W_x^T``; ``i, f, o = sigma``, ``g = tanh``;
        ``c_t = f c_{t-1} + i g``; ``h_t = o tanh(c_t)``, written into ``Z[t+1, :, :H]``
        (the caller holds ``np.errstate(over="ignore")``: the gates' ``exp`` may overflow)."""
        xp = backend.get_xp()
        a = run.gates[:, t]
        _split_products(run, t, a, rec)
        lstm.gates_forward_into(a)
        i, f, g, o = a
        c, c_new = run.cs[t], run.cs[t + 1]
        xp.multiply(f, c, out=c_new)
        xp.multiply(i, g, out=tmp)
        c_new += tmp
        tanh_via_exp_into(c_new, out=run.tanh_c[t])
        xp.multiply(o, run.tanh_c[t], out=run.Z[t + 1, :, :run.weights.H])

    @staticmethod
    def backward(run: LayerRun, t: int, dh: Any, dc: Any, da: Any, tmp: Any) -> None:
        """The lines of :func:`minis2s.cells.lstm.step_backward` into ``da (N, 4H)``;
        ``dc`` becomes ``dL/dc_{t-1}``."""
        lstm._gates_backward_into(da, dh, dc, run.gates[:, t], run.tanh_c[t], run.cs[t], tmp)

    input_grads = staticmethod(_split_input_grads)

    @staticmethod
    def carry(run: LayerRun, t: int, dh: Any, dz_h: Any) -> None:
        """``dL/dh_{t-1}`` from ``dz_h = [da_t W_hh]``."""
        dh[...] = dz_h

    @staticmethod
    def grads(run: LayerRun, dA: Any, G: Any) -> dict:
        """From ``G = dA^T Z = [dW_hh dW_ih]`` (views of it) and ``dA (T*N, 4H)``."""
        db = dA.sum(axis=0)
        return {"W_ih": G[:, run.weights.H:], "W_hh": G[:, :run.weights.H], "b_ih": db,
                "b_hh": db.copy()}


class GRUKernel:
    """The GRU's step, forward and backward, on a :class:`LayerRun` (blocks r, z, n_h, n_x)."""

    GATES, BLOCKS = 3, 4
    STATES = 1

    @staticmethod
    def weights(p: dict, P: int, opts: dict) -> LayerWeights:
        xp = backend.get_xp()
        W_ih, W_hh, b_ih, b_hh = p["W_ih"], p["W_hh"], p["b_ih"], p["b_hh"]
        H, E = W_hh.shape[1], W_ih.shape[1] - P
        M = xp.zeros((4 * H, H + P), dtype=W_hh.dtype)   # the step matrix, 4 blocks
        M[:2 * H, :H], M[:2 * H, H:] = W_hh[:2 * H], W_ih[:2 * H, :P]   # r, z
        M[2 * H:3 * H, :H] = W_hh[2 * H:]                                # n_h: [W_hn 0]
        M[3 * H:, H:] = W_ih[2 * H:, :P]                                  # n_x: [0 W_xn]
        U_y = W_y = None
        if E:
            U_y = _gate_blocks(W_ih[:, P:], 3)
            W_y = xp.zeros((4 * H, E), dtype=W_ih.dtype)   # dgi's blocks r, z, (0), n_x
            W_y[:2 * H], W_y[3 * H:] = W_ih[:2 * H, P:], W_ih[2 * H:, P:]
        bias = b_ih.reshape(3, 1, H).copy()
        bias[0:2] += b_hh[:2 * H].reshape(2, 1, H)  # r, z take their recurrent bias here
        return LayerWeights(H, P, E, M, None, U_y, W_y, bias, b_hh[2 * H:])

    @staticmethod
    def buffers(T: int, N: int, w: LayerWeights, dtype: Any) -> tuple:
        Z, gates, gh_n = workspace(dtype, (T + 1, N, w.H + w.P + w.E), (3, T, N, w.H),
                                   (T, N, w.H))
        return Z, gates, gh_n, None

    @staticmethod
    def start(run: LayerRun, state0: tuple, k: int) -> None:
        run.Z[0, :, :run.weights.H] = state0[0][k]

    @staticmethod
    def forward(run: LayerRun, t: int, rec: Any, tmp: Any) -> None:
        """``r, z = sigma(pre + [Z_t M^T]_{r,z})``, ``n = tanh(pre_n + [Z_t M^T]_{n_x} +
        r gh_n)``, ``h_t = n + z (h_{t-1} - n)`` into ``Z[t+1, :, :H]``."""
        xp, w = backend.get_xp(), run.weights
        H, a = w.H, run.gates[:, t]
        xp.matmul(run.Z[t, :, :H + w.P], _gate_blocks(w.W_h, 4), out=rec)
        a[0:2] += rec[0:2]
        sigmoid_into(a[0:2], out=a[0:2])
        r, z, n = a
        xp.add(rec[2], w.extra, out=run.cs[t])           # gh_n = W_hn h_{t-1} + b_hn
        n += rec[3]
        xp.multiply(r, run.cs[t], out=tmp)
        n += tmp
        tanh_via_exp_into(n, out=n)
        xp.subtract(run.Z[t, :, :H], n, out=tmp)
        tmp *= z
        xp.add(n, tmp, out=run.Z[t + 1, :, :H])

    @staticmethod
    def backward(run: LayerRun, t: int, dh: Any, dc: Any, da: Any, tmp: Any) -> None:
        """The lines of :func:`minis2s.cells.gru.step_backward` into ``da (N, 4H)`` =
        ``[da_r | da_z | dgh_n | da_n]`` (``dc`` is a second scratch buffer here)."""
        H = run.weights.H
        gru._gates_backward_into(da[:, :3 * H], da[:, 3 * H:], dh, run.gates[:, t], run.cs[t],
                                 run.Z[t, :, :H], tmp, dc)

    @staticmethod
    def input_grads(run: LayerRun, da: Any, dz: Any) -> None:
        """``dz = da M``: ``[dL/dh_{t-1} (the product's part) ; dL/dx_t]``."""
        backend.get_xp().matmul(da, run.weights.W_h, out=dz)

    @staticmethod
    def carry(run: LayerRun, t: int, dh: Any, dz_h: Any) -> None:
        """``dL/dh_{t-1} = dh z + [da_t M]_{h columns}``."""
        dh *= run.gates[1, t]
        dh += dz_h

    @staticmethod
    def grads(run: LayerRun, dA: Any, G: Any) -> dict:
        """From ``G = dA^T Z (4H, H+P+E)``: rows r, z, n_h of its ``h`` columns are
        ``dW_hh``; rows r, z, n_x of the rest are ``dW_ih``."""
        xp, H = backend.get_xp(), run.weights.H
        gi = (slice(0, 2 * H), slice(3 * H, 4 * H))        # the rows of r, z, n_x
        db = dA.sum(axis=0)
        return {"W_ih": xp.concatenate([G[gi[0], H:], G[gi[1], H:]]), "W_hh": G[:3 * H, :H],
                "b_ih": xp.concatenate([db[gi[0]], db[gi[1]]]), "b_hh": db[:3 * H].copy()}


class RNNKernel:
    """The article's cell ``h_t = f(W_h x_t + W_c h_{t-1} + b)`` on a :class:`LayerRun`."""

    GATES = BLOCKS = 1
    STATES = 1

    @staticmethod
    def weights(p: dict, P: int, opts: dict) -> LayerWeights:
        return _split_weights(p["W_h"], p["W_c"], p["b"], P, 1,
                              get_activation(opts.get("f", "tanh")))

    @staticmethod
    def buffers(T: int, N: int, w: LayerWeights, dtype: Any) -> tuple:
        Z, gates = workspace(dtype, (T + 1, N, w.H + w.P + w.E), (1, T, N, w.H))
        return Z, gates, None, None

    start = GRUKernel.start

    @staticmethod
    def forward(run: LayerRun, t: int, rec: Any, tmp: Any) -> None:
        """``h_t = f(pre[t] + h_{t-1} W_c^T + x_t W_x^T)`` into ``Z[t+1, :, :H]`` (and
        ``gates[0, t]``)."""
        a = run.gates[:, t]
        _split_products(run, t, a, rec)
        a[0] = run.weights.extra.forward(a[0])
        run.Z[t + 1, :, :run.weights.H] = a[0]

    @staticmethod
    def backward(run: LayerRun, t: int, dh: Any, dc: Any, da: Any, tmp: Any) -> None:
        """``da = dh f'(a)``, ``f'`` written through ``h_t``."""
        da[...] = run.weights.extra.backward(dh, run.gates[0, t])

    input_grads = staticmethod(_split_input_grads)
    carry = LSTMKernel.carry

    @staticmethod
    def grads(run: LayerRun, dA: Any, G: Any) -> dict:
        H = run.weights.H
        return {"W_h": G[:, H:], "W_c": G[:, :H], "b": dA.sum(axis=0)}


KERNELS = {"lstm": LSTMKernel, "gru": GRUKernel, "rnn": RNNKernel}
