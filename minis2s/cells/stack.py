"""Stacks of recurrent cells: several layers, optionally both directions, dropout between layers.

A stack of ``L`` layers runs one cell (seed, LSTM or GRU, see the cell protocol in
``docs/conventions.md``) per layer and direction; the output sequence of layer
``k`` is the input sequence of layer ``k + 1``:

.. math::

    h^{(0)}_t = x_t, \\qquad
    h^{(k+1)}_t = \\mathrm{cell}_k\\big(\\mathrm{drop}_k(h^{(k)}_t),\\; h^{(k+1)}_{t-1}\\big)

With ``bidirectional=True`` each layer runs a second, independent cell over the
sequence read backwards and concatenates the two outputs per time step,

.. math::

    \\overrightarrow{h}_t = \\mathrm{cell}(x_t, \\overrightarrow{h}_{t-1}), \\quad
    \\overleftarrow{h}_t = \\mathrm{cell}'(x_t, \\overleftarrow{h}_{t+1}), \\quad
    h_t = [\\overrightarrow{h}_t ; \\overleftarrow{h}_t] \\in \\mathbb{R}^{2H},

so the layer above sees ``2H`` features. Everything follows PyTorch's
``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` exactly, so weights and states compare
directly (``minis2s.cells.torch_io`` converts the names):

* parameter names ``f"{prefix}l{k}.{name}"`` (forward direction) and
  ``f"{prefix}l{k}_reverse.{name}"`` (reverse), as PyTorch's ``weight_ih_l0_reverse``;
* states are a tuple over the cell's ``STATE_NAMES`` (``(h,)`` or ``(h, c)``) of
  arrays shaped ``(L * dirs, N, H)``, row ``k * dirs + d`` for layer ``k`` and
  direction ``d`` (0 forward, 1 reverse) -- PyTorch's ``h_n`` / ``c_n``;
* inverted dropout acts on the outputs of every layer but the last, on their way
  to the next layer (never on the returned states, never on the top layer's outputs).

The backward pass runs the same path in reverse: the top layer's output gradient
goes into its cells' ``sequence_backward``; the input gradient that comes out
(summed over the two directions, which both read the same input) is the output
gradient of the layer below, after passing back through that layer's dropout mask.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.ops.validate import check_generator
from minis2s.shards import check_shards, join_rows, row_bounds, sum_grads, take_rows
from minis2s.shards import run as run_shards

CELL_KINDS = ("seed", "lstm", "gru")


def get_cell(kind: str) -> ModuleType:
    """The cell module for ``kind`` in ``"seed" | "lstm" | "gru"`` (imported on first use).

    Every cell module follows the cell protocol (``STATE_NAMES``, ``GATES``,
    ``TORCH_NAMES``, ``param_shapes``, ``init_params``, ``step_forward``,
    ``step_backward``, ``sequence_forward``, ``sequence_backward``).
    """
    if kind not in CELL_KINDS:
        raise ValueError(f"unknown cell {kind!r}: expected one of {', '.join(CELL_KINDS)}")
    name = f"minis2s.cells.{kind}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise ImportError(
                f"cell {kind!r} asked for, but its module {name} is missing from this install"
            ) from exc
        raise


@dataclass(frozen=True)
class StackConfig:
    """The shape of a stack of recurrent cells.

    Parameters
    ----------
    cell : ``"seed"`` (the article's plain recurrence), ``"lstm"`` or ``"gru"``.
    input_size : ``D``, features per time step of the input.
    hidden_size : ``H``, features of each direction's state.
    num_layers : ``L >= 1``.
    bidirectional : run a second cell per layer over the reversed sequence.
    dropout : ``p`` in ``[0, 1)``: inverted dropout on the outputs of layers
        ``0 .. L-2`` (as PyTorch's ``dropout``), only when training.
    activation : the seed cell's nonlinearity ``f`` (passed to it as ``f=``);
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
        if self.cell not in CELL_KINDS:
            raise ValueError(
                f"StackConfig.cell: expected one of {', '.join(CELL_KINDS)}, got {self.cell!r}"
            )
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
        if self.cell != "seed" and self.activation != "tanh":
            raise ValueError(
                f"StackConfig.activation: only the seed cell takes an activation; "
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
        """Keyword options handed to every cell call (the seed cell's ``f``)."""
        return {"f": self.activation} if self.cell == "seed" else {}


def layer_prefix(prefix: str, k: int, direction: int) -> str:
    """``"{prefix}l{k}."`` for the forward cell of layer ``k``, ``"{prefix}l{k}_reverse."``
    for the reverse one: the start of every parameter name of that cell."""
    return f"{prefix}l{k}{'_reverse' if direction else ''}."


def param_shapes(config: StackConfig, prefix: str = "") -> dict[str, tuple[int, ...]]:
    """``{full name: shape}`` of every parameter of the stack, in PyTorch's order
    (layer 0, layer 0 reverse, layer 1, ...)."""
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


# --------------------------------------------------------------------------------------
# validation shared by the sequence and step entry points
# --------------------------------------------------------------------------------------


def _check_config(config: Any, where: str) -> None:
    if not isinstance(config, StackConfig):
        raise TypeError(f"{where}: expected a StackConfig, got {type(config).__name__}")


def _check_params(params: Any, config: StackConfig, prefix: str, where: str) -> None:
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{where}: expected params as a dict of arrays, got {type(params).__name__}"
        )
    for name, shape in param_shapes(config, prefix).items():
        if name not in params:
            raise ValueError(f"{where}: parameter {name!r} missing (expected shape {shape})")
        got = tuple(params[name].shape)
        if got != shape:
            raise ValueError(f"{where}: parameter {name!r} has shape {got}, expected {shape}")


def _check_state(
    state: Any, names: Sequence[str], rows: int, N: int, H: int, what: str, where: str
) -> None:
    if not isinstance(state, (tuple, list)) or len(state) != len(names):
        raise TypeError(
            f"{where}: {what} must be a tuple of {len(names)} arrays ({', '.join(names)}), "
            f"got {type(state).__name__}"
            + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else "")
        )
    for name, s in zip(names, state):
        if s is None:
            continue
        if tuple(getattr(s, "shape", ())) != (rows, N, H):
            raise ValueError(
                f"{where}: {what} entry {name!r} has shape {tuple(getattr(s, 'shape', ()))}, "
                f"expected (num_layers * dirs, N, H) = {(rows, N, H)}"
            )


def _check_rng(config: StackConfig, train: bool, rng: Any, where: str) -> bool:
    """Whether dropout is active; refuses to train with dropout and no generator."""
    active = bool(train) and config.dropout > 0.0 and config.num_layers > 1
    if active and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{where}: dropout={config.dropout} with train=True draws its masks from a "
            f"numpy.random.Generator; expected rng=np.random.default_rng(seed), got "
            f"{type(rng).__name__}"
        )
    return active


