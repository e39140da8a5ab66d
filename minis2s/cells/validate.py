"""What the cells accept: the one validation layer of their public entry points.

Each public function of :mod:`~minis2s.cells.rnn`, :mod:`~minis2s.cells.rnn_decoder`,
:mod:`~minis2s.cells.lstm` and :mod:`~minis2s.cells.gru` calls one of the checks
below first, so its body can be the equations alone. They build on
:mod:`minis2s.ops.validate` and raise as it does: ``TypeError`` for the wrong kind
of thing (not an array, an array of another backend, a dtype that does not match
the parameters'), ``ValueError`` for the right kind with the wrong content (a
shape, a mask value, a name), the message naming what was checked, what was
expected and what came::

    lstm W_hh: expected shape (4*H, H) with H = W_hh.shape[1], got (16, 5)

The cell protocol's functions read the sizes from the parameters
(:func:`check_cell_params`) and check everything else against them; the article's
recurrences, whose weights are separate arguments, have their own checks at the
end, and the stacks' (:mod:`minis2s.cells.stack`, :mod:`minis2s.cells.stack_step`)
after them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.cells import get_cell
from minis2s.cells.stack_config import StackConfig, check_prefix, param_shapes
from minis2s.ops.activations import get_activation
from minis2s.ops.validate import (
    check_dtype,
    check_float,
    check_instance,
    check_mask,
    check_named_shapes,
    check_names,
    check_positive_int,
    check_same_dtype,
    check_shape,
    check_tuple,
)


class CellLayout(NamedTuple):
    """How a cell stores its parameters and state, as the checks need to know it.

    Every cell has an input weight ``(G*H, D)``, a recurrent weight ``(G*H, H)`` and
    bias vectors ``(G*H,)``, with ``G`` gate blocks of ``H`` rows each.
    """

    cell: str
    """the cell's name in messages (``"rnn"``, ``"lstm"``, ``"gru"``)."""
    gates: int
    """``G``: 1 (rnn), 4 (LSTM), 3 (GRU)."""
    input_weight: str
    """name of the ``(G*H, D)`` weight (``"W_h"``, ``"W_ih"``)."""
    recurrent_weight: str
    """name of the ``(G*H, H)`` weight (``"W_c"``, ``"W_hh"``)."""
    biases: tuple
    """names of the ``(G*H,)`` biases."""
    state_names: tuple
    """the state's entries, each ``(N, H)`` (``("h",)``, ``("h", "c")``)."""

    @property
    def param_names(self) -> tuple:
        return (self.input_weight, self.recurrent_weight, *self.biases)


def check_cell_params(layout: CellLayout, params: Any) -> tuple[int, int, np.dtype]:
    """A parameter dict of the cell; returns ``(D, H, dtype)`` read from its weights."""
    cell, G = layout.cell, layout.gates
    check_names(params, layout.param_names, f"{cell} params")
    arrays = {name: params[name] for name in layout.param_names}
    for name, a in arrays.items():
        check_float(a, f"{cell} {name}")
    rows = "H" if G == 1 else f"{G}*H"
    W_rec = arrays[layout.recurrent_weight]
    if W_rec.ndim != 2 or W_rec.shape[0] != G * W_rec.shape[1]:
        raise ValueError(f"{cell} {layout.recurrent_weight}: expected shape ({rows}, H) "
                         f"with H = {layout.recurrent_weight}.shape[1], got {tuple(W_rec.shape)}")
    H = int(W_rec.shape[1])
    check_shape(arrays[layout.input_weight], (G * H, None), f"{cell} {layout.input_weight}",
                names=(rows, "D"))
    for name in layout.biases:
        check_shape(arrays[name], (G * H,), f"{cell} {name}", names=(rows,))
    check_same_dtype(arrays, f"{cell} params")
    return int(arrays[layout.input_weight].shape[1]), H, np.dtype(W_rec.dtype)


