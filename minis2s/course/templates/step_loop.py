"""Template: a cell's whole-sequence path as a plain loop over its own step functions.

``minis2s course build`` splices the definitions below into a cell module of the
student edition (``rewrite = ["minis2s.cells.lstm:step_loop"]`` in assignments.toml),
in place of the module's fast ``sequence_forward`` / ``sequence_backward``: those
compute the same gradients as the ``step_backward`` the student writes, so they would
give the answer away. Looped, the sequence runs through the student's step functions,
and stacks and models (which call ``sequence_forward`` / ``sequence_backward``) train
on them. The host module must provide the names in :data:`NEEDS` (every gated cell
does: its step functions, its ``LAYOUT`` and the checks of
:mod:`minis2s.cells.validate`, so that bad input is refused with the library's own
messages); :data:`REPLACES` lists what is replaced and :data:`ADDS` what is added.

This file is a template, not a module of the package: it is read as text.
"""

# ruff: noqa: F821  (step_forward, step_backward, LAYOUT ... come from the host module)
from __future__ import annotations

from typing import Any, NamedTuple

from minis2s import backend
from minis2s.cells.validate import check_cell_grad, check_sequence, check_state_grads
from minis2s.ops.validate import check_instance

REPLACES = ("sequence_forward", "sequence_backward")
ADDS = ("StepLoopCache",)
NEEDS = ("step_forward", "step_backward", "LAYOUT", "backend", "Any", "NamedTuple",
         "check_sequence", "check_cell_grad", "check_state_grads", "check_instance")


class StepLoopCache(NamedTuple):
    """What :func:`sequence_backward` needs: the step caches and the mask."""

    steps: tuple  # one cache of step_forward per time step
    keep: Any  # (T, N, 1) bool, True where the state is carried (mask 0), or None
    x_shape: tuple  # (T, N, D)
    state_shape: tuple  # (N, H)
    dtype: Any


def sequence_forward(x: Any, state0: Any, params: dict, mask: Any = None) -> tuple:
    """Run the cell over ``T`` steps by looping :func:`step_forward`.

    Parameters
    ----------
    x : (T, N, D) inputs, time-major.
    state0 : a tuple over ``STATE_NAMES`` of (N, H) arrays; ``None`` (or a ``None``
        entry) means zeros.
    params : the cell's parameters (see :func:`step_forward`).
    mask : optional (T, N) of 0/1. Where ``mask[t, n] = 0`` row ``n`` keeps its state:
        ``s_t = m_t s~_t + (1 - m_t) s_{t-1}`` for every state component, where
        ``s~_t`` is what :func:`step_forward` computes.

    Returns ``(hs (T, N, H), state_T, cache)``: ``hs[t]`` is ``h_t``, ``state_T`` the
    final state tuple. (The student edition's sequence path: the library's fast version
    of these equations is withheld while the step backward is an assignment.)
    """
    state0, mask, H, dtype = check_sequence(LAYOUT, x, state0, params, mask)
    xp = backend.get_xp()
    T, N, _ = x.shape
    keep = None if mask is None else xp.logical_not(mask)[:, :, None]
    state = None if all(s is None for s in state0) else state0
    caches, outs = [], []
    for t in range(T):
        new, cache = step_forward(x[t], state, params)
        if keep is not None:  # carry the previous state where the mask is 0
            old = tuple(xp.zeros_like(s) if p is None else p
                        for s, p in zip(new, state or (None,) * len(new)))
            new = tuple(xp.where(keep[t], p, s) for s, p in zip(new, old))
        caches.append(cache)
        outs.append(new[0])
        state = new
    hs = xp.stack(outs)
    cache = StepLoopCache(tuple(caches), keep, tuple(x.shape), (N, H), dtype)
    return hs, tuple(state), cache


def sequence_backward(dhs: Any, dstate_T: Any, cache: StepLoopCache) -> tuple:
    """Backward of :func:`sequence_forward`, by looping :func:`step_backward` from the
    last step to the first.

    Parameters
    ----------
    dhs : (T, N, H) gradient with respect to ``hs``, or ``None`` (zero).
    dstate_T : a tuple over ``STATE_NAMES`` of (N, H) gradients with respect to the
        final state (``None`` entries, or ``None``, mean zero).
    cache : from :func:`sequence_forward`.

    Returns ``(dx (T, N, D), dstate0, grads)``: ``dstate0`` a tuple like ``state0``,
    ``grads`` one array per parameter (summed over the steps).
    """
    check_instance(cache, StepLoopCache, f"{LAYOUT.cell} sequence_backward cache",
                   f"{LAYOUT.cell} sequence_forward")
    xp = backend.get_xp()
    T, N, D = cache.x_shape
    H = cache.state_shape[1]
    check_cell_grad(LAYOUT, dhs, (T, N, H), cache.dtype, "dhs")
    dstate_T = check_state_grads(LAYOUT, dstate_T, N, H, cache.dtype, "dstate_T")
    zeros = xp.zeros((N, H), dtype=cache.dtype)
    d = tuple(zeros if g is None else g for g in dstate_T)
    dx = xp.empty((T, N, D), dtype=cache.dtype)
    grads: dict = {}
    for t in range(T - 1, -1, -1):
        if dhs is not None:
            d = (d[0] + dhs[t],) + tuple(d[1:])
        skip = None
        if cache.keep is not None:  # a carried state passes its gradient straight back
            skip = tuple(xp.where(cache.keep[t], g, 0.0) for g in d)
            d = tuple(xp.where(cache.keep[t], 0.0, g) for g in d)
        dx[t], d, g_t = step_backward(d, cache.steps[t])
        if skip is not None:
            d = tuple(a + b for a, b in zip(d, skip))
        for name, value in g_t.items():
            grads[name] = value if name not in grads else grads[name] + value
    return dx, tuple(d), grads
