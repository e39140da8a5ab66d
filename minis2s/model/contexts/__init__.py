r"""The readings of the decoder's :math:`h_t`, one file each, registered by name.

* ``aligned`` -- :math:`\bar h_{\min(t, n)}`, the state at the same step
  (:class:`~.aligned.AlignedContext`);
* ``final`` -- :math:`\bar h_n`, the state at the last real token
  (:class:`~.final.FinalContext`);
* ``attention`` -- :math:`\sum_j a_{tj} \bar h_j`, weights from :math:`s_{t-1}`
  (:class:`~.attention.AttentionContext`).

A fourth reading: subclass :class:`~minis2s.model.contexts.base.ContextReading` in a
new file of this folder and add one line to :data:`CONTEXTS`; ``ModelConfig(context=...)``,
the model, decoding and the command line's ``--context`` choices all read this
dictionary (``tests/test_model_readings.py`` shows one).
"""

from minis2s.model.contexts.aligned import AlignedContext
from minis2s.model.contexts.attention import AttentionContext
from minis2s.model.contexts.base import ContextReading, Memory, MemoryGrads
from minis2s.model.contexts.final import FinalContext

#: Every reading of :math:`h_t` by its ``ModelConfig.context`` name, in teaching order.
CONTEXTS: dict[str, type[ContextReading]] = {
    "aligned": AlignedContext,
    "final": FinalContext,
    "attention": AttentionContext,
}

__all__ = ["CONTEXTS", "AlignedContext", "AttentionContext", "ContextReading", "FinalContext",
           "Memory", "MemoryGrads"]
