r"""The *aligned* reading: :math:`h_t = \bar h_{\min(t, n)}`, the encoder state at the same step.

For source and target of equal length (tagging-style tasks): target step ``t`` reads
source step ``t``; the final end-of-sequence step reads the last real state ``n``.

Backward: step ``t``'s context gradient is added to :math:`\partial L/\partial \bar h_{\min(t,n)}`;
several steps may read the same state, so the additions are a scatter-add.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.model.contexts.base import ContextReading, Memory, MemoryGrads


class AlignedCache(NamedTuple):
    """The positions read: ``values[rows[..., n], cols[..., n]]`` (device index arrays)."""

    rows: Any
    cols: Any


def _positions(src_len: np.ndarray, steps: np.ndarray) -> AlignedCache:
    """Source position :math:`\\min(t, n - 1)` of each row at each step (0-based)."""
    rows = np.minimum(steps, src_len - 1)
    cols = np.broadcast_to(np.arange(len(src_len)), rows.shape)
    return AlignedCache(backend.to_device(rows), backend.to_device(cols))


class AlignedContext(ContextReading):
    """:math:`h_t = \\bar h_{\\min(t, n)}`; source and target of one length."""

    equal_lengths = True

    def max_steps(self, src_len: np.ndarray) -> np.ndarray:
        """One output per source token, then ``</s>``."""
        return src_len + 1

    def check_lengths(self, src_len: np.ndarray, tgt_len: np.ndarray) -> None:
        """``tgt_len`` counts ``</s>``: each row needs ``tgt_len - 1 == src_len``."""
        bad = np.flatnonzero(tgt_len - 1 != src_len)
        if len(bad):
            more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
            bad = bad[:5].tolist()
            raise ValueError(
                "context 'aligned' reads the encoder state at the same step, so source and "
                f"target must have equal length; rows {bad}{more} have source lengths "
                f"{src_len[bad].tolist()} and target lengths {(tgt_len[bad] - 1).tolist()}")

    def step_forward(self, memory: Memory, query: Any, t: int, params: dict[str, Any]
                     ) -> tuple[Any, None, AlignedCache]:
        """``h_t[n] = values[min(t, len_n - 1), n]`` -> ``(N, Hv)``; no weights."""
        cache = _positions(memory.src_len, np.asarray(t))
        return memory.values[cache.rows, cache.cols], None, cache

    def step_backward(self, dctx: Any, cache: AlignedCache, dmemory: MemoryGrads
                      ) -> tuple[None, dict[str, Any]]:
        """``dvalues[min(t, len_n - 1), n] += dctx[n]``."""
        backend.scatter_add(dmemory.values, (cache.rows, cache.cols), dctx)
        return None, {}

    def sequence_forward(self, memory: Memory, steps: int, params: dict[str, Any]
                         ) -> tuple[Any, AlignedCache]:
        """Every step in one gather: ``(Tt, N, Hv)``."""
        cache = _positions(memory.src_len, np.arange(steps)[:, None])
        return memory.values[cache.rows, cache.cols], cache

    def sequence_backward(self, dctx: Any, cache: AlignedCache, dmemory: MemoryGrads
                          ) -> dict[str, Any]:
        """Every step in one scatter-add (repeated positions accumulate)."""
        backend.scatter_add(dmemory.values, (cache.rows, cache.cols), dctx)
        return {}
