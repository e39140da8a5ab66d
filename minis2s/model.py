r"""The sequence-to-sequence model: embedding, encoder stack, decoder stack, output, loss.

The decoder computes the article's :math:`o_t = g(W_o h_t + W_s s_{t-1} + b)`,
where :math:`h_t` is "what the encoder tells the decoder at step t", read one of
three ways (``ModelConfig.context``):

* ``aligned``   -- :math:`h_t = \bar h_t`, the encoder state at the same step
  (source and target of equal length, tagging-style tasks; the final
  end-of-sequence step reads the last encoder state);
* ``final``     -- :math:`h_t = \bar h_{n}`, the encoder's state at each row's
  last *real* token (the classic Sutskever/Cho model);
* ``attention`` -- :math:`h_t = \sum_j a_{tj} \bar h_j`, weights computed from
  the decoder's previous top state :math:`s_{t-1}` (see
  :mod:`minis2s.ops.attention`).

The decoder's input at step ``t`` is the concatenation :math:`[h_t ; y_{t-1}]`
of that context and the previous target token's vector -- the extension
:math:`+ W_y y_{t-1}` of the article's formula, done by one input weight
:math:`[W_o \; W_y]` -- and its cells are any of the stack's kinds (the article's
recurrence, LSTM, GRU), in as many layers as asked.

Initial decoder state: the encoder's final state, layer by layer (same layer
count and hidden size on both sides). A bidirectional encoder's two
directions are concatenated per layer (:func:`minis2s.cells.stack.merge_bidirectional_state`)
and passed through a learned *bridge*, :math:`s_0 = \tanh(W_b [\overrightarrow{h};
\overleftarrow{h}] + b_b)`, one per state component (``h``, and ``c`` for LSTM).

Token ids arrive as host ``(T, N)`` integer arrays padded on the right with
``pad_id`` (0); masks are derived from them. ``tgt_in`` is ``<s> y_1 .. y_m``
and ``tgt_out`` is ``y_1 .. y_m </s>``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.cells.stack import (
    CELL_KINDS,
    StackConfig,
    init_stack,
    merge_bidirectional_state,
    split_bidirectional_state,
    stack_backward,
    stack_forward,
    stack_step_backward,
    stack_step_forward,
)
from minis2s.ops.activations import ACTIVATIONS, activation_backward, activation_forward
from minis2s.ops.attention import (
    attention_backward,
    attention_forward,
    attention_keys_backward,
    attention_keys_forward,
    attention_param_shapes,
    check_scorer,
)
from minis2s.ops.embedding import embedding_backward, embedding_forward
from minis2s.ops.linear import linear_backward, linear_forward
from minis2s.ops.onehot import onehot
from minis2s.ops.softmax_ce import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from minis2s.ops.validate import check_float_dtype, check_generator

CONTEXTS = ("aligned", "final", "attention")
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """The model's choices and sizes, *without* the vocabularies: the one source of the
    model settings. :class:`ModelConfig` adds the vocabulary sizes;
    :class:`minis2s.train.TrainConfig` inherits these fields (and their defaults and
    checks), and the command line's model options are read from them.

    * ``cell`` -- ``seed`` (the article's plain recurrence), ``lstm`` or ``gru``
    * ``layers``, ``hidden`` -- stacked layers (encoder and decoder alike), their size
    * ``embedding`` -- size of learned token vectors; None: one-hot inputs (the article)
    * ``bidirectional`` -- read the source in both directions
    * ``context`` -- the reading of :math:`h_t`: ``aligned``, ``final`` or ``attention``
    * ``attention`` -- its scorer: ``additive``, ``dot`` or ``general``
    * ``dropout`` -- inverted dropout between stacked layers, a rate in [0, 1)
    * ``activation`` -- ``f`` and ``g`` of the seed cell
    """

    cell: str = "lstm"
    layers: int = 1
    hidden: int = 64
    embedding: int | None = 32      # None: one-hot inputs, as in the article
    bidirectional: bool = False
    context: str = "attention"
    attention: str = "additive"
    dropout: float = 0.0
    activation: str = "tanh"        # the seed cell's f and g

    def __post_init__(self) -> None:
        for name in ("layers", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.embedding is not None and (
                isinstance(self.embedding, bool)
                or not isinstance(self.embedding, (int, np.integer)) or self.embedding < 1):
            raise ValueError(
                f"embedding: expected a positive integer or None (one-hot), "
                f"got {self.embedding!r}")
        if not isinstance(self.bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional: expected True or False, got {self.bidirectional!r}")
        if self.cell not in CELL_KINDS:
            raise ValueError(f"cell: expected one of {', '.join(CELL_KINDS)}, got {self.cell!r}")
        if self.context not in CONTEXTS:
            raise ValueError(
                f"context: expected one of {', '.join(CONTEXTS)}, got {self.context!r}")
        check_scorer(self.attention)
        if self.context == "attention" and self.attention == "dot" and self.bidirectional:
            raise ValueError(
                "dot attention needs the decoder state (hidden) and the encoder "
                "output (2 x hidden when bidirectional) to have one size; use 'general' or "
                "'additive'")
        if (isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float))
                or not 0.0 <= float(self.dropout) < 1.0):
            raise ValueError(f"dropout: expected a rate in [0, 1), got {self.dropout!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.dropout > 0 and self.layers == 1:
            warnings.warn(
                f"dropout {self.dropout} acts between stacked layers, so with "
                "layers=1 it has no effect; use layers >= 2", UserWarning, stacklevel=3)

    def model_settings(self) -> dict[str, Any]:
        """The values of the :class:`ModelSettings` fields (also of a subclass)."""
        return {f.name: getattr(self, f.name) for f in fields(ModelSettings)}


@dataclass(frozen=True)
class ModelConfig(ModelSettings):
    """Sizes and choices of a :class:`Seq2Seq` model (all JSON-serialisable): the
    vocabulary sizes, then the :class:`ModelSettings` (keyword-only)."""

    src_vocab: int
    tgt_vocab: int

    def __post_init__(self) -> None:
        for name in ("src_vocab", "tgt_vocab"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{name}: expected a positive integer, got {value!r}")
        if self.src_vocab < 4 or self.tgt_vocab < 4:
            raise ValueError(
                "ModelConfig: vocabularies hold at least the 4 special tokens "
                f"(<pad> <s> </s> <unk>), got src_vocab={self.src_vocab}, "
                f"tgt_vocab={self.tgt_vocab}")
        super().__post_init__()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        if not isinstance(d, dict):
            raise TypeError(f"ModelConfig.from_dict: expected a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"ModelConfig.from_dict: unknown settings {unknown}")
        return cls(**d)

    # --- derived sizes --------------------------------------------------------------
    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def memory_size(self) -> int:
        """Size of an encoder output vector :math:`\\bar h_j` (``Hv``)."""
        return self.hidden * self.directions

    def input_size(self, side: str) -> int:
        vocab = self.src_vocab if side == "src" else self.tgt_vocab
        return vocab if self.embedding is None else self.embedding

    def encoder_stack(self) -> StackConfig:
        return StackConfig(self.cell, self.input_size("src"), self.hidden, self.layers,
                           self.bidirectional, self.dropout, self.activation)

    def decoder_stack(self) -> StackConfig:
        return StackConfig(self.cell, self.memory_size + self.input_size("tgt"), self.hidden,
                           self.layers, False, self.dropout, self.activation)


class Batch(NamedTuple):
    """A validated batch: host ids and masks, device copies."""

    src: np.ndarray            # (Ts, N) host
    src_len: np.ndarray        # (N,) host
    src_mask: Any              # (Ts, N) device, model dtype
    tgt_in: np.ndarray | None  # (Tt, N) host
    tgt_out: Any               # (Tt, N) device ids
    tgt_mask: Any              # (Tt, N) device
    num_tokens: int


class Memory(NamedTuple):
    """What the decoder reads from the encoder, for training and decoding alike."""

    values: Any        # (Ts, N, Hv) encoder outputs \bar h_j
    keys: Any          # (Ts, N, K) attention keys, or None
    mask: Any          # (Ts, N) 1 at real source positions
    final: Any         # (N, Hv) encoder state at each row's last real token
    src_len: np.ndarray  # (N,) host
    state0: tuple      # decoder initial state, tuple of (L, N, H)

    def select(self, rows: np.ndarray) -> Memory:
        """The memory of rows ``rows`` (host int array): how beams share one source."""
        idx = backend.to_device(rows)
        return Memory(
            self.values[:, idx], None if self.keys is None else self.keys[:, idx],
            self.mask[:, idx], self.final[idx], self.src_len[rows],
            tuple(s[:, idx] for s in self.state0))


class EncoderCache(NamedTuple):
    src_embed: Any
    stack: Any
    keys: Any
    bridge: Any        # ((linear cache, tanh cache) per state component) or None


class StepCache(NamedTuple):
    embed: Any
    attention: Any
    stack: Any


class ForwardCache(NamedTuple):
    batch: Batch
    encoder: EncoderCache
    memory: Memory
    fed_ids: Any            # (Tt, N) ids actually fed to the decoder (host)
    steps: list | None      # per-step caches (step path)
    decoder_seq: Any        # (embed cache, stack cache) on the sequence path
    attention: np.ndarray | None
    output: Any
    loss: Any


class ForwardInfo(NamedTuple):
    """Extra results of :meth:`Seq2Seq.loss_and_grads`, on the host."""

    num_tokens: int
    attention: np.ndarray | None      # (Tt, N, Ts) attention weights, or None
    enc_grad_norms: np.ndarray | None  # (Ts,) RMS over real rows of ||dL/dx_t||


def _as_host_ids(a: Any, what: str) -> np.ndarray:
    a = backend.to_host(a)
    if a.ndim != 2:
        raise ValueError(f"{what}: expected a (T, N) array of token ids, got shape {a.shape}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{what}: expected integer token ids, got dtype {a.dtype}")
    return a


def _lengths(ids: np.ndarray, what: str) -> np.ndarray:
    real = ids != PAD_ID
    lengths = real.sum(axis=0)
    if ids.shape[0] == 0 or np.any(lengths == 0):
        rows = np.flatnonzero(lengths == 0).tolist() if ids.shape[0] else "all"
        raise ValueError(f"{what}: empty sequence (only padding) in batch rows {rows}")
    expected = np.arange(ids.shape[0])[:, None] < lengths[None, :]
    if np.any(real != expected):
        bad = np.flatnonzero(np.any(real != expected, axis=0)).tolist()
        raise ValueError(
            f"{what}: padding (id {PAD_ID}) must only follow the tokens of a row; "
            f"rows {bad} have a padding id in the middle")
    return lengths


def _sum_into(total: dict, grads: dict, prefix: str = "") -> None:
    for name, g in grads.items():
        key = prefix + name
        total[key] = g if key not in total else total[key] + g


def log_softmax(logits: Any) -> Any:
    """``log softmax`` over the last axis, stabilised by the row maximum."""
    xp = backend.get_xp()
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


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
        if not isinstance(config, ModelConfig):
            raise TypeError(f"Seq2Seq: expected a ModelConfig, got {type(config).__name__}")
        check_generator(rng, "Seq2Seq")
        self.config = config
        self.dtype = check_float_dtype(dtype, "Seq2Seq")
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
            bound = 1.0 / np.sqrt(c.memory_size)
            for s in self.state_names:
                shape = (c.hidden, c.memory_size)
                p[f"bridge.{s}.W"] = rng.uniform(-bound, bound, shape).astype(dt)
                p[f"bridge.{s}.b"] = np.zeros(c.hidden, dtype=dt)
        if c.context == "attention":
            shapes = attention_param_shapes(c.attention, c.hidden, c.memory_size)
            for name, shape in shapes.items():
                bound = 1.0 / np.sqrt(shape[-1])
                p[f"attn.{name}"] = rng.uniform(-bound, bound, shape).astype(dt)
        p.update(init_stack(rng, c.decoder_stack(), dt, prefix="dec."))
        bound = 1.0 / np.sqrt(c.hidden)
        p["out.W"] = rng.uniform(-bound, bound, (c.tgt_vocab, c.hidden)).astype(dt)
        p["out.b"] = np.zeros(c.tgt_vocab, dtype=dt)
        return p

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("h", "c") if self.config.cell == "lstm" else ("h",)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.params.items()}

    def set_params(self, host_params: dict[str, Any]) -> None:
        """Load every parameter (validated by name and shape), moving it to the device.

        Once the model exists the values are copied *into* the existing arrays, so
        anything holding ``model.params`` (an optimizer) keeps seeing the model's
        parameters.
        """
        expected = self.param_shapes() if self.params else None
        if expected is not None:
            missing = sorted(set(expected) - set(host_params))
            extra = sorted(set(host_params) - set(expected))
            if missing or extra:
                raise ValueError(f"set_params: missing parameters {missing}, unexpected {extra}")
            for k, shape in expected.items():
                if tuple(host_params[k].shape) != shape:
                    raise ValueError(
                        f"set_params: parameter {k!r} expected shape {shape}, "
                        f"got {tuple(host_params[k].shape)}")
            for k, v in host_params.items():
                self.params[k][...] = backend.to_device(v, dtype=self.dtype)
            return
        self.params = {k: backend.to_device(v, dtype=self.dtype) for k, v in host_params.items()}

    def host_params(self) -> dict[str, np.ndarray]:
        """Copies of the parameters in host memory (for checkpoints and export)."""
        return {k: backend.to_host(v).copy() for k, v in self.params.items()}

    def _sub(self, prefix: str) -> dict[str, Any]:
        return {k[len(prefix):]: v for k, v in self.params.items() if k.startswith(prefix)}

    # --- input ----------------------------------------------------------------------
    def check_batch(self, src: Any, tgt_in: Any = None, tgt_out: Any = None) -> Batch:
        """Validate host id arrays (shape, dtype, range, padding) and make masks."""
        c = self.config
        src = _as_host_ids(src, "src")
        _check_range(src, c.src_vocab, "src")
        src_len = _lengths(src, "src")
        xp_mask = backend.to_device(src != PAD_ID, dtype=self.dtype)
        if tgt_out is None:
            return Batch(src, src_len, xp_mask, None, None, None, 0)
        tgt_in = _as_host_ids(tgt_in, "tgt_in")
        tgt_out = _as_host_ids(tgt_out, "tgt_out")
        if tgt_in.shape != tgt_out.shape:
            raise ValueError(
                f"tgt_in and tgt_out: shapes differ, {tgt_in.shape} vs {tgt_out.shape}")
        if tgt_out.shape[1] != src.shape[1]:
            raise ValueError(
                f"src and tgt: batch sizes differ, src (Ts, N) = {src.shape}, "
                f"tgt (Tt, N) = {tgt_out.shape}")
        _check_range(tgt_in, c.tgt_vocab, "tgt_in")
        _check_range(tgt_out, c.tgt_vocab, "tgt_out")
        tgt_len = _lengths(tgt_out, "tgt_out")
        if c.context == "aligned" and np.any(tgt_len - 1 != src_len):
            bad = np.flatnonzero(tgt_len - 1 != src_len)
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            bad = bad[:5].tolist()
            raise ValueError(
                "context 'aligned' reads the encoder state at the same step, so source and "
                f"target must have equal length; rows {bad}{more} have source lengths "
                f"{src_len[bad].tolist()} and target lengths {(tgt_len[bad] - 1).tolist()}")
        tgt_mask = backend.to_device(tgt_out != PAD_ID, dtype=self.dtype)
        return Batch(src, src_len, xp_mask, tgt_in, backend.to_device(tgt_out), tgt_mask,
                     int(tgt_len.sum()))

    def _embed(self, side: str, ids: Any) -> tuple[Any, Any]:
        c = self.config
        if c.embedding is None:
            vocab = c.src_vocab if side == "src" else c.tgt_vocab
            return onehot(ids, vocab, self.dtype), None
        return embedding_forward(ids, self.params[f"{side}_emb"])

    # --- encoder --------------------------------------------------------------------
    def encode(self, batch: Batch, train: bool = False, rng: Any = None
               ) -> tuple[Memory, EncoderCache]:
        """Encoder over the source, then keys, final context and decoder initial state.

        Returns a :class:`Memory` with ``values (Ts, N, Hv)``, ``final (N, Hv)``, ``state0``
        (tuple of ``(L, N, H)``).
        """
        c = self.config
        x, emb_cache = self._embed("src", batch.src)
        values, state_T, stack_cache = stack_forward(
            x, self.params, c.encoder_stack(), mask=batch.src_mask, train=train, rng=rng,
            prefix="enc.")
        h_T = state_T[0]
        if c.bidirectional:
            merged = merge_bidirectional_state(state_T)
            final = merged[0][-1]
            state0, bridge = [], []
            for name, s in zip(self.state_names, merged):
                a, lin = linear_forward(s, self.params[f"bridge.{name}.W"],
                                        self.params[f"bridge.{name}.b"])
                s0, act = activation_forward("tanh", a)
                state0.append(s0)
                bridge.append((lin, act))
            state0, bridge = tuple(state0), tuple(bridge)
        else:
            final, state0, bridge = h_T[-1], state_T, None
        keys, keys_cache = None, None
        if c.context == "attention":
            keys, keys_cache = attention_keys_forward(values, self._sub("attn."), c.attention)
        memory = Memory(values, keys, batch.src_mask, final, batch.src_len, state0)
        return memory, EncoderCache(emb_cache, stack_cache, keys_cache, bridge)

    def _encoder_backward(self, dvalues: Any, dkeys: Any, dfinal: Any, dstate0: tuple,
                          cache: EncoderCache, grads: dict) -> Any:
        c = self.config
        xp = backend.get_xp()
        if dkeys is not None:
            dv, g = attention_keys_backward(dkeys, cache.keys)
            dvalues = dvalues + dv
            _sum_into(grads, g, "attn.")
        if c.bidirectional:
            dmerged = []
            for name, s_grad, (lin, act) in zip(self.state_names, dstate0, cache.bridge):
                if s_grad is None:
                    s_grad = xp.zeros_like(act.y)
                da = activation_backward(s_grad, act)
                ds, dW, db = linear_backward(da, lin)
                _sum_into(grads, {f"bridge.{name}.W": dW, f"bridge.{name}.b": db})
                dmerged.append(ds)
            if dfinal is not None:
                dh = dmerged[0].copy()
                dh[-1] += dfinal
                dmerged[0] = dh
            dstate_T = split_bidirectional_state(tuple(dmerged))
        else:
            dstate_T = list(dstate0)
            if dfinal is not None:
                dh = dstate_T[0].copy() if dstate_T[0] is not None else None
                if dh is None:
                    dh = xp.zeros((c.layers,) + tuple(dfinal.shape), dtype=self.dtype)
                dh[-1] += dfinal
                dstate_T[0] = dh
            dstate_T = tuple(dstate_T)
        dx, _, g = stack_backward(dvalues, dstate_T, cache.stack)
        _sum_into(grads, g)
        if cache.src_embed is not None:
            grads["src_emb"] = embedding_backward(dx, cache.src_embed)
        return dx

    # --- decoder --------------------------------------------------------------------
    def context_at(self, memory: Memory, t: int) -> Any:
        """:math:`h_t` for the non-attention readings: ``(N, Hv)``."""
        if self.config.context == "final":
            return memory.final
        rows = np.minimum(t, memory.src_len - 1)          # aligned; </s> reads the last state
        return memory.values[backend.to_device(rows), backend.to_device(np.arange(len(rows)))]

    def decode_step(self, memory: Memory, y_prev: Any, state: tuple, t: int,
                    train: bool = False, rng: Any = None) -> tuple[Any, tuple, Any, StepCache]:
        """One decoder step: ``y_prev (N,)`` ids and ``state`` -> ``(top output (N, H),
        new state, attention weights (Ts, N) or None, cache)``."""
        c = self.config
        xp = backend.get_xp()
        emb, emb_cache = self._embed("tgt", y_prev)
        att_cache, weights = None, None
        if c.context == "attention":
            (ctx, weights), att_cache = attention_forward(
                state[0][-1], memory.keys, memory.values, memory.mask, self._sub("attn."),
                c.attention)
        else:
            ctx = self.context_at(memory, t)
        x = xp.concatenate([ctx, emb], axis=1)
        h, new_state, stack_cache = stack_step_forward(
            x, state, self.params, c.decoder_stack(), train=train, rng=rng, prefix="dec.")
        return h, new_state, weights, StepCache(emb_cache, att_cache, stack_cache)

    def output_logits(self, h: Any) -> Any:
        """``logits = W_out h + b_out`` for ``h (..., H)`` -> ``(..., V)``."""
        return linear_forward(h, self.params["out.W"], self.params["out.b"])[0]

    # --- whole forward / backward ---------------------------------------------------
    def forward(self, src: Any, tgt_in: Any, tgt_out: Any, teacher_forcing: float = 1.0,
                rng: Any = None, train: bool = False) -> tuple[Any, ForwardCache]:
        """Loss of a padded batch: ``src (Ts, N)``, ``tgt_in``/``tgt_out (Tt, N)`` host ids.

        ``teacher_forcing`` is the probability of feeding the reference token at each
        step and row (1.0: always); otherwise the model's own previous argmax is fed,
        drawn with ``rng`` (the sampled ids are constants for backprop).
        """
        c = self.config
        xp = backend.get_xp()
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing: expected a ratio in [0, 1], got {teacher_forcing}")
        if (teacher_forcing < 1.0 or (train and c.dropout > 0)) and rng is None:
            raise ValueError("forward: teacher_forcing < 1 and dropout need a numpy Generator rng")
        batch = self.check_batch(src, tgt_in, tgt_out)
        memory, enc_cache = self.encode(batch, train=train, rng=rng)
        tt, n = batch.tgt_in.shape
        fed = batch.tgt_in.copy()
        steps, seq_cache, attention = None, None, None
        if c.context != "attention" and teacher_forcing == 1.0:
            # the fast path: every decoder input is known, run the stack over all steps at once
            emb, emb_cache = self._embed("tgt", batch.tgt_in)
            ctx = (xp.broadcast_to(memory.final[None], (tt,) + memory.final.shape)
                   if c.context == "final"
                   else xp.stack([self.context_at(memory, t) for t in range(tt)]))
            x = xp.concatenate([ctx, emb], axis=2)
            outputs, _, stack_cache = stack_forward(
                x, self.params, c.decoder_stack(), state0=memory.state0, train=train, rng=rng,
                prefix="dec.")
            seq_cache = (emb_cache, stack_cache)
        else:
            steps, outs, weights_all = [], [], []
            state = memory.state0
            for t in range(tt):
                if t > 0 and teacher_forcing < 1.0:
                    own = backend.to_host(xp.argmax(self.output_logits(outs[-1]), axis=1))
                    coin = rng.random(n) < teacher_forcing
                    fed[t] = np.where(coin, batch.tgt_in[t], own)
                h, state, weights, cache = self.decode_step(
                    memory, fed[t], state, t, train=train, rng=rng)
                steps.append(cache)
                outs.append(h)
                if weights is not None:
                    weights_all.append(weights)
            outputs = xp.stack(outs)
            if weights_all:
                attention = xp.stack(weights_all)          # (Tt, Ts, N)
        logits, out_cache = linear_forward(outputs, self.params["out.W"], self.params["out.b"])
        loss, ce_cache = softmax_cross_entropy_forward(logits, batch.tgt_out, batch.tgt_mask)
        cache = ForwardCache(batch, enc_cache, memory, fed, steps, seq_cache, attention,
                             out_cache, ce_cache)
        return loss, cache

    def backward(self, cache: ForwardCache) -> tuple[dict[str, Any], ForwardInfo]:
        """Gradients of the loss with respect to every parameter (same keys as ``params``)."""
        c = self.config
        xp = backend.get_xp()
        grads: dict[str, Any] = {}
        dlogits = softmax_cross_entropy_backward(1.0, cache.loss)
        doutputs, dW, db = linear_backward(dlogits, cache.output)
        grads["out.W"], grads["out.b"] = dW, db
        memory = cache.memory
        hv = c.memory_size
        dvalues = xp.zeros_like(memory.values)
        dkeys = None if memory.keys is None else xp.zeros_like(memory.keys)
        dfinal = None
        if cache.steps is None:
            emb_cache, stack_cache = cache.decoder_seq
            dx, dstate0, g = stack_backward(doutputs, None, stack_cache)
            _sum_into(grads, g)
            dctx, demb = dx[..., :hv], dx[..., hv:]
            if c.context == "final":
                dfinal = dctx.sum(axis=0)
            else:
                tt, n = dctx.shape[:2]
                rows = np.minimum(np.arange(tt)[:, None], memory.src_len[None, :] - 1)
                cols = np.broadcast_to(np.arange(n), (tt, n))
                backend.scatter_add(dvalues, (backend.to_device(rows), backend.to_device(cols)),
                                    dctx)
            if emb_cache is not None:
                grads["tgt_emb"] = embedding_backward(demb, emb_cache)
        else:
            dstate: tuple = (None,) * len(self.state_names)
            for t in reversed(range(len(cache.steps))):
                step = cache.steps[t]
                dx, dstate, g = stack_step_backward(doutputs[t], dstate, step.stack)
                _sum_into(grads, g)
                dctx, demb = dx[:, :hv], dx[:, hv:]
                if step.attention is not None:
                    dquery, dk, dv, g = attention_backward((dctx, None), step.attention)
                    _sum_into(grads, g, "attn.")
                    dvalues = dvalues + dv
                    dkeys = dkeys + dk
                    dh = dstate[0].copy()
                    dh[-1] += dquery                  # the query was s_{t-1}, the top state
                    dstate = (dh,) + tuple(dstate[1:])
                elif c.context == "final":
                    dfinal = dctx if dfinal is None else dfinal + dctx
                else:
                    rows = np.minimum(t, memory.src_len - 1)
                    backend.scatter_add(
                        dvalues, (backend.to_device(rows), backend.to_device(np.arange(len(rows)))),
                        dctx)
                if step.embed is not None:
                    _sum_into(grads, {"tgt_emb": embedding_backward(demb, step.embed)})
            dstate0 = dstate
        dx_src = self._encoder_backward(dvalues, dkeys, dfinal, dstate0, cache.encoder, grads)
        # ||dL/dx_t|| per source step, as a root mean square over the rows that have a
        # real token there: padding gets no gradient, and a plain sum over the batch
        # would shrink at late steps only because fewer rows reach them
        per_row = backend.to_host((dx_src * dx_src).sum(axis=2))            # (Ts, N)
        real = cache.batch.src != PAD_ID
        norms = np.sqrt(per_row.sum(axis=1) / np.maximum(real.sum(axis=1), 1))
        attention = None
        if cache.attention is not None:
            attention = backend.to_host(cache.attention).transpose(0, 2, 1)   # (Tt, N, Ts)
        return grads, ForwardInfo(cache.batch.num_tokens, attention, norms)

    def loss_and_grads(self, src: Any, tgt_in: Any, tgt_out: Any, teacher_forcing: float = 1.0,
                       rng: Any = None, train: bool = True
                       ) -> tuple[Any, dict[str, Any], ForwardInfo]:
        """One call for training: ``(loss 0-d array, grads {name: array}, info)``."""
        loss, cache = self.forward(src, tgt_in, tgt_out, teacher_forcing, rng, train)
        grads, info = self.backward(cache)
        return loss, grads, info

    def loss(self, src: Any, tgt_in: Any, tgt_out: Any) -> Any:
        """The loss in evaluation mode (no dropout, teacher forcing 1)."""
        return self.forward(src, tgt_in, tgt_out, 1.0, None, False)[0]


def _check_range(ids: np.ndarray, vocab: int, what: str) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = ids[(ids < 0) | (ids >= vocab)]
        raise ValueError(
            f"{what}: token ids must lie in [0, {vocab}) (the vocabulary size), "
            f"got {sorted(set(bad.tolist()))[:10]}")