def _dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: Any) -> Any:
    """Inverted-dropout mask on the device: ``m = [u >= p] / (1 - p)``, ``u ~ U[0, 1)``
    drawn on the host (so CPU and GPU runs drop the same units)."""
    keep = rng.random(shape) >= p
    return backend.to_device(keep / (1.0 - p), dtype=dtype)


def _layer_params(params: Mapping[str, Any], lp: str) -> dict[str, Any]:
    return {name[len(lp):]: value for name, value in params.items() if name.startswith(lp)}


# --------------------------------------------------------------------------------------
# whole sequences
# --------------------------------------------------------------------------------------


class LayerCache(NamedTuple):
    """What one layer keeps for backward."""

    cells: tuple  # one cell sequence cache per direction (forward first)
    dropout: Any  # (T, N, dirs*H) scaled mask applied to this layer's output, or None


class StackCache(NamedTuple):
    """What :func:`stack_backward` needs."""

    config: StackConfig
    prefix: str
    layers: tuple  # LayerCache per layer, bottom first
    x_shape: tuple  # (T, N, D)
    dtype: Any


class ShardedStackCache(NamedTuple):
    """What :func:`stack_backward` needs after a sharded :func:`stack_forward`."""

    parts: tuple  # one StackCache per shard
    bounds: tuple  # (start, stop) rows of the batch per shard


