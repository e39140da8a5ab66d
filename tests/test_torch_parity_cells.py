"""The LSTM and GRU cells against ``torch.nn.LSTM`` / ``torch.nn.GRU`` (1 layer, float64).

The weights are PyTorch's own, read from its ``state_dict`` through ``TORCH_NAMES``
(``weight_ih_l0`` *is* ``W_ih``: same layout, same gate order). Outputs, final states
and every gradient -- inputs, initial states, each weight -- agree to 1e-10 relative
error (``minis2s.gradcheck.rel_error``), for the fast sequence functions, the textbook
step functions, and with right-padded rows (PyTorch's packed sequences) against our
mask. Skipped where PyTorch is not installed; multi-layer and bidirectional parity
is in tests/test_torch_parity_stack.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.cells import gru, lstm
from minis2s.gradcheck import rel_error

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = 1e-10
T, N, D, H = 5, 3, 4, 6
CELLS = {"lstm": (lstm, torch.nn.LSTM), "gru": (gru, torch.nn.GRU)}


def _setup(kind, seed=0, t=T):
    cell, module_cls = CELLS[kind]
    torch.manual_seed(seed)
    module = module_cls(D, H).double()
    sd = module.state_dict()
    params = {ours: sd[theirs + "_l0"].numpy().copy() for ours, theirs in cell.TORCH_NAMES.items()}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((t, N, D))
    state0 = tuple(rng.standard_normal((N, H)) for _ in cell.STATE_NAMES)
    g_hs = rng.standard_normal((t, N, H))
    g_state = tuple(rng.standard_normal((N, H)) for _ in cell.STATE_NAMES)
    return cell, module, params, x, state0, g_hs, g_state


def _torch_run(module, x, state0, g_hs, g_state, lengths=None):
    """Forward and backward in PyTorch of ``L = <g_hs, hs> + sum_k <g_state_k, state_T_k>``."""
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s[None], requires_grad=True) for s in state0]  # (1, N, H): 1 layer
    hx = st[0] if len(st) == 1 else tuple(st)
    if lengths is None:
        out, s_T = module(xt, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths),
                                                         enforce_sorted=False)
        out, s_T = module(packed, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
    s_T = (s_T,) if isinstance(s_T, torch.Tensor) else s_T
    loss = (out * torch.from_numpy(g_hs)).sum()
    loss = loss + sum((s[0] * torch.from_numpy(g)).sum() for s, g in zip(s_T, g_state))
    loss.backward()
    grads = {theirs: getattr(module, theirs + "_l0").grad.numpy()
             for theirs in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    return (out.detach().numpy(), tuple(s[0].detach().numpy() for s in s_T),
            xt.grad.numpy(), tuple(s.grad[0].numpy() for s in st), grads)


def _assert_close(name, ours, theirs):
    err = rel_error(ours, theirs)
    assert err < TOL, f"{name}: relative error {err:.2e} >= {TOL:.0e}"


@pytest.mark.parametrize("kind", list(CELLS))
def test_sequence_matches_torch(xp, kind):
    cell, module, params, x, state0, g_hs, g_state = _setup(kind)
    out_t, state_t, dx_t, dstate0_t, grads_t = _torch_run(module, x, state0, g_hs, g_state)

    dev = {k: to_dev(v) for k, v in params.items()}
    hs, state_T, cache = cell.sequence_forward(to_dev(x), tuple(to_dev(s) for s in state0), dev)
    dx, dstate0, grads = cell.sequence_backward(to_dev(g_hs), tuple(to_dev(g) for g in g_state),
                                                cache)
    _assert_close("hs", host(hs), out_t)
    for name, ours, theirs in zip(cell.STATE_NAMES, state_T, state_t):
        _assert_close(f"{name}_T", host(ours), theirs)
    _assert_close("dx", host(dx), dx_t)
    for name, ours, theirs in zip(cell.STATE_NAMES, dstate0, dstate0_t):
        _assert_close(f"d{name}0", host(ours), theirs)
    for ours, theirs in cell.TORCH_NAMES.items():
        _assert_close(ours, host(grads[ours]), grads_t[theirs])


@pytest.mark.parametrize("kind", list(CELLS))
def test_step_matches_torch(xp, kind):
    cell, module, params, x, state0, g_hs, g_state = _setup(kind, seed=1, t=1)
    # one step; the loss sees h twice (as the output and as the final state) in PyTorch
    out_t, state_t, dx_t, dstate0_t, grads_t = _torch_run(module, x, state0, g_hs, g_state)

    dev = {k: to_dev(v) for k, v in params.items()}
    new_state, cache = cell.step_forward(to_dev(x[0]), tuple(to_dev(s) for s in state0), dev)
    dnew = (to_dev(g_hs[0] + g_state[0]),) + tuple(to_dev(g) for g in g_state[1:])
    dx, dstate0, grads = cell.step_backward(dnew, cache)
    _assert_close("h", host(new_state[0]), out_t[0])
    for name, ours, theirs in zip(cell.STATE_NAMES, new_state, state_t):
        _assert_close(name, host(ours), theirs)
    _assert_close("dx", host(dx), dx_t[0])
    for name, ours, theirs in zip(cell.STATE_NAMES, dstate0, dstate0_t):
        _assert_close(f"d{name}_prev", host(ours), theirs)
    for ours, theirs in cell.TORCH_NAMES.items():
        _assert_close(ours, host(grads[ours]), grads_t[theirs])


@pytest.mark.parametrize("kind", list(CELLS))
def test_mask_matches_torch_packed_sequences(xp, kind):
    cell, module, params, x, state0, g_hs, g_state = _setup(kind, seed=2)
    lengths = [5, 2, 4]
    mask = np.array([[1.0 if t < L else 0.0 for L in lengths] for t in range(T)])
    g_hs = g_hs * mask[:, :, None]  # PyTorch pads with zeros; our padded hs carry the state
    out_t, state_t, dx_t, dstate0_t, grads_t = _torch_run(module, x, state0, g_hs, g_state,
                                                          lengths)
    dev = {k: to_dev(v) for k, v in params.items()}
    hs, state_T, cache = cell.sequence_forward(to_dev(x), tuple(to_dev(s) for s in state0), dev,
                                               mask=to_dev(mask))
    dx, dstate0, grads = cell.sequence_backward(to_dev(g_hs), tuple(to_dev(g) for g in g_state),
                                                cache)
    _assert_close("hs (real steps)", host(hs) * mask[:, :, None], out_t)
    for name, ours, theirs in zip(cell.STATE_NAMES, state_T, state_t):
        _assert_close(f"{name}_T at each row's end", host(ours), theirs)
    _assert_close("dx", host(dx), dx_t)
    for name, ours, theirs in zip(cell.STATE_NAMES, dstate0, dstate0_t):
        _assert_close(f"d{name}0", host(ours), theirs)
    for ours, theirs in cell.TORCH_NAMES.items():
        _assert_close(ours, host(grads[ours]), grads_t[theirs])


@pytest.mark.parametrize("kind", list(CELLS))
def test_float32_forward_close_to_torch(xp, kind):
    cell, module, params, x, state0, _, _ = _setup(kind, seed=3)
    module = module.float()
    with torch.no_grad():
        out_t, _ = module(torch.tensor(x, dtype=torch.float32))
    p32 = {k: to_dev(v, np.float32) for k, v in params.items()}
    hs, _, _ = cell.sequence_forward(to_dev(x, np.float32), None, p32)
    assert hs.dtype == np.float32
    assert rel_error(hs, out_t.numpy()) < 1e-6
