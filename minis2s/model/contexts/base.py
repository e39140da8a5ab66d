r"""What every reading of the decoder's :math:`h_t` provides, and what it reads.

The decoder computes :math:`o_t = g(W_o h_t + W_s s_{t-1} + b)`; a *reading* says what
:math:`h_t` is -- "what the encoder tells the decoder at step t". It reads the
:class:`Memory` the encoder left (its states :math:`\bar h_j`, its final state, the
source mask) and, for attention, the decoder's previous top state :math:`s_{t-1}`
(the *query*). Its backward adds the gradient of :math:`h_t` into a
:class:`MemoryGrads` (the encoder's side) and returns the query's gradient.

A reading is a subclass of :class:`ContextReading` registered by name in
:data:`minis2s.model.contexts.CONTEXTS`; the model calls only the methods below, so a new
reading is one new file and one registration line. Methods a reading may leave as
they are here: no parameters, nothing hoisted, the per-step loop as the whole-sequence
path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from minis2s import backend

if TYPE_CHECKING:
    from minis2s.model.config import ModelConfig, ModelSettings


class Memory(NamedTuple):
    """What the decoder reads from the encoder, for training and decoding alike."""

    values: Any          # (Ts, N, Hv) encoder outputs \bar h_j
    keys: Any            # (Ts, N, K) the reading's hoisted arrays (attention keys), or None
    mask: Any            # (Ts, N) 1 at real source positions (model dtype, device)
    final: Any           # (N, Hv) encoder state at each row's last real token
    src_len: np.ndarray  # (N,) host
    state0: tuple        # decoder initial state, tuple of (L, N, H)

    def select(self, rows: np.ndarray) -> Memory:
        """The memory of rows ``rows`` (host int array): how beams share one source."""
        idx = backend.to_device(rows)
        return Memory(
            self.values[:, idx], None if self.keys is None else self.keys[:, idx],
            self.mask[:, idx], self.final[idx], self.src_len[rows],
            tuple(s[:, idx] for s in self.state0))


@dataclass
class MemoryGrads:
    """Gradients of the loss with respect to the :class:`Memory`, summed in place as the
    decoder's backward pass meets each reading of it."""

    values: Any           # (Ts, N, Hv) dL/d\bar h_j
    keys: Any             # like Memory.keys, or None
    final: Any = None     # (N, Hv) dL/d\bar h_n, None while nothing read the final state

    @classmethod
    def zeros_like(cls, memory: Memory) -> MemoryGrads:
        xp = backend.get_xp()
        keys = None if memory.keys is None else xp.zeros_like(memory.keys)
        return cls(xp.zeros_like(memory.values), keys)

    def add_final(self, dfinal: Any) -> None:
        """``dL/d\\bar h_n += dfinal`` for ``dfinal (N, Hv)``."""
        if self.final is None:
            self.final = dfinal.copy()
        else:
            self.final += dfinal


