r"""The sequence-to-sequence model: embedding, encoder stack, decoder stack, output, loss.

The decoder computes the article's :math:`o_t = g(W_o h_t + W_s s_{t-1} + b)`,
where :math:`h_t` is "what the encoder tells the decoder at step t", read one of
the ways registered in :data:`~minis2s.model.contexts.CONTEXTS` (``ModelConfig.context``):

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

The package, one idea per file:

* ``config`` -- :class:`~minis2s.model.config.ModelSettings` and
  :class:`~minis2s.model.config.ModelConfig`: every choice, checked once;
* ``inputs`` -- the one validation layer: id batches, forward and decoding arguments;
* ``contexts`` -- the readings of :math:`h_t`, one file each, registered in
  :data:`~minis2s.model.contexts.CONTEXTS`;
* ``bridge`` -- a bidirectional encoder's final state becomes the decoder's initial state;
* ``seq2seq`` -- :class:`~minis2s.model.seq2seq.Seq2Seq`: parameters, encode, decode_step,
  forward, backward;
* ``caches`` -- the named caches of the forward pass, and
  :class:`~minis2s.model.caches.ForwardInfo`;
* ``grads`` -- a parameter's gradient summed over the places it is used;
* ``ensemble`` -- :class:`~minis2s.model.ensemble.Ensemble`: several trained models
  decoded as one (the mean of their next-token distributions).

Token ids arrive as host ``(T, N)`` integer arrays padded on the right with
``PAD_ID`` (0, :mod:`minis2s.data.vocab`); masks are derived from them. ``tgt_in`` is
``<s> y_1 .. y_m`` and ``tgt_out`` is ``y_1 .. y_m </s>``.
"""

from minis2s.model.caches import ForwardCache, ForwardInfo
from minis2s.model.config import ModelConfig, ModelSettings
from minis2s.model.contexts import CONTEXTS, ContextReading, Memory, MemoryGrads
from minis2s.model.ensemble import Ensemble
from minis2s.model.inputs import CheckedBatch
from minis2s.model.seq2seq import Seq2Seq

__all__ = ["CONTEXTS", "CheckedBatch", "ContextReading", "Ensemble", "ForwardCache",
           "ForwardInfo", "Memory", "MemoryGrads", "ModelConfig", "ModelSettings", "Seq2Seq"]
