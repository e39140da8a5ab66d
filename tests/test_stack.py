"""Stacks of cells: configuration, naming, golden forwards, masks, dropout, steps, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s import backend
from minis2s.cells import stack
from minis2s.cells.stack import (
    StackConfig,
    get_cell,
    init_stack,
    merge_bidirectional_state,
    split_bidirectional_state,
    stack_backward,
    stack_forward,
    stack_step_backward,
    stack_step_forward,
)

KINDS = ("rnn", "lstm", "gru")


def _dev_params(params):
    return {k: to_dev(v) for k, v in params.items()}


def _setup(kind, rng, T=4, N=3, D=3, H=2, L=2, bidirectional=False, dropout=0.0):
    config = StackConfig(kind, D, H, num_layers=L, bidirectional=bidirectional, dropout=dropout)
    params = _dev_params(init_stack(rng, config, np.float64))
    x = to_dev(rng.standard_normal((T, N, D)))
    names = get_cell(kind).STATE_NAMES
    state0 = tuple(to_dev(rng.standard_normal((L * config.directions, N, H))) for _ in names)
    return config, params, x, state0


def _ours(kind, stem):
    """Our parameter name for PyTorch's stem (``"weight_hh"`` -> e.g. ``"W_hh"``)."""
    return {t: o for o, t in get_cell(kind).TORCH_NAMES.items()}[stem]


def _layer(params, k, d=0):
    lp = stack.layer_prefix("", k, d)
    return {n[len(lp):]: v for n, v in params.items() if n.startswith(lp)}


# --------------------------------------------------------------------------------------
# configuration and names
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_layers": 0}, ValueError, "num_layers.*>= 1, got 0"),
        ({"dropout": 1.0}, ValueError, r"dropout.*\[0, 1\), got 1.0"),
        ({"dropout": -0.1}, ValueError, r"dropout.*\[0, 1\), got -0.1"),
        ({"cell": "transformer"}, ValueError,
         r"StackConfig.cell: expected one of rnn, lstm, gru \(or the alias 'seed' for 'rnn'\), "
         r"got 'transformer'"),
        ({"cell": 3}, TypeError, "StackConfig.cell: expected a cell name.*got int 3"),
        ({"hidden_size": 0}, ValueError, "hidden_size.*>= 1, got 0"),
        ({"input_size": -3}, ValueError, "input_size.*>= 1, got -3"),
        ({"hidden_size": 2.5}, TypeError, "hidden_size.*integer.*2.5"),
        ({"num_layers": True}, TypeError, "num_layers.*integer.*True"),
        ({"dropout": "0.1"}, TypeError, "dropout.*number.*'0.1'"),
        ({"bidirectional": "yes"}, TypeError, "bidirectional.*True or False.*'yes'"),
        ({"cell": "lstm", "activation": "relu"}, ValueError, "only the rnn cell.*'relu'"),
    ],
)
def test_config_rejects_bad_values(kwargs, error, match):
    base = {"cell": "rnn", "input_size": 3, "hidden_size": 4}
    with pytest.raises(error, match=match):
        StackConfig(**{**base, **kwargs})


def test_config_derived_sizes():
    c = StackConfig("gru", 5, 4, num_layers=3, bidirectional=True)
    assert (c.directions, c.output_size) == (2, 8)
    assert [c.layer_input_size(k) for k in range(3)] == [5, 8, 8]
    assert StackConfig("rnn", 1, 1, activation="relu").cell_opts() == {"f": "relu"}
    assert StackConfig("lstm", 1, 1).cell_opts() == {}


def test_get_cell_names_the_choices():
    with pytest.raises(ValueError, match=r"cell: expected one of rnn, lstm, gru .*got 'plain'"):
        get_cell("plain")
    assert get_cell("lstm").STATE_NAMES == ("h", "c")