def stack_forward(
    x: Any,
    params: Mapping[str, Any],
    config: StackConfig,
    state0: Any = None,
    mask: Any = None,
    train: bool = False,
    rng: np.random.Generator | None = None,
    prefix: str = "",
    shards: int = 1,
) -> tuple[Any, tuple, StackCache | ShardedStackCache]:
    """Run the stack over a whole (batch of) sequence(s).

    Parameters
    ----------
    x : (T, N, D) input sequence, time-major, on the active backend.
    params : the stack's parameters (:func:`init_stack` names, moved to the device).
    config : the :class:`StackConfig`.
    state0 : initial states, a tuple over the cell's ``STATE_NAMES`` of
        (L * dirs, N, H) arrays, row ``k * dirs + d``; ``None`` (or a ``None`` entry)
        means zeros.
    mask : (T, N) of 0/1, 1 at real tokens of right-padded rows; ``None`` = all real.
        A 0 freezes the row's state (``s_t = m_t s~_t + (1 - m_t) s_{t-1}``).
    train : apply dropout (when ``config.dropout > 0``).
    rng : the ``numpy.random.Generator`` the dropout masks are drawn from (host);
        required when dropout is active. Layer ``k < L - 1`` draws one
        ``rng.random((T, N, dirs * H))`` in order ``k = 0, 1, ...``.
    prefix : the parameter names' prefix (e.g. ``"enc."``).
    shards : run the batch as this many shards of consecutive rows, one per thread
        (:mod:`minis2s.shards`; for the CPU's cores). The results are those of one
        shard, up to float rounding in the summed weight gradients; the dropout masks
        are drawn for the whole batch first, so they do not depend on ``shards``.

    Returns
    -------
    hs : (T, N, dirs * H) top layer outputs ``[h_fwd_t ; h_rev_t]`` (no dropout).
    state_T : the final states, same format as ``state0`` (PyTorch's ``h_n``, ``c_n``).
        The forward direction's final state is the state after each row's last
        real token; the reverse direction's is its state after position 0.
    cache : a :class:`StackCache` (a :class:`ShardedStackCache` with ``shards > 1``)
        for :func:`stack_backward`.

    The reverse direction reads ``x[::-1]`` with ``mask[::-1]``: a right-padded
    row's padding now comes *first*, where the mask holds the initial state
    unchanged, so the reverse cell effectively starts at the row's true last
    token, exactly as if the row had been run alone without padding (PyTorch
    gets the same from ``pack_padded_sequence``). Outputs at padded positions are
    carried states, not zeros: mask them out downstream.
    """
    where = "stack_forward"
    _check_config(config, where)
    cell = get_cell(config.cell)
    names = cell.STATE_NAMES
    if getattr(x, "ndim", None) != 3 or x.shape[2] != config.input_size:
        raise ValueError(
            f"{where}: expected x of shape (T, N, D={config.input_size}), "
            f"got {tuple(getattr(x, 'shape', ()))}"
        )
    T, N, _ = x.shape
    L, dirs, H = config.num_layers, config.directions, config.hidden_size
    _check_params(params, config, prefix, where)
    if state0 is not None:
        _check_state(state0, names, L * dirs, N, H, "state0", where)
    if mask is not None:
        if tuple(getattr(mask, "shape", ())) != (T, N):
            raise ValueError(
                f"{where}: expected mask of shape (T, N) = {(T, N)}, "
                f"got {tuple(getattr(mask, 'shape', ()))}"
            )
        mask = backend.to_device(mask, dtype=x.dtype)
    dropping = _check_rng(config, train, rng, where)
    shards = check_shards(shards, where)
    out_shape = (T, N, dirs * H)
    drops = [_dropout_mask(rng, out_shape, float(config.dropout), x.dtype)
             if dropping and k < L - 1 else None for k in range(L)]
    bounds = row_bounds(N, shards)
    if len(bounds) == 1:
        return _forward_layers(x, params, config, state0, mask, drops, prefix)

    def shard(b: tuple[int, int]) -> tuple:
        s0 = None if state0 is None else tuple(take_rows(s, b, 1) for s in state0)
        return _forward_layers(take_rows(x, b, 1), params, config, s0, take_rows(mask, b, 1),
                               [take_rows(d, b, 1) for d in drops], prefix)

    parts = run_shards(shard, [(b,) for b in bounds])
    hs = join_rows([p[0] for p in parts], axis=1)
    state_T = tuple(join_rows([p[1][i] for p in parts], axis=1) for i in range(len(names)))
    return hs, state_T, ShardedStackCache(tuple(p[2] for p in parts), tuple(bounds))


