"""The readings of the decoder's h_t behind one interface (issue 10): each reading's pieces
keep their contract, and a fourth reading is one new class and one registration line --
shown here with a throwaway reading, gradient-checked through the whole model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

from minis2s import backend
from minis2s.checks.model import model_case, toy_batch
from minis2s.decode import beam_decode, greedy_decode
from minis2s.model import CONTEXTS, ContextReading, Memory, MemoryGrads, ModelConfig, Seq2Seq
from minis2s.model.grads import GradSum

ROOT = Path(__file__).resolve().parents[1]


# --- a fourth reading, defined here and nowhere else ------------------------------------------

class MeanCache(NamedTuple):
    weights: Any     # (Ts, N, 1) m_j / n: the mean's weight of each source position


class MeanContext(ContextReading):
    """h_t = (1/n) sum_j m_j hbar_j: the mean of the encoder states over real positions,
    the same at every step (no parameters, nothing hoisted, the base's sequence path)."""

    def step_forward(self, memory: Memory, query, t, params):
        count = backend.to_device(memory.src_len, dtype=memory.values.dtype)
        weights = memory.mask[:, :, None] / count[None, :, None]
        return (weights * memory.values).sum(axis=0), None, MeanCache(weights)

    def step_backward(self, dctx, cache: MeanCache, dmemory: MemoryGrads):
        dmemory.values += cache.weights * dctx[None]        # dhbar_j += (m_j / n) dh_t
        return None, {}


@pytest.fixture
def mean_registered():
    CONTEXTS["mean"] = MeanContext                            # the one registration line
    try:
        yield
    finally:
        del CONTEXTS["mean"]


@pytest.mark.parametrize("settings", [
    {"cell": "lstm"},                                         # teacher forcing: sequence path
    {"cell": "gru", "teacher_forcing": 0.5},                  # the step loop
    {"cell": "rnn", "bidirectional": True, "layers": 2},
], ids=["lstm", "gru-tf0.5", "rnn-bidir-2layer"])
def test_a_fourth_reading_is_one_class_and_one_registration(settings, mean_registered):
    results = model_case("model.mean", context="mean", **settings).run()
    assert len(results) >= 8
    failed = [(r.array, r.error) for r in results if not r.passed]
    assert not failed, failed


def test_a_fourth_reading_decodes_and_is_refused_once_unregistered(mean_registered):
    config = ModelConfig(8, 7, hidden=4, embedding=3, context="mean")
    model = Seq2Seq(config, np.random.default_rng(0), dtype=np.float64)
    src = np.array([[3, 4], [5, 0]])
    assert len(greedy_decode(model, src)) == 2
    assert len(beam_decode(model, src, beam_size=2)) == 2
    del CONTEXTS["mean"]
    try:
        with pytest.raises(ValueError, match="context: expected one of aligned, final, "
                                             "attention, got 'mean'"):
            ModelConfig(8, 7, context="mean")
    finally:
        CONTEXTS["mean"] = MeanContext


def test_the_base_sequence_path_equals_the_step_loop(mean_registered, rng):
    """The base class's whole-sequence forward/backward is the step loop stacked."""
    config = ModelConfig(8, 7, hidden=4, embedding=3, cell="lstm", context="mean")
    model = Seq2Seq(config, rng, dtype=np.float64)
    src, tgt_in, tgt_out = toy_batch(False, rng)
    loss_seq, grads_seq, _ = model.loss_and_grads(src, tgt_in, tgt_out)
    loss_step, grads_step, _ = model.loss_and_grads(
        src, tgt_in, tgt_out, 1.0 - 1e-12, rng=np.random.default_rng(0))
    assert backend.to_float(loss_seq) == pytest.approx(backend.to_float(loss_step), rel=1e-12)
    for k in grads_seq:
        np.testing.assert_allclose(backend.to_host(grads_seq[k]),
                                   backend.to_host(grads_step[k]), rtol=1e-9, atol=1e-12,
                                   err_msg=k)


# --- the three readings' own contracts ---------------------------------------------------------

@pytest.mark.parametrize("context", ["aligned", "final"])
def test_sequence_pieces_equal_the_stacked_steps(context, xp, rng):
    """A reading's vectorised whole-sequence forward/backward is its step pieces, exactly."""
    config = ModelConfig(8, 7, hidden=3, embedding=2, context=context)
    reading = CONTEXTS[context](config)
    ts, n, tt, hv = 4, 3, 5, config.memory_size
    values = backend.to_device(rng.standard_normal((ts, n, hv)))
    src_len = np.array([4, 2, 3])
    final = values[backend.to_device(src_len - 1), backend.to_device(np.arange(n))]
    memory = Memory(values, None, None, final, src_len, ())
    ctx, cache = reading.sequence_forward(memory, tt, {})
    steps = [reading.step_forward(memory, None, t, {}) for t in range(tt)]
    np.testing.assert_array_equal(backend.to_host(ctx),
                                  np.stack([backend.to_host(c) for c, _, _ in steps]))
    dctx = backend.to_device(rng.standard_normal((tt, n, hv)))
    d_seq, d_step = MemoryGrads.zeros_like(memory), MemoryGrads.zeros_like(memory)
    reading.sequence_backward(dctx, cache, d_seq)
    for t in reversed(range(tt)):
        reading.step_backward(dctx[t], steps[t][2], d_step)
    np.testing.assert_allclose(backend.to_host(d_seq.values), backend.to_host(d_step.values),
                               rtol=1e-14, atol=1e-14)
    if context == "final":
        np.testing.assert_allclose(backend.to_host(d_seq.final), backend.to_host(d_step.final),
                                   rtol=1e-14)
    else:
        assert d_seq.final is None and d_step.final is None


def test_only_attention_gives_weights(xp, rng):
    for context, reading in CONTEXTS.items():
        model = Seq2Seq(ModelConfig(8, 7, hidden=3, embedding=2, context=context), rng,
                        dtype=np.float64)
        src, tgt_in, tgt_out = toy_batch(reading.equal_lengths, rng)
        _, _, info = model.loss_and_grads(src, tgt_in, tgt_out, 0.5, np.random.default_rng(0))
        assert (info.attention is not None) == reading.gives_weights, context
        hyp = greedy_decode(model, src)[0]
        assert (hyp.attention is not None) == reading.gives_weights, context


def test_attention_has_no_sequence_path():
    config = ModelConfig(8, 7, hidden=3, embedding=2, context="attention")
    with pytest.raises(NotImplementedError, match="reads the decoder's previous state"):
        CONTEXTS["attention"](config).sequence_forward(None, 3, {})


def test_no_branch_on_the_context_name_in_the_model_or_decoding():
    """The readings are pieces behind one interface: nothing outside them asks which one."""
    files = sorted((ROOT / "minis2s" / "model").rglob("*.py")) + [ROOT / "minis2s" / "decode.py"]
    pattern = re.compile(r"context\s*(==|!=|in\s*\()|\"(aligned|final|attention)\"\s*(==|!=)")
    found = [f"{f.relative_to(ROOT)}:{i}: {line.strip()}"
             for f in files if "contexts" not in f.parts
             for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, "\n".join(found)


def test_gradsum_adds_in_place_and_bitwise_like_a_chain_of_sums(rng):
    parts = [rng.standard_normal((3, 4)) for _ in range(5)]
    first = parts[0].copy()
    total = GradSum()
    for p in parts:
        total.add({"W": p})
    expected = parts[0] + parts[1] + parts[2] + parts[3] + parts[4]
    assert np.array_equal(total["W"], expected)
    np.testing.assert_array_equal(parts[0], first)          # the first array is never written
    owned = total["W"]
    total.add({"W": parts[0]})
    assert total["W"] is owned                               # later sums: in place
