"""Weights in and out of PyTorch's ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` ``state_dict`` layout.

minis2s stores weights as PyTorch does -- ``(out_features, in_features)``, gates
in PyTorch's order -- so converting is renaming::

    minis2s                      PyTorch
    l{k}.W_ih                    weight_ih_l{k}
    l{k}.W_hh                    weight_hh_l{k}
    l{k}.b_ih, l{k}.b_hh         bias_ih_l{k}, bias_hh_l{k}
    l{k}_reverse.W_ih            weight_ih_l{k}_reverse        (and so on)

Each cell says how its names map to PyTorch's stems in ``TORCH_NAMES``. The rnn
cell ``h_t = f(W_h x_t + W_c h_{t-1} + b)`` is ``nn.RNN``, which has two biases
where the article has one: only their sum ``b = b_ih + b_hh`` matters, so
export writes ``bias_ih = b`` and ``bias_hh = 0`` and import adds the two.

Neither direction needs PyTorch installed: arrays go out as NumPy arrays (load
them with ``module.load_state_dict({k: torch.from_numpy(v) ...})``) and come in
as anything NumPy can read or anything with ``.detach()`` / ``.numpy()``
(PyTorch tensors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from minis2s import backend
from minis2s.cells import get_cell
from minis2s.cells.stack_config import StackConfig, layer_prefix, param_shapes
from minis2s.ops.validate import check_float_dtype, check_instance, check_named_shapes

TORCH_STEMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

# A bias PyTorch has and the cell does not fold into its partner: b = b_ih + b_hh.
_PARTNER = {"bias_hh": "bias_ih", "bias_ih": "bias_hh"}


def _torch_suffix(k: int, direction: int) -> str:
    return f"_l{k}{'_reverse' if direction else ''}"


def torch_shapes(config: StackConfig) -> dict[str, tuple[int, ...]]:
    """``{PyTorch state_dict name: shape}`` for the module matching ``config``, in order.

    ``nn.LSTM``/``nn.GRU``/``nn.RNN(input_size=D, hidden_size=H, num_layers=L,
    bidirectional=...)``: ``weight_ih_l{k}`` is ``(G*H, D_k)``, ``weight_hh_l{k}``
    ``(G*H, H)``, both biases ``(G*H,)``, with ``G`` the cell's ``GATES`` and
    ``D_k`` = ``D`` for ``k = 0`` else ``dirs * H``.
    """
    check_instance(config, StackConfig, "torch_shapes config", "minis2s.cells.stack.StackConfig")
    gh = get_cell(config.cell).GATES * config.hidden_size
    shapes = {}
    for k in range(config.num_layers):
        for d in range(config.directions):
            sfx = _torch_suffix(k, d)
            shapes[f"weight_ih{sfx}"] = (gh, config.layer_input_size(k))
            shapes[f"weight_hh{sfx}"] = (gh, config.hidden_size)
            shapes[f"bias_ih{sfx}"] = (gh,)
            shapes[f"bias_hh{sfx}"] = (gh,)
    return shapes


def _cell_map(config: StackConfig) -> dict[str, str]:
    """Our parameter name -> PyTorch stem, checked against the four stems."""
    mapping = dict(get_cell(config.cell).TORCH_NAMES)
    for ours, stem in mapping.items():
        if stem not in TORCH_STEMS:
            raise ValueError(
                f"cell {config.cell!r}: TORCH_NAMES maps {ours!r} to {stem!r}, "
                f"expected one of {', '.join(TORCH_STEMS)}"
            )
    return mapping


def to_torch_state_dict(
    params: Mapping[str, Any], config: StackConfig, prefix: str = ""
) -> dict[str, np.ndarray]:
    """The stack's parameters under ``nn.LSTM``/``nn.GRU``/``nn.RNN``'s state_dict names.

    Parameters
    ----------
    params : the stack's parameters (names from :func:`minis2s.cells.stack.init_stack`
        with ``prefix``), on any backend; gradients convert the same way.
    config : the stack's :class:`StackConfig`.
    prefix : the prefix of our names (e.g. ``"enc."``); PyTorch's names carry none.

    Returns ``{name: host array}`` with exactly PyTorch's keys and shapes
    (:func:`torch_shapes`). A PyTorch bias the cell lacks (the rnn cell's
    ``bias_hh``) is written as zeros.
    """
    check_instance(config, StackConfig, "to_torch_state_dict config",
                   "minis2s.cells.stack.StackConfig")
    shapes = param_shapes(config, prefix)
    check_named_shapes(params, shapes, "to_torch_state_dict params")
    first = next(iter(shapes))
    for name in shapes:
        kind = np.dtype(params[name].dtype)
        if kind.kind != "f" or kind != np.dtype(params[first].dtype):
            raise TypeError(f"to_torch_state_dict params: parameter {name!r}: expected the "
                            f"floating-point dtype of {first!r}, {params[first].dtype}; "
                            f"got {kind}")
    mapping = _cell_map(config)
    shapes = torch_shapes(config)
    out: dict[str, np.ndarray] = {}
    for k in range(config.num_layers):
        for d in range(config.directions):
            lp, sfx = layer_prefix(prefix, k, d), _torch_suffix(k, d)
            for ours, stem in mapping.items():
                out[stem + sfx] = backend.to_host(params[lp + ours]).copy()
            dtype = out[next(iter(mapping.values())) + sfx].dtype
            for stem in TORCH_STEMS:  # biases the cell folds into one
                if stem + sfx not in out:
                    out[stem + sfx] = np.zeros(shapes[stem + sfx], dtype=dtype)
    return {name: out[name] for name in shapes}  # PyTorch's key order


def _to_numpy(value: Any) -> np.ndarray:
    """A PyTorch tensor (via ``.detach().cpu().numpy()``), a device array or array-like -> host."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu") and hasattr(value, "numpy"):
        value = value.cpu()
    if hasattr(value, "numpy") and callable(value.numpy):
        return np.asarray(value.numpy())
    return backend.to_host(value)


