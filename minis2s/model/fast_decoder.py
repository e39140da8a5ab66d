r"""The attention decoder on the fast path: the same function as the step-by-step decoder
(:meth:`~minis2s.model.seq2seq.Seq2Seq.decode_step` with the textbook cells of
:mod:`minis2s.cells.stack_step`), arranged like the encoder's fast sequence functions.

Attention reads :math:`s_{t-1}`, so the decoder must step; but under teacher forcing its
token inputs are known for every step. So:

* **before the loop**, one product projects the tokens of every step,
  :math:`W_y y_{t-1} + b` (:mod:`minis2s.model.decoder_cells`), and the encoder's memory
  is arranged once for the attention step (:mod:`minis2s.model.attention_steps`);
* **per step**: attention (scores, softmax, context, written straight into layer 0's
  input row :math:`Z_t = [h_{t-1} ; c_t ; y_{t-1}]`), then per layer the products
  :math:`h_{t-1} W_{hh}^\top + x_t W_x^\top` and the gate math on contiguous gate-major
  blocks; each layer's output goes into its own next row and the next layer's input row
  (through its dropout mask), the top layer's is the next query;
* **backward**, last step first: per step and layer the gate backward and the products
  :math:`[\mathrm{d}a_t W_{hh} \;\; \mathrm{d}a_t W_x]` (the previous state's and the
  input's gradients), attention's backward for :math:`\partial L/\partial s_{t-1}`;
  every gradient summed in place; **after the loop** one product per layer,
  :math:`\mathrm{d}A^\top Z = [\mathrm{d}W_{hh} \; \mathrm{d}W_{ih}]`, then
  :math:`\partial L/\partial y = \mathrm{d}A\, W_y` and attention's gradients
  (:meth:`~minis2s.model.attention_steps.AttentionSteps.grads`).

Exact: the same sums as the step path, grouped differently, so the results agree to
float rounding (``tests/test_fast_decoder.py``: loss and every gradient to 1e-12 relative in
float64, for every cell, 1-3 layers, dropout, each scorer, one and two directions). Layers
above the first read the layer below *at the same step*, so they cannot be hoisted: only
their per-step product is one call.

Decoding (:class:`InferenceDecoder`) runs the same forward, one step per call, and keeps
no cache.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.cells.stack_config import layer_params, layer_prefix
from minis2s.model.attention_steps import AttentionMemory, AttentionSteps
from minis2s.model.decoder_cells import KERNELS, LayerRun, LayerWeights
from minis2s.threads import warm_blas

PREFIX = "dec."


class FastDecoderCache(NamedTuple):
    """What :func:`decoder_backward` needs from :func:`decoder_forward`."""

    cell: str
    runs: tuple        # LayerRun per layer, bottom first
    context: Any       # the AttentionSteps of the call
    emb: Any           # (T, N, E) the token vectors y_{t-1}
    drops: tuple       # per layer: (T, N, H) mask on its output on the way up, or None


def layer_weights(params: dict[str, Any], config: Any) -> tuple[LayerWeights, ...]:
    """Every decoder layer's weights, arranged for the step (``config``: a ModelConfig)."""
    kernel = KERNELS[config.cell]
    opts = config.decoder_stack().cell_opts()
    return tuple(kernel.weights(layer_params(params, layer_prefix(PREFIX, k, 0)),
                                config.memory_size if k == 0 else config.hidden, opts)
                 for k in range(config.layers))


def step_dropout(rng: Any, config: Any, T: int, N: int, dtype: Any) -> tuple:
    """The masks of :func:`minis2s.cells.stack_step.stack_step_forward`, drawn in its order
    (step by step, layer by layer: one ``rng.random((T, L-1, N, H))`` is the same stream),
    as one ``(T, N, H)`` mask per layer below the top; ``(None,) * L`` without dropout."""
    L, p = config.layers, float(config.dropout)
    if rng is None or p == 0.0 or L == 1:
        return (None,) * L
    keep = rng.random((T, L - 1, N, config.hidden)) >= p
    masks = backend.to_device(keep / (1.0 - p), dtype=dtype)
    return tuple(masks[:, k] for k in range(L - 1)) + (None,)