class ContextReading:
    """One reading of the decoder's :math:`h_t`, built for one model configuration.

    Shapes: ``Ts`` source length, ``Tt`` target length, ``N`` batch, ``Hv`` the
    encoder output size (``config.memory_size``), ``H`` the decoder state size.
    """

    #: True when :math:`h_t` depends on the decoder's previous state (attention): then
    #: it cannot be known for all steps before the decoder runs, so the model steps.
    reads_decoder_state: ClassVar[bool] = False
    #: True when the reading pairs target step t with source step t: the model then
    #: refuses batches whose source and target lengths differ.
    equal_lengths: ClassVar[bool] = False
    #: True when :meth:`step_forward` returns weights over the source positions (attention),
    #: which training and decoding keep for plots.
    gives_weights: ClassVar[bool] = False

    def __init__(self, config: ModelConfig):
        self.config = config

    # --- settings and parameters ----------------------------------------------------
    @classmethod
    def check_settings(cls, settings: ModelSettings) -> None:
        """Refuse (``ValueError``) settings this reading cannot work with."""

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The reading's own parameters, by their full names in the model's dictionary."""
        return {}

    def init_params(self, rng: np.random.Generator, dtype: Any) -> dict[str, np.ndarray]:
        """Host parameters, each uniform in :math:`\\pm 1/\\sqrt{\\text{fan-in}}`, drawn in
        the order of :meth:`param_shapes`."""
        params = {}
        for name, shape in self.param_shapes().items():
            bound = 1.0 / np.sqrt(shape[-1])
            params[name] = rng.uniform(-bound, bound, shape).astype(dtype)
        return params

    def max_steps(self, src_len: np.ndarray) -> np.ndarray:
        """Decoding's default limit per row (``</s>`` included): 2 x source length + 10."""
        return 2 * src_len + 10

    def check_lengths(self, src_len: np.ndarray, tgt_len: np.ndarray) -> None:
        """Refuse (``ValueError``) a batch whose lengths this reading cannot pair."""

    # --- what the reading needs from the encoder, once per source ----------------------
    def hoist_forward(self, values: Any, params: dict[str, Any]) -> tuple[Any, Any]:
        """Work that does not depend on the decoder step, done once for all source
        positions: ``values (Ts, N, Hv)`` -> ``(keys (Ts, N, K) or None, cache)``.
        Nothing here."""
        return None, None

    def hoist_backward(self, dkeys: Any, cache: Any) -> tuple[Any, dict[str, Any]]:
        """``dkeys`` -> ``(dvalues (Ts, N, Hv) or None, grads)``. Nothing here."""
        return None, {}

    def step_memory(self, memory: Memory, params: dict[str, Any]) -> Any:
        """The memory arranged for the fast decoder's step
        (:class:`~minis2s.model.attention_steps.AttentionMemory`), or ``None``: the fast
        decoder then reads :meth:`step_forward` at every step (decoding), or the model uses
        the whole-sequence path (training)."""
        return None

    # --- one decoder step ---------------------------------------------------------------
    def step_forward(self, memory: Memory, query: Any, t: int, params: dict[str, Any]
                     ) -> tuple[Any, Any, Any]:
        """:math:`h_t` at step ``t``: ``query (N, H)`` is :math:`s_{t-1}`, the decoder's
        previous top state. Returns ``(h_t (N, Hv), weights (Ts, N) or None, cache)``."""
        raise NotImplementedError(f"{type(self).__name__} must define step_forward")

    def step_backward(self, dctx: Any, cache: Any, dmemory: MemoryGrads
                      ) -> tuple[Any, dict[str, Any]]:
        """``dctx (N, Hv)`` = :math:`\\partial L/\\partial h_t`: adds the memory's share
        into ``dmemory`` (in place) and returns ``(dquery (N, H) or None, grads)``."""
        raise NotImplementedError(f"{type(self).__name__} must define step_backward")

    # --- every step at once (teacher forcing; only when not reads_decoder_state) ---------
    def sequence_forward(self, memory: Memory, steps: int, params: dict[str, Any]
                         ) -> tuple[Any, Any]:
        """:math:`h_1 .. h_{T_t}` at once: ``(contexts (Tt, N, Hv), cache)``. Here: the
        steps stacked (a reading may do better with one array operation)."""
        if self.reads_decoder_state:
            raise NotImplementedError(
                f"{type(self).__name__} reads the decoder's previous state: the decoder must step")
        xp = backend.get_xp()
        outs = [self.step_forward(memory, None, t, params) for t in range(steps)]
        return xp.stack([ctx for ctx, _, _ in outs]), [cache for _, _, cache in outs]

    def sequence_backward(self, dctx: Any, cache: Any, dmemory: MemoryGrads
                          ) -> dict[str, Any]:
        """``dctx (Tt, N, Hv)``: adds into ``dmemory``, returns the parameter gradients.
        Here: the step backward of every step, last first."""
        grads: dict[str, Any] = {}
        for t in reversed(range(len(cache))):
            _, g = self.step_backward(dctx[t], cache[t], dmemory)
            for name, d in g.items():
                grads[name] = d if name not in grads else grads[name] + d
        return grads
