"""Stacks against PyTorch in float64: the same weights in ``nn.RNN`` (rnn, tanh), ``nn.LSTM``
and ``nn.GRU``; outputs, final states and every gradient (inputs, initial states, each weight)
agree to 1e-10 relative error. Skipped where PyTorch is not installed."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.cells.stack import StackConfig, get_cell, init_stack, stack_backward, stack_forward
from minis2s.cells.torch_io import to_torch_state_dict
from minis2s.gradcheck import rel_error

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TOL = 1e-10
T, N, D, H = 5, 3, 4, 3


def _module(kind, config):
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    m = cls(D, H, num_layers=config.num_layers, bidirectional=config.bidirectional).double()
    return m


def _run_both(kind, layers, bidirectional, lengths=None, seed=0):
    rng = np.random.default_rng(seed)
    config = StackConfig(kind, D, H, num_layers=layers, bidirectional=bidirectional)
    params = init_stack(rng, config, np.float64)
    module = _module(kind, config)
    module.load_state_dict(
        {k: torch.from_numpy(v) for k, v in to_torch_state_dict(params, config).items()}
    )
    names = get_cell(kind).STATE_NAMES
    rows = layers * config.directions
    x = rng.standard_normal((T, N, D))
    state0 = tuple(rng.standard_normal((rows, N, H)) for _ in names)
    g_out = rng.standard_normal((T, N, config.output_size))
    g_state = tuple(rng.standard_normal((rows, N, H)) for _ in names)
    mask = np.ones((T, N))
    if lengths is not None:
        for n, length in enumerate(lengths):
            mask[length:, n] = 0.0
    g_out = g_out * mask[:, :, None]  # padded positions carry no loss

    # PyTorch, autograd
    xt = torch.tensor(x, requires_grad=True)
    st = [torch.tensor(s, requires_grad=True) for s in state0]
    hx = st[0] if len(st) == 1 else tuple(st)
    if lengths is None:
        out, s_T = module(xt, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), enforce_sorted=False
        )
        out, s_T = module(packed, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    s_T = (s_T,) if len(names) == 1 else s_T
    loss = (out * torch.from_numpy(g_out)).sum()
    loss = loss + sum((s * torch.from_numpy(g)).sum() for s, g in zip(s_T, g_state))
    loss.backward()

    # minis2s, by hand
    dev = {k: to_dev(v) for k, v in params.items()}
    hs, state_T, cache = stack_forward(
        to_dev(x), dev, config, tuple(to_dev(s) for s in state0),
        mask=None if lengths is None else to_dev(mask),
    )
    dx, dstate0, grads = stack_backward(
        to_dev(g_out), tuple(to_dev(g) for g in g_state), cache
    )
    ours = {
        "hs": host(hs) * mask[:, :, None],  # PyTorch pads with zeros, we carry states
        **{f"{n}_T": host(s) for n, s in zip(names, state_T)},
        "dx": host(dx),
        **{f"d{n}0": host(g) for n, g in zip(names, dstate0)},
    }
    theirs = {
        "hs": out.detach().numpy(),
        **{f"{n}_T": s.detach().numpy() for n, s in zip(names, s_T)},
        "dx": xt.grad.numpy(),
        **{f"d{n}0": s.grad.numpy() for n, s in zip(names, st)},
    }
    ours_g = to_torch_state_dict(grads, config)
    for name, p in module.named_parameters():
        if kind == "rnn" and name.startswith("bias_hh"):
            # b = b_ih + b_hh: both of PyTorch's biases get the gradient of our one b
            ours[f"d{name}"] = ours_g[name.replace("bias_hh", "bias_ih")]
        else:
            ours[f"d{name}"] = ours_g[name]
        theirs[f"d{name}"] = p.grad.numpy()
    return ours, theirs


def _assert_agree(ours, theirs):
    assert set(ours) == set(theirs)
    errors = {k: rel_error(ours[k], theirs[k]) for k in theirs}
    bad = {k: f"{e:.1e}" for k, e in errors.items() if not e <= TOL}
    assert not bad, bad


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_stack_matches_torch(kind, layers, bidirectional, xp):
    _assert_agree(*_run_both(kind, layers, bidirectional))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_masked_bidirectional_stack_matches_packed_sequences(kind, xp):
    """Our mask (carry the state at padding) equals PyTorch's pack_padded_sequence."""
    _assert_agree(*_run_both(kind, 2, True, lengths=[5, 2, 4], seed=1))