def layer_runs(weights: tuple[LayerWeights, ...], cell: str, T: int, N: int, dtype: Any
               ) -> tuple[LayerRun, ...]:
    """Every layer's buffers for ``T`` steps of ``N`` rows."""
    kernel = KERNELS[cell]
    return tuple(LayerRun(*kernel.buffers(T, N, w, dtype), w) for w in weights)


def decoder_forward(emb: Any, weights: tuple[LayerWeights, ...], cell: str, state0: tuple,
                    context: Any, drops: tuple, runs: tuple | None = None
                    ) -> tuple[Any, tuple, FastDecoderCache]:
    """``T`` decoder steps: ``emb (T, N, E)`` the token inputs, ``state0`` a tuple of
    ``(L, N, H)``, ``context`` an object whose ``forward(t, query, out)`` writes
    :math:`c_t` for ``query`` :math:`s_{t-1}` into ``out (N, P)``; ``runs`` the layers'
    buffers to fill (:func:`layer_runs`; None: new ones).

    Returns ``(outputs (T, N, H), final state (tuple of (L, N, H)), cache)``; ``outputs``
    is a view into the top layer's buffer.
    """
    xp = backend.get_xp()
    kernel = KERNELS[cell]
    T, N, E = emb.shape
    runs = layer_runs(weights, cell, T, N, emb.dtype) if runs is None else runs
    for k, run in enumerate(runs):
        w, pre = run.weights, run.gates.reshape(kernel.GATES, T * N, -1)
        if w.E:     # the token part of every step in one (batched) product, and Z's y_{t-1}
            xp.matmul(emb.reshape(T * N, E), w.U_y, out=pre)
            pre += w.bias
            run.Z[:T, :, w.H + w.P:] = emb
        else:
            pre[...] = w.bias
        kernel.start(run, state0, k)
    H = weights[0].H
    rec = xp.empty((kernel.BLOCKS, N, H), dtype=emb.dtype)
    tmp = xp.empty((N, H), dtype=emb.dtype)
    bottom, top = runs[0], runs[-1]
    with np.errstate(over="ignore"):    # the gates' exp overflows to inf: their limits
        for t in range(T):
            context.forward(t, top.Z[t, :, :H], bottom.Z[t, :, H:H + bottom.weights.P])
            for k, run in enumerate(runs):
                kernel.forward(run, t, rec, tmp)
                if k + 1 < len(runs):   # the next layer's input: h_t, through its dropout
                    h, up = run.Z[t + 1, :, :H], runs[k + 1].Z[t, :, H:2 * H]
                    if drops[k] is None:
                        up[...] = h
                    else:
                        xp.multiply(h, drops[k][t], out=up)
    state_T = (xp.stack([run.Z[T, :, :H] for run in runs]),)
    if kernel.STATES == 2:
        state_T += (xp.stack([run.cs[T] for run in runs]),)
    cache = FastDecoderCache(cell, tuple(runs), context, emb, tuple(drops))
    return top.Z[1:, :, :H], state_T, cache


def decoder_backward(doutputs: Any, cache: FastDecoderCache
                     ) -> tuple[Any, tuple, dict[str, Any], Any, Any]:
    """``doutputs (T, N, H)`` -> ``(demb (T, N, E), dstate0, grads, dvalues (Ts, N, Hv),
    dkeys (Ts, N, K))``; ``grads`` holds the decoder's and the attention scorer's
    parameters by their model names."""
    xp = backend.get_xp()
    kernel, runs, attention = KERNELS[cache.cell], cache.runs, cache.context
    T, N, _ = cache.emb.shape
    H, L, dtype = doutputs.shape[2], len(runs), doutputs.dtype
    P0 = runs[0].weights.P
    dA = [xp.empty((T, N, kernel.BLOCKS * H), dtype=dtype) for _ in runs]
    dZ0 = xp.empty((T, N, H + P0), dtype=dtype)        # layer 0's [dh_{t-1} ; dc_t], kept
    dz = [None] + [xp.empty((N, 2 * H), dtype=dtype) for _ in runs[1:]]
    dh = [xp.zeros((N, H), dtype=dtype) for _ in runs]
    dc = [xp.zeros((N, H), dtype=dtype) for _ in runs]
    tmp = xp.empty((N, H), dtype=dtype)
    attention.backward_buffers()
    for t in range(T - 1, -1, -1):
        dh[-1] += doutputs[t]
        for k in range(L - 1, -1, -1):
            run = runs[k]
            kernel.backward(run, t, dh[k], dc[k], dA[k][t], tmp)
            z = dZ0[t] if k == 0 else dz[k]
            kernel.input_grads(run, dA[k][t], z)      # [dh_{t-1} ; dx_t]
            kernel.carry(run, t, dh[k], z[:, :H])
            if k > 0:                                   # into the output of the layer below
                if cache.drops[k - 1] is None:
                    dh[k - 1] += z[:, H:]
                else:
                    xp.multiply(z[:, H:], cache.drops[k - 1][t], out=tmp)
                    dh[k - 1] += tmp
        dh[-1] += attention.backward(t, dZ0[t, :, H:])  # the query was s_{t-1}
    demb, grads = _weight_grads(kernel, runs, dA, T * N)
    dvalues, dkeys, g = attention.grads(dZ0[:, :, H:], runs[-1].Z[:T, :, :H])
    grads.update(g)
    dstate0 = (xp.stack(dh),) + ((xp.stack(dc),) if kernel.STATES == 2 else ())
    return (None if demb is None else demb.reshape(cache.emb.shape)), dstate0, grads, \
        dvalues, dkeys