def _forward_layers(x: Any, params: Mapping[str, Any], config: StackConfig, state0: Any,
                    mask: Any, drops: list, prefix: str) -> tuple[Any, tuple, StackCache]:
    """:func:`stack_forward` after its checks, with the dropout masks already drawn
    (``drops[k]`` for layer ``k``'s output, or ``None``)."""
    cell = get_cell(config.cell)
    names = cell.STATE_NAMES
    L, dirs = config.num_layers, config.directions
    xp = backend.get_xp()
    opts = config.cell_opts()
    inp = x
    layers, finals = [], []
    for k in range(L):
        outs, cell_caches = [], []
        for d in range(dirs):
            row = k * dirs + d
            s0 = tuple(  # None: zeros, which lets a cell skip the product h_0 W_hh^T
                None if state0 is None or state0[i] is None else state0[i][row]
                for i in range(len(names))
            )
            p = _layer_params(params, layer_prefix(prefix, k, d))
            if d == 0:
                hs, sT, c = cell.sequence_forward(inp, s0, p, mask=mask, **opts)
            else:  # reverse direction: the same recurrence over the time-reversed sequence
                rmask = None if mask is None else mask[::-1]
                hs, sT, c = cell.sequence_forward(inp[::-1], s0, p, mask=rmask, **opts)
                hs = hs[::-1]
            outs.append(hs)
            cell_caches.append(c)
            finals.append(sT)
        out = outs[0] if dirs == 1 else xp.concatenate(outs, axis=2)  # h_t = [fwd ; rev]
        drop = drops[k]
        inp = out if drop is None else out * drop  # the next layer reads the dropped outputs
        layers.append(LayerCache(tuple(cell_caches), drop))
    state_T = tuple(xp.stack([f[i] for f in finals]) for i in range(len(names)))
    cache = StackCache(config, prefix, tuple(layers), tuple(x.shape), x.dtype)
    return inp, state_T, cache


def _check_backward_inputs(dhs: Any, dstate_T: Any, config: StackConfig, T: int, N: int
                           ) -> tuple:
    """Refuse a ``dhs`` or ``dstate_T`` of the wrong shape; ``dstate_T`` as a tuple."""
    where = "stack_backward"
    L, dirs, H = config.num_layers, config.directions, config.hidden_size
    names = get_cell(config.cell).STATE_NAMES
    if dhs is not None and tuple(dhs.shape) != (T, N, dirs * H):
        raise ValueError(
            f"{where}: expected dhs of shape (T, N, dirs*H) = {(T, N, dirs * H)}, "
            f"got {tuple(dhs.shape)}"
        )
    if dstate_T is None:
        dstate_T = (None,) * len(names)
    _check_state(dstate_T, names, L * dirs, N, H, "dstate_T", where)
    return tuple(dstate_T)


