r"""The *attention* reading: :math:`h_t = c_t = \sum_j a_{tj} \bar h_j`, weights computed from the
decoder's previous top state :math:`s_{t-1}` (:mod:`minis2s.ops.attention`: Bahdanau's
additive scorer, Luong's dot and general).

The keys (the part of each score that does not depend on :math:`s_{t-1}`) are computed
for all source positions once, before the decoder loop; each step does the rest.
Backward: :func:`~minis2s.ops.attention.attention_backward` gives the gradients of the
query (which joins :math:`\partial L/\partial s_{t-1}`), of the keys and of the values;
the keys' gradient goes back through the hoisted product once, after the loop.

The parameters are named ``attn.<name>`` in the model's dictionary.
"""

from __future__ import annotations

from typing import Any

from minis2s.model.attention_steps import AttentionMemory, attention_memory
from minis2s.model.contexts.base import ContextReading, Memory, MemoryGrads
from minis2s.ops.attention import (
    AttentionCache,
    KeysCache,
    attention_backward,
    attention_forward,
    attention_keys_backward,
    attention_keys_forward,
    attention_param_shapes,
)

PREFIX = "attn."


def _own(params: dict[str, Any]) -> dict[str, Any]:
    """The scorer's parameters, without the prefix."""
    return {k[len(PREFIX):]: v for k, v in params.items() if k.startswith(PREFIX)}


def _named(grads: dict[str, Any]) -> dict[str, Any]:
    return {PREFIX + k: g for k, g in grads.items()}


class AttentionContext(ContextReading):
    """:math:`h_t = \\sum_j a_{tj} \\bar h_j` with
    :math:`a_t = \\mathrm{softmax}_m(e(s_{t-1}, \\bar h))`."""

    reads_decoder_state = True
    gives_weights = True

    @classmethod
    def check_settings(cls, settings: Any) -> None:
        if settings.attention == "dot" and settings.bidirectional:
            raise ValueError(
                "dot attention needs the decoder state (hidden) and the encoder "
                "output (2 x hidden when bidirectional) to have one size; use 'general' or "
                "'additive'")

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.config
        shapes = attention_param_shapes(c.attention, c.hidden, c.memory_size)
        return {PREFIX + name: shape for name, shape in shapes.items()}

    def hoist_forward(self, values: Any, params: dict[str, Any]) -> tuple[Any, KeysCache]:
        """The keys for every source position in one product: ``(Ts, N, K)``."""
        return attention_keys_forward(values, _own(params), self.config.attention)

    def hoist_backward(self, dkeys: Any, cache: KeysCache) -> tuple[Any, dict[str, Any]]:
        """``dkeys`` -> ``(dvalues, grads)``, one product per weight."""
        dvalues, grads = attention_keys_backward(dkeys, cache)
        return dvalues, _named(grads)

    def step_memory(self, memory: Memory, params: dict[str, Any]) -> AttentionMemory | None:
        """The keys, values and mask arranged for the fast step
        (:mod:`minis2s.model.attention_steps`), once per forward pass or decoding.

        The fast step computes what :meth:`step_forward`/:meth:`step_backward` compute;
        a subclass that redefines either (an experiment, or a lesson's reading broken on
        purpose) gets ``None``, so the model runs its own steps instead."""
        own = type(self)
        if (own.step_forward is not AttentionContext.step_forward
                or own.step_backward is not AttentionContext.step_backward):
            return None
        return attention_memory(memory.values, memory.keys, memory.mask, params,
                                self.config.attention)

    def step_forward(self, memory: Memory, query: Any, t: int, params: dict[str, Any]
                     ) -> tuple[Any, Any, AttentionCache]:
        """``query (N, H)`` = :math:`s_{t-1}` -> ``(c_t (N, Hv), a_t (Ts, N), cache)``."""
        (context, weights), cache = attention_forward(
            query, memory.keys, memory.values, memory.mask, _own(params), self.config.attention)
        return context, weights, cache

    def step_backward(self, dctx: Any, cache: AttentionCache, dmemory: MemoryGrads
                      ) -> tuple[Any, dict[str, Any]]:
        """``dvalues += a_t dctx``, ``dkeys += de/dk``; returns ``(dL/ds_{t-1}, grads)``."""
        dquery, dkeys, dvalues, grads = attention_backward((dctx, None), cache)
        dmemory.values += dvalues
        dmemory.keys += dkeys
        return dquery, _named(grads)
