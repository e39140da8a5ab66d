"""The attention decoder's fast path computes the step-by-step decoder's function: the same
loss, attention weights and gradients (float64, to rounding) for every cell, depth, scorer,
direction, with dropout and one-hot inputs; decoding's forward-only step gives the textbook
step's outputs; and the routing takes the fast path exactly when it applies."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend
from minis2s.checks.model import SRC_VOCAB, TGT_VOCAB, toy_batch
from minis2s.model import ModelConfig, Seq2Seq

GRID = [(cell, layers, scorer, bidi)
        for cell in ("lstm", "gru", "rnn") for layers in (1, 2)
        for scorer in ("additive", "dot", "general") for bidi in (False, True)
        if not (scorer == "dot" and bidi)]
MORE = [  # (settings, train): dropout between layers, one-hot tokens, relu cells
    ({"cell": "lstm", "layers": 3, "dropout": 0.4}, True),
    ({"cell": "gru", "layers": 2, "dropout": 0.3, "bidirectional": True}, True),
    ({"cell": "rnn", "layers": 2, "dropout": 0.3, "activation": "relu"}, True),
    ({"cell": "lstm", "embedding": None}, False),
    ({"cell": "gru", "layers": 2, "embedding": None, "attention": "general"}, False),
]


def _model(seed=1, **settings):
    config = ModelConfig(SRC_VOCAB, TGT_VOCAB, **{"hidden": 5, "embedding": 4, **settings})
    return Seq2Seq(config, np.random.default_rng(seed), dtype=np.float64)


def _both_paths(model, train=False):
    """``(fast, steps)``: loss, grads and info of each path, from the same batch and rng."""
    src, tgt_in, tgt_out = toy_batch(False, np.random.default_rng(2))
    out = []
    # teacher forcing 1 - 1e-12 takes the step path but always feeds the reference; the
    # coins it draws come after every dropout mask of their step, so give each path its
    # own generator of one seed and compare only where no coin is drawn before a mask
    for forcing in (1.0, 1.0 - 1e-12):
        out.append(model.loss_and_grads(src, tgt_in, tgt_out, forcing,
                                        rng=np.random.default_rng(7), train=train))
    return out


def _assert_same(fast, steps, tol=1e-12, model_scale=False):
    """Loss, attention and every gradient to ``tol``, relative to the gradient's largest
    entry (``model_scale``: to the largest entry of any gradient -- for a saturated model,
    where a whole gradient can be rounding noise)."""
    (loss_f, grads_f, info_f), (loss_s, grads_s, info_s) = fast, steps
    assert backend.to_float(loss_f) == pytest.approx(backend.to_float(loss_s), rel=tol)
    assert set(grads_f) == set(grads_s)
    largest = max(float(np.max(np.abs(backend.to_host(g)))) for g in grads_s.values())
    for name in grads_s:
        f, s = backend.to_host(grads_f[name]), backend.to_host(grads_s[name])
        assert f.shape == s.shape, name
        scale = largest if model_scale else max(float(np.max(np.abs(s))), 1e-300)
        err = float(np.max(np.abs(f - s))) / scale
        assert err <= tol, f"{name}: fast and step paths differ by {err:.1e} (relative)"
    np.testing.assert_allclose(info_f.attention, info_s.attention, rtol=0, atol=tol)
    np.testing.assert_allclose(info_f.enc_grad_norms, info_s.enc_grad_norms, rtol=tol)


@pytest.mark.parametrize("cell,layers,scorer,bidi", GRID,
                         ids=[f"{c}-{k}x-{s}{'-bi' if b else ''}" for c, k, s, b in GRID])
def test_fast_decoder_equals_step_path(cell, layers, scorer, bidi, xp):
    model = _model(cell=cell, layers=layers, attention=scorer, bidirectional=bidi)
    _assert_same(*_both_paths(model))


@pytest.mark.parametrize("settings,train", MORE, ids=["lstm3-dropout", "gru2-bi-dropout",
                                                      "rnn2-relu-dropout", "lstm-onehot",
                                                      "gru2-onehot-general"])
def test_fast_decoder_equals_step_path_more(settings, train, xp):
    if train and settings.get("dropout"):
        # the step path draws its coins (teacher forcing) between the steps' dropout masks;
        # with teacher forcing 1 - 1e-12 it draws none before step 1's masks only, so
        # compare against a step path whose coins come from their own generator
        model = _model(**settings)
        src, tgt_in, tgt_out = toy_batch(False, np.random.default_rng(2))
        fast = model.loss_and_grads(src, tgt_in, tgt_out, 1.0, rng=np.random.default_rng(7))
        steps = _steps_with_masks_of(model, src, tgt_in, tgt_out, seed=7)
        _assert_same(fast, steps)
    else:
        _assert_same(*_both_paths(_model(**settings), train))


def _steps_with_masks_of(model, src, tgt_in, tgt_out, seed):
    """The step path (every step through ``decode_step``) with the dropout masks the fast
    path draws from ``default_rng(seed)``: the encoder's first, then step by step, layer by
    layer -- the order of :func:`minis2s.cells.stack_step.stack_step_forward`."""
    from minis2s.model.caches import ForwardCache
    from minis2s.ops.linear import linear_forward
    from minis2s.ops.softmax_ce import softmax_cross_entropy_forward

    rng = np.random.default_rng(seed)
    xp = backend.get_xp()
    batch = model.check_batch(src, tgt_in, tgt_out)
    memory, memory_cache = model.encode(batch, train=True, rng=rng)
    state, caches, outs, weights = memory.state0, [], [], []
    for t in range(tgt_in.shape[0]):
        h, state, w, cache = model.decode_step(memory, batch.tgt_in[t], state, t, True, rng)
        caches.append(cache)
        outs.append(h)
        weights.append(w)
    logits, output = linear_forward(xp.stack(outs), model.params["out.W"], model.params["out.b"])
    loss, ce = softmax_cross_entropy_forward(logits, batch.tgt_out, batch.tgt_mask)
    cache = ForwardCache(batch, memory_cache, memory, batch.tgt_in.copy(), None, caches, None,
                         xp.stack(weights), output, ce)
    grads, info = model.backward(cache)
    return loss, grads, info


def test_routing_takes_the_fast_path_only_under_teacher_forcing(xp):
    model = _model(cell="lstm", layers=2)
    src, tgt_in, tgt_out = toy_batch(False, np.random.default_rng(2))
    _, cache = model.forward(src, tgt_in, tgt_out)
    assert cache.fast is not None and cache.steps is None and cache.sequence is None
    _, cache = model.forward(src, tgt_in, tgt_out, 0.5, rng=np.random.default_rng(0))
    assert cache.fast is None and cache.steps is not None
    final = _model(cell="lstm", context="final")
    _, cache = final.forward(src, tgt_in, tgt_out)
    assert cache.fast is None and cache.sequence is not None


def test_fast_cache_can_be_read_twice(xp):
    """A backward pass leaves the forward cache as it was (as the stacks' caches)."""
    model = _model(cell="gru", layers=2)
    src, tgt_in, tgt_out = toy_batch(False, np.random.default_rng(2))
    _, cache = model.forward(src, tgt_in, tgt_out)
    first, _ = model.backward(cache)
    second, _ = model.backward(cache)
    for name in first:
        np.testing.assert_array_equal(backend.to_host(first[name]),
                                      backend.to_host(second[name]), err_msg=name)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("context", ["attention", "aligned", "final"])
def test_decoding_step_equals_textbook_step(cell, context, xp):
    """The forward-only step of decoding (``Seq2Seq.decoder``) against ``decode_step``, fed
    its own argmax for five steps: outputs, states and attention weights."""
    model = _model(cell=cell, layers=2, context=context)
    src, _, _ = toy_batch(context == "aligned", np.random.default_rng(2))
    memory, _ = model.encode(model.check_batch(src))
    step = model.decoder(memory).step
    state_f = state_s = memory.state0
    y = np.full(src.shape[1], 1)
    for t in range(5):
        h_f, state_f, w_f = step(y, state_f, t)
        h_s, state_s, w_s, _ = model.decode_step(memory, y, state_s, t)
        np.testing.assert_allclose(backend.to_host(h_f), backend.to_host(h_s), rtol=1e-12,
                                   atol=1e-14)
        for a, b in zip(state_f, state_s):
            np.testing.assert_allclose(backend.to_host(a), backend.to_host(b), rtol=1e-12,
                                       atol=1e-14)
        if w_s is None:
            assert w_f is None
        else:
            np.testing.assert_allclose(backend.to_host(w_f), backend.to_host(w_s), atol=1e-14)
        y = backend.to_host(model.output_logits(h_f)).argmax(axis=1)


@pytest.mark.parametrize("scale", ["W_k", "W_q"])
def test_large_keys_or_queries_take_the_plain_exponential(scale, xp):
    """Past the limit where ``exp(-2k) exp(-2q)`` could overflow, the step adds and
    exponentiates as written: still the step path's numbers (and no NaN). There the tanh
    of the scores saturates, so ``dL/dv = sum_j de_j tanh(u_j)`` is a sum of terms that
    cancel exactly (``sum_j de_j = 0``): rounding noise on both paths, compared on the
    scale of the model's gradients."""
    model = _model(cell="lstm")
    model.params[f"attn.{scale}"] *= 1e4
    src, tgt_in, tgt_out = toy_batch(False, np.random.default_rng(2))
    memory, _ = model.encode(model.check_batch(src, tgt_in, tgt_out))
    step_memory = model.reading.step_memory(memory, model.params)
    assert (step_memory.ekeys is None) == (scale == "W_k")
    _assert_same(*_both_paths(model), model_scale=True)


@pytest.mark.parametrize("settings", [{"cell": "lstm", "layers": 3},
                                      {"cell": "gru", "layers": 2, "bidirectional": True},
                                      {"cell": "rnn", "layers": 2, "context": "final"}],
                         ids=["lstm3", "gru2-bi", "rnn2-final"])
def test_encoder_for_decoding_gives_the_same_memory(settings, xp):
    """``encode_memory`` (layer by layer, no caches) is ``encode``'s memory, bitwise."""
    model = _model(**settings)
    src, _, _ = toy_batch(False, np.random.default_rng(2))
    checked = model.check_batch(src)
    full, _ = model.encode(checked)
    lean = model.encode_memory(checked)
    for name in ("values", "keys", "mask", "final"):
        a, b = getattr(full, name), getattr(lean, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(backend.to_host(a), backend.to_host(b), err_msg=name)
    for a, b in zip(full.state0, lean.state0):
        np.testing.assert_array_equal(backend.to_host(a), backend.to_host(b))
