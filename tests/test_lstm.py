"""LSTM cell: golden values, textbook step == fast sequence, masks, errors.

The gradient checks of every input and parameter are registered in
``minis2s/checks/lstm.py`` and run by tests/test_gradcheck_suite.py; parity with
``torch.nn.LSTM`` is in tests/test_torch_parity_cells.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s import backend, bench
from minis2s.cells import lstm

T, N, D, H = 3, 2, 3, 2


def _linspace_setup():
    """Deterministic float64 host inputs: weights, biases, x, h0, c0 from np.linspace."""
    G = 4 * H
    params = {
        "W_ih": np.linspace(-0.5, 0.5, G * D).reshape(G, D),
        "W_hh": np.linspace(0.4, -0.4, G * H).reshape(G, H),
        "b_ih": np.linspace(-0.1, 0.2, G),
        "b_hh": np.linspace(0.05, -0.05, G),
    }
    x = np.linspace(-1.0, 1.0, T * N * D).reshape(T, N, D)
    h0 = np.linspace(-0.3, 0.3, N * H).reshape(N, H)
    c0 = np.linspace(0.2, -0.2, N * H).reshape(N, H)
    return params, x, h0, c0


def _naive_lstm(params, x, h0, c0, mask=None):
    """The LSTM written plainly, gate by gate and unit by unit, in Python floats."""
    W_ih, W_hh, b_ih, b_hh = (params[k].tolist() for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))
    n_steps, batch, d_in = x.shape
    hid = len(h0[0])
    h = [list(row) for row in h0.tolist()]
    c = [list(row) for row in c0.tolist()]
    hs = []
    for t in range(n_steps):
        new_h, new_c = [], []
        for n in range(batch):
            def pre(k, j, n=n, t=t):  # pre-activation of unit j of gate k (0=i, 1=f, 2=g, 3=o)
                row = k * hid + j
                s = b_ih[row] + b_hh[row]
                s += sum(W_ih[row][d] * x[t, n, d] for d in range(d_in))
                s += sum(W_hh[row][e] * h[n][e] for e in range(hid))
                return s

            hn, cn = [], []
            for j in range(hid):
                i_, f_, o_ = sig(pre(0, j)), sig(pre(1, j)), sig(pre(3, j))
                g_ = math.tanh(pre(2, j))
                cj = f_ * c[n][j] + i_ * g_
                hj = o_ * math.tanh(cj)
                if mask is not None and mask[t, n] == 0:
                    cj, hj = c[n][j], h[n][j]
                hn.append(hj)
                cn.append(cj)
            new_h.append(hn)
            new_c.append(cn)
        h, c = new_h, new_c
        hs.append(h)
    return np.array(hs), np.array(h), np.array(c)


def _dev(params):
    return {k: to_dev(v) for k, v in params.items()}


# ----------------------------------------------------------------------------------------
# protocol
# ----------------------------------------------------------------------------------------


def test_protocol_names_and_shapes():
    assert lstm.STATE_NAMES == ("h", "c")
    assert lstm.GATES == 4
    assert lstm.TORCH_NAMES == {"W_ih": "weight_ih", "W_hh": "weight_hh",
                                "b_ih": "bias_ih", "b_hh": "bias_hh"}
    assert lstm.param_shapes(5, 3) == {"W_ih": (12, 5), "W_hh": (12, 3),
                                       "b_ih": (12,), "b_hh": (12,)}


def test_init_params_host_uniform_seeded():
    p = lstm.init_params(np.random.default_rng(7), 5, 4)
    assert set(p) == {"W_ih", "W_hh", "b_ih", "b_hh"}
    for name, shape in lstm.param_shapes(5, 4).items():
        assert isinstance(p[name], np.ndarray) and p[name].shape == shape
        assert p[name].dtype == np.float32
        assert np.abs(p[name]).max() <= 0.5  # 1/sqrt(4)
    assert np.abs(p["W_ih"]).max() > 0.4  # really spread over the interval
    again = lstm.init_params(np.random.default_rng(7), 5, 4)
    assert all(np.array_equal(p[k], again[k]) for k in p)
    assert lstm.init_params(np.random.default_rng(7), 5, 4, np.float64)["W_hh"].dtype == np.float64


def test_init_params_rejects_bad_arguments():
    with pytest.raises(TypeError, match="Generator"):
        lstm.init_params(7, 5, 4)
    with pytest.raises(ValueError, match="hidden size H"):
        lstm.init_params(np.random.default_rng(0), 5, 0)
    with pytest.raises(TypeError, match="float"):
        lstm.init_params(np.random.default_rng(0), 5, 4, np.int32)


# ----------------------------------------------------------------------------------------
# golden values
# ----------------------------------------------------------------------------------------


def test_sequence_forward_golden_values(xp):
    params, x, h0, c0 = _linspace_setup()
    want_hs, want_h, want_c = _naive_lstm(params, x, h0, c0)
    hs, (hT, cT), _ = lstm.sequence_forward(to_dev(x), (to_dev(h0), to_dev(c0)), _dev(params))
    np.testing.assert_allclose(host(hs), want_hs, rtol=0, atol=1e-14)
    np.testing.assert_allclose(host(hT), want_h, rtol=0, atol=1e-14)
    np.testing.assert_allclose(host(cT), want_c, rtol=0, atol=1e-14)


def test_step_forward_golden_values(xp):
    params, x, h0, c0 = _linspace_setup()
    want_hs, _, want_c = _naive_lstm(params, x[:1], h0, c0)
    (h, c), _ = lstm.step_forward(to_dev(x[0]), (to_dev(h0), to_dev(c0)), _dev(params))
    np.testing.assert_allclose(host(h), want_hs[0], rtol=0, atol=1e-14)
    np.testing.assert_allclose(host(c), want_c, rtol=0, atol=1e-14)


def test_zero_weights_by_hand(xp):
    # All pre-activations 0: i = f = o = 1/2, g = 0, so c1 = c0/2, h1 = tanh(c0/2)/2.
    params = {k: to_dev(np.zeros(s)) for k, s in lstm.param_shapes(1, 1).items()}
    x = to_dev(np.ones((2, 1, 1)))
    hs, (h, c), _ = lstm.sequence_forward(x, (to_dev([[0.0]]), to_dev([[1.0]])), params)
    assert host(hs)[0, 0, 0] == pytest.approx(0.5 * math.tanh(0.5), abs=1e-16)  # 0.2310585786
    assert host(hs)[0, 0, 0] == pytest.approx(0.23105857863000487, abs=1e-16)
    assert host(c)[0, 0] == pytest.approx(0.25, abs=1e-16)
    assert host(h)[0, 0] == pytest.approx(0.5 * math.tanh(0.25), abs=1e-16)


def test_masked_golden_values(xp):
    params, x, h0, c0 = _linspace_setup()
    mask = np.array([[1, 0], [0, 1], [1, 1]])
    want_hs, want_h, want_c = _naive_lstm(params, x, h0, c0, mask)
    hs, (hT, cT), _ = lstm.sequence_forward(to_dev(x), (to_dev(h0), to_dev(c0)), _dev(params),
                                            mask=to_dev(mask, np.int64))
    np.testing.assert_allclose(host(hs), want_hs, rtol=0, atol=1e-14)
    np.testing.assert_allclose(host(cT), want_c, rtol=0, atol=1e-14)
    # where the mask is 0, the state is carried bit for bit
    assert np.array_equal(host(hs)[1, 0], host(hs)[0, 0])
    assert np.array_equal(host(hs)[0, 1], h0[1])


# ----------------------------------------------------------------------------------------
# the fast sequence computes the textbook step, forward and backward
# ----------------------------------------------------------------------------------------


def _random_setup(rng, t=4, n=3, d=5, h=4):
    params = lstm.init_params(rng, d, h, np.float64)
    return (_dev(params), to_dev(rng.standard_normal((t, n, d))),
            to_dev(rng.standard_normal((n, h))), to_dev(rng.standard_normal((n, h))))


MASKS = {
    "none": None,
    "holes": np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1], [1, 0, 0]], dtype=np.float64),
}


@pytest.mark.parametrize("mask_name", list(MASKS))
def test_step_loop_equals_sequence_forward_and_backward(xp, rng, mask_name):
    params, x, h0, c0 = _random_setup(rng)
    mask = MASKS[mask_name]
    n_steps = x.shape[0]
    dhs = to_dev(rng.standard_normal((n_steps, 3, 4)))
    dh_T, dc_T = to_dev(rng.standard_normal((3, 4))), to_dev(rng.standard_normal((3, 4)))

    # textbook: loop the step, blend with the mask by its equation
    h, c, caches, hs_loop = h0, c0, [], []
    for t in range(n_steps):
        (h_new, c_new), cache = lstm.step_forward(x[t], (h, c), params)
        m = 1.0 if mask is None else to_dev(mask[t][:, None])
        h, c = m * h_new + (1 - m) * h, m * c_new + (1 - m) * c
        caches.append(cache)
        hs_loop.append(h)
    dh, dc = dh_T, dc_T
    dxs = [None] * n_steps
    grads_loop = {k: 0.0 for k in lstm.PARAM_NAMES}
    for t in reversed(range(n_steps)):
        dh = dh + dhs[t]
        m = 1.0 if mask is None else to_dev(mask[t][:, None])
        dxs[t], (dh_prev, dc_prev), g = lstm.step_backward((m * dh, m * dc), caches[t])
        dh, dc = dh_prev + (1 - m) * dh, dc_prev + (1 - m) * dc
        grads_loop = {k: grads_loop[k] + g[k] for k in g}

    # fast
    m_dev = None if mask is None else to_dev(mask)
    hs, (hT, cT), cache = lstm.sequence_forward(x, (h0, c0), params, mask=m_dev)
    dx, (dh0, dc0), grads = lstm.sequence_backward(dhs, (dh_T, dc_T), cache)

    close = lambda a, b: np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-13)
    close(hs, xp.stack(hs_loop))
    close(hT, h)
    close(cT, c)
    close(dx, xp.stack(dxs))
    close(dh0, dh)
    close(dc0, dc)
    for k in lstm.PARAM_NAMES:
        close(grads[k], grads_loop[k])


def test_final_state_of_padded_rows_is_state_at_last_real_token(xp, rng):
    params, x, h0, c0 = _random_setup(rng, t=5, n=3)
    lengths = [5, 2, 3]
    mask = np.array([[1.0 if t < L else 0.0 for L in lengths] for t in range(5)])
    hs, (hT, cT), _ = lstm.sequence_forward(x, (h0, c0), params, mask=to_dev(mask))
    for n, L in enumerate(lengths):
        hs_n, (h_n, c_n), _ = lstm.sequence_forward(x[:L, n:n + 1], (h0[n:n + 1], c0[n:n + 1]),
                                                    params)
        np.testing.assert_allclose(host(hT)[n], host(h_n)[0], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(host(cT)[n], host(c_n)[0], rtol=1e-13, atol=1e-14)
        assert np.array_equal(host(hs)[L - 1:, n], np.repeat(host(hs)[L - 1:L, n], 5 - L + 1, 0))


def test_none_means_zero(xp, rng):
    params, x, _, _ = _random_setup(rng)
    zeros = to_dev(np.zeros((3, 4)))
    hs_a, (h_a, c_a), cache_a = lstm.sequence_forward(x, None, params)
    hs_b, _, cache_b = lstm.sequence_forward(x, (zeros, None), params)
    assert np.array_equal(host(hs_a), host(hs_b))
    dstate = (to_dev(rng.standard_normal((3, 4))), None)
    dx_a, (dh_a, dc_a), g_a = lstm.sequence_backward(None, dstate, cache_a)
    dx_b, (dh_b, dc_b), g_b = lstm.sequence_backward(
        to_dev(np.zeros((4, 3, 4))), (dstate[0], zeros), cache_b)
    assert np.array_equal(host(dx_a), host(dx_b)) and np.array_equal(host(dc_a), host(dc_b))
    assert all(np.array_equal(host(g_a[k]), host(g_b[k])) for k in g_a)
    (h, c), step_cache = lstm.step_forward(x[0], None, params)
    np.testing.assert_allclose(host(h), host(hs_a[0]), rtol=1e-13, atol=1e-15)
    dx, (dh, dc), _ = lstm.step_backward((None, None), step_cache)
    assert not host(dx).any() and not host(dh).any() and not host(dc).any()


def test_backward_leaves_its_inputs_alone_and_can_run_twice(xp, rng):
    params, x, h0, c0 = _random_setup(rng)
    hs, _, cache = lstm.sequence_forward(x, (h0, c0), params, mask=to_dev(MASKS["holes"]))
    dhs = to_dev(rng.standard_normal((4, 3, 4)))
    dstate = (to_dev(rng.standard_normal((3, 4))), to_dev(rng.standard_normal((3, 4))))
    saved = [host(a).copy() for a in (dhs, *dstate, hs)]
    first = lstm.sequence_backward(dhs, dstate, cache)
    second = lstm.sequence_backward(dhs, dstate, cache)
    for a, s in zip((dhs, *dstate, hs), saved):
        assert np.array_equal(host(a), s)
    assert np.array_equal(host(first[0]), host(second[0]))
    assert all(np.array_equal(host(first[2][k]), host(second[2][k])) for k in first[2])
    (h, c), step_cache = lstm.step_forward(x[0], (h0, c0), params)
    d = (to_dev(np.ones((3, 4))), to_dev(np.ones((3, 4))))
    lstm.step_backward(d, step_cache)
    assert host(d[0]).sum() == 12 and host(d[1]).sum() == 12


def test_float32_in_float32_out(xp, rng):
    params = {k: backend.to_device(v) for k, v in lstm.init_params(rng, 5, 4).items()}
    x = to_dev(rng.standard_normal((4, 3, 5)), np.float32)
    hs, (h, c), cache = lstm.sequence_forward(x, None, params)
    dx, (dh0, dc0), grads = lstm.sequence_backward(hs * 0 + 1, None, cache)
    assert {a.dtype for a in (hs, h, c, dx, dh0, dc0, *grads.values())} == {np.dtype(np.float32)}


def test_large_pre_activations_saturate_without_warnings(xp):
    params = {k: to_dev(np.full(s, 200.0)) for k, s in lstm.param_shapes(1, 1).items()}
    params["W_ih"] = to_dev(-np.full((4, 1), 1000.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exp(1000) overflows to inf: right answer, no warning
        hs, (h, c), _ = lstm.sequence_forward(to_dev(np.ones((2, 1, 1))), None, params)
        (h1, _), _ = lstm.step_forward(to_dev(np.ones((1, 1))), None, params)
    assert np.isfinite(host(hs)).all() and np.isfinite(host(h1)).all()


# ----------------------------------------------------------------------------------------
# errors name what was expected and what came
# ----------------------------------------------------------------------------------------


def test_state_of_wrong_shape(xp, rng):
    params, x, h0, c0 = _random_setup(rng)
    bad = to_dev(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"lstm state0 'c': expected shape \(N, H\) = "
                                         r"\(3, 4\), got \(3, 5\)"):
        lstm.sequence_forward(x, (h0, bad), params)
    with pytest.raises(ValueError, match=r"lstm state 'h': expected shape .*got \(3, 5\)"):
        lstm.step_forward(x[0], (bad, c0), params)
    with pytest.raises(TypeError, match=r"lstm state0: expected a tuple \(h, c\), got tuple "
                                        r"of length 1"):
        lstm.sequence_forward(x, (h0,), params)


def test_wrong_dtypes(xp, rng):
    params, x, h0, c0 = _random_setup(rng)
    with pytest.raises(TypeError, match=r"lstm state0 'h': expected dtype float64 \(that of the "
                                        r"parameters\), got float32"):
        lstm.sequence_forward(x, (h0.astype(np.float32), c0), params)
    with pytest.raises(TypeError, match="lstm x: expected dtype float64.*got float32"):
        lstm.step_forward(x[0].astype(np.float32), (h0, c0), params)
    mixed = dict(params, b_hh=params["b_hh"].astype(np.float32))
    with pytest.raises(TypeError, match="lstm params: .*one dtype, got W_ih: float64, .*"
                                        "b_hh: float32"):
        lstm.sequence_forward(x, None, mixed)


def test_input_and_weight_mismatch(xp, rng):
    params, x, h0, c0 = _random_setup(rng)
    with pytest.raises(ValueError, match=r"lstm x: expected shape \(T, N, D\) = \(\*, \*, 5\), "
                                         r"got \(4, 3, 4\)"):
        lstm.sequence_forward(x[:, :, :4], None, params)
    with pytest.raises(ValueError, match=r"lstm x \(T, N, D\): expected a 3-d array, got 2-d"):
        lstm.sequence_forward(x[0], None, params)
    with pytest.raises(ValueError, match=r"lstm W_hh: expected shape \(4\*H, H\) .*got \(12, 4\)"):
        lstm.sequence_forward(x, None, dict(params, W_hh=params["W_hh"][:12]))
    with pytest.raises(ValueError, match=r"lstm b_ih: expected shape \(4\*H,\) = \(16,\), "
                                         r"got \(4,\)"):
        lstm.step_forward(x[0], None, dict(params, b_ih=params["b_ih"][:4]))
    with pytest.raises(ValueError, match="lstm params: expected keys W_ih, W_hh, b_ih, b_hh, "
                                         "missing W_ih"):
        lstm.step_forward(x[0], None, {k: v for k, v in params.items() if k != "W_ih"})


def test_bad_masks_and_gradients(xp, rng):
    params, x, h0, c0 = _random_setup(rng)
    with pytest.raises(ValueError, match=r"lstm mask: expected shape \(T, N\) = \(4, 3\), "
                                         r"got \(3, 4\)"):
        lstm.sequence_forward(x, None, params, mask=to_dev(np.ones((3, 4))))
    with pytest.raises(ValueError, match="lstm mask: expected only 0 and 1, got the value 0.5"):
        lstm.sequence_forward(x, None, params, mask=to_dev(np.full((4, 3), 0.5)))
    hs, _, cache = lstm.sequence_forward(x, None, params)
    with pytest.raises(ValueError, match=r"lstm dhs: expected shape \(4, 3, 4\), got \(4, 3, 5\)"):
        lstm.sequence_backward(to_dev(np.zeros((4, 3, 5))), None, cache)
    with pytest.raises(ValueError, match=r"lstm dstate_T dc: expected shape \(3, 4\), got \(3,\)"):
        lstm.sequence_backward(None, (None, to_dev(np.zeros(3))), cache)


def test_host_array_on_a_device_backend_is_refused():
    with backend.use_backend("devicesim"):
        params = {k: to_dev(v) for k, v in lstm.init_params(np.random.default_rng(0), 3, 2,
                                                              np.float64).items()}
        with pytest.raises(TypeError, match="lstm x .*: expected an array on the active backend "
                                            "'devicesim', got a host numpy.ndarray"):
            lstm.sequence_forward(np.zeros((2, 1, 3)), None, params)


# ----------------------------------------------------------------------------------------
# the benchmark (its numbers are not asserted: only that it runs and counts right)
# ----------------------------------------------------------------------------------------


def test_matmul_flop_count_by_hand():
    # layer 1: 3 * 2 * T N (D + H) 4H = 3*2*2*1*(3+2)*8 = 480; layer 2 with D = H: 384
    assert bench.matmul_flops(T=2, N=1, D=3, H=2) == 480 + 384


def test_bench_runs_tiny(capsys):
    assert bench.main(["--hidden", "4", "--T", "2", "--N", "2", "--D", "3", "--rounds", "1",
                       "--per-round", "1", "--warmup", "0", "--settle", "0", "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert "share of ceiling" in out and "\n     4 " in out
