"""The named caches of :class:`~minis2s.model.seq2seq.Seq2Seq`'s forward pass (what its
backward pass reads), and the extra results it reports."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.data.vocab import PAD_ID
from minis2s.model.bridge import BridgeCache
from minis2s.model.contexts import Memory
from minis2s.model.inputs import CheckedBatch


class MemoryCache(NamedTuple):
    """What :meth:`~minis2s.model.seq2seq.Seq2Seq.encode` keeps for the backward pass."""

    embed: Any                              # source embedding cache, None for one-hot
    stack: Any                              # the encoder stack's cache
    bridge: tuple[BridgeCache, ...] | None  # per state component; None: unidirectional
    hoist: Any                              # the reading's hoisted work (attention keys)


class DecoderStepCache(NamedTuple):
    """One decoder step (:meth:`~minis2s.model.seq2seq.Seq2Seq.decode_step`)."""

    embed: Any       # target embedding cache, None for one-hot
    context: Any     # the reading's step cache
    stack: Any       # the decoder stack's step cache


class DecoderSequenceCache(NamedTuple):
    """The decoder over every step at once (teacher forcing, a reading that allows it)."""

    embed: Any
    context: Any     # the reading's sequence cache
    stack: Any       # the decoder stack's cache


class DecoderFastCache(NamedTuple):
    """The attention decoder on the fast path (teacher forcing):
    :mod:`minis2s.model.fast_decoder`."""

    embed: Any       # target embedding cache, None for one-hot
    decoder: Any     # the fast decoder's cache (FastDecoderCache)


class ForwardCache(NamedTuple):
    """What :meth:`~minis2s.model.seq2seq.Seq2Seq.backward` needs from
    :meth:`~minis2s.model.seq2seq.Seq2Seq.forward`."""

    batch: CheckedBatch
    memory_cache: MemoryCache
    memory: Memory
    fed_ids: np.ndarray                       # (Tt, N) ids fed to the decoder (host)
    sequence: DecoderSequenceCache | None     # the fast path, or
    steps: list[DecoderStepCache] | None      # the step loop, or
    fast: DecoderFastCache | None             # the attention decoder's fast path
    attention: Any                            # (Tt, Ts, N) weights, or None
    output: Any                               # output projection cache
    loss: Any                                 # cross-entropy cache


class ForwardInfo(NamedTuple):
    """Extra results of :meth:`~minis2s.model.seq2seq.Seq2Seq.loss_and_grads`, on the host."""

    num_tokens: int
    attention: np.ndarray | None      # (Tt, N, Ts) attention weights, or None
    enc_grad_norms: np.ndarray | None  # (Ts,) RMS over real rows of ||dL/dx_t||


def forward_info(cache: ForwardCache, dx_src: Any) -> ForwardInfo:
    """``||dL/dx_t||`` per source step, as a root mean square over the rows that have a
    real token there (padding gets no gradient, and a plain sum over the batch would
    shrink at late steps only because fewer rows reach them); attention on the host."""
    per_row = backend.to_host((dx_src * dx_src).sum(axis=2))            # (Ts, N)
    real = cache.batch.src != PAD_ID
    norms = np.sqrt(per_row.sum(axis=1) / np.maximum(real.sum(axis=1), 1))
    attention = None
    if cache.attention is not None:
        attention = backend.to_host(cache.attention).transpose(0, 2, 1)   # (Tt, N, Ts)
    return ForwardInfo(cache.batch.num_tokens, attention, norms)
