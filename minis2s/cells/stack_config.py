"""What a stack of cells is: its configuration, its parameters' names and shapes, its
state layout, and its dropout masks.

A stack of ``L`` layers runs one cell (:data:`minis2s.cells.CELL_KINDS`) per layer and
direction. Everything is laid out as PyTorch's ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
lays it out, so weights and states compare directly:

* parameter names ``f"{prefix}l{k}.{name}"`` (forward direction) and
  ``f"{prefix}l{k}_reverse.{name}"`` (reverse), as PyTorch's ``weight_ih_l0_reverse``;
* states are a tuple over the cell's ``STATE_NAMES`` (``(h,)`` or ``(h, c)``) of
  arrays shaped ``(L * dirs, N, H)``, row ``k * dirs + d`` for layer ``k`` and
  direction ``d`` (0 forward, 1 reverse) -- PyTorch's ``h_n`` / ``c_n``;
* inverted dropout acts on the outputs of every layer but the last, on their way
  to the next layer, with masks drawn on the host from a seeded generator.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from minis2s import backend
from minis2s.cells import canonical_cell, get_cell
from minis2s.ops.validate import check_generator


@dataclass(frozen=True)
class StackConfig:
    """The shape of a stack of recurrent cells.

    Parameters
    ----------
    cell : ``"rnn"`` (the article's plain recurrence), ``"lstm"`` or ``"gru"``; an
        alias (``"seed"``) is accepted and stored as its kind.
    input_size : ``D``, features per time step of the input.
    hidden_size : ``H``, features of each direction's state.
    num_layers : ``L >= 1``.
    bidirectional : run a second cell per layer over the reversed sequence.
    dropout : ``p`` in ``[0, 1)``: inverted dropout on the outputs of layers
        ``0 .. L-2`` (as PyTorch's ``dropout``), only when training.
    activation : the rnn cell's nonlinearity ``f`` (passed to it as ``f=``);
        LSTM and GRU fix their own, so anything but ``"tanh"`` is refused for them.
    """

    cell: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    activation: str = "tanh"

    def __post_init__(self) -> None:
        object.__setattr__(self, "cell", canonical_cell(self.cell, "StackConfig.cell"))
        for field in ("input_size", "hidden_size", "num_layers"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(
                    f"StackConfig.{field}: expected an integer, got {type(value).__name__} "
                    f"{value!r}"
                )
            if value < 1:
                raise ValueError(f"StackConfig.{field}: expected an integer >= 1, got {value}")
        if not isinstance(self.bidirectional, (bool, np.bool_)):
            raise TypeError(
                f"StackConfig.bidirectional: expected True or False, got {self.bidirectional!r}"
            )
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real):
            raise TypeError(f"StackConfig.dropout: expected a number, got {self.dropout!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"StackConfig.dropout: expected a value in [0, 1), got {self.dropout}")
        if not isinstance(self.activation, str):
            raise TypeError(
                f"StackConfig.activation: expected a name such as 'tanh', got {self.activation!r}"
            )
        if self.cell != "rnn" and self.activation != "tanh":
            raise ValueError(
                f"StackConfig.activation: only the rnn cell takes an activation; "
                f"the {self.cell} cell fixes its own, got activation={self.activation!r}"
            )

    @property
    def directions(self) -> int:
        """``dirs``: 2 for a bidirectional stack, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features per time step of the stack's output, ``dirs * H``."""
        return self.directions * self.hidden_size

    def layer_input_size(self, k: int) -> int:
        """Input features of layer ``k``: ``D`` for layer 0, ``dirs * H`` above it."""
        return self.input_size if k == 0 else self.output_size

    def cell_opts(self) -> dict[str, Any]:
        """Keyword options handed to every cell call (the rnn cell's ``f``)."""
        return {"f": self.activation} if self.cell == "rnn" else {}


def check_prefix(prefix: Any, where: str) -> str:
    """A parameter-name prefix must be a string (``""``, ``"enc."`` ...)."""
    if not isinstance(prefix, str):
        raise TypeError(f"{where} prefix: expected a string such as 'enc.', "
                        f"got {type(prefix).__name__} {prefix!r}")
    return prefix


def layer_prefix(prefix: str, k: int, direction: int) -> str:
    """``"{prefix}l{k}."`` for the forward cell of layer ``k``, ``"{prefix}l{k}_reverse."``
    for the reverse one: the start of every parameter name of that cell."""
    return f"{prefix}l{k}{'_reverse' if direction else ''}."


def layer_params(params: Mapping[str, Any], lp: str) -> dict[str, Any]:
    """The parameters of one cell, under the cell's own names (``lp`` stripped)."""
    return {name[len(lp):]: value for name, value in params.items() if name.startswith(lp)}


def param_shapes(config: StackConfig, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """``{full name: shape}`` of every parameter of the stack, in PyTorch's order
    (layer 0, layer 0 reverse, layer 1, ...)."""
    if not isinstance(config, StackConfig):
        raise TypeError(f"param_shapes: expected a StackConfig, got {type(config).__name__}")
    check_prefix(prefix, "param_shapes")
    cell = get_cell(config.cell)
    shapes = {}
    for k in range(config.num_layers):
        for d in range(config.directions):
            cell_shapes = cell.param_shapes(config.layer_input_size(k), config.hidden_size)
            lp = layer_prefix(prefix, k, d)
            shapes.update({lp + name: tuple(s) for name, s in cell_shapes.items()})
    return shapes


def init_stack(
    rng: np.random.Generator, config: StackConfig, dtype: Any = np.float32, prefix: str = ""
) -> dict[str, np.ndarray]:
    """Fresh host parameters for a stack, drawn from ``rng`` by each cell's ``init_params``.

    Layer ``k`` has input size ``D`` (``k = 0``) or ``dirs * H`` (``k > 0``). Names:
    ``f"{prefix}l{k}.{name}"`` and, when bidirectional, ``f"{prefix}l{k}_reverse.{name}"``.
    Arrays are NumPy (host) arrays: move them with ``backend.to_device``.
    """
    if not isinstance(config, StackConfig):
        raise TypeError(f"init_stack: expected a StackConfig, got {type(config).__name__}")
    check_generator(rng, "init_stack")
    check_prefix(prefix, "init_stack")
    cell = get_cell(config.cell)
    params = {}
    for k in range(config.num_layers):
        for d in range(config.directions):
            cell_params = cell.init_params(
                rng, config.layer_input_size(k), config.hidden_size, dtype
            )
            lp = layer_prefix(prefix, k, d)
            params.update({lp + name: value for name, value in cell_params.items()})
    return params


def state_row(state: Any, row: int) -> tuple:
    """Row ``row`` (one layer and direction) of every entry of a stack state; ``None`` for a
    ``None`` state or entry (zeros, which lets a cell skip the product ``h_0 W_hh^T``)."""
    return tuple(None if s is None else s[row] for s in state) if state is not None else None


def stack_rows(rows: Sequence[tuple]) -> tuple:
    """Per-cell states (one tuple per layer and direction, in row order) -> the stack's
    state, a tuple of ``(rows, N, H)`` arrays."""
    xp = backend.get_xp()
    return tuple(xp.stack([r[i] for r in rows]) for i in range(len(rows[0])))


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: Any) -> Any:
    """Inverted-dropout mask on the device: ``m = [u >= p] / (1 - p)``, ``u ~ U[0, 1)``
    drawn on the host (so CPU and GPU runs drop the same units)."""
    keep = rng.random(shape) >= p
    return backend.to_device(keep / (1.0 - p), dtype=dtype)


def draw_dropout_masks(rng: Any, config: StackConfig, T: int, N: int, dtype: Any) -> list:
    """One ``(T, N, dirs*H)`` mask per layer below the top, in order ``k = 0, 1, ...``
    (``rng`` ``None``: no dropout, every entry ``None``)."""
    shape, p = (T, N, config.output_size), float(config.dropout)
    return [dropout_mask(rng, shape, p, dtype) if rng is not None and k < config.num_layers - 1
            else None for k in range(config.num_layers)]