def stack_backward(dhs: Any, dstate_T: Any, cache: StackCache | ShardedStackCache
                   ) -> tuple[Any, tuple, dict]:
    """Backward of :func:`stack_forward`.

    Parameters
    ----------
    dhs : (T, N, dirs * H) gradient of the loss w.r.t. ``hs`` (``None`` = zeros,
        e.g. when only the final state is used).
    dstate_T : gradient w.r.t. ``state_T``: a tuple of (L * dirs, N, H) arrays or
        ``None`` entries (zeros); ``None`` for all zeros.
    cache : from :func:`stack_forward`.

    Returns
    -------
    dx : (T, N, D)
    dstate0 : tuple of (L * dirs, N, H), gradient w.r.t. ``state0``.
    grads : ``{full parameter name: gradient}`` for every parameter.

    After a sharded forward each shard runs its own backward on its rows of ``dhs``
    and ``dstate_T`` (on as many threads); ``dx`` and ``dstate0`` are the shards' rows
    side by side, and each weight gradient the sum of the shards'.

    Per layer, top down: ``dout_k = dx_{k+1} * m_k`` (the dropout mask, if any);
    split ``dout_k`` into ``[dh_fwd ; dh_rev]``; the reverse cell's backward runs on
    ``dh_rev[::-1]`` and its input gradient is flipped back; the two input
    gradients add, since both cells read the same input.
    """
    if isinstance(cache, ShardedStackCache):
        return _sharded_backward(dhs, dstate_T, cache)
    config, prefix = cache.config, cache.prefix
    cell = get_cell(config.cell)
    names = cell.STATE_NAMES
    T, N, _ = cache.x_shape
    L, dirs, H = config.num_layers, config.directions, config.hidden_size
    dstate_T = _check_backward_inputs(dhs, dstate_T, config, T, N)

    xp = backend.get_xp()
    dout = xp.zeros((T, N, dirs * H), dtype=cache.dtype) if dhs is None else dhs
    grads: dict[str, Any] = {}
    dstate0: list = [None] * (L * dirs)
    for k in reversed(range(L)):
        layer = cache.layers[k]
        if layer.dropout is not None:
            dout = dout * layer.dropout  # d(out_k) = d(input of layer k+1) * m_k
        dinp = None
        for d in range(dirs):
            row = k * dirs + d
            dh = dout if dirs == 1 else dout[:, :, d * H:(d + 1) * H]
            dsT = tuple(None if g is None else g[row] for g in dstate_T)
            if d == 0:
                dx_d, ds0, g = cell.sequence_backward(dh, dsT, layer.cells[d])
            else:
                dx_d, ds0, g = cell.sequence_backward(dh[::-1], dsT, layer.cells[d])
                dx_d = dx_d[::-1]
            dinp = dx_d if dinp is None else dinp + dx_d  # both directions read the input
            dstate0[row] = ds0
            lp = layer_prefix(prefix, k, d)
            grads.update({lp + name: value for name, value in g.items()})
        dout = dinp
    dstate0_out = tuple(xp.stack([ds[i] for ds in dstate0]) for i in range(len(names)))
    return dout, dstate0_out, grads


def _sharded_backward(dhs: Any, dstate_T: Any, cache: ShardedStackCache) -> tuple:
    config = cache.parts[0].config
    names = get_cell(config.cell).STATE_NAMES
    T, N = cache.parts[0].x_shape[0], cache.bounds[-1][1]
    dstate_T = _check_backward_inputs(dhs, dstate_T, config, T, N)

    def shard(part: StackCache, b: tuple[int, int]) -> tuple:
        return stack_backward(take_rows(dhs, b, 1),
                              tuple(take_rows(g, b, 1) for g in dstate_T), part)

    parts = run_shards(shard, list(zip(cache.parts, cache.bounds)))
    dx = join_rows([p[0] for p in parts], axis=1)
    dstate0 = tuple(join_rows([p[1][i] for p in parts], axis=1) for i in range(len(names)))
    return dx, dstate0, sum_grads([p[2] for p in parts])


# --------------------------------------------------------------------------------------
# one step at a time (decoders)
# --------------------------------------------------------------------------------------


class StepCache(NamedTuple):
    """What :func:`stack_step_backward` needs."""

    config: StackConfig
    prefix: str
    cells: tuple  # one cell step cache per layer, bottom first
    dropout: tuple  # (N, H) scaled mask on each layer's output, or None
    x_shape: tuple  # (N, D)
    dtype: Any