def check_cell_input(layout: CellLayout, x: Any, ndim: int, D: int, dtype: Any) -> None:
    """``x`` is ``(N, D)`` (``ndim=2``, a step) or ``(T, N, D)`` (a sequence), non-empty."""
    names = ("N", "D") if ndim == 2 else ("T", "N", "D")
    what = f"{layout.cell} x"
    check_float(x, f"{what} ({', '.join(names)})", ndim=ndim)
    check_shape(x, (None,) * (ndim - 1) + (D,), what, names=names)
    if 0 in x.shape:
        raise ValueError(f"{what}: expected at least one step and one row, got shape "
                         f"{tuple(x.shape)}")
    check_dtype(x, dtype, what)


def check_cell_state(
    layout: CellLayout, state: Any, N: int, H: int, dtype: Any, what: str = "state"
) -> tuple:
    """A state tuple over ``layout.state_names`` of ``(N, H)`` arrays; ``None`` (or a
    ``None`` entry) means zeros. Returns the tuple, ``None`` entries kept."""
    label = f"{layout.cell} {what}"
    entries = check_tuple(state, layout.state_names, label)
    for name, s in zip(layout.state_names, entries):
        if s is not None:
            check_float(s, f"{label} {name!r}")
            check_shape(s, (N, H), f"{label} {name!r}", names=("N", "H"))
            check_dtype(s, dtype, f"{label} {name!r}")
    return entries


def check_cell_grad(layout: CellLayout, g: Any, shape: tuple, dtype: Any, what: str) -> None:
    """An upstream gradient (``None``: zero) has the shape and dtype of what it is the
    gradient of."""
    if g is not None:
        check_float(g, f"{layout.cell} {what}")
        check_shape(g, shape, f"{layout.cell} {what}")
        check_dtype(g, dtype, f"{layout.cell} {what}", source="the forward pass")


def check_cell_mask(layout: CellLayout, mask: Any, T: int, N: int) -> Any:
    """A ``(T, N)`` 0/1 mask (checked on the host) -> bool on the device; ``None`` stays."""
    if mask is None:
        return None
    return backend.to_device(check_mask(mask, (T, N), f"{layout.cell} mask", names=("T", "N")))


def check_step(layout: CellLayout, x: Any, state: Any, params: Any) -> tuple:
    """``step_forward(x (N, D), state, params)``; returns ``(state entries, H, dtype)``."""
    D, H, dtype = check_cell_params(layout, params)
    check_cell_input(layout, x, 2, D, dtype)
    return check_cell_state(layout, state, x.shape[0], H, dtype), H, dtype


def check_sequence(layout: CellLayout, x: Any, state0: Any, params: Any, mask: Any) -> tuple:
    """``sequence_forward(x (T, N, D), state0, params, mask)``; returns ``(state0 entries,
    device bool mask or None, H, dtype)``."""
    D, H, dtype = check_cell_params(layout, params)
    check_cell_input(layout, x, 3, D, dtype)
    T, N = x.shape[:2]
    state0 = check_cell_state(layout, state0, N, H, dtype, "state0")
    return state0, check_cell_mask(layout, mask, T, N), H, dtype


def check_state_grads(layout: CellLayout, dstate: Any, N: int, H: int, dtype: Any,
                      what: str) -> tuple:
    """A state gradient tuple (``None``, or ``None`` entries: zero); returns the entries."""
    entries = check_tuple(dstate, tuple(f"d{n}" for n in layout.state_names),
                          f"{layout.cell} {what}")
    for name, d in zip(layout.state_names, entries):
        check_cell_grad(layout, d, (N, H), dtype, f"{what} d{name}")
    return entries


# ---------------------------------------------------------------------------------------
# The article's recurrences, whose weights come as separate arguments
# ---------------------------------------------------------------------------------------


def _matrix(W: Any, what: str, shape: tuple, names: tuple) -> None:
    check_float(W, what)
    check_shape(W, shape, what, names=names)


def check_encoder_step(x: Any, h_prev: Any, W_h: Any, W_c: Any, b: Any, f: Any) -> None:
    """``encoder_step_forward``: ``x (N, D)``, ``h_prev (N, H)``, ``W_h (H, D)``,
    ``W_c (H, H)``, ``b (H,)``, one dtype, ``f`` an activation name."""
    get_activation(f)
    check_float(W_h, "encoder W_h (H, D)", ndim=2)
    H, D = W_h.shape
    check_float(x, "encoder x (N, D)", ndim=2)
    N = x.shape[0]
    check_shape(x, (N, D), "encoder x", names=("N", "D"))
    _matrix(h_prev, "encoder h_prev", (N, H), ("N", "H"))
    _matrix(W_c, "encoder W_c", (H, H), ("H", "H"))
    _matrix(b, "encoder b", (H,), ("H",))
    check_same_dtype({"x": x, "h_prev": h_prev, "W_h": W_h, "W_c": W_c, "b": b}, "encoder step")