def test_seed_is_an_alias_of_rnn_everywhere_a_cell_is_named():
    """The article's plain cell was called "seed": old scripts and checkpoints still work."""
    from minis2s.cells import CELL_ALIASES, canonical_cell, rnn
    from minis2s.model import ModelConfig

    assert stack.CELL_KINDS == ("rnn", "lstm", "gru") and CELL_ALIASES == {"seed": "rnn"}
    assert [canonical_cell(k) for k in ("seed", "rnn", "lstm", "gru")] == [
        "rnn", "rnn", "lstm", "gru"]
    assert get_cell("seed") is rnn
    assert StackConfig("seed", 2, 3).cell == "rnn"
    assert StackConfig("seed", 2, 3) == StackConfig("rnn", 2, 3)
    assert ModelConfig(src_vocab=5, tgt_vocab=5, cell="seed").cell == "rnn"
    from minis2s.cells import seed  # the old module path

    assert seed is rnn
    with pytest.raises(TypeError, match=r"cell: expected a cell name.*got list \['rnn'\]"):
        canonical_cell(["rnn"])


@pytest.mark.parametrize("kind", KINDS)
def test_init_stack_names_shapes_and_layer_input_sizes(kind):
    cell = get_cell(kind)
    config = StackConfig(kind, 3, 4, num_layers=2, bidirectional=True)
    params = init_stack(np.random.default_rng(0), config, np.float32, prefix="enc.")
    expected = {}
    layers = [("enc.l0.", 3), ("enc.l0_reverse.", 3), ("enc.l1.", 8), ("enc.l1_reverse.", 8)]
    for lp, d_in in layers:
        expected.update({lp + n: tuple(s) for n, s in cell.param_shapes(d_in, 4).items()})
    assert list(params) == list(expected)  # PyTorch's order: l0, l0_reverse, l1, ...
    assert {k: v.shape for k, v in params.items()} == expected
    for v in params.values():
        assert isinstance(v, np.ndarray) and v.dtype == np.float32
        assert np.all(np.abs(v) <= 1 / math.sqrt(4))
    again = init_stack(np.random.default_rng(0), config, np.float32, prefix="enc.")
    assert all(np.array_equal(params[k], again[k]) for k in params)


def test_init_stack_checks_its_arguments():
    with pytest.raises(TypeError, match="Generator"):
        init_stack(0, StackConfig("rnn", 2, 2))
    with pytest.raises(TypeError, match="StackConfig"):
        init_stack(np.random.default_rng(0), {"cell": "rnn"})


# --------------------------------------------------------------------------------------
# golden values
# --------------------------------------------------------------------------------------


def _naive_rnn_direction(xs, W, U, b, h0, m, reverse):
    """One row, one direction, plain Python: h = tanh(W x + U h + b), held where m = 0."""
    T, H = len(xs), len(b)
    h, out = list(h0), [None] * T
    for t in reversed(range(T)) if reverse else range(T):
        if m[t]:
            h = [
                math.tanh(
                    sum(W[i][j] * xs[t][j] for j in range(len(xs[t])))
                    + sum(U[i][j] * h[j] for j in range(H))
                    + b[i]
                )
                for i in range(H)
            ]
        out[t] = list(h)
    return out, h