def stack_step_forward(
    x: Any,
    state: Any,
    params: Mapping[str, Any],
    config: StackConfig,
    train: bool = False,
    rng: np.random.Generator | None = None,
    prefix: str = "",
) -> tuple[Any, tuple, StepCache]:
    """One time step of a unidirectional stack (a decoder's step).

    Parameters
    ----------
    x : (N, D) the input at this step.
    state : tuple over ``STATE_NAMES`` of (L, N, H) arrays, row ``k`` for layer ``k``
        (``None`` = zeros).
    params, config, prefix : as for :func:`stack_forward`; ``config.bidirectional``
        must be False (a reverse direction needs the whole sequence).
    train, rng : dropout on the outputs of layers ``0 .. L-2``; layer ``k`` draws
        one ``rng.random((N, H))`` in order ``k = 0, 1, ...``.

    Returns
    -------
    h_top : (N, H) the top layer's output ``h^{(L)}_t``.
    new_state : same format as ``state``.
    cache : a :class:`StepCache`.

    ``h^{(k+1)}_t = cell_k(drop_k(h^{(k)}_t), s^{(k+1)}_{t-1})`` with ``h^{(0)}_t = x``.
    Looping this over ``t`` (without dropout) gives :func:`stack_forward`.
    """
    where = "stack_step_forward"
    _check_config(config, where)
    if config.bidirectional:
        raise ValueError(
            f"{where}: a bidirectional stack cannot run step by step (its reverse direction "
            "reads the sequence from the end); expected bidirectional=False, got True"
        )
    cell = get_cell(config.cell)
    names = cell.STATE_NAMES
    if getattr(x, "ndim", None) != 2 or x.shape[1] != config.input_size:
        raise ValueError(
            f"{where}: expected x of shape (N, D={config.input_size}), "
            f"got {tuple(getattr(x, 'shape', ()))}"
        )
    N = x.shape[0]
    L, H = config.num_layers, config.hidden_size
    _check_params(params, config, prefix, where)
    if state is not None:
        _check_state(state, names, L, N, H, "state", where)
    dropping = _check_rng(config, train, rng, where)

    xp = backend.get_xp()
    opts = config.cell_opts()
    inp = x
    caches, drops, new_rows = [], [], []
    for k in range(L):
        s = tuple(
            xp.zeros((N, H), dtype=x.dtype) if state is None or state[i] is None else state[i][k]
            for i in range(len(names))
        )
        new_s, c = cell.step_forward(inp, s, _layer_params(params, layer_prefix(prefix, k, 0)),
                                     **opts)
        caches.append(c)
        new_rows.append(new_s)
        drop = None
        if dropping and k < L - 1:
            drop = _dropout_mask(rng, (N, H), float(config.dropout), x.dtype)
            inp = new_s[0] * drop
        else:
            inp = new_s[0]
        drops.append(drop)
    new_state = tuple(xp.stack([r[i] for r in new_rows]) for i in range(len(names)))
    cache = StepCache(config, prefix, tuple(caches), tuple(drops), tuple(x.shape), x.dtype)
    return inp, new_state, cache


def stack_step_backward(dh_top: Any, dnew_state: Any, cache: StepCache) -> tuple[Any, tuple, dict]:
    """Backward of :func:`stack_step_forward`.

    Parameters
    ----------
    dh_top : (N, H) gradient w.r.t. ``h_top`` (``None`` = zeros).
    dnew_state : gradient w.r.t. ``new_state``, tuple of (L, N, H) or ``None`` entries
        (``None`` for all zeros).
    cache : from :func:`stack_step_forward`.

    Returns ``(dx (N, D), dstate (tuple of (L, N, H)), grads {name: gradient})``.

    Layer ``k``'s output ``h^{(k+1)}_t`` is both its new state and the next layer's
    input, so its gradient is ``dnew_state.h[k] + m_k * dx_{k+1}`` (top layer:
    ``dnew_state.h[L-1] + dh_top``).
    """
    config, prefix = cache.config, cache.prefix
    cell = get_cell(config.cell)
    names = cell.STATE_NAMES
    N = cache.x_shape[0]
    L, H = config.num_layers, config.hidden_size
    where = "stack_step_backward"
    if dh_top is not None and tuple(dh_top.shape) != (N, H):
        raise ValueError(
            f"{where}: expected dh_top of shape (N, H) = {(N, H)}, got {tuple(dh_top.shape)}"
        )
    if dnew_state is None:
        dnew_state = (None,) * len(names)
    _check_state(dnew_state, names, L, N, H, "dnew_state", where)

    xp = backend.get_xp()
    dout = dh_top  # gradient reaching layer k's output from above (None = zero)
    grads: dict[str, Any] = {}
    dstate: list = [None] * L
    for k in reversed(range(L)):
        if dout is not None and cache.dropout[k] is not None:
            dout = dout * cache.dropout[k]
        dh_state = None if dnew_state[0] is None else dnew_state[0][k]
        if dout is None:
            dh = dh_state
        else:
            dh = dout if dh_state is None else dout + dh_state
        ds = (dh,) + tuple(None if g is None else g[k] for g in dnew_state[1:])
        dx_k, ds0, g = cell.step_backward(ds, cache.cells[k])
        dstate[k] = ds0
        lp = layer_prefix(prefix, k, 0)
        grads.update({lp + name: value for name, value in g.items()})
        dout = dx_k
    dstate_out = tuple(xp.stack([ds[i] for ds in dstate]) for i in range(len(names)))
    return dout, dstate_out, grads