def check_encoder(x: Any, h0: Any, W_h: Any, W_c: Any, b: Any, f: Any, mask: Any) -> tuple:
    """``encoder_forward``: ``x (T, N, D)`` with ``T >= 1``, ``h0 (N, H)`` or ``None``, the
    weights as for a step, ``mask (T, N)`` or ``None``. Returns ``(h0, mask)``: zeros
    for a ``None`` ``h0``, the mask as a device bool array (or ``None``)."""
    get_activation(f)
    check_float(W_h, "encoder W_h (H, D)", ndim=2)
    H, D = W_h.shape
    check_float(x, "encoder x (T, N, D)", ndim=3)
    T, N = x.shape[:2]
    check_shape(x, (T, N, D), "encoder x", names=("T", "N", "D"))
    if T == 0:
        raise ValueError("encoder x: expected at least one time step, got T = 0")
    _matrix(W_c, "encoder W_c", (H, H), ("H", "H"))
    _matrix(b, "encoder b", (H,), ("H",))
    if h0 is None:
        h0 = backend.get_xp().zeros((N, H), dtype=x.dtype)
    _matrix(h0, "encoder h0", (N, H), ("N", "H"))
    check_same_dtype({"x": x, "h0": h0, "W_h": W_h, "W_c": W_c, "b": b}, "encoder")
    if mask is not None:
        mask = backend.to_device(check_mask(mask, (T, N), "encoder mask"))
    return h0, mask


def check_grad(g: Any, like: Any, what: str, optional: bool = True) -> None:
    """An upstream gradient of an array like ``like``: same shape and dtype (``None``, zero,
    where ``optional``)."""
    if g is None and not optional:
        raise TypeError(f"{what}: expected an array of shape {tuple(like.shape)}, got None")
    if g is not None:
        check_float(g, what)
        check_shape(g, tuple(like.shape), what)
        check_dtype(g, like.dtype, what, source="the forward pass")


def check_decoder_weights(W_o: Any, W_s: Any, b: Any, W_y: Any, y_has: bool) -> tuple:
    """``W_o (S, Dh)``, ``W_s (S, S)``, ``b (S,)``, and ``W_y (S, E)`` exactly when a
    ``y_prev`` is given. Returns ``(S, Dh)``."""
    check_float(W_o, "decoder W_o (S, Dh)", ndim=2)
    S, Dh = W_o.shape
    _matrix(W_s, "decoder W_s", (S, S), ("S", "S"))
    _matrix(b, "decoder b", (S,), ("S",))
    if (W_y is None) != (not y_has):
        raise ValueError(
            "decoder: y_prev and W_y go together (the W_y y_{t-1} extension); got "
            f"y_prev {'given' if y_has else 'None'} and W_y {'None' if W_y is None else 'given'}"
        )
    if W_y is not None:
        check_float(W_y, "decoder W_y (S, E)", ndim=2)
        if W_y.shape[0] != S:
            raise ValueError(f"decoder W_y: expected shape (S, E) with S = {S} (from W_o), "
                             f"got {tuple(W_y.shape)}")
    return S, Dh


def check_decoder_step(h: Any, s_prev: Any, W_o: Any, W_s: Any, b: Any, g: Any,
                       y_prev: Any, W_y: Any) -> None:
    """``decoder_step_forward``: ``h (N, Dh)``, ``s_prev (N, S)``, ``y_prev (N, E)`` or
    ``None``, the weights of :func:`check_decoder_weights`, one dtype."""
    get_activation(g)
    S, Dh = check_decoder_weights(W_o, W_s, b, W_y, y_prev is not None)
    check_float(h, "decoder h (N, Dh)", ndim=2)
    N = h.shape[0]
    check_shape(h, (N, Dh), "decoder h", names=("N", "Dh"))
    _matrix(s_prev, "decoder s_prev", (N, S), ("N", "S"))
    if y_prev is not None:
        _matrix(y_prev, "decoder y_prev", (N, W_y.shape[1]), ("N", "E"))
    check_same_dtype(
        {"h": h, "s_prev": s_prev, "W_o": W_o, "W_s": W_s, "b": b, "y_prev": y_prev, "W_y": W_y},
        "decoder step",
    )