def test_golden_hand_built_bidirectional_rnn_stack_with_mask_and_dropout(xp):
    """A 2-layer bidirectional rnn stack on linspace weights, against a plain-Python loop
    that spells out the stack's definition: reversed pass, [fwd ; rev] concatenation,
    inverted dropout drawn as documented, PyTorch's state rows."""
    T, N, D, H, p = 3, 2, 2, 2, 0.5
    config = StackConfig("rnn", D, H, num_layers=2, bidirectional=True, dropout=p)
    torch_to_ours = {stem: ours for ours, stem in get_cell("rnn").TORCH_NAMES.items()}
    host_params, W, U, b = {}, {}, {}, {}
    for i, (name, shape) in enumerate(stack.param_shapes(config).items()):
        host_params[name] = np.linspace(-0.6, 0.7, int(np.prod(shape))).reshape(shape) * (
            1 + 0.1 * i
        )
    for k in range(2):
        for d in range(2):
            lay = _layer(host_params, k, d)
            W[k, d] = lay[torch_to_ours["weight_ih"]].tolist()
            U[k, d] = lay[torch_to_ours["weight_hh"]].tolist()
            b[k, d] = sum(lay[torch_to_ours[s]] for s in ("bias_ih", "bias_hh")
                          if s in torch_to_ours).tolist()
    x = np.linspace(-1.0, 1.0, T * N * D).reshape(T, N, D)
    h0 = np.linspace(-0.3, 0.3, 4 * N * H).reshape(4, N, H)
    mask = np.array([[1, 1], [1, 1], [1, 0]], dtype=np.float64)
    keep = (np.random.default_rng(3).random((T, N, 2 * H)) >= p) / (1 - p)

    expected_hs = np.zeros((T, N, 2 * H))
    expected_hT = np.zeros((4, N, H))
    for n in range(N):
        inp = [x[t, n].tolist() for t in range(T)]
        for k in range(2):
            outs = []
            for d in range(2):
                o, hT = _naive_rnn_direction(
                    inp, W[k, d], U[k, d], b[k, d], h0[2 * k + d, n], mask[:, n], reverse=d == 1
                )
                outs.append(o)
                expected_hT[2 * k + d, n] = hT
            layer_out = [outs[0][t] + outs[1][t] for t in range(T)]
            if k == 0:
                inp = [[v * keep[t, n, j] for j, v in enumerate(layer_out[t])] for t in range(T)]
            else:
                expected_hs[:, n] = np.array(layer_out)

    hs, (hT,), _ = stack_forward(
        to_dev(x), _dev_params(host_params), config, (to_dev(h0),), mask=to_dev(mask),
        train=True, rng=np.random.default_rng(3),
    )
    np.testing.assert_allclose(host(hs), expected_hs, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(host(hT), expected_hT, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_two_layer_bidirectional_stack_equals_hand_chained_cell_calls(kind, xp, rng):
    config, params, x, state0 = _setup(kind, rng, bidirectional=True)
    cell = get_cell(kind)
    opts = config.cell_opts()
    inp, finals = x, []
    for k in range(2):
        fwd, s_f, _ = cell.sequence_forward(
            inp, tuple(s[2 * k] for s in state0), _layer(params, k, 0), **opts
        )
        rev, s_r, _ = cell.sequence_forward(
            inp[::-1], tuple(s[2 * k + 1] for s in state0), _layer(params, k, 1), **opts
        )
        inp = xp.concatenate([fwd, rev[::-1]], axis=2)
        finals += [s_f, s_r]
    hs, state_T, _ = stack_forward(x, params, config, state0)
    np.testing.assert_array_equal(host(hs), host(inp))
    for i, s in enumerate(state_T):
        assert s.shape == (4, 3, 2)
        for row in range(4):
            np.testing.assert_array_equal(host(s[row]), host(finals[row][i]))


@pytest.mark.parametrize("kind", KINDS)
def test_unidirectional_two_layers_equal_hand_chained_and_zero_state_default(kind, xp, rng):
    config, params, x, _ = _setup(kind, rng)
    cell = get_cell(kind)
    zeros = tuple(xp.zeros((3, 2)) for _ in cell.STATE_NAMES)
    h1, s1, _ = cell.sequence_forward(x, zeros, _layer(params, 0), **config.cell_opts())
    h2, s2, _ = cell.sequence_forward(h1, zeros, _layer(params, 1), **config.cell_opts())
    hs, state_T, _ = stack_forward(x, params, config)  # state0=None means zeros
    np.testing.assert_array_equal(host(hs), host(h2))
    for i in range(len(cell.STATE_NAMES)):
        np.testing.assert_array_equal(host(state_T[i][0]), host(s1[i]))
        np.testing.assert_array_equal(host(state_T[i][1]), host(s2[i]))


# --------------------------------------------------------------------------------------
# masks: the reverse pass starts at each row's true end
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_padded_rows_match_rows_run_alone(kind, xp, rng):
    T, N, D, H = 5, 3, 3, 2
    lengths = [5, 3, 1]
    config, params, x, state0 = _setup(kind, rng, T=T, N=N, D=D, H=H, bidirectional=True)
    mask = np.zeros((T, N))
    for n, length in enumerate(lengths):
        mask[:length, n] = 1.0
    hs, state_T, _ = stack_forward(x, params, config, state0, mask=to_dev(mask))
    for n, length in enumerate(lengths):
        alone_hs, alone_T, _ = stack_forward(
            x[:length, n:n + 1], params, config, tuple(s[:, n:n + 1] for s in state0)
        )
        np.testing.assert_allclose(host(hs[:length, n]), host(alone_hs[:, 0]), rtol=1e-12,
                                   atol=1e-14)
        for s, a in zip(state_T, alone_T):
            np.testing.assert_allclose(host(s[:, n]), host(a[:, 0]), rtol=1e-12, atol=1e-14)


def test_mask_may_come_from_the_host(xp, rng):
    config, params, x, state0 = _setup("gru", rng, bidirectional=True)
    mask = np.ones((4, 3))
    mask[3:, 1] = 0
    a = stack_forward(x, params, config, state0, mask=mask)[0]
    b = stack_forward(x, params, config, state0, mask=to_dev(mask))[0]
    np.testing.assert_array_equal(host(a), host(b))


# --------------------------------------------------------------------------------------
# dropout
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_is_off_in_eval_and_never_touches_the_top_layer(kind, xp, rng):
    config, params, x, state0 = _setup(kind, rng, dropout=0.5)
    plain = StackConfig(kind, 3, 2, num_layers=2)
    ref = stack_forward(x, params, plain, state0)[0]
    np.testing.assert_array_equal(host(stack_forward(x, params, config, state0)[0]), host(ref))
    trained = stack_forward(x, params, config, state0, train=True, rng=np.random.default_rng(0))
    assert not np.allclose(host(trained[0]), host(ref))
    # a single layer has nothing to drop (PyTorch: dropout acts between layers only)
    one = StackConfig(kind, 3, 2, num_layers=1, dropout=0.5)
    p1 = {k: v for k, v in params.items() if k.startswith("l0.")}
    a = stack_forward(x, p1, one, train=True, rng=np.random.default_rng(0))[0]
    b = stack_forward(x, p1, StackConfig(kind, 3, 2))[0]
    np.testing.assert_array_equal(host(a), host(b))


def test_dropout_in_training_needs_a_generator(xp, rng):
    config, params, x, state0 = _setup("lstm", rng, dropout=0.2)
    with pytest.raises(TypeError, match="dropout=0.2 with train=True.*Generator.*NoneType"):
        stack_forward(x, params, config, state0, train=True)
    with pytest.raises(TypeError, match="Generator.*int"):
        stack_step_forward(x[0], state0, params, config, train=True, rng=5)


# --------------------------------------------------------------------------------------
# backward: zero defaults, no mutation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_backward_none_means_zero_and_leaves_its_gradients_alone(kind, xp, rng):
    config, params, x, state0 = _setup(kind, rng, bidirectional=True, dropout=0.3)
    names = get_cell(kind).STATE_NAMES
    _, state_T, cache = stack_forward(x, params, config, state0, train=True,
                                      rng=np.random.default_rng(1))
    dhs = to_dev(rng.standard_normal((4, 3, 4)))
    dh_T = to_dev(rng.standard_normal((4, 3, 2)))
    saved = host(dhs).copy(), host(dh_T).copy()
    zeros = tuple(xp.zeros((4, 3, 2)) for _ in names)
    a = stack_backward(dhs, (dh_T,) + (None,) * (len(names) - 1), cache)
    b = stack_backward(dhs, (dh_T,) + zeros[1:], cache)
    np.testing.assert_array_equal(host(dhs), saved[0])
    np.testing.assert_array_equal(host(dh_T), saved[1])
    np.testing.assert_array_equal(host(a[0]), host(b[0]))
    for k in a[2]:
        np.testing.assert_array_equal(host(a[2][k]), host(b[2][k]))
    c = stack_backward(None, (dh_T,) + (None,) * (len(names) - 1), cache)
    d = stack_backward(xp.zeros((4, 3, 4)), (dh_T,) + zeros[1:], cache)
    np.testing.assert_array_equal(host(c[0]), host(d[0]))
    e = stack_backward(dhs, None, cache)
    f = stack_backward(dhs, zeros, cache)
    np.testing.assert_array_equal(host(e[0]), host(f[0]))
    assert set(a[2]) == set(params)
    assert [s.shape for s in a[1]] == [(4, 3, 2)] * len(names)


# --------------------------------------------------------------------------------------
# decoder steps
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_loop_of_steps_equals_stack_forward_and_backward(kind, xp, rng):
    T = 4
    config, params, x, state0 = _setup(kind, rng, T=T, dropout=0.5)  # eval: dropout off
    hs, state_T, cache = stack_forward(x, params, config, state0)
    state, step_caches, h_tops = state0, [], []
    for t in range(T):
        h, state, c = stack_step_forward(x[t], state, params, config)
        h_tops.append(h)
        step_caches.append(c)
    np.testing.assert_allclose(host(xp.stack(h_tops)), host(hs), rtol=1e-12, atol=1e-14)
    for a, b in zip(state, state_T):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-14)

    dhs = to_dev(rng.standard_normal((T, 3, 2)))
    dstate_T = tuple(to_dev(rng.standard_normal((2, 3, 2))) for _ in state_T)
    dx, dstate0, grads = stack_backward(dhs, dstate_T, cache)
    dstate, dxs, total = dstate_T, [None] * T, {}
    for t in reversed(range(T)):
        dxs[t], dstate, g = stack_step_backward(dhs[t], dstate, step_caches[t])
        total = {k: g[k] + total[k] if k in total else g[k] for k in g}
    np.testing.assert_allclose(host(xp.stack(dxs)), host(dx), rtol=1e-10, atol=1e-13)
    for a, b in zip(dstate, dstate0):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-10, atol=1e-13)
    assert set(total) == set(grads)
    for k in grads:
        np.testing.assert_allclose(host(total[k]), host(grads[k]), rtol=1e-10, atol=1e-13)