# --------------------------------------------------------------------------------------
# handing a bidirectional encoder's states to a unidirectional decoder
# --------------------------------------------------------------------------------------


def merge_bidirectional_state(state: Any) -> tuple:
    """Concatenate the two directions' final states layer by layer.

    ``state``: a tuple of (2L, N, H) arrays from a bidirectional stack (row ``2k``
    forward, ``2k + 1`` reverse). Returns a tuple of (L, N, 2H) arrays,

    .. math::  s^{(k)} = [\\overrightarrow{s}^{(k)}_T ; \\overleftarrow{s}^{(k)}_1].

    A unidirectional decoder of hidden size ``H'`` cannot take a ``2H`` state
    directly: the model feeds each merged layer state through a learned bridge,
    ``s^{dec}_0 = \\tanh(W_b s + b_b)`` (``(H', 2H)`` weights), whose backward hands
    the ``(L, N, 2H)`` gradient to :func:`split_bidirectional_state`. ``None``
    entries pass through.
    """
    out = []
    for s in state:
        if s is None:
            out.append(None)
            continue
        if getattr(s, "ndim", None) != 3 or s.shape[0] % 2:
            raise ValueError(
                "merge_bidirectional_state: expected states of shape (2 * num_layers, N, H) "
                f"from a bidirectional stack, got {tuple(getattr(s, 'shape', ()))}"
            )
        layers, n, h = s.shape[0] // 2, s.shape[1], s.shape[2]
        # (2L, N, H) -> (L, dir, N, H) -> (L, N, dir, H) -> (L, N, 2H): [fwd ; rev]
        out.append(s.reshape(layers, 2, n, h).transpose(0, 2, 1, 3).reshape(layers, n, 2 * h))
    return tuple(out)


def split_bidirectional_state(merged: Any) -> tuple:
    """The inverse of :func:`merge_bidirectional_state`, and also its backward.

    ``merged``: tuple of (L, N, 2H) arrays (or their gradients) -> tuple of
    (2L, N, H). Merging only moves numbers (a permutation ``P``), so its backward
    ``P^T`` is its inverse: the gradient w.r.t. the bidirectional final states is
    ``split_bidirectional_state(d merged)``. ``None`` entries pass through.
    """
    out = []
    for s in merged:
        if s is None:
            out.append(None)
            continue
        if getattr(s, "ndim", None) != 3 or s.shape[2] % 2:
            raise ValueError(
                "split_bidirectional_state: expected arrays of shape (num_layers, N, 2H), "
                f"got {tuple(getattr(s, 'shape', ()))}"
            )
        layers, n, h = s.shape[0], s.shape[1], s.shape[2] // 2
        # (L, N, 2H) -> (L, N, dir, H) -> (L, dir, N, H) -> (2L, N, H)
        out.append(s.reshape(layers, n, 2, h).transpose(0, 2, 1, 3).reshape(2 * layers, n, h))
    return tuple(out)
