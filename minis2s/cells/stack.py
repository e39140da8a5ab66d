"""Stacks of recurrent cells: several layers, optionally both directions, dropout between layers.

A stack of ``L`` layers runs one cell (rnn, LSTM or GRU, see the cell protocol in
``docs/conventions.md``) per layer and direction; the output sequence of layer
``k`` is the input sequence of layer ``k + 1``:

.. math::

    h^{(0)}_t = x_t, \\qquad
    h^{(k+1)}_t = \\mathrm{cell}_k\\big(\\mathrm{drop}_k(h^{(k)}_t),\\; h^{(k+1)}_{t-1}\\big)

With ``bidirectional=True`` each layer runs a second, independent cell over the
sequence read backwards and concatenates the two outputs per time step
(:mod:`minis2s.cells.bidirectional`), so the layer above sees ``2H`` features.
Everything follows PyTorch's ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` exactly, so
weights and states compare directly (names, shapes and the state layout:
:mod:`minis2s.cells.stack_config`; conversion: :mod:`minis2s.cells.torch_io`).
Inverted dropout acts on the outputs of every layer but the last, on their way
to the next layer (never on the returned states, never on the top layer's outputs).

The backward pass runs the same path in reverse: the top layer's output gradient
goes into its cells' ``sequence_backward``; the input gradient that comes out
(summed over the two directions, which both read the same input) is the output
gradient of the layer below, after passing back through that layer's dropout mask.

This module holds the whole-sequence pass; one step at a time (a decoder's) is
:mod:`minis2s.cells.stack_step`. Everything a stack's user needs is importable
from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.cells import CELL_ALIASES, CELL_KINDS, canonical_cell, get_cell
from minis2s.cells.bidirectional import (
    direction_backward,
    direction_forward,
    merge_bidirectional_state,
    split_bidirectional_state,
)
from minis2s.cells.stack_config import (
    StackConfig,
    draw_dropout_masks,
    init_stack,
    layer_params,
    layer_prefix,
    param_shapes,
    stack_rows,
    state_row,
)
from minis2s.cells.stack_step import StackStepCache, stack_step_backward, stack_step_forward
from minis2s.cells.validate import check_stack_grads, check_stack_sequence
from minis2s.ops.validate import check_instance

__all__ = [
    "CELL_ALIASES", "CELL_KINDS", "LayerCache", "StackCache", "StackConfig", "StackStepCache",
    "canonical_cell", "get_cell", "init_stack", "layer_prefix", "layers_forward",
    "merge_bidirectional_state", "param_shapes", "split_bidirectional_state",
    "stack_backward", "stack_forward", "stack_step_backward", "stack_step_forward",
]


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


def stack_forward(
    x: Any,
    params: Mapping[str, Any],
    config: StackConfig,
    state0: Any = None,
    mask: Any = None,
    train: bool = False,
    rng: np.random.Generator | None = None,
    prefix: str = "",
) -> tuple[Any, tuple, StackCache]:
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

    Returns
    -------
    hs : (T, N, dirs * H) top layer outputs ``[h_fwd_t ; h_rev_t]`` (no dropout).
    state_T : the final states, same format as ``state0`` (PyTorch's ``h_n``, ``c_n``).
        The forward direction's final state is the state after each row's last
        real token; the reverse direction's is its state after position 0.
    cache : a :class:`StackCache` for :func:`stack_backward`.

    Outputs at padded positions are carried states, not zeros: mask them out
    downstream. (To spread the batch over the CPU's cores, see
    :func:`minis2s.shards.stack_forward`.)
    """
    state0, mask, dropping = check_stack_sequence(x, params, config, state0, mask, train, rng,
                                                  prefix, "stack_forward")
    T, N = x.shape[:2]
    drops = draw_dropout_masks(rng if dropping else None, config, T, N, x.dtype)
    return layers_forward(x, params, config, state0, mask, drops, prefix)


def layers_forward(x: Any, params: Mapping[str, Any], config: StackConfig, state0: Any,
                   mask: Any, drops: list, prefix: str) -> tuple[Any, tuple, StackCache]:
    """The layer loop of :func:`stack_forward`, after its checks, with the dropout masks
    already drawn (``drops[k]`` ``(T, N, dirs*H)`` for layer ``k``'s output, or ``None``).

    ``h^{(k+1)} = [cell_k(drop_k(h^{(k)})) ; cell'_k(...)]`` for ``k = 0 .. L-1``,
    ``h^{(0)} = x``; the final states in row ``k * dirs + d``.
    """
    cell = get_cell(config.cell)
    dirs, opts = config.directions, config.cell_opts()
    inp = x
    layers, finals = [], []
    for k in range(config.num_layers):
        outs, cell_caches = [], []
        for d in range(dirs):
            p = layer_params(params, layer_prefix(prefix, k, d))
            hs, state_T, c = direction_forward(cell, inp, state_row(state0, k * dirs + d), p,
                                               mask, reverse=d == 1, opts=opts)
            outs.append(hs)
            cell_caches.append(c)
            finals.append(state_T)
        out = outs[0] if dirs == 1 else backend.get_xp().concatenate(outs, axis=2)  # [fwd ; rev]
        inp = out if drops[k] is None else out * drops[k]  # the next layer reads dropped outputs
        layers.append(LayerCache(tuple(cell_caches), drops[k]))
    cache = StackCache(config, prefix, tuple(layers), tuple(x.shape), x.dtype)
    return inp, stack_rows(finals), cache


def stack_backward(dhs: Any, dstate_T: Any, cache: StackCache) -> tuple[Any, tuple, dict]:
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

    Per layer, top down: ``dout_k = dx_{k+1} * m_k`` (the dropout mask, if any);
    split ``dout_k`` into ``[dh_fwd ; dh_rev]``; the reverse cell's backward runs on
    ``dh_rev[::-1]`` and its input gradient is flipped back; the two input
    gradients add, since both cells read the same input.
    """
    check_instance(cache, StackCache, "stack_backward cache", "stack_forward")
    config, prefix = cache.config, cache.prefix
    T, N, _ = cache.x_shape
    dirs, H = config.directions, config.hidden_size
    dstate_T = check_stack_grads(dhs, dstate_T, config, (T, N, dirs * H), cache.dtype,
                                 "stack_backward")
    cell = get_cell(config.cell)
    dout = backend.get_xp().zeros((T, N, dirs * H), dtype=cache.dtype) if dhs is None else dhs
    grads: dict[str, Any] = {}
    dstate0: list = [None] * (config.num_layers * dirs)
    for k in reversed(range(config.num_layers)):
        layer = cache.layers[k]
        if layer.dropout is not None:
            dout = dout * layer.dropout  # d(out_k) = d(input of layer k+1) * m_k
        dinp = None
        for d in range(dirs):
            dh = dout if dirs == 1 else dout[:, :, d * H:(d + 1) * H]  # [dh_fwd ; dh_rev]
            row = k * dirs + d
            dx_d, dstate0[row], g = direction_backward(cell, dh, state_row(dstate_T, row),
                                                       layer.cells[d], reverse=d == 1)
            dinp = dx_d if dinp is None else dinp + dx_d  # both directions read the input
            lp = layer_prefix(prefix, k, d)
            grads.update({lp + name: value for name, value in g.items()})
        dout = dinp
    return dout, stack_rows(dstate0), grads
