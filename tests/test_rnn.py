"""The article's recurrences: golden values, masks, cell protocol, validation, torch parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s import backend
from minis2s.cells import rnn

# ---------------------------------------------------------------------------------------
# Golden values: a hand-unrolled computation, one number at a time in plain Python
# ---------------------------------------------------------------------------------------


def _lin(n, lo, hi, *shape):
    return np.linspace(lo, hi, n).reshape(shape)


def _naive_step(inputs, weights, b, f):
    """y[n, i] = f(b[i] + sum_k sum_j W_k[i, j] x_k[n, j]) with Python loops."""
    N, H = inputs[0].shape[0], b.shape[0]
    out = np.zeros((N, H))
    for n in range(N):
        for i in range(H):
            a = b[i]
            for x, W in zip(inputs, weights):
                a += sum(W[i, j] * x[n, j] for j in range(x.shape[1]))
            out[n, i] = f(a)
    return out


def _encoder_golden_inputs():
    T, N, D, H = 2, 2, 3, 4
    x = _lin(T * N * D, -1.0, 1.0, T, N, D)
    h0 = _lin(N * H, 0.3, -0.3, N, H)
    W_h = _lin(H * D, -0.5, 0.7, H, D)
    W_c = _lin(H * H, 0.4, -0.6, H, H)
    b = _lin(H, -0.1, 0.2, H)
    return x, h0, W_h, W_c, b


def test_encoder_two_steps_golden(xp):
    x, h0, W_h, W_c, b = _encoder_golden_inputs()
    hs, _ = rnn.encoder_forward(*(to_dev(a) for a in (x, h0, W_h, W_c, b)))
    h1 = _naive_step([x[0], h0], [W_h, W_c], b, math.tanh)   # h_1 = tanh(W_h x_1 + W_c h_0 + b)
    h2 = _naive_step([x[1], h1], [W_h, W_c], b, math.tanh)   # h_2 = tanh(W_h x_2 + W_c h_1 + b)
    assert hs.shape == (2, 2, 4)
    np.testing.assert_allclose(host(hs), np.stack([h1, h2]), rtol=1e-13, atol=1e-15)
    # and a few numbers pinned outright (tanh of a sum worked out once, by the code above)
    np.testing.assert_allclose(host(hs)[0, 0, 0], math.tanh(
        b[0] + W_h[0] @ x[0, 0] + W_c[0] @ h0[0]), rtol=1e-14)


@pytest.mark.parametrize("f", ["sigmoid", "relu", "identity"])
def test_encoder_other_activations_golden(f, xp):
    x, h0, W_h, W_c, b = _encoder_golden_inputs()
    fn = {"sigmoid": lambda a: 1 / (1 + math.exp(-a)), "relu": lambda a: max(a, 0.0),
          "identity": lambda a: a}[f]
    hs, _ = rnn.encoder_forward(*(to_dev(a) for a in (x, h0, W_h, W_c, b)), f=f)
    h1 = _naive_step([x[0], h0], [W_h, W_c], b, fn)
    h2 = _naive_step([x[1], h1], [W_h, W_c], b, fn)
    np.testing.assert_allclose(host(hs), np.stack([h1, h2]), rtol=1e-13, atol=1e-15)


def test_encoder_step_golden(xp):
    x, h0, W_h, W_c, b = _encoder_golden_inputs()
    h, _ = rnn.encoder_step_forward(*(to_dev(a) for a in (x[0], h0, W_h, W_c, b)))
    np.testing.assert_allclose(host(h), _naive_step([x[0], h0], [W_h, W_c], b, math.tanh),
                               rtol=1e-13, atol=1e-15)


def test_decoder_two_steps_golden_with_previous_token(xp):
    T, N, Dh, S, E = 2, 2, 3, 2, 2
    h = _lin(T * N * Dh, -0.8, 0.9, T, N, Dh)
    s0 = _lin(N * S, 0.1, -0.2, N, S)
    W_o = _lin(S * Dh, 0.6, -0.4, S, Dh)
    W_s = _lin(S * S, -0.3, 0.5, S, S)
    b = _lin(S, 0.05, -0.05, S)
    y_prev = _lin(T * N * E, 1.0, -1.0, T, N, E)
    W_y = _lin(S * E, -0.2, 0.3, S, E)
    os_, _ = rnn.decoder_forward(*(to_dev(a) for a in (h, s0, W_o, W_s, b)), g="tanh",
                                  y_prev=to_dev(y_prev), W_y=to_dev(W_y))
    # o_t = tanh(W_o h_t + W_s s_{t-1} + W_y y_{t-1} + b), with s_{t-1} = o_{t-1}
    o1 = _naive_step([h[0], s0, y_prev[0]], [W_o, W_s, W_y], b, math.tanh)
    o2 = _naive_step([h[1], o1, y_prev[1]], [W_o, W_s, W_y], b, math.tanh)
    np.testing.assert_allclose(host(os_), np.stack([o1, o2]), rtol=1e-13, atol=1e-15)
    # the article's formula alone (no W_y), one step
    o, _ = rnn.decoder_step_forward(*(to_dev(a) for a in (h[0], s0, W_o, W_s, b)), g="sigmoid")
    expected = _naive_step([h[0], s0], [W_o, W_s], b, lambda a: 1 / (1 + math.exp(-a)))
    np.testing.assert_allclose(host(o), expected, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------------------------
# Masks, final state, the sequence = a loop of steps
# ---------------------------------------------------------------------------------------


def _random_encoder(rng, T=5, N=3, D=3, H=4):
    return tuple(to_dev(rng.standard_normal(s)) for s in
                 ((T, N, D), (N, H), (H, D), (H, H), (H,)))


def test_sequence_equals_a_loop_of_steps(xp, rng):
    x, h0, W_h, W_c, b = _random_encoder(rng)
    hs, _ = rnn.encoder_forward(x, h0, W_h, W_c, b)
    h = h0
    for t in range(x.shape[0]):
        h, _ = rnn.encoder_step_forward(x[t], h, W_h, W_c, b)
        np.testing.assert_allclose(host(hs[t]), host(h), rtol=1e-13, atol=1e-15)


def test_mask_carries_the_state_and_padding_gets_no_gradient(xp, rng):
    x, h0, W_h, W_c, b = _random_encoder(rng)
    mask = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 0]])  # lengths 4, 2, 0
    hs, cache = rnn.encoder_forward(x, h0, W_h, W_c, b, mask=mask)
    hs_h = host(hs)
    for n, length in enumerate((4, 2, 0)):
        carried = host(h0)[n]
        if length:                                  # the real part: as if it ran alone
            alone, _ = rnn.encoder_forward(x[:length, n:n + 1], h0[n:n + 1], W_h, W_c, b)
            np.testing.assert_allclose(hs_h[:length, n], host(alone)[:, 0], rtol=1e-13)
            carried = hs_h[length - 1, n]
        for t in range(length, 5):
            np.testing.assert_array_equal(hs_h[t, n], carried)    # h_t = h_{t-1} at padding
    # garbage at padded inputs changes nothing, and gets exactly zero gradient
    x2 = host(x).copy()
    x2[~mask.astype(bool)] = 1e6
    hs2, cache2 = rnn.encoder_forward(to_dev(x2), h0, W_h, W_c, b, mask=mask)
    np.testing.assert_array_equal(hs_h, host(hs2))
    dhs = to_dev(rng.standard_normal(hs.shape))
    dx, dh0, grads = rnn.encoder_backward(dhs, cache2)
    assert np.all(host(dx)[~mask.astype(bool)] == 0.0)
    # a row that is padding throughout passes its whole gradient straight to h0
    np.testing.assert_allclose(host(dh0)[2], host(dhs)[:, 2].sum(axis=0), rtol=1e-13)


def test_dh_last_is_an_extra_gradient_on_hs_minus_1_and_nothing_is_mutated(xp, rng):
    x, h0, W_h, W_c, b = _random_encoder(rng)
    hs, cache = rnn.encoder_forward(x, h0, W_h, W_c, b)
    dhs = rng.standard_normal(hs.shape)
    dh_last = rng.standard_normal(hs.shape[1:])
    dhs_dev, dh_last_dev = to_dev(dhs), to_dev(dh_last)
    a = rnn.encoder_backward(dhs_dev, cache, dh_last=dh_last_dev)
    folded = dhs.copy()
    folded[-1] += dh_last
    b_ = rnn.encoder_backward(to_dev(folded), cache)
    for u, v in [(a[0], b_[0]), (a[1], b_[1])] + [(a[2][k], b_[2][k]) for k in a[2]]:
        np.testing.assert_allclose(host(u), host(v), rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(host(dhs_dev), dhs)
    np.testing.assert_array_equal(host(dh_last_dev), dh_last)
    # dhs=None: only the final state carries a gradient
    only_last = np.zeros_like(dhs)
    only_last[-1] = dh_last
    c_ = rnn.encoder_backward(None, cache, dh_last=dh_last_dev)
    d_ = rnn.encoder_backward(to_dev(only_last), cache)
    np.testing.assert_allclose(host(c_[0]), host(d_[0]), rtol=1e-13, atol=1e-15)


def test_decoder_final_reading_equals_the_same_h_at_every_step(xp, rng):
    T, N, Dh, S = 4, 2, 3, 3
    h = rng.standard_normal((N, Dh))
    s0, W_o, W_s, b = (to_dev(rng.standard_normal(s)) for s in ((N, S), (S, Dh), (S, S), (S,)))
    os_final, c_final = rnn.decoder_forward(to_dev(h), s0, W_o, W_s, b, steps=T)
    tiled = np.broadcast_to(h, (T, N, Dh)).copy()
    os_tiled, c_tiled = rnn.decoder_forward(to_dev(tiled), s0, W_o, W_s, b)
    np.testing.assert_allclose(host(os_final), host(os_tiled), rtol=1e-13, atol=1e-15)
    dos = to_dev(rng.standard_normal((T, N, S)))
    dh_f, ds0_f, _, g_f = rnn.decoder_backward(dos, c_final)
    dh_t, ds0_t, _, g_t = rnn.decoder_backward(dos, c_tiled)
    assert dh_f.shape == (N, Dh)
    np.testing.assert_allclose(host(dh_f), host(dh_t).sum(axis=0), rtol=1e-12, atol=1e-15)
    for k in g_f:
        np.testing.assert_allclose(host(g_f[k]), host(g_t[k]), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------
# The cell protocol
# ---------------------------------------------------------------------------------------


def test_protocol_constants_and_shapes():
    assert rnn.STATE_NAMES == ("h",) and rnn.GATES == 1
    assert rnn.TORCH_NAMES == {"W_h": "weight_ih", "W_c": "weight_hh", "b": "bias_ih"}
    assert rnn.param_shapes(3, 5) == {"W_h": (5, 3), "W_c": (5, 5), "b": (5,)}


def test_init_params_host_float32_bounded_and_seeded():
    p = rnn.init_params(np.random.default_rng(7), 3, 16)
    q = rnn.init_params(np.random.default_rng(7), 3, 16)
    r = rnn.init_params(np.random.default_rng(8), 3, 16)
    for name, shape in rnn.param_shapes(3, 16).items():
        assert isinstance(p[name], np.ndarray) and p[name].dtype == np.float32
        assert p[name].shape == shape
        assert np.all(np.abs(p[name]) <= 1 / math.sqrt(16))
        np.testing.assert_array_equal(p[name], q[name])
        assert not np.array_equal(p[name], r[name])
    assert rnn.init_params(np.random.default_rng(0), 2, 2, np.float64)["b"].dtype == np.float64
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        rnn.init_params(0, 3, 4)
    with pytest.raises(TypeError, match="floating-point dtype, got int64"):
        rnn.init_params(np.random.default_rng(0), 3, 4, np.int64)


def test_protocol_matches_the_article_functions(xp, rng):
    x, h0, W_h, W_c, b = _random_encoder(rng)
    params = {"W_h": W_h, "W_c": W_c, "b": b}
    mask = np.array([[1, 1, 1]] * 3 + [[1, 0, 1]] * 2)
    hs, (h_T,), cache = rnn.sequence_forward(x, (h0,), params, mask=mask, f="tanh")
    hs_a, cache_a = rnn.encoder_forward(x, h0, W_h, W_c, b, mask=mask)
    np.testing.assert_array_equal(host(hs), host(hs_a))
    np.testing.assert_array_equal(host(h_T), host(hs)[-1])
    dhs = to_dev(rng.standard_normal(hs.shape))
    dx, (dh0,), grads = rnn.sequence_backward(dhs, None, cache)
    dx_a, dh0_a, grads_a = rnn.encoder_backward(dhs, cache_a)
    np.testing.assert_array_equal(host(dx), host(dx_a))
    np.testing.assert_array_equal(host(dh0), host(dh0_a))
    assert set(grads) == {"W_h", "W_c", "b"}
    # state0=None is a zero state
    hs0, _, _ = rnn.sequence_forward(x, None, params)
    hs0_a, _ = rnn.encoder_forward(x, to_dev(np.zeros(h0.shape)), W_h, W_c, b)
    np.testing.assert_array_equal(host(hs0), host(hs0_a))


def test_protocol_step_with_none_gradient_means_zero(xp, rng):
    x, h0, W_h, W_c, b = _random_encoder(rng)
    params = {"W_h": W_h, "W_c": W_c, "b": b}
    (h,), cache = rnn.step_forward(x[0], (h0,), params)
    dx, (dh_prev,), grads = rnn.step_backward((None,), cache)
    assert not np.any(host(dx)) and not np.any(host(dh_prev))
    assert not any(np.any(host(g)) for g in grads.values())


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------


def test_encoder_validation_names_expected_and_got(xp, rng):
    x, h0, W_h, W_c, b = _random_encoder(rng)                 # T5 N3 D3 H4
    with pytest.raises(ValueError, match=r"encoder x: expected shape \(T, N, D\) = "
                                         r"\(5, 3, 3\), got \(5, 3, 2\)"):
        rnn.encoder_forward(x[..., :2], h0, W_h, W_c, b)
    with pytest.raises(ValueError, match=r"encoder h0: expected shape \(N, H\) = \(3, 4\), "
                                         r"got \(2, 4\)"):
        rnn.encoder_forward(x, h0[:2], W_h, W_c, b)
    with pytest.raises(ValueError, match=r"encoder W_c: expected shape \(H, H\) = \(4, 4\)"):
        rnn.encoder_forward(x, h0, W_h, to_dev(np.zeros((4, 5))), b)
    with pytest.raises(ValueError, match=r"encoder b: expected shape \(H,\) = \(4,\), got \(3,\)"):
        rnn.encoder_forward(x, h0, W_h, W_c, b[:3])
    with pytest.raises(TypeError, match=r"encoder x .*floating-point array, got dtype int64"):
        rnn.encoder_forward(to_dev(np.zeros((5, 3, 3)), np.int64), h0, W_h, W_c, b)
    with pytest.raises(TypeError, match="encoder: expected all arrays to share one dtype"):
        rnn.encoder_forward(to_dev(host(x), np.float32), h0, W_h, W_c, b)
    with pytest.raises(ValueError, match="unknown activation 'softmax': expected one of"):
        rnn.encoder_forward(x, h0, W_h, W_c, b, f="softmax")
    with pytest.raises(ValueError, match=r"encoder mask: expected shape \(5, 3\)"):
        rnn.encoder_forward(x, h0, W_h, W_c, b, mask=np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"encoder x \(N, D\): expected a 2-d array"):
        rnn.encoder_step_forward(x, h0, W_h, W_c, b)
    with pytest.raises(ValueError, match="expected keys W_h, W_c, b, missing W_c"):
        rnn.sequence_forward(x, (h0,), {"W_h": W_h, "b": b})
    _, cache = rnn.encoder_forward(x, h0, W_h, W_c, b)
    with pytest.raises(ValueError, match=r"encoder dhs: expected shape \(5, 3, 4\)"):
        rnn.encoder_backward(to_dev(np.zeros((5, 3, 3))), cache)


def test_decoder_validation(xp, rng):
    h, s0, W_o, W_s, b = (to_dev(rng.standard_normal(s)) for s in
                          ((4, 2, 3), (2, 5), (5, 3), (5, 5), (5,)))
    y_prev, W_y = to_dev(rng.standard_normal((4, 2, 2))), to_dev(rng.standard_normal((5, 2)))
    with pytest.raises(ValueError, match="y_prev and W_y go together.*y_prev given and W_y None"):
        rnn.decoder_forward(h, s0, W_o, W_s, b, y_prev=y_prev)
    with pytest.raises(ValueError, match=r"decoder W_y: expected shape \(S, E\) with S = 5"):
        rnn.decoder_forward(h, s0, W_o, W_s, b, y_prev=y_prev, W_y=to_dev(np.zeros((4, 2))))
    with pytest.raises(ValueError, match=r"decoder h: expected shape \(T, N, Dh\) or \(N, Dh\) "
                                         r"with Dh = 3"):
        rnn.decoder_forward(h[..., :2], s0, W_o, W_s, b)
    with pytest.raises(ValueError, match="the number of steps T must come from y_prev, mask"):
        rnn.decoder_forward(h[0], s0, W_o, W_s, b)
    with pytest.raises(ValueError, match=r"T disagrees between inputs \(h: 4, y_prev: 3\)"):
        rnn.decoder_forward(h, s0, W_o, W_s, b, y_prev=y_prev[:3], W_y=W_y)
    with pytest.raises(ValueError, match=r"decoder s_prev: expected shape \(N, S\) = \(2, 5\)"):
        rnn.decoder_step_forward(h[0], s0[:, :3], W_o, W_s, b)


def test_host_arrays_on_the_device_are_refused_clearly():
    rng = np.random.default_rng(0)
    with backend.use_backend("devicesim"):
        W_h, W_c, b = (to_dev(rng.standard_normal(s)) for s in ((4, 3), (4, 4), (4,)))
        with pytest.raises(TypeError, match="host numpy.ndarray; move it with"):
            rnn.encoder_forward(rng.standard_normal((2, 1, 3)), None, W_h, W_c, b)


# ---------------------------------------------------------------------------------------
# PyTorch parity (skipped where PyTorch is not installed)
# ---------------------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("f", ["tanh", "relu"])
def test_rnn_cell_matches_torch_rnn(f, rng):
    torch = pytest.importorskip("torch")
    T, N, D, H = 5, 3, 4, 6
    params = rnn.init_params(rng, D, H, np.float64)
    x, h0, dhs = (rng.standard_normal(s) for s in ((T, N, D), (N, H), (T, N, H)))
    lengths = [5, 2, 4]
    mask = np.arange(T)[:, None] < np.array(lengths)[None, :]
    hs, (h_T,), cache = rnn.sequence_forward(x, (h0,), params, mask=mask, f=f)
    dx, (dh0,), grads = rnn.sequence_backward(dhs * mask[..., None], None, cache)

    module = torch.nn.RNN(D, H, nonlinearity=f, dtype=torch.float64)
    with torch.no_grad():
        for ours, stem in rnn.TORCH_NAMES.items():
            getattr(module, f"{stem}_l0").copy_(torch.from_numpy(params[ours]))
        module.bias_hh_l0.zero_()                                  # export: bias_hh = 0
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False)
    out, h_n = module(packed, h0t)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    (out * torch.tensor(dhs)).sum().backward()

    real = mask[..., None]
    np.testing.assert_allclose(hs * real, out.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_T, h_n.detach().numpy()[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dh0, h0t.grad.numpy()[0], rtol=1e-10, atol=1e-13)
    for ours, stem in rnn.TORCH_NAMES.items():
        theirs = getattr(module, f"{stem}_l0").grad.numpy()
        np.testing.assert_allclose(grads[ours], theirs, rtol=1e-10, atol=1e-13)
    # import: b = bias_ih + bias_hh reproduces PyTorch when bias_hh is not zero
    with torch.no_grad():
        module.bias_hh_l0.copy_(torch.linspace(-0.3, 0.3, H, dtype=torch.float64))
    summed = dict(params, b=params["b"] + module.bias_hh_l0.detach().numpy())
    hs2, _, _ = rnn.sequence_forward(x, (h0,), summed, f=f)
    ref, _ = module(torch.tensor(x), torch.tensor(h0[None]))
    np.testing.assert_allclose(hs2, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
