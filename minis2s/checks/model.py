"""Whole-model gradient checks: every cell x every reading of the decoder's h_t.

Each case builds a tiny float64 model and a padded batch (padding in source and
target), and checks the gradient of the loss with respect to every parameter
array (a random sample of entries per array, to keep the check quick).

Tolerance 1e-6 and step h = 1e-4: deep in a whole model some gradient entries
are ~1e-5, where the rounding error of a difference quotient with h = 1e-5
(about 1e-11 absolute) is already a visible fraction; h = 1e-4 balances that
against the O(h^2) truncation error (both measured: the whole-array error of
the deepest LSTM weight is 5e-8 with h = 1e-5 and 5e-9 with h = 1e-4).
"""

from __future__ import annotations

import numpy as np

from minis2s.checks import GradCase
from minis2s.model import ModelConfig, Seq2Seq

SRC_VOCAB, TGT_VOCAB = 8, 7


def toy_batch(aligned: bool, rng: np.random.Generator):
    """A (Ts, N) source and (Tt, N) targets of 3 rows with different lengths, padded with 0."""
    src_len = np.array([4, 2, 3])
    tgt_len = src_len if aligned else np.array([2, 3, 1])
    ts, tt, n = src_len.max(), tgt_len.max() + 1, len(src_len)
    src = np.zeros((ts, n), dtype=np.int64)
    tgt_in = np.zeros((tt, n), dtype=np.int64)
    tgt_out = np.zeros((tt, n), dtype=np.int64)
    for i in range(n):
        src[: src_len[i], i] = rng.integers(3, SRC_VOCAB, src_len[i])
        y = rng.integers(3, TGT_VOCAB, tgt_len[i])
        tgt_in[: tgt_len[i] + 1, i] = np.concatenate([[1], y])
        tgt_out[: tgt_len[i] + 1, i] = np.concatenate([y, [2]])
    return src, tgt_in, tgt_out


def build_model_check(teacher_forcing: float = 1.0, scale: float = 1.5, **settings):
    """A :class:`~minis2s.checks.GradCase` builder: a tiny float64 model of ``settings`` (hidden 4,
    embedding 3 unless given), its weights scaled by ``scale`` (attention's by twice
    that), the loss of :func:`toy_batch` as the function checked."""

    def build(rng: np.random.Generator):
        config = ModelConfig(SRC_VOCAB, TGT_VOCAB, **{"hidden": 4, "embedding": 3, **settings})
        model = Seq2Seq(config, rng, dtype=np.float64)
        for name in model.params:           # larger weights: gradients well above the
            model.params[name] *= 2 * scale if name.startswith("attn.") else scale  # noise
        src, tgt_in, tgt_out = toy_batch(model.reading.equal_lengths, rng)

        def forward(params):
            model.params = params
            step_rng = np.random.default_rng(7)       # the same coin flips / dropout every call
            return model.forward(src, tgt_in, tgt_out, teacher_forcing, step_rng,
                                 train=teacher_forcing < 1.0 or config.dropout > 0)

        def backward(dloss, cache):
            grads, _ = model.backward(cache)
            return {k: dloss * g for k, g in grads.items()}

        return forward, backward, model.params

    return build


READINGS = {
    "aligned": {"context": "aligned"},
    "final": {"context": "final"},
    "additive": {"context": "attention", "attention": "additive"},
    "dot": {"context": "attention", "attention": "dot"},
    "general": {"context": "attention", "attention": "general"},
}

def model_case(piece: str, **kwargs) -> GradCase:
    """A whole-model case (``kwargs`` as for :func:`build_model_check`)."""
    return GradCase(piece, build_model_check(**kwargs), tol=1e-6, max_entries=6, h=1e-4)


CASES = [
    model_case(f"model.{cell}.{reading}", cell=cell, **settings)
    for cell in ("rnn", "lstm", "gru")
    for reading, settings in READINGS.items()
] + [
    model_case("model.lstm.2layer_bidir_additive", cell="lstm", layers=2, bidirectional=True,
               context="attention", scale=3.0),
    model_case("model.gru.bidir_final_onehot", cell="gru", bidirectional=True, context="final",
               embedding=None),
    model_case("model.lstm.teacher_forcing_0.5", teacher_forcing=0.5, cell="lstm",
               context="attention", attention="general"),
    model_case("model.gru.aligned_2layer_dropout", cell="gru", layers=2, context="aligned",
               dropout=0.3),
]
