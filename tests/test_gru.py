"""GRU cell: golden values, textbook step == fast sequence, masks, errors.

The gradient checks of every input and parameter are registered in
``minis2s/checks/gru.py`` and run by tests/test_gradcheck_suite.py; parity with
``torch.nn.GRU`` is in tests/test_torch_parity_cells.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.cells import gru

T, N, D, H = 3, 2, 3, 2


def _linspace_setup():
    """Deterministic float64 host inputs: weights, biases, x, h0 from np.linspace."""
    G = 3 * H
    params = {
        "W_ih": np.linspace(-0.5, 0.5, G * D).reshape(G, D),
        "W_hh": np.linspace(0.4, -0.4, G * H).reshape(G, H),
        "b_ih": np.linspace(-0.1, 0.2, G),
        "b_hh": np.linspace(0.3, -0.3, G),
    }
    x = np.linspace(-1.0, 1.0, T * N * D).reshape(T, N, D)
    h0 = np.linspace(-0.3, 0.3, N * H).reshape(N, H)
    return params, x, h0


def _naive_gru(params, x, h0, mask=None):
    """The GRU written plainly, gate by gate and unit by unit, in Python floats."""
    W_ih, W_hh, b_ih, b_hh = (params[k].tolist() for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))
    n_steps, batch, d_in = x.shape
    hid = len(h0[0])
    h = [list(row) for row in h0.tolist()]
    hs = []
    for t in range(n_steps):
        new_h = []
        for n in range(batch):
            def inp(k, j, n=n, t=t):  # W_ik x + b_ik, unit j of gate k (0=r, 1=z, 2=n)
                row = k * hid + j
                return b_ih[row] + sum(W_ih[row][d] * x[t, n, d] for d in range(d_in))

            def rec(k, j, n=n):  # W_hk h + b_hk
                row = k * hid + j
                return b_hh[row] + sum(W_hh[row][e] * h[n][e] for e in range(hid))

            hn = []
            for j in range(hid):
                r = sig(inp(0, j) + rec(0, j))
                z = sig(inp(1, j) + rec(1, j))
                cand = math.tanh(inp(2, j) + r * rec(2, j))
                hj = (1 - z) * cand + z * h[n][j]
                if mask is not None and mask[t, n] == 0:
                    hj = h[n][j]
                hn.append(hj)
            new_h.append(hn)
        h = new_h
        hs.append(h)
    return np.array(hs), np.array(h)


def _dev(params):
    return {k: to_dev(v) for k, v in params.items()}


def test_protocol_names_and_shapes():
    assert gru.STATE_NAMES == ("h",)
    assert gru.GATES == 3
    assert gru.TORCH_NAMES == {"W_ih": "weight_ih", "W_hh": "weight_hh",
                               "b_ih": "bias_ih", "b_hh": "bias_hh"}
    assert gru.param_shapes(5, 3) == {"W_ih": (9, 5), "W_hh": (9, 3), "b_ih": (9,), "b_hh": (9,)}


def test_init_params_host_uniform_seeded():
    p = gru.init_params(np.random.default_rng(3), 5, 9)
    for name, shape in gru.param_shapes(5, 9).items():
        assert isinstance(p[name], np.ndarray) and p[name].shape == shape
        assert p[name].dtype == np.float32
        assert np.abs(p[name]).max() <= 1 / 3 + 1e-7
    again = gru.init_params(np.random.default_rng(3), 5, 9)
    assert all(np.array_equal(p[k], again[k]) for k in p)


# ----------------------------------------------------------------------------------------
# golden values
# ----------------------------------------------------------------------------------------


def test_sequence_forward_golden_values(xp):
    params, x, h0 = _linspace_setup()
    want_hs, want_h = _naive_gru(params, x, h0)
    hs, (hT,), _ = gru.sequence_forward(to_dev(x), (to_dev(h0),), _dev(params))
    np.testing.assert_allclose(host(hs), want_hs, rtol=0, atol=1e-14)
    np.testing.assert_allclose(host(hT), want_h, rtol=0, atol=1e-14)


def test_step_forward_golden_values(xp):
    params, x, h0 = _linspace_setup()
    want_hs, _ = _naive_gru(params, x[:1], h0)
    (h,), _ = gru.step_forward(to_dev(x[0]), (to_dev(h0),), _dev(params))
    np.testing.assert_allclose(host(h), want_hs[0], rtol=0, atol=1e-14)


def test_reset_gate_scales_the_recurrent_bias_by_hand(xp):
    # All weights 0, b_hn = 1, h0 = 0: r = z = 1/2 and n = tanh(r * b_hn) = tanh(1/2)
    # (PyTorch's GRU; the paper's variant would give tanh(1)). h1 = (1 - z) n = tanh(1/2)/2.
    params = {k: np.zeros(s) for k, s in gru.param_shapes(1, 1).items()}
    params["b_hh"][2] = 1.0
    x = to_dev(np.ones((1, 1, 1)))
    hs, _, _ = gru.sequence_forward(x, None, _dev(params))
    (h,), _ = gru.step_forward(x[0], None, _dev(params))
    assert host(hs)[0, 0, 0] == pytest.approx(0.23105857863000487, abs=1e-16)
    assert host(h)[0, 0] == pytest.approx(0.5 * math.tanh(0.5), abs=1e-16)


def test_zero_weights_halve_the_state_by_hand(xp):
    # r = z = 1/2, n = 0: h1 = h0 / 2, h2 = h0 / 4.
    params = {k: to_dev(np.zeros(s)) for k, s in gru.param_shapes(1, 2).items()}
    hs, (h,), _ = gru.sequence_forward(to_dev(np.ones((2, 1, 1))), (to_dev([[1.0, -0.5]]),),
                                       params)
    np.testing.assert_array_equal(host(hs)[:, 0], [[0.5, -0.25], [0.25, -0.125]])


def test_masked_golden_values(xp):
    params, x, h0 = _linspace_setup()
    mask = np.array([[1, 0], [0, 1], [1, 1]])
    want_hs, want_h = _naive_gru(params, x, h0, mask)
    hs, (hT,), _ = gru.sequence_forward(to_dev(x), (to_dev(h0),), _dev(params),
                                        mask=to_dev(mask, np.int64))
    np.testing.assert_allclose(host(hs), want_hs, rtol=0, atol=1e-14)
    np.testing.assert_allclose(host(hT), want_h, rtol=0, atol=1e-14)
    assert np.array_equal(host(hs)[1, 0], host(hs)[0, 0])
    assert np.array_equal(host(hs)[0, 1], h0[1])


# ----------------------------------------------------------------------------------------
# the fast sequence computes the textbook step, forward and backward
# ----------------------------------------------------------------------------------------


def _random_setup(rng, t=4, n=3, d=5, h=4):
    params = gru.init_params(rng, d, h, np.float64)
    return _dev(params), to_dev(rng.standard_normal((t, n, d))), to_dev(rng.standard_normal((n, h)))


MASKS = {
    "none": None,
    "holes": np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1], [1, 0, 0]], dtype=np.float64),
}


@pytest.mark.parametrize("mask_name", list(MASKS))
def test_step_loop_equals_sequence_forward_and_backward(xp, rng, mask_name):
    params, x, h0 = _random_setup(rng)
    mask = MASKS[mask_name]
    n_steps = x.shape[0]
    dhs = to_dev(rng.standard_normal((n_steps, 3, 4)))
    dh_T = to_dev(rng.standard_normal((3, 4)))

    h, caches, hs_loop = h0, [], []
    for t in range(n_steps):
        (h_new,), cache = gru.step_forward(x[t], (h,), params)
        m = 1.0 if mask is None else to_dev(mask[t][:, None])
        h = m * h_new + (1 - m) * h
        caches.append(cache)
        hs_loop.append(h)
    dh = dh_T
    dxs = [None] * n_steps
    grads_loop = {k: 0.0 for k in gru.PARAM_NAMES}
    for t in reversed(range(n_steps)):
        dh = dh + dhs[t]
        m = 1.0 if mask is None else to_dev(mask[t][:, None])
        dxs[t], (dh_prev,), g = gru.step_backward((m * dh,), caches[t])
        dh = dh_prev + (1 - m) * dh
        grads_loop = {k: grads_loop[k] + g[k] for k in g}

    m_dev = None if mask is None else to_dev(mask)
    hs, (hT,), cache = gru.sequence_forward(x, (h0,), params, mask=m_dev)
    dx, (dh0,), grads = gru.sequence_backward(dhs, (dh_T,), cache)

    close = lambda a, b: np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-13)
    close(hs, xp.stack(hs_loop))
    close(hT, h)
    close(dx, xp.stack(dxs))
    close(dh0, dh)
    for k in gru.PARAM_NAMES:
        close(grads[k], grads_loop[k])


def test_final_state_of_padded_rows_is_state_at_last_real_token(xp, rng):
    params, x, h0 = _random_setup(rng, t=5, n=3)
    lengths = [5, 2, 3]
    mask = np.array([[1.0 if t < L else 0.0 for L in lengths] for t in range(5)])
    hs, (hT,), _ = gru.sequence_forward(x, (h0,), params, mask=to_dev(mask))
    for n, L in enumerate(lengths):
        _, (h_n,), _ = gru.sequence_forward(x[:L, n:n + 1], (h0[n:n + 1],), params)
        np.testing.assert_allclose(host(hT)[n], host(h_n)[0], rtol=1e-13, atol=1e-14)


def test_none_means_zero_and_backward_leaves_inputs_alone(xp, rng):
    params, x, _ = _random_setup(rng)
    hs_a, _, cache_a = gru.sequence_forward(x, None, params)
    hs_b, _, cache_b = gru.sequence_forward(x, (to_dev(np.zeros((3, 4))),), params)
    assert np.array_equal(host(hs_a), host(hs_b))
    dh_T = to_dev(rng.standard_normal((3, 4)))
    saved = host(dh_T).copy()
    dx_a, (dh_a,), g_a = gru.sequence_backward(None, (dh_T,), cache_a)
    dx_b, (dh_b,), g_b = gru.sequence_backward(to_dev(np.zeros((4, 3, 4))), (dh_T,), cache_b)
    dx_c, _, _ = gru.sequence_backward(None, (dh_T,), cache_a)  # the cache survives a backward
    assert np.array_equal(host(dh_T), saved)
    assert np.array_equal(host(dx_a), host(dx_b)) and np.array_equal(host(dx_a), host(dx_c))
    assert all(np.array_equal(host(g_a[k]), host(g_b[k])) for k in g_a)
    dx, (dh,), _ = gru.step_backward(None, gru.step_forward(x[0], None, params)[1])
    assert not host(dx).any() and not host(dh).any()


def test_float32_in_float32_out(xp, rng):
    params = {k: to_dev(v, np.float32) for k, v in gru.init_params(rng, 5, 4).items()}
    x = to_dev(rng.standard_normal((4, 3, 5)), np.float32)
    hs, (h,), cache = gru.sequence_forward(x, None, params)
    dx, (dh0,), grads = gru.sequence_backward(hs * 0 + 1, None, cache)
    assert {a.dtype for a in (hs, h, dx, dh0, *grads.values())} == {np.dtype(np.float32)}


def test_large_pre_activations_saturate_without_warnings(xp):
    params = {k: to_dev(np.full(s, 200.0)) for k, s in gru.param_shapes(1, 1).items()}
    params["W_ih"] = to_dev(-np.full((3, 1), 1000.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hs, _, _ = gru.sequence_forward(to_dev(np.ones((2, 1, 1))), None, params)
        (h1,), _ = gru.step_forward(to_dev(np.ones((1, 1))), None, params)
    assert np.isfinite(host(hs)).all() and np.isfinite(host(h1)).all()


# ----------------------------------------------------------------------------------------
# errors name what was expected and what came
# ----------------------------------------------------------------------------------------


def test_errors_name_expected_and_got(xp, rng):
    params, x, h0 = _random_setup(rng)
    with pytest.raises(ValueError, match=r"gru state0 'h': expected shape \(N, H\) = \(3, 4\), "
                                         r"got \(2, 4\)"):
        gru.sequence_forward(x, (h0[:2],), params)
    with pytest.raises(TypeError, match=r"gru state: expected a tuple \(h,\), got tuple of "
                                        r"length 2"):
        gru.step_forward(x[0], (h0, h0), params)
    with pytest.raises(TypeError, match="gru state 'h': expected dtype float64.*got float32"):
        gru.step_forward(x[0], (h0.astype(np.float32),), params)
    with pytest.raises(ValueError, match=r"gru x: expected shape \(T, N, D\) = \(\*, \*, 5\), "
                                         r"got \(4, 3, 3\)"):
        gru.sequence_forward(x[:, :, :3], None, params)
    with pytest.raises(ValueError, match=r"gru W_hh: expected shape \(3\*H, H\) .*got \(16, 4\)"):
        gru.sequence_forward(x, None, dict(params, W_hh=to_dev(np.zeros((16, 4)))))
    with pytest.raises(ValueError, match=r"gru mask: expected shape \(T, N\) = \(4, 3\), "
                                         r"got \(4, 2\)"):
        gru.sequence_forward(x, None, params, mask=to_dev(np.ones((4, 2))))
    _, _, cache = gru.sequence_forward(x, None, params)
    with pytest.raises(TypeError, match=r"gru dstate_T dh: expected dtype float64 .*got float32"):
        gru.sequence_backward(None, (to_dev(np.zeros((3, 4)), np.float32),), cache)