def check_decoder(h: Any, s0: Any, W_o: Any, W_s: Any, b: Any, g: Any, y_prev: Any,
                  W_y: Any, mask: Any, steps: Any) -> tuple:
    """``decoder_forward``: ``h (T, N, Dh)`` or ``(N, Dh)``, ``s0 (N, S)`` or ``None``,
    ``y_prev (T, N, E)`` or ``None``, ``mask (T, N)`` or ``None``; ``T`` from ``h``,
    ``y_prev``, ``mask`` or ``steps``, which must agree. Returns ``(T, s0, mask)``:
    zeros for a ``None`` ``s0``, the mask as a device bool array (or ``None``)."""
    get_activation(g)
    S, Dh = check_decoder_weights(W_o, W_s, b, W_y, y_prev is not None)
    check_float(h, "decoder h (T, N, Dh) or (N, Dh)")
    if h.ndim not in (2, 3) or h.shape[-1] != Dh:
        raise ValueError(f"decoder h: expected shape (T, N, Dh) or (N, Dh) with Dh = {Dh} "
                         f"(from W_o), got {tuple(h.shape)}")
    N = h.shape[-2]
    T = _decoder_steps(h, y_prev, mask, steps)
    if T == 0:
        raise ValueError("decoder: expected at least one time step, got T = 0")
    if y_prev is not None:
        _matrix(y_prev, "decoder y_prev", (T, N, W_y.shape[1]), ("T", "N", "E"))
    if s0 is None:
        s0 = backend.get_xp().zeros((N, S), dtype=h.dtype)
    _matrix(s0, "decoder s0", (N, S), ("N", "S"))
    check_same_dtype(
        {"h": h, "s0": s0, "W_o": W_o, "W_s": W_s, "b": b, "y_prev": y_prev, "W_y": W_y},
        "decoder",
    )
    if mask is not None:
        mask = backend.to_device(check_mask(mask, (T, N), "decoder mask"))
    return T, s0, mask


def _decoder_steps(h: Any, y_prev: Any, mask: Any, steps: Any) -> int:
    """``T``, read from every input that has it; they must agree."""
    candidates = {}
    if h.ndim == 3:
        candidates["h"] = h.shape[0]
    if y_prev is not None:
        check_float(y_prev, "decoder y_prev (T, N, E)", ndim=3)
        candidates["y_prev"] = y_prev.shape[0]
    if mask is not None and hasattr(mask, "shape") and len(mask.shape) == 2:
        candidates["mask"] = mask.shape[0]
    if steps is not None:
        candidates["steps"] = check_positive_int(steps, "decoder steps")
    if not candidates:
        raise ValueError(
            "decoder: with one h (N, Dh) for every step, the number of steps T must come "
            "from y_prev, mask or steps; got none of them"
        )
    if len(set(candidates.values())) > 1:
        listing = ", ".join(f"{k}: {v}" for k, v in candidates.items())
        raise ValueError(f"decoder: the number of steps T disagrees between inputs ({listing})")
    return next(iter(candidates.values()))


# ---------------------------------------------------------------------------------------
# Stacks of cells (minis2s.cells.stack, minis2s.cells.stack_step)
# ---------------------------------------------------------------------------------------


def check_stack_params(params: Any, config: Any, prefix: Any, where: str) -> np.dtype:
    """``config`` a :class:`~minis2s.cells.stack_config.StackConfig`, ``prefix`` a string and
    ``params`` holding every parameter of the stack, float arrays of the active backend
    and one dtype, shaped as the config implies. Returns the dtype."""
    check_instance(config, StackConfig, f"{where} config", "minis2s.cells.stack.StackConfig")
    shapes = param_shapes(config, check_prefix(prefix, where))
    check_named_shapes(params, shapes, f"{where} params")
    first = next(iter(shapes))
    for name in shapes:
        check_float(params[name], f"{where} params {name!r}")
        check_dtype(params[name], params[first].dtype, f"{where} params {name!r}",
                    source=repr(first))
    return np.dtype(params[first].dtype)


