"""PyTorch state_dict export/import: names, shapes, round trips, the rnn cell's two biases,
errors -- none of it needs PyTorch (one test compares with PyTorch's own names where installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.cells.stack import StackConfig, get_cell, init_stack
from minis2s.cells.torch_io import from_torch_state_dict, to_torch_state_dict, torch_shapes

KINDS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _ours(kind, stem):
    return {t: o for o, t in get_cell(kind).TORCH_NAMES.items()}[stem]


@pytest.mark.parametrize("kind", KINDS)
def test_names_and_shapes_are_pytorchs(kind):
    D, H, g = 3, 4, GATES[kind]
    config = StackConfig(kind, D, H, num_layers=2, bidirectional=True)
    sd = to_torch_state_dict(init_stack(np.random.default_rng(0), config), config)
    expected = []
    for layer, d_in in [("l0", D), ("l0_reverse", D), ("l1", 2 * H), ("l1_reverse", 2 * H)]:
        expected += [
            (f"weight_ih_{layer}", (g * H, d_in)),
            (f"weight_hh_{layer}", (g * H, H)),
            (f"bias_ih_{layer}", (g * H,)),
            (f"bias_hh_{layer}", (g * H,)),
        ]
    assert [(k, v.shape) for k, v in sd.items()] == expected
    assert list(torch_shapes(config).items()) == expected
    assert all(isinstance(v, np.ndarray) for v in sd.values())


@pytest.mark.torch
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True), (3, False)])
def test_names_and_shapes_match_a_real_torch_module(kind, layers, bidirectional):
    torch = pytest.importorskip("torch")
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        3, 5, num_layers=layers, bidirectional=bidirectional
    )
    config = StackConfig(kind, 3, 5, num_layers=layers, bidirectional=bidirectional)
    ours = to_torch_state_dict(init_stack(np.random.default_rng(0), config), config)
    assert [(k, tuple(v.shape)) for k, v in module.state_dict().items()] == [
        (k, v.shape) for k, v in ours.items()
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_round_trip_from_the_device_and_back(kind, bidirectional, xp):
    config = StackConfig(kind, 2, 3, num_layers=2, bidirectional=bidirectional)
    params = init_stack(np.random.default_rng(1), config, np.float64, prefix="enc.")
    on_device = {k: to_dev(v) for k, v in params.items()}
    sd = to_torch_state_dict(on_device, config, prefix="enc.")
    back = from_torch_state_dict(sd, config, prefix="enc.")
    assert list(back) == list(params)
    for k, v in params.items():
        assert isinstance(back[k], np.ndarray) and back[k].dtype == np.float64
        np.testing.assert_array_equal(back[k], v)
    sd2 = to_torch_state_dict(back, config, prefix="enc.")
    assert all(np.array_equal(sd[k], sd2[k]) for k in sd)


def test_rnn_bias_exports_as_bias_ih_and_imports_as_the_sum():
    config = StackConfig("rnn", 2, 3)
    params = init_stack(np.random.default_rng(2), config, np.float64)
    b = "l0." + _ours("rnn", "bias_ih")
    sd = to_torch_state_dict(params, config)
    np.testing.assert_array_equal(sd["bias_ih_l0"], params[b])
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.zeros(3))
    sd["bias_ih_l0"] = np.array([1.0, 2.0, 3.0])
    sd["bias_hh_l0"] = np.array([0.5, -1.0, 0.25])
    back = from_torch_state_dict(sd, config)
    np.testing.assert_array_equal(back[b], [1.5, 1.0, 3.25])


def test_lstm_keeps_both_biases_apart():
    config = StackConfig("lstm", 2, 1)
    sd = {k: np.full(s, float(i)) for i, (k, s) in enumerate(torch_shapes(config).items())}
    back = from_torch_state_dict(sd, config)
    for stem in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_array_equal(back["l0." + _ours("lstm", stem)], sd[f"{stem}_l0"])


class FakeTensor:
    """Quacks like a torch tensor that requires grad: only .detach().cpu().numpy() gives data."""

    def __init__(self, a):
        self._a = np.asarray(a)
        self.shape = self._a.shape

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self._a


def test_accepts_tensor_like_values_and_casts_dtype():
    config = StackConfig("gru", 2, 2, bidirectional=True)
    sd = to_torch_state_dict(init_stack(np.random.default_rng(3), config, np.float32), config)
    back = from_torch_state_dict({k: FakeTensor(v) for k, v in sd.items()}, config)
    assert all(v.dtype == np.float32 for v in back.values())
    back64 = from_torch_state_dict({k: FakeTensor(v) for k, v in sd.items()}, config,
                                   dtype=np.float64)
    assert all(v.dtype == np.float64 for v in back64.values())
    w = "l0_reverse." + _ours("gru", "weight_hh")
    np.testing.assert_array_equal(back64[w], sd["weight_hh_l0_reverse"].astype(np.float64))


def test_needs_no_pytorch():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["torch"] = None  # any "import torch" now fails
        import numpy as np
        from minis2s.cells.stack import StackConfig, init_stack
        from minis2s.cells.torch_io import from_torch_state_dict, to_torch_state_dict
        c = StackConfig("lstm", 2, 2, num_layers=2, bidirectional=True)
        p = init_stack(np.random.default_rng(0), c)
        back = from_torch_state_dict(to_torch_state_dict(p, c), c)
        assert all(np.array_equal(back[k], p[k]) for k in p)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_import_errors_name_the_tensor():
    config = StackConfig("lstm", 3, 2, num_layers=2)
    sd = to_torch_state_dict(init_stack(np.random.default_rng(4), config), config)
    missing = {k: v for k, v in sd.items() if k != "bias_hh_l1"}
    with pytest.raises(ValueError, match=r"missing tensor 'bias_hh_l1' \(expected shape \(8,\)\)"):
        from_torch_state_dict(missing, config)
    wrong = dict(sd, weight_ih_l1=np.zeros((8, 3)))
    with pytest.raises(ValueError, match=r"tensor 'weight_ih_l1': expected shape \(8, 2\), "
                                         r"got \(8, 3\)"):
        from_torch_state_dict(wrong, config)
    extra = dict(sd, weight_ih_l0_reverse=np.zeros((8, 3)))
    with pytest.raises(ValueError, match="unexpected tensor.*'weight_ih_l0_reverse'"):
        from_torch_state_dict(extra, config)
    with pytest.raises(ValueError, match="unexpected tensor.*'weight_hr_l0'"):
        from_torch_state_dict(dict(sd, weight_hr_l0=np.zeros((2, 2))), config)
    with pytest.raises(TypeError, match="dict of tensors"):
        from_torch_state_dict(list(sd.values()), config)
    with pytest.raises(TypeError, match="StackConfig"):
        from_torch_state_dict(sd, "lstm")


def test_export_errors_name_the_parameter(xp):
    config = StackConfig("gru", 3, 2)
    params = {k: to_dev(v) for k, v in init_stack(np.random.default_rng(5), config).items()}
    w = "l0." + _ours("gru", "weight_ih")
    with pytest.raises(ValueError, match=rf"missing parameter '{w}' \(expected shape \(6, 3\)\)"):
        to_torch_state_dict({k: v for k, v in params.items() if k != w}, config)
    with pytest.raises(ValueError, match=rf"parameter '{w}': expected shape \(6, 3\), "
                                         rf"got \(6, 2\)"):
        to_torch_state_dict(dict(params, **{w: xp.zeros((6, 2))}), config)
    with pytest.raises(ValueError, match="missing parameter 'dec.l0."):
        to_torch_state_dict(params, config, prefix="dec.")
    assert host(params[w]).shape == (6, 3)
