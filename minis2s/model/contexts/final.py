r"""The *final* reading: :math:`h_t = \bar h_n` for every step, the encoder's state at each row's
last real token (the classic Sutskever / Cho model).

Backward: one array read at every step, so :math:`\partial L/\partial \bar h_n =
\sum_t \partial L/\partial h_t`, which joins the gradient of the encoder's final state.
"""

from __future__ import annotations

from typing import Any

from minis2s import backend
from minis2s.model.contexts.base import ContextReading, Memory, MemoryGrads


class FinalContext(ContextReading):
    """:math:`h_t = \\bar h_n` at every step."""

    def step_forward(self, memory: Memory, query: Any, t: int, params: dict[str, Any]
                     ) -> tuple[Any, None, None]:
        """``h_t = final`` ``(N, Hv)``; no weights, nothing to cache."""
        return memory.final, None, None

    def step_backward(self, dctx: Any, cache: None, dmemory: MemoryGrads
                      ) -> tuple[None, dict[str, Any]]:
        """``dfinal += dctx``."""
        dmemory.add_final(dctx)
        return None, {}

    def sequence_forward(self, memory: Memory, steps: int, params: dict[str, Any]
                         ) -> tuple[Any, None]:
        """``final`` repeated over the steps, as a broadcast view ``(Tt, N, Hv)``."""
        xp = backend.get_xp()
        return xp.broadcast_to(memory.final[None], (steps,) + memory.final.shape), None

    def sequence_backward(self, dctx: Any, cache: None, dmemory: MemoryGrads
                          ) -> dict[str, Any]:
        """``dfinal += sum_t dctx[t]``."""
        dmemory.add_final(dctx.sum(axis=0))
        return {}