def check_stack_input(x: Any, config: Any, dtype: Any, ndim: int, where: str) -> None:
    """``x`` is ``(T, N, D)`` (``ndim=3``) or ``(N, D)`` (a step), non-empty, of ``dtype``."""
    names = ("T", "N", "D")[3 - ndim:]
    check_float(x, f"{where} x ({', '.join(names)})", ndim=ndim)
    check_shape(x, (None,) * (ndim - 1) + (config.input_size,), f"{where} x", names=names)
    if 0 in x.shape:
        raise ValueError(f"{where} x: expected at least one step and one row, got shape "
                         f"{tuple(x.shape)}")
    check_dtype(x, dtype, f"{where} x")


def check_stack_state(state: Any, config: Any, rows: int, N: int, dtype: Any, what: str,
                      where: str) -> tuple | None:
    """A stack state (or its gradient): a tuple over the cell's ``STATE_NAMES`` of
    ``(rows, N, H)`` arrays, ``None`` entries (or ``None``) meaning zeros. Returns the
    entries, or ``None`` for ``None``."""
    if state is None:
        return None
    names = get_cell(config.cell).STATE_NAMES
    entries = check_tuple(state, names, f"{where} {what}")
    axes = ("num_layers * dirs" if rows != config.num_layers else "num_layers", "N", "H")
    for name, s in zip(names, entries):
        if s is not None:
            check_float(s, f"{where} {what} {name!r}")
            check_shape(s, (rows, N, config.hidden_size), f"{where} {what} {name!r}", axes)
            check_dtype(s, dtype, f"{where} {what} {name!r}")
    return entries


def check_dropout(config: Any, train: Any, rng: Any, where: str) -> bool:
    """``train`` True or False; a ``numpy.random.Generator`` when dropout is active.
    Returns whether it is (training, ``p > 0``, and a layer above to drop into)."""
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"{where} train: expected True or False, got {train!r}")
    active = bool(train) and config.dropout > 0.0 and config.num_layers > 1
    if active and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{where}: dropout={config.dropout} with train=True draws its masks from a "
            f"numpy.random.Generator; expected rng=np.random.default_rng(seed), got "
            f"{type(rng).__name__}"
        )
    return active


def check_stack_sequence(x: Any, params: Any, config: Any, state0: Any, mask: Any,
                         train: Any, rng: Any, prefix: Any, where: str) -> tuple:
    """``stack_forward``'s inputs. Returns ``(state0 entries or None, mask as a device bool
    array or None, whether dropout is active)``."""
    dtype = check_stack_params(params, config, prefix, where)
    check_stack_input(x, config, dtype, 3, where)
    T, N = x.shape[:2]
    state0 = check_stack_state(state0, config, config.num_layers * config.directions, N,
                               dtype, "state0", where)
    if mask is not None:
        mask = backend.to_device(check_mask(mask, (T, N), f"{where} mask", names=("T", "N")))
    return state0, mask, check_dropout(config, train, rng, where)


def check_stack_grads(dhs: Any, dstate_T: Any, config: Any, shape: tuple, dtype: Any,
                      where: str) -> tuple:
    """``dhs`` ``(T, N, dirs*H)`` (or ``None``) and ``dstate_T`` (a state gradient) against
    the forward's output ``shape``; returns the ``dstate_T`` entries (``None``: zero)."""
    if dhs is not None:
        check_float(dhs, f"{where} dhs")
        check_shape(dhs, shape, f"{where} dhs", names=("T", "N", "dirs*H"))
        check_dtype(dhs, dtype, f"{where} dhs", source="the forward pass")
    rows = config.num_layers * config.directions
    entries = check_stack_state(dstate_T, config, rows, shape[1], dtype, "dstate_T", where)
    return entries if entries is not None else (None,) * len(get_cell(config.cell).STATE_NAMES)
