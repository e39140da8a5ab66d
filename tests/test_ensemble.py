"""Several models decoded as one (``minis2s.model.ensemble``): the mean of the members'
next-token distributions, checked against the members' own textbook steps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minis2s import backend
from minis2s.checks.model import SRC_VOCAB, TGT_VOCAB
from minis2s.data.vocab import BOS_ID, EOS_ID
from minis2s.decode import beam_decode, greedy_decode
from minis2s.model import Ensemble, ModelConfig, Seq2Seq
from minis2s.model.ensemble import mean_log_probs

SRC = np.array([[3, 4, 5, 6], [4, 5, 7, 0], [5, 3, 0, 0]])       # (Ts, N): lengths 4, 3, 2


def _model(seed, context="attention", cell="lstm", **settings):
    config = ModelConfig(SRC_VOCAB, TGT_VOCAB, hidden=6, embedding=4, context=context,
                         cell=cell, **settings)
    model = Seq2Seq(config, np.random.default_rng(seed), dtype=np.float64)
    params = model.host_params()            # larger output weights: confident, varied outputs
    params["out.W"] *= 6.0
    model.set_params(params)
    return model


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _reference_step_log_probs(models, src, tokens):
    """Each step's log of the members' mean distribution along ``tokens`` (one sentence:
    ``src (Ts, 1)``), each member run by its textbook ``decode_step`` (not the fast step
    the ensemble uses): ``(steps, V)`` host float64."""
    rows = []
    states, memories = [], []
    for model in models:
        memory, _ = model.encode(model.check_batch(src))
        memories.append(memory)
        states.append(memory.state0)
    y = BOS_ID
    for t, token in enumerate(list(tokens) + [EOS_ID]):
        probs = []
        for k, model in enumerate(models):
            h, states[k], _, _ = model.decode_step(memories[k], np.array([y]), states[k], t)
            probs.append(np.exp(_log_softmax(backend.to_host(model.output_logits(h))[0])))
        rows.append(np.log(np.mean(probs, axis=0)))
        y = token
    return np.array(rows)


@pytest.mark.parametrize("context, cell", [("attention", "lstm"), ("final", "gru"),
                                           ("aligned", "rnn"), ("attention", "gru")])
def test_greedy_on_an_ensemble_takes_the_argmax_of_the_mean_distribution(context, cell, xp):
    """At every step the chosen token is the argmax of the members' mean distribution, and
    the hypothesis' log-probability is the sum of its tokens' (``</s>`` included) -- the
    members run here one textbook step at a time, apart from the ensemble's code."""
    models = [_model(seed, context, cell) for seed in (0, 1, 2)]
    hyps = greedy_decode(Ensemble(models), SRC)
    distinct = set()
    for i, h in enumerate(hyps):
        src = SRC[:, i:i + 1][: int((SRC[:, i] > 0).sum())]
        logp = _reference_step_log_probs(models, src, h.tokens)
        chosen = list(h.tokens) + ([EOS_ID] if h.finished else [])
        assert logp.argmax(axis=1)[:len(chosen)].tolist() == chosen
        np.testing.assert_allclose(h.log_prob, logp[np.arange(len(chosen)), chosen].sum(),
                                   rtol=1e-12)
        distinct.add(tuple(h.tokens))
        # the mean distribution is not one member's: the test would see a member's argmax
        members = [greedy_decode(m, src)[0].tokens for m in models]
        distinct.update(tuple(t) for t in members)
    assert len(distinct) > 3            # the models disagree: the test sees the mean


@pytest.mark.parametrize("context", ["attention", "final", "aligned"])
def test_an_ensemble_of_one_model_or_of_copies_decodes_like_the_model(context, xp):
    model = _model(3, context)
    for members in ([model], [model, model, model]):
        ensemble = Ensemble(members)
        for got, want in ((greedy_decode(ensemble, SRC), greedy_decode(model, SRC)),
                          ([b[0] for b in beam_decode(ensemble, SRC, 3)],
                           [b[0] for b in beam_decode(model, SRC, 3)])):
            assert [h.tokens for h in got] == [h.tokens for h in want]
            np.testing.assert_allclose([h.log_prob for h in got],
                                       [h.log_prob for h in want], rtol=1e-12)
            if context == "attention":
                for g, w in zip(got, want):
                    np.testing.assert_allclose(g.attention, w.attention, rtol=1e-12)


def test_beam_of_one_on_an_ensemble_is_greedy(xp):
    ensemble = Ensemble([_model(0), _model(1, cell="gru")])
    greedy = greedy_decode(ensemble, SRC)
    beam = [b[0] for b in beam_decode(ensemble, SRC, 1)]
    assert [h.tokens for h in beam] == [h.tokens for h in greedy]
    np.testing.assert_allclose([h.score for h in beam], [h.score for h in greedy], rtol=1e-12)


