"""The article's backward formula, checked: its direct term alone fails, full BPTT passes.

The article writes the encoder's backward as ``dL/dh_t = dL/do_t . do_t/dh_t``: the
gradient that reaches ``h_t`` from the outside only, without the path through
``h_{t+1}`` (the recurrent weights carrying the next step's gradient back).
``docs/derivations/rnn.md`` includes the functions below, so the page shows the very
check that runs here; lesson 02 runs the same comparison in a notebook.
"""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend
from minis2s.cells import rnn
from minis2s.gradcheck import check_pair

T, N, D, H = 5, 3, 4, 6


def article_backward(dhs, step_caches):
    """The article's formula: every step differentiated on its own, as if it were the last.

    ``dL/dh_t`` is only ``dhs[t]``, what the loss puts on ``h_t`` directly; the
    ``dL/dh_{t-1}`` that each step's backward returns is dropped, so nothing flows back
    in time. The weights' gradients are still summed over the steps."""
    sums = {}
    for t, cache in enumerate(step_caches):
        _, _dropped_dh_prev, step_grads = rnn.encoder_step_backward(dhs[t], cache)
        for name, g in step_grads.items():
            sums[name] = sums.get(name, 0) + g
    return sums


def forward_by_steps(arrays):
    """``h_t = tanh(W_h x_t + W_c h_{t-1} + b)``, one step at a time; every ``h_t`` is read by
    the loss (the check projects all of them), as attention would."""
    xp = backend.get_xp()
    h, step_caches, states = arrays["h0"], [], []
    for t in range(T):
        h, cache = rnn.encoder_step_forward(arrays["x"][t], h, arrays["W_h"], arrays["W_c"],
                                            arrays["b"])
        step_caches.append(cache)
        states.append(h)
    return xp.stack(states), step_caches


def full_bptt_forward(arrays):
    return rnn.encoder_forward(arrays["x"], arrays["h0"], arrays["W_h"], arrays["W_c"],
                               arrays["b"])


def full_bptt_backward(dhs, cache):
    dx, dh0, grads = rnn.encoder_backward(dhs, cache)
    return {"x": dx, "h0": dh0, **grads}


@pytest.fixture
def arrays():
    rng = np.random.default_rng(7)
    shapes = {"x": (T, N, D), "h0": (N, H), "W_h": (H, D), "W_c": (H, H), "b": (H,)}
    return {name: backend.to_device(0.8 * rng.standard_normal(shape), dtype=np.float64)
            for name, shape in shapes.items()}


def test_full_bptt_passes_the_check(arrays):
    results = check_pair("full BPTT", full_bptt_forward, full_bptt_backward, arrays,
                         np.random.default_rng(1))
    assert {r.name for r in results} == {"x", "h0", "W_h", "W_c", "b"}
    assert all(r.passed for r in results), results
    assert max(r.rel_error for r in results) < 1e-8


def test_the_articles_formula_alone_fails_the_check(arrays):
    results = check_pair("the article's formula", forward_by_steps, article_backward, arrays,
                         np.random.default_rng(1))
    assert {r.name for r in results} == {"W_h", "W_c", "b"}
    # every weight gradient misses the path through time, by far more than rounding
    assert not any(r.passed for r in results), results
    assert min(r.rel_error for r in results) > 1e-3
