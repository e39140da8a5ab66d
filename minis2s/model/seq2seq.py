r"""The sequence-to-sequence model: embedding, encoder stack, a reading of :math:`h_t`,
decoder stack, output projection, loss -- over one flat dictionary of named parameters.

The article's two equations, with the previous target token added to the decoder's input
(one input weight :math:`[W_o \; W_y]` on the concatenation :math:`[h_t ; y_{t-1}]`):

.. math::
    \bar h_j = f(W_h x_j + W_c \bar h_{j-1} + b) \quad\text{(encoder)}, \qquad
    s_t = g(W_o h_t + W_y y_{t-1} + W_s s_{t-1} + b) \quad\text{(decoder)},

then :math:`z_t = W_{out} s_t + b_{out}` and the masked cross-entropy of :math:`z_t`
against :math:`y_t`. :math:`f` and :math:`g` are any of the stack's cells (the article's
recurrence, LSTM, GRU), in as many layers as asked; :math:`h_t` is read as
``config.context`` says (:mod:`minis2s.model.contexts`).

Initial decoder state: the encoder's final state, layer by layer; a bidirectional
encoder's goes through the bridge (:mod:`minis2s.model.bridge`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minis2s import backend
from minis2s.cells.stack import (
    get_cell,
    init_stack,
    merge_bidirectional_state,
    split_bidirectional_state,
    stack_backward,
    stack_forward,
    stack_step_backward,
    stack_step_forward,
)
from minis2s.model.attention_steps import AttentionSteps
from minis2s.model.bridge import bridge_backward, bridge_forward, init_bridge
from minis2s.model.caches import (
    DecoderFastCache,
    DecoderSequenceCache,
    DecoderStepCache,
    ForwardCache,
    ForwardInfo,
    MemoryCache,
    forward_info,
)
from minis2s.model.config import ModelConfig
from minis2s.model.contexts import CONTEXTS, Memory, MemoryGrads
from minis2s.model.encoding import encoder_layers
from minis2s.model.fast_decoder import (
    InferenceDecoder,
    decoder_backward,
    decoder_forward,
    layer_weights,
    step_dropout,
)
from minis2s.model.grads import GradSum
from minis2s.model.inputs import (
    CheckedBatch,
    check_batch,
    check_checked_batch,
    check_forward_args,
    check_host_params,
    check_model_args,
)
from minis2s.ops.embedding import embedding_backward, embedding_forward
from minis2s.ops.linear import linear_backward, linear_forward
from minis2s.ops.onehot import onehot
from minis2s.ops.softmax_ce import softmax_cross_entropy_backward, softmax_cross_entropy_forward


def _add_to_top(dstate: tuple, d: Any, layers: int, dtype: Any) -> tuple:
    """``dL/dh^{(L)} += d``: ``d (N, H)`` joins the top layer's ``h`` in ``dstate``
    (a tuple over the state components of ``(L, N, H)``, ``None``: zero)."""
    if d is None:
        return tuple(dstate)
    xp = backend.get_xp()
    dh = (dstate[0].copy() if dstate[0] is not None
          else xp.zeros((layers,) + tuple(d.shape), dtype=dtype))
    dh[-1] += d
    return (dh,) + tuple(dstate[1:])


class Seq2Seq:
    """An encoder-decoder RNN over a flat dictionary of named parameters.

    Parameters
    ----------
    config : the sizes and choices.
    rng : a seeded ``numpy.random.Generator``; parameters are drawn on the host
        and moved to the active backend, so CPU and GPU start identically.
    dtype : float32 for training (default), float64 for gradient checks.
    """

    def __init__(self, config: ModelConfig, rng: np.random.Generator,
                 dtype: Any = np.float32):
        self.dtype = check_model_args(config, rng, dtype)
        self.config = config
        self.reading = CONTEXTS[config.context](config)
        self.params: dict[str, Any] = {}
        self.set_params(self._init_host_params(rng))

    # --- parameters -----------------------------------------------------------------
    def _init_host_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c, dt = self.config, self.dtype
        p: dict[str, np.ndarray] = {}
        if c.embedding is not None:
            p["src_emb"] = rng.standard_normal((c.src_vocab, c.embedding)).astype(dt)
            p["tgt_emb"] = rng.standard_normal((c.tgt_vocab, c.embedding)).astype(dt)
        p.update(init_stack(rng, c.encoder_stack(), dt, prefix="enc."))
        if c.bidirectional:
            p.update(init_bridge(rng, self.state_names, c.hidden, c.memory_size, dt))
        p.update(self.reading.init_params(rng, dt))
        p.update(init_stack(rng, c.decoder_stack(), dt, prefix="dec."))
        bound = 1.0 / np.sqrt(c.hidden)
        p["out.W"] = rng.uniform(-bound, bound, (c.tgt_vocab, c.hidden)).astype(dt)
        p["out.b"] = np.zeros(c.tgt_vocab, dtype=dt)
        return p

    @property
    def state_names(self) -> tuple[str, ...]:
        """The cell's state components: ``("h",)``, or ``("h", "c")`` for an LSTM."""
        return get_cell(self.config.cell).STATE_NAMES

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.params.items()}

    def set_params(self, host_params: dict[str, Any]) -> None:
        """Load every parameter (validated by name and shape), moving it to the device.

        Once the model exists the values are copied *into* the existing arrays, so
        anything holding ``model.params`` (an optimizer) keeps seeing the model's
        parameters.
        """
        if not self.params:
            self.params = {k: backend.to_device(v, dtype=self.dtype)
                           for k, v in host_params.items()}
            return
        check_host_params(host_params, self.param_shapes())
        for k, v in host_params.items():
            self.params[k][...] = backend.to_device(v, dtype=self.dtype)

    def host_params(self) -> dict[str, np.ndarray]:
        """Copies of the parameters in host memory (for checkpoints and export)."""
        return {k: backend.to_host(v).copy() for k, v in self.params.items()}

    # --- input ----------------------------------------------------------------------
    def check_batch(self, src: Any, tgt_in: Any = None, tgt_out: Any = None) -> CheckedBatch:
        """Validate host id arrays (shape, dtype, range, padding) and make masks
        (:func:`minis2s.model.inputs.check_batch`)."""
        return check_batch(self.config, self.reading, self.dtype, src, tgt_in, tgt_out)

    def _embed(self, side: str, ids: Any) -> tuple[Any, Any]:
        """Token vectors of ``ids`` on ``side``: one-hot, or rows of ``{side}_emb``."""
        c = self.config
        if c.embedding is None:
            return onehot(ids, c.src_vocab if side == "src" else c.tgt_vocab, self.dtype), None
        return embedding_forward(ids, self.params[f"{side}_emb"])

    # --- encoder --------------------------------------------------------------------
    def encode(self, batch: CheckedBatch, train: bool = False, rng: Any = None
               ) -> tuple[Memory, MemoryCache]:
        """The encoder over the source, then its final state, the decoder's initial state
        and the reading's hoisted work: a :class:`~minis2s.model.contexts.base.Memory` with
        ``values (Ts, N, Hv)``, ``final (N, Hv)``, ``state0`` (tuple of ``(L, N, H)``)."""
        check_checked_batch(batch, "encode")
        x, embed = self._embed("src", batch.src)
        values, state_T, stack = stack_forward(
            x, self.params, self.config.encoder_stack(), mask=batch.src_mask, train=train,
            rng=rng, prefix="enc.")
        memory, bridge, hoist = self._memory(batch, values, state_T)
        return memory, MemoryCache(embed, stack, bridge, hoist)

    def encode_memory(self, batch: CheckedBatch) -> Memory:
        """:meth:`encode` for decoding: the same :class:`Memory`, nothing kept for a
        backward pass, each encoder layer's buffers freed as soon as the next has read its
        output (:mod:`minis2s.model.encoding`)."""
        check_checked_batch(batch, "encode_memory")
        x, _ = self._embed("src", batch.src)
        values, state_T = encoder_layers(x, self.params, self.config.encoder_stack(),
                                         batch.src_mask, "enc.")
        return self._memory(batch, values, state_T)[0]

    def _memory(self, batch: CheckedBatch, values: Any, state_T: tuple) -> tuple:
        """The encoder's outputs and final state -> ``(Memory, bridge cache, hoist cache)``."""
        c = self.config
        if c.bidirectional:
            merged = merge_bidirectional_state(state_T)
            final = merged[0][-1]
            state0, bridge = bridge_forward(merged, self.params, self.state_names)
        else:
            final, state0, bridge = state_T[0][-1], state_T, None
        keys, hoist = self.reading.hoist_forward(values, self.params)
        return Memory(values, keys, batch.src_mask, final, batch.src_len, state0), bridge, hoist

    def encode_backward(self, dmemory: MemoryGrads, dstate0: tuple, cache: MemoryCache
                        ) -> tuple[Any, dict[str, Any]]:
        r"""The encoder's backward: ``dmemory`` (what every reading of the memory added) and
        ``dstate0`` (the decoder's initial state) -> ``(dx (Ts, N, D), grads)``.

        :math:`\partial L/\partial \bar h_j` gains the hoisted work's share; the final
        state's gradient goes through the bridge (bidirectional) and joins the top
        layer's :math:`\partial L/\partial \bar h_n` with the *final* reading's
        :math:`\sum_t \partial L/\partial h_t`; then the stack's backward through time
        and the embedding's scatter-add.
        """
        c = self.config
        grads = GradSum()
        dvalues = dmemory.values
        dv, g = self.reading.hoist_backward(dmemory.keys, cache.hoist)
        if dv is not None:
            dvalues += dv
        grads.add(g)
        if c.bidirectional:
            dmerged, g = bridge_backward(dstate0, cache.bridge, self.state_names)
            grads.add(g)
            dmerged = _add_to_top(dmerged, dmemory.final, c.layers, self.dtype)
            dstate_T = split_bidirectional_state(dmerged)
        else:
            dstate_T = _add_to_top(dstate0, dmemory.final, c.layers, self.dtype)
        dx, _, g = stack_backward(dvalues, dstate_T, cache.stack)
        grads.add(g)
        if cache.embed is not None:
            grads.add({"src_emb": embedding_backward(dx, cache.embed)})
        return dx, grads

    # --- decoder --------------------------------------------------------------------
    def decode_step(self, memory: Memory, y_prev: Any, state: tuple, t: int,
                    train: bool = False, rng: Any = None
                    ) -> tuple[Any, tuple, Any, DecoderStepCache]:
        """One decoder step, :math:`s_t = g(W_o h_t + W_y y_{t-1} + W_s s_{t-1} + b)`:
        ``y_prev (N,)`` ids and ``state`` -> ``(top output (N, H), new state, attention
        weights (Ts, N) or None, cache)``."""
        xp = backend.get_xp()
        emb, embed = self._embed("tgt", y_prev)
        ctx, weights, context = self.reading.step_forward(memory, state[0][-1], t, self.params)
        x = xp.concatenate([ctx, emb], axis=1)                        # [h_t ; y_{t-1}]
        h, new_state, stack = stack_step_forward(
            x, state, self.params, self.config.decoder_stack(), train=train, rng=rng,
            prefix="dec.")
        return h, new_state, weights, DecoderStepCache(embed, context, stack)

    def _decode_step_backward(self, dh: Any, dstate: tuple, cache: DecoderStepCache,
                              dmemory: MemoryGrads, grads: GradSum) -> tuple:
        """``dh (N, H)`` and ``dstate`` (of :math:`s_t`) -> ``dstate`` of :math:`s_{t-1}`;
        adds into ``dmemory`` and ``grads``."""
        c = self.config
        dx, dstate, g = stack_step_backward(dh, dstate, cache.stack)
        grads.add(g)
        dctx, demb = dx[:, :c.memory_size], dx[:, c.memory_size:]      # d[h_t ; y_{t-1}]
        dquery, g = self.reading.step_backward(dctx, cache.context, dmemory)
        grads.add(g)
        dstate = _add_to_top(dstate, dquery, c.layers, self.dtype)    # the query was s_{t-1}
        if cache.embed is not None:
            grads.add({"tgt_emb": embedding_backward(demb, cache.embed)})
        return dstate

    def _decode_steps(self, memory: Memory, tgt_in: np.ndarray, teacher_forcing: float,
                      train: bool, rng: Any) -> tuple[Any, list, np.ndarray, Any]:
        """The decoder step by step: ``(outputs (Tt, N, H), step caches, fed ids,
        attention weights (Tt, Ts, N) or None)``. With ``teacher_forcing < 1`` each row
        is fed its own previous argmax with probability ``1 - teacher_forcing``."""
        xp = backend.get_xp()
        n = tgt_in.shape[1]
        fed = tgt_in.copy()
        steps, outs, weights_all = [], [], []
        state = memory.state0
        for t in range(tgt_in.shape[0]):
            if t > 0 and teacher_forcing < 1.0:
                own = backend.to_host(xp.argmax(self.output_logits(outs[-1]), axis=1))
                coin = rng.random(n) < teacher_forcing
                fed[t] = np.where(coin, tgt_in[t], own)
            h, state, weights, cache = self.decode_step(memory, fed[t], state, t, train, rng)
            steps.append(cache)
            outs.append(h)
            if weights is not None:
                weights_all.append(weights)
        attention = xp.stack(weights_all) if weights_all else None
        return xp.stack(outs), steps, fed, attention

    def _decode_sequence(self, memory: Memory, tgt_in: np.ndarray, train: bool, rng: Any
                         ) -> tuple[Any, DecoderSequenceCache]:
        """The fast path: every decoder input is known, so the stack runs over all steps
        at once (its input projection hoisted out of the time loop)."""
        xp = backend.get_xp()
        emb, embed = self._embed("tgt", tgt_in)
        ctx, context = self.reading.sequence_forward(memory, tgt_in.shape[0], self.params)
        x = xp.concatenate([ctx, emb], axis=2)
        outputs, _, stack = stack_forward(
            x, self.params, self.config.decoder_stack(), state0=memory.state0, train=train,
            rng=rng, prefix="dec.")
        return outputs, DecoderSequenceCache(embed, context, stack)

    def _decode_sequence_backward(self, doutputs: Any, cache: DecoderSequenceCache,
                                  dmemory: MemoryGrads, grads: GradSum) -> tuple:
        """``doutputs (Tt, N, H)`` -> ``dstate0``; adds into ``dmemory`` and ``grads``."""
        hv = self.config.memory_size
        dx, dstate0, g = stack_backward(doutputs, None, cache.stack)
        grads.add(g)
        dctx, demb = dx[..., :hv], dx[..., hv:]
        grads.add(self.reading.sequence_backward(dctx, cache.context, dmemory))
        if cache.embed is not None:
            grads.add({"tgt_emb": embedding_backward(demb, cache.embed)})
        return dstate0

    def _decode_fast(self, memory: Memory, step_memory: Any, tgt_in: np.ndarray, train: bool,
                     rng: Any) -> tuple[Any, Any, DecoderFastCache]:
        """The attention decoder on the fast path (:mod:`minis2s.model.fast_decoder`): the
        token inputs of every step projected at once, one product per step and layer.
        Returns ``(outputs (Tt, N, H), attention weights (Tt, Ts, N), cache)``."""
        emb, embed = self._embed("tgt", tgt_in)
        T, N = tgt_in.shape
        steps = AttentionSteps(step_memory, T)
        drops = step_dropout(rng if train else None, self.config, T, N, self.dtype)
        outputs, _, decoder = decoder_forward(emb, layer_weights(self.params, self.config),
                                              self.config.cell, memory.state0, steps, drops)
        return outputs, steps.weights.transpose(0, 2, 1), DecoderFastCache(embed, decoder)

    def _decode_fast_backward(self, doutputs: Any, cache: DecoderFastCache,
                              dmemory: MemoryGrads, grads: GradSum) -> tuple:
        """``doutputs (Tt, N, H)`` -> ``dstate0``; adds into ``dmemory`` and ``grads``."""
        demb, dstate0, g, dvalues, dkeys = decoder_backward(doutputs, cache.decoder)
        grads.add(g)
        dmemory.values += dvalues
        dmemory.keys += dkeys
        if cache.embed is not None:
            grads.add({"tgt_emb": embedding_backward(demb, cache.embed)})
        return dstate0

    def decoder(self, memory: Memory) -> InferenceDecoder:
        """Forward-only decoding steps over ``memory`` (greedy and beam search):
        ``decoder(memory).step(y_prev, state, t) -> (top output, new state, weights)``."""
        return InferenceDecoder(self, memory)

    def output_logits(self, h: Any) -> Any:
        """``logits = W_out h + b_out`` for ``h (..., H)`` -> ``(..., V)``."""
        return linear_forward(h, self.params["out.W"], self.params["out.b"])[0]

    # --- whole forward / backward ---------------------------------------------------
    def forward(self, src: Any, tgt_in: Any, tgt_out: Any, teacher_forcing: float = 1.0,
                rng: Any = None, train: bool = False, smoothing: float = 0.0
                ) -> tuple[Any, ForwardCache]:
        """Loss of a padded batch: ``src (Ts, N)``, ``tgt_in``/``tgt_out (Tt, N)`` host ids.

        ``teacher_forcing`` is the probability of feeding the reference token at each
        step and row (1.0: always); otherwise the model's own previous argmax is fed,
        drawn with ``rng`` (the sampled ids are constants for backprop). ``train``
        turns dropout on (drawn with ``rng``). ``smoothing`` is the loss's label smoothing
        (:func:`~minis2s.ops.softmax_ce.softmax_cross_entropy_forward`; 0: the plain loss).

        Under teacher forcing every decoder input is known, and the decoder takes a fast
        path: all steps at once for a reading that does not read the decoder's state
        (:meth:`_decode_sequence`), the fast stepping decoder for attention
        (:meth:`_decode_fast`); otherwise it runs step by step (:meth:`_decode_steps`).
        """
        teacher_forcing = check_forward_args(teacher_forcing, rng, train, self.config.dropout)
        if tgt_in is None or tgt_out is None:
            raise TypeError("forward: expected tgt_in and tgt_out, (Tt, N) arrays of token "
                            "ids, got None")
        batch = self.check_batch(src, tgt_in, tgt_out)
        memory, memory_cache = self.encode(batch, train=train, rng=rng)
        sequence = steps = fast = attention = None
        forced = teacher_forcing == 1.0      # every decoder input known: a fast path
        step_memory = self.reading.step_memory(memory, self.params) if forced else None
        if forced and not self.reading.reads_decoder_state:
            outputs, sequence = self._decode_sequence(memory, batch.tgt_in, train, rng)
            fed = batch.tgt_in.copy()
        elif step_memory is not None:
            outputs, attention, fast = self._decode_fast(memory, step_memory, batch.tgt_in,
                                                         train, rng)
            fed = batch.tgt_in.copy()
        else:
            outputs, steps, fed, attention = self._decode_steps(
                memory, batch.tgt_in, teacher_forcing, train, rng)
        logits, output = linear_forward(outputs, self.params["out.W"], self.params["out.b"])
        loss, ce = softmax_cross_entropy_forward(logits, batch.tgt_out, batch.tgt_mask,
                                                 smoothing)
        cache = ForwardCache(batch, memory_cache, memory, fed, sequence, steps, fast, attention,
                             output, ce)
        return loss, cache

    def backward(self, cache: ForwardCache) -> tuple[dict[str, Any], ForwardInfo]:
        r"""Gradients of the loss with respect to every parameter (the keys of ``params``).

        The chain rule from the loss back along the forward path (``docs/derivations/model``):

        .. math::
            \frac{\partial L}{\partial z_t} = \frac{m_t}{C}\,(p_t - e_{y_t}),\quad
            \mathrm{d}W_{out} = \sum_t \frac{\partial L}{\partial z_t}^{\!\top} s_t,\quad
            \mathrm{d}b_{out} = \sum_t \frac{\partial L}{\partial z_t},\quad
            \frac{\partial L}{\partial s_t} \mathrel{+}= W_{out}^\top
                \frac{\partial L}{\partial z_t}

        (masked cross-entropy, then the output projection over all steps in one product);
        the decoder stack's backward through time (all steps at once on the sequence path;
        for attention under teacher forcing the fast decoder's loop, one product per step
        and layer, weight gradients after it; else step by step, last first) gives the
        gradient of each step's input
        :math:`[h_t ; E_{tgt} y_{t-1}]`, split into

        .. math::
            \frac{\partial L}{\partial h_t} = \Big[\frac{\partial L}{\partial x_t}\Big]_{1..H_v},
            \qquad
            \mathrm{d}E_{tgt}[y_{t-1}] \mathrel{+}= \Big[\frac{\partial L}{\partial x_t}
                \Big]_{H_v+1..}

        and :math:`\partial L/\partial h_t` goes back through the reading
        (:math:`\partial L/\partial \bar h_j`, :math:`\partial L/\partial \bar h_n`, and
        for attention :math:`\partial L/\partial s_{t-1} \mathrel{+}= \partial L/\partial q_t`);
        then the encoder (:meth:`encode_backward`): bridge, final state, stack, embedding.
        Every parameter used in several places gets the sum of its gradients.
        """
        if not isinstance(cache, ForwardCache):
            raise TypeError(f"backward: expected the ForwardCache of forward(), "
                            f"got {type(cache).__name__}")
        grads = GradSum()
        dlogits = softmax_cross_entropy_backward(1.0, cache.loss)
        doutputs, dW, db = linear_backward(dlogits, cache.output)
        grads.add({"out.W": dW, "out.b": db})
        dmemory = MemoryGrads.zeros_like(cache.memory)
        if cache.sequence is not None:
            dstate0 = self._decode_sequence_backward(doutputs, cache.sequence, dmemory, grads)
        elif cache.fast is not None:
            dstate0 = self._decode_fast_backward(doutputs, cache.fast, dmemory, grads)
        else:
            dstate: tuple = (None,) * len(self.state_names)
            for t in reversed(range(len(cache.steps))):
                dstate = self._decode_step_backward(doutputs[t], dstate, cache.steps[t],
                                                    dmemory, grads)
            dstate0 = dstate
        dx_src, g = self.encode_backward(dmemory, dstate0, cache.memory_cache)
        grads.add(g)
        return dict(grads), forward_info(cache, dx_src)

    def loss_and_grads(self, src: Any, tgt_in: Any, tgt_out: Any, teacher_forcing: float = 1.0,
                       rng: Any = None, train: bool = True, smoothing: float = 0.0
                       ) -> tuple[Any, dict[str, Any], ForwardInfo]:
        """One call for training: ``(loss 0-d array, grads {name: array}, info)``."""
        loss, cache = self.forward(src, tgt_in, tgt_out, teacher_forcing, rng, train,
                                   smoothing)
        grads, info = self.backward(cache)
        return loss, grads, info

    def loss(self, src: Any, tgt_in: Any, tgt_out: Any) -> Any:
        """The loss in evaluation mode (no dropout, teacher forcing 1)."""
        return self.forward(src, tgt_in, tgt_out, 1.0, None, False)[0]
