r"""One time step of a unidirectional stack: what a decoder runs.

A decoder that feeds back its own predictions, or reads attention, cannot run a
layer over the whole sequence at once: it steps all layers together at each time
step,

.. math::

    h^{(0)}_t = x_t, \qquad
    h^{(k+1)}_t = \mathrm{cell}_k\big(\mathrm{drop}_k(h^{(k)}_t),\; s^{(k+1)}_{t-1}\big).

Looping this over ``t`` (without dropout) gives :func:`minis2s.cells.stack.stack_forward`.
Layer ``k``'s new state :math:`h^{(k+1)}_t` is also the next layer's input, so in the
backward pass its gradient has two parts: from the next state, and from the layer above.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from minis2s.cells import get_cell
from minis2s.cells.stack_config import (
    StackConfig,
    dropout_mask,
    layer_params,
    layer_prefix,
    stack_rows,
    state_row,
)
from minis2s.cells.validate import (
    check_dropout,
    check_stack_input,
    check_stack_params,
    check_stack_state,
)
from minis2s.ops.validate import check_dtype, check_float, check_instance, check_shape


class StackStepCache(NamedTuple):
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
) -> tuple[Any, tuple, StackStepCache]:
    """One time step of a unidirectional stack (a decoder's step).

    Parameters
    ----------
    x : (N, D) the input at this step.
    state : tuple over ``STATE_NAMES`` of (L, N, H) arrays, row ``k`` for layer ``k``
        (``None``, or a ``None`` entry, means zeros).
    params, config, prefix : as for :func:`~minis2s.cells.stack.stack_forward`;
        ``config.bidirectional`` must be False (a reverse direction needs the whole sequence).
    train, rng : dropout on the outputs of layers ``0 .. L-2``; layer ``k`` draws
        one ``rng.random((N, H))`` in order ``k = 0, 1, ...``.

    Returns
    -------
    h_top : (N, H) the top layer's output ``h^{(L)}_t``.
    new_state : same format as ``state``.
    cache : a :class:`StackStepCache`.

    ``h^{(k+1)}_t = cell_k(drop_k(h^{(k)}_t), s^{(k+1)}_{t-1})`` with ``h^{(0)}_t = x``.
    """
    state, dropping = _check_step(x, state, params, config, train, rng, prefix)
    cell, L = get_cell(config.cell), config.num_layers
    opts = config.cell_opts()
    inp = x
    caches, drops, new_rows = [], [], []
    for k in range(L):
        p = layer_params(params, layer_prefix(prefix, k, 0))
        new_s, c = cell.step_forward(inp, state_row(state, k), p, **opts)
        drop = None
        if dropping and k < L - 1:
            drop = dropout_mask(rng, tuple(new_s[0].shape), float(config.dropout), x.dtype)
        inp = new_s[0] if drop is None else new_s[0] * drop  # the next layer's input
        caches.append(c)
        new_rows.append(new_s)
        drops.append(drop)
    cache = StackStepCache(config, prefix, tuple(caches), tuple(drops), tuple(x.shape), x.dtype)
    return inp, stack_rows(new_rows), cache


def stack_step_backward(
    dh_top: Any, dnew_state: Any, cache: StackStepCache
) -> tuple[Any, tuple, dict]:
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
    dnew_state = _check_step_grads(dh_top, dnew_state, cache)
    config, prefix = cache.config, cache.prefix
    cell = get_cell(config.cell)
    dout = dh_top  # gradient reaching layer k's output from above (None = zero)
    grads: dict[str, Any] = {}
    dstate: list = [None] * config.num_layers
    for k in reversed(range(config.num_layers)):
        if dout is not None and cache.dropout[k] is not None:
            dout = dout * cache.dropout[k]
        ds = state_row(dnew_state, k)
        if dout is not None:  # h: from the next step and from the layer above
            ds = (dout if ds[0] is None else dout + ds[0],) + ds[1:]
        dout, dstate[k], g = cell.step_backward(ds, cache.cells[k])
        lp = layer_prefix(prefix, k, 0)
        grads.update({lp + name: value for name, value in g.items()})
    return dout, stack_rows(dstate), grads


def _check_step(x: Any, state: Any, params: Any, config: Any, train: Any, rng: Any,
                prefix: Any) -> tuple:
    """:func:`stack_step_forward`'s inputs; returns ``(state entries or None, dropping)``."""
    where = "stack_step_forward"
    dtype = check_stack_params(params, config, prefix, where)
    if config.bidirectional:
        raise ValueError(
            f"{where}: a bidirectional stack cannot run step by step (its reverse direction "
            "reads the sequence from the end); expected bidirectional=False, got True"
        )
    check_stack_input(x, config, dtype, 2, where)
    state = check_stack_state(state, config, config.num_layers, x.shape[0], dtype, "state",
                              where)
    return state, check_dropout(config, train, rng, where)


def _check_step_grads(dh_top: Any, dnew_state: Any, cache: Any) -> tuple:
    """:func:`stack_step_backward`'s inputs; returns the ``dnew_state`` entries."""
    where = "stack_step_backward"
    check_instance(cache, StackStepCache, f"{where} cache", "stack_step_forward")
    config, N = cache.config, cache.x_shape[0]
    if dh_top is not None:
        check_float(dh_top, f"{where} dh_top")
        check_shape(dh_top, (N, config.hidden_size), f"{where} dh_top", names=("N", "H"))
        check_dtype(dh_top, cache.dtype, f"{where} dh_top", source="the forward pass")
    entries = check_stack_state(dnew_state, config, config.num_layers, N, cache.dtype,
                                "dnew_state", where)
    return entries if entries is not None else (None,) * len(get_cell(config.cell).STATE_NAMES)
