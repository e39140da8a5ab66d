"""Decoding's contract at its edges: the step limit is reported, bad search settings and a
broken model are refused with a clear message (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s.checks.model import SRC_VOCAB, TGT_VOCAB
from minis2s.data.vocab import EOS_ID
from minis2s.decode import beam_decode, greedy_decode, length_penalty
from minis2s.model import ModelConfig, Seq2Seq


def _model(context="attention", **settings):
    config = ModelConfig(SRC_VOCAB, TGT_VOCAB, hidden=5, embedding=4, context=context,
                         **settings)
    return Seq2Seq(config, np.random.default_rng(0), dtype=np.float64)


def _never_ends(model):
    """The same model, but ``</s>`` has (almost) no probability at any step."""
    params = model.host_params()
    params["out.b"][EOS_ID] = -1e4
    model.set_params(params)
    return model


SRC = np.array([[3, 4, 5], [4, 5, 0], [5, 0, 0]])          # (Ts, N): lengths 3, 2, 1


@pytest.mark.parametrize("context, limit", [("attention", 2 * np.array([3, 2, 1]) + 10),
                                            ("final", 2 * np.array([3, 2, 1]) + 10),
                                            ("aligned", np.array([3, 2, 1]) + 1)])
def test_the_step_limit_is_reported_on_each_hypothesis(context, limit, xp):
    """A model that never emits </s> decodes to the limit; the hypothesis says so."""
    model = _never_ends(_model(context))
    for hyps in (greedy_decode(model, SRC), [b[0] for b in beam_decode(model, SRC, 2)]):
        assert [h.finished for h in hyps] == [False] * 3
        assert [h.limit for h in hyps] == limit.tolist()
        assert [len(h.tokens) for h in hyps] == limit.tolist()
    (h,) = greedy_decode(model, SRC[:, :1], max_len=4)
    assert (h.finished, h.limit, len(h.tokens)) == (False, 4, 4)


def test_a_finished_hypothesis_says_it_finished(xp):
    model = _model()
    params = model.host_params()
    params["out.b"][EOS_ID] = 1e4                              # </s> at once
    model.set_params(params)
    hyps = greedy_decode(model, SRC)
    assert [(h.tokens, h.finished) for h in hyps] == [([], True)] * 3
    assert [h.limit for h in hyps] == [16, 14, 12]


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), -float("inf"), -0.5])
def test_alpha_must_be_a_finite_number_at_least_zero(alpha):
    model = _model()
    with pytest.raises(ValueError, match=r"alpha: expected a finite number >= 0, got"):
        greedy_decode(model, SRC, alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha: expected a finite number >= 0, got"):
        beam_decode(model, SRC, beam_size=2, alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha: expected a finite number >= 0"):
        length_penalty(3, alpha)


@pytest.mark.parametrize("alpha", ["0.6", None, True, [0.6]])
def test_alpha_of_the_wrong_type(alpha):
    with pytest.raises(TypeError, match=r"alpha: expected a finite number, got"):
        greedy_decode(_model(), SRC, alpha=alpha)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"beam_size": 0}, ValueError, r"beam_size: expected an integer >= 1, got 0"),
    ({"beam_size": -3}, ValueError, r"beam_size: expected an integer >= 1, got -3"),
    ({"beam_size": 2.0}, TypeError, r"beam_size: expected an integer >= 1, got float 2.0"),
    ({"beam_size": True}, TypeError, r"beam_size: expected an integer >= 1, got bool True"),
    ({"beam_size": None}, TypeError, r"beam_size: expected an integer >= 1, got NoneType"),
    ({"beam_size": 2, "n_best": 3}, ValueError, r"n_best .*expected an integer in \[1, 2\]"),
    ({"beam_size": 2, "n_best": 0}, ValueError, r"n_best .*expected an integer in \[1, 2\]"),
    ({"max_len": 0}, ValueError, r"max_len: expected a positive integer, got 0"),
    ({"max_len": 2.5}, ValueError, r"max_len: expected a positive integer, got 2.5"),
    ({"max_len": True}, ValueError, r"max_len: expected a positive integer, got True"),
    ({"max_len": "7"}, ValueError, r"max_len: expected a positive integer, got '7'"),
])
def test_beam_settings_of_the_wrong_value(kwargs, error, message):
    with pytest.raises(error, match=message):
        beam_decode(_model(), SRC, **kwargs)


def test_a_nan_model_is_refused_not_decoded_to_padding(xp):
    """A model whose parameters hold NaN gives NaN log-probabilities: its argmax would be
    <pad> at every step (blank output); decoding says what is wrong instead."""
    model = _model()
    params = model.host_params()
    params["out.W"][:] = np.nan
    model.set_params(params)
    for decode in (greedy_decode, lambda m, s: beam_decode(m, s, beam_size=2)):
        with pytest.raises(ValueError, match=r"log-probabilities are NaN at step 0 .*rows "
                                             r"\[0, 1, 2"):
            decode(model, SRC)


def test_not_a_model():
    with pytest.raises(TypeError, match="model: expected a minis2s.model.Seq2Seq, got dict"):
        greedy_decode({}, SRC)
    with pytest.raises(TypeError, match="model: expected a minis2s.model.Seq2Seq, got "
                                        "ModelConfig"):
        beam_decode(_model().config, SRC)