def _weight_grads(kernel: Any, runs: tuple, dA: list, rows: int) -> tuple[Any, dict[str, Any]]:
    """After the loop, per layer one product ``dA^T Z = [dW_hh dW_ih]`` (``Z`` holds
    ``[h_{t-1} ; x_t ; y_{t-1}]`` of every step); layer 0's ``demb = dA W_y``.
    Returns ``(demb (T*N, E) or None, grads)``."""
    grads: dict[str, Any] = {}
    demb = None
    for k, (run, d) in enumerate(zip(runs, dA)):
        d = d.reshape(rows, -1)
        G = d.T @ run.Z[:-1].reshape(rows, -1)
        if run.weights.W_y is not None:
            demb = d @ run.weights.W_y
        lp = layer_prefix(PREFIX, k, 0)
        grads.update({lp + name: g for name, g in kernel.grads(run, d, G).items()})
    return demb, grads


class _ReadingContext:
    """A reading's own step as the decoder's context (decoding with aligned or final)."""

    def __init__(self, reading: Any, memory: Any, params: dict[str, Any], t0: int):
        self.reading, self.memory, self.params, self.t0 = reading, memory, params, t0
        self.step_weights = None

    def forward(self, t: int, query: Any, out: Any) -> None:
        ctx, self.step_weights, _ = self.reading.step_forward(self.memory, query, self.t0 + t,
                                                              self.params)
        out[...] = ctx


class InferenceDecoder:
    """Decoding steps on the fast path, forward only: ``model.decoder(memory)`` once, then
    :meth:`step` per output token. The weights and (for attention) the memory are arranged
    once, the step's buffers made at the first step and reused; a step keeps nothing for
    a backward pass."""

    def __init__(self, model: Any, memory: Any):
        if backend.get_xp() is np:
            warm_blas()     # decoding alone runs only small products (minis2s.threads)
        self.model, self.memory = model, memory
        self.weights = layer_weights(model.params, model.config)
        self.attention: AttentionMemory | None = model.reading.step_memory(memory, model.params)
        self._buffers: tuple | None = None

    def step(self, y_prev: Any, state: tuple, t: int) -> tuple[Any, tuple, Any]:
        """``y_prev (N,)`` host ids, ``state`` a tuple of ``(L, N, H)`` -> ``(top output
        (N, H), new state, attention weights (Ts, N) or None)``. The output is a view into
        the decoder's buffers, valid until the next step; the state and weights are new."""
        emb = self.model._embed("tgt", y_prev)[0][None]            # (1, N, E)
        cell, n = self.model.config.cell, emb.shape[1]
        if self._buffers is None or self._buffers[0] != n:
            steps = None if self.attention is None else AttentionSteps(self.attention, 1)
            self._buffers = (n, layer_runs(self.weights, cell, 1, n, emb.dtype), steps)
        _, runs, context = self._buffers
        if context is None:
            context = _ReadingContext(self.model.reading, self.memory, self.model.params, t)
        out, state, _ = decoder_forward(emb, self.weights, cell, state, context,
                                        (None,) * len(self.weights), runs)
        weights = (context.weights[0].T.copy() if self.attention is not None
                   else context.step_weights)
        return out[0], state, weights