def from_torch_state_dict(
    state_dict: Mapping[str, Any], config: StackConfig, prefix: str = "", dtype: Any = None
) -> dict[str, np.ndarray]:
    """Our stack parameters from an ``nn.LSTM``/``nn.GRU``/``nn.RNN`` state_dict.

    Parameters
    ----------
    state_dict : ``{PyTorch name: tensor or array}`` with exactly the keys of
        :func:`torch_shapes` (``module.state_dict()`` of a matching module).
    config : the :class:`StackConfig` to read it as.
    prefix : prefix for our names.
    dtype : cast to this dtype; ``None`` keeps the incoming one.

    Returns host arrays named as :func:`minis2s.cells.stack.init_stack` names them.
    A PyTorch bias the cell does not keep is added into its partner (rnn:
    ``b = bias_ih + bias_hh``). Raises ``ValueError`` for a missing, misshapen or
    unexpected tensor, naming it with the expected and received shapes.
    """
    check_instance(config, StackConfig, "from_torch_state_dict config",
                   "minis2s.cells.stack.StackConfig")
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"from_torch_state_dict: expected a dict of tensors, got {type(state_dict).__name__}"
        )
    shapes = torch_shapes(config)
    extra = [k for k in state_dict if k not in shapes]
    if extra:
        raise ValueError(
            f"from_torch_state_dict: unexpected tensor(s) {', '.join(map(repr, extra))} for a "
            f"{config.num_layers}-layer {'bidirectional ' if config.bidirectional else ''}"
            f"{config.cell} stack (expected exactly: {', '.join(shapes)})"
        )
    check_named_shapes(state_dict, shapes, "from_torch_state_dict state_dict", item="tensor")
    arrays = {name: _to_numpy(state_dict[name]) for name in shapes}
    first = next(iter(arrays.values())).dtype
    for name, a in arrays.items():
        if a.dtype.kind != "f" or (dtype is None and a.dtype != first):
            raise TypeError(f"from_torch_state_dict state_dict: tensor {name!r}: expected "
                            f"floating-point values of one dtype ({first}; or pass dtype= to "
                            f"cast them), got dtype {a.dtype}")
    if dtype is not None:
        dtype = check_float_dtype(dtype, "from_torch_state_dict dtype")
        arrays = {name: a.astype(dtype) for name, a in arrays.items()}
    mapping = _cell_map(config)
    kept = set(mapping.values())
    params = {}
    for k in range(config.num_layers):
        for d in range(config.directions):
            lp, sfx = layer_prefix(prefix, k, d), _torch_suffix(k, d)
            for ours, stem in mapping.items():
                value = arrays[stem + sfx].copy()
                partner = _PARTNER.get(stem)
                if partner is not None and partner not in kept:
                    value = value + arrays[partner + sfx]  # b = b_ih + b_hh
                params[lp + ours] = value
    return params