def test_step_state_none_is_zeros_and_bidirectional_is_refused(xp, rng):
    config, params, x, _ = _setup("lstm", rng)
    zeros = (xp.zeros((2, 3, 2)), xp.zeros((2, 3, 2)))
    a = stack_step_forward(x[0], None, params, config)[0]
    b = stack_step_forward(x[0], zeros, params, config)[0]
    np.testing.assert_array_equal(host(a), host(b))
    bi, bparams, _, _ = _setup("lstm", rng, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional stack cannot run step by step"):
        stack_step_forward(x[0], None, bparams, bi)


def test_step_dropout_draws_documented_masks(xp, rng):
    """Layer 0's output reaches layer 1 scaled by [u >= p] / (1 - p), u = rng.random((N, H))."""
    config, params, x, state0 = _setup("rnn", rng, dropout=0.25)
    h, _, cache = stack_step_forward(x[0], state0, params, config, train=True,
                                     rng=np.random.default_rng(9))
    keep = (np.random.default_rng(9).random((3, 2)) >= 0.25) / 0.75
    np.testing.assert_array_equal(host(cache.dropout[0]), keep)
    assert cache.dropout[1] is None
    cell = get_cell("rnn")
    opts = config.cell_opts()
    (h0,), _ = cell.step_forward(x[0], (state0[0][0],), _layer(params, 0), **opts)
    (h1,), _ = cell.step_forward(h0 * to_dev(keep), (state0[0][1],), _layer(params, 1), **opts)
    np.testing.assert_allclose(host(h), host(h1), rtol=1e-14)


# --------------------------------------------------------------------------------------
# merging a bidirectional encoder's states for a unidirectional decoder
# --------------------------------------------------------------------------------------


def test_merge_and_split_bidirectional_state(xp):
    L, N, H = 2, 3, 2
    s = np.arange(2 * L * N * H, dtype=np.float64).reshape(2 * L, N, H)
    (merged, none) = merge_bidirectional_state((to_dev(s), None))
    assert none is None and merged.shape == (L, N, 2 * H)
    for k in range(L):
        for n in range(N):
            np.testing.assert_array_equal(
                host(merged)[k, n], np.concatenate([s[2 * k, n], s[2 * k + 1, n]])
            )
    (back,) = split_bidirectional_state((merged,))
    np.testing.assert_array_equal(host(back), s)
    with pytest.raises(ValueError, match=r"\(2 \* num_layers, N, H\).*\(3, 3, 2\)"):
        merge_bidirectional_state((to_dev(s[:3]),))
    with pytest.raises(ValueError, match=r"\(num_layers, N, 2H\).*\(2, 3, 3\)"):
        split_bidirectional_state((to_dev(np.zeros((2, 3, 3))),))


# --------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------


def test_stack_forward_names_bad_input(xp, rng):
    config, params, x, state0 = _setup("lstm", rng)
    with pytest.raises(ValueError, match=r"stack_forward x \(T, N, D\): expected a 3-d array, "
                                         r"got 2-d with shape \(3, 3\)"):
        stack_forward(x[0], params, config)
    with pytest.raises(ValueError, match=r"stack_forward x: expected shape \(T, N, D\) = "
                                         r"\(\*, \*, 3\), got \(4, 3, 2\)"):
        stack_forward(x[:, :, :2], params, config)
    w_hh, w_ih = "l1." + _ours("lstm", "weight_hh"), "l0." + _ours("lstm", "weight_ih")
    missing = {k: v for k, v in params.items() if k != w_hh}
    with pytest.raises(ValueError, match=rf"stack_forward params: missing parameter '{w_hh}' "
                                         rf"\(expected shape \(8, 2\)\)"):
        stack_forward(x, missing, config)
    wrong = dict(params, **{w_ih: xp.zeros((8, 4))})
    with pytest.raises(ValueError, match=rf"stack_forward params: parameter '{w_ih}': expected "
                                         rf"shape \(8, 3\), got \(8, 4\)"):
        stack_forward(x, wrong, config)
    with pytest.raises(ValueError, match=r"stack_forward state0 'c': expected shape \(num_layers, "
                                         r"N, H\) = \(2, 3, 2\), got \(1, 3, 2\)"):
        stack_forward(x, params, config, (state0[0], state0[1][:1]))
    with pytest.raises(TypeError, match=r"stack_forward state0: expected a tuple \(h, c\), got "
                                        r"tuple of length 1"):
        stack_forward(x, params, config, (state0[0],))
    with pytest.raises(TypeError, match=r"stack_forward state0: expected a tuple \(h, c\), got "
                                        r"[\w.]*(ndarray|DeviceArray)$"):
        stack_forward(x, params, config, state0[0])
    with pytest.raises(ValueError, match=r"stack_forward mask: expected shape \(T, N\) = "
                                         r"\(4, 3\), got \(3, 4\)"):
        stack_forward(x, params, config, mask=xp.ones((3, 4)))
    with pytest.raises(TypeError, match="stack_forward config: expected a StackConfig.*got dict"):
        stack_forward(x, params, {"cell": "lstm"})
    with pytest.raises(TypeError, match="stack_forward params: expected a dict of arrays, "
                                        "got list"):
        stack_forward(x, [1, 2], config)
    _, _, cache = stack_forward(x, params, config, state0)
    with pytest.raises(ValueError, match=r"stack_backward dhs: expected shape \(T, N, dirs\*H\) "
                                         r"= \(4, 3, 2\), got \(4, 3, 4\)"):
        stack_backward(xp.zeros((4, 3, 4)), None, cache)
    with pytest.raises(ValueError, match=r"stack_backward dstate_T 'h': expected shape .* = "
                                         r"\(2, 3, 2\), got \(1, 3, 2\)"):
        stack_backward(None, (xp.zeros((1, 3, 2)), None), cache)


def test_stack_step_names_bad_input(xp, rng):
    config, params, x, state0 = _setup("gru", rng)
    with pytest.raises(ValueError, match=r"stack_step_forward x \(N, D\): expected a 2-d array, "
                                         r"got 3-d with shape \(4, 3, 3\)"):
        stack_step_forward(x, state0, params, config)
    with pytest.raises(ValueError, match=r"stack_step_forward state 'h': expected shape "
                                         r"\(num_layers, N, H\) = \(2, 3, 2\), got \(2, 2, 2\)"):
        stack_step_forward(x[0], (state0[0][:, :2],) + state0[1:], params, config)
    _, _, cache = stack_step_forward(x[0], state0, params, config)
    with pytest.raises(ValueError, match=r"stack_step_backward dh_top: expected shape \(N, H\) = "
                                         r"\(3, 2\), got \(3, 3\)"):
        stack_step_backward(xp.zeros((3, 3)), None, cache)


def test_prefix_names_parameters_and_gradients(xp, rng):
    config = StackConfig("gru", 2, 2, num_layers=2)
    params = _dev_params(init_stack(rng, config, np.float64, prefix="enc."))
    x = to_dev(rng.standard_normal((3, 2, 2)))
    hs, _, cache = stack_forward(x, params, config, prefix="enc.")
    _, _, grads = stack_backward(hs, None, cache)
    assert set(grads) == set(params)
    assert all(k.startswith("enc.l") for k in grads)
    with pytest.raises(ValueError, match=f"missing parameter 'l0.{_ours('gru', 'weight_ih')}'"):
        stack_forward(x, params, config)
    assert backend.to_host(hs).shape == (3, 2, 2)