def test_beam_search_on_an_ensemble_scores_with_the_mean_distribution(xp):
    """Each of the n best hypotheses' log-probability is its tokens' sum under the mean."""
    models = [_model(0), _model(4)]
    for i, nbest in enumerate(beam_decode(Ensemble(models), SRC, 4, n_best=4)):
        src = SRC[:, i:i + 1][: int((SRC[:, i] > 0).sum())]
        for h in nbest:
            logp = _reference_step_log_probs(models, src, h.tokens)
            chosen = list(h.tokens) + ([EOS_ID] if h.finished else [])
            np.testing.assert_allclose(
                h.log_prob, logp[np.arange(len(chosen)), chosen].sum(), rtol=1e-12)


def test_mean_log_probs_golden(xp):
    """By hand: the mean of (0.2, 0.8) and (0.6, 0.4) is (0.4, 0.6); where every member's
    probability underflows, the log of the mean is still exact (a naive log(mean(exp))
    gives -inf there)."""
    got = mean_log_probs(backend.to_device(np.log([[[0.2, 0.8]], [[0.6, 0.4]]])))
    np.testing.assert_allclose(backend.to_host(got), np.log([[0.4, 0.6]]), rtol=1e-15)
    tiny = backend.to_host(mean_log_probs(backend.to_device(np.array([[-2000.0, 0.0],
                                                                       [-2001.0, 0.0]]))))
    np.testing.assert_allclose(tiny[0], -2000.0 + np.log((1.0 + np.exp(-1.0)) / 2.0),
                               rtol=1e-15)
    assert tiny[1] == 0.0
    zero = backend.to_host(mean_log_probs(backend.to_device(np.array([[-np.inf, 0.0],
                                                                       [-np.inf, 0.0]]))))
    assert zero[0] == -np.inf and zero[1] == 0.0


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 5), v=st.integers(1, 9), seed=st.integers(0, 2**32 - 1),
       scale=st.floats(0.01, 300.0))
def test_the_mean_of_distributions_is_a_distribution_between_its_members(m, v, seed, scale):
    """For any members' distributions: the result sums to 1, and each entry lies between
    the members' smallest and largest probability."""
    z = np.random.default_rng(seed).standard_normal((m, 2, v)) * scale
    logp = _log_softmax(z)
    got = backend.to_host(mean_log_probs(backend.to_device(logp)))
    np.testing.assert_allclose(np.exp(got).sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(got >= logp.min(axis=0) - 1e-12)
    assert np.all(got <= logp.max(axis=0) + 1e-12)


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((0, 2, 3)), ValueError, r"expected log_probs of shape \(M >= 1, \.\.\., V\), "
                                      r"got shape \(0, 2, 3\)"),
    (np.zeros(3), ValueError, r"got shape \(3,\)"),
    (np.zeros((2, 3), dtype=int), TypeError, r"expected a floating-point array, got dtype"),
    ([[0.0]], TypeError, r"mean_log_probs log_probs"),
])
def test_mean_log_probs_refuses_bad_input(bad, error, message):
    with pytest.raises(error, match=message):
        mean_log_probs(bad)


@settings(max_examples=80, deadline=None)
@given(shape=st.lists(st.integers(0, 3), min_size=0, max_size=4),
       dtype=st.sampled_from([np.int64, np.bool_, np.complex128, np.float32, np.float64]))
def test_mean_log_probs_answers_any_array_with_a_result_or_one_clear_error(shape, dtype):
    """Whatever the shape and dtype: a float array of 2+ axes with M >= 1 gives the
    (..., V) result; anything else a TypeError/ValueError naming log_probs."""
    x = np.zeros(shape, dtype=dtype)
    valid = np.dtype(dtype).kind == "f" and len(shape) >= 2 and shape[0] >= 1
    if valid:
        got = mean_log_probs(x)
        assert got.shape == tuple(shape[1:]) and got.dtype == x.dtype
        np.testing.assert_array_equal(got, 0.0)
    else:
        with pytest.raises((TypeError, ValueError), match=r"log_probs"):
            mean_log_probs(x)


def test_an_ensemble_refuses_what_it_cannot_decode():
    model = _model(0)
    with pytest.raises(TypeError, match=r"expected a non-empty list of minis2s.model.Seq2Seq, "
                                        r"got list"):
        Ensemble([])
    with pytest.raises(TypeError, match=r"got Seq2Seq"):
        Ensemble(model)
    with pytest.raises(TypeError, match=r"models\[1\]: expected a minis2s.model.Seq2Seq, "
                                        r"got str"):
        Ensemble([model, "model.npz"])
    other = Seq2Seq(ModelConfig(SRC_VOCAB, TGT_VOCAB + 1, hidden=6, embedding=4),
                    np.random.default_rng(0), dtype=np.float64)
    with pytest.raises(ValueError, match=r"models\[1\]: vocabulary sizes \(source 8, target "
                                         r"8\) differ from models\[0\]'s \(source 8, target 7\)"):
        Ensemble([model, other])
    with pytest.raises(ValueError, match=r"models\[1\] reads the context 'aligned' and "
                                         r"models\[0\] 'attention'"):
        Ensemble([model, _model(1, "aligned")])
    ensemble = Ensemble([model, _model(1)])
    with pytest.raises(ValueError, match=r"src"):       # each member checks the ids
        greedy_decode(ensemble, np.array([[3, 99]]))
    assert len(ensemble) == 2
