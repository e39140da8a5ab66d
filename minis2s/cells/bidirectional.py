r"""The two directions of a bidirectional layer, and handing their states to a decoder.

A bidirectional layer runs a second, independent cell over the sequence read
backwards and concatenates the two outputs per time step,

.. math::

    \overrightarrow{h}_t = \mathrm{cell}(x_t, \overrightarrow{h}_{t-1}), \quad
    \overleftarrow{h}_t = \mathrm{cell}'(x_t, \overleftarrow{h}_{t+1}), \quad
    h_t = [\overrightarrow{h}_t ; \overleftarrow{h}_t] \in \mathbb{R}^{2H}.

:func:`direction_forward` / :func:`direction_backward` run one cell in one direction
(the layer loop of :mod:`minis2s.cells.stack` calls them once per direction);
:func:`merge_bidirectional_state` / :func:`split_bidirectional_state` turn the
``(2L, N, H)`` final states of a bidirectional encoder into ``(L, N, 2H)`` and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any


def direction_forward(cell: ModuleType, x: Any, state0: tuple, params: Mapping[str, Any],
                      mask: Any, reverse: bool, opts: dict) -> tuple[Any, tuple, Any]:
    """One cell over the whole sequence, forwards or (``reverse``) backwards.

    ``x`` ``(T, N, D)``, ``state0`` the cell's initial state, ``mask`` ``(T, N)`` or ``None``.
    Returns ``(hs (T, N, H), state_T, cache)`` with ``hs[t]`` the output at position ``t``
    in either direction. The reverse cell reads ``x[::-1]`` with ``mask[::-1]``: a
    right-padded row's padding then comes *first*, where the mask holds the initial
    state unchanged, so the reverse cell starts at the row's true last token, exactly
    as if the row had been run alone (PyTorch gets the same from
    ``pack_padded_sequence``); its outputs are flipped back into source order.
    """
    if not reverse:
        return cell.sequence_forward(x, state0, params, mask=mask, **opts)
    rmask = None if mask is None else mask[::-1]
    hs, state_T, cache = cell.sequence_forward(x[::-1], state0, params, mask=rmask, **opts)
    return hs[::-1], state_T, cache


def direction_backward(cell: ModuleType, dhs: Any, dstate_T: tuple, cache: Any,
                       reverse: bool) -> tuple[Any, tuple, dict]:
    """Backward of :func:`direction_forward`: the reverse cell's backward runs on the
    reversed gradient ``dhs[::-1]``, and the input gradient it returns is flipped back.

    Returns ``(dx (T, N, D), dstate0, grads)``.
    """
    if not reverse:
        return cell.sequence_backward(dhs, dstate_T, cache)
    dx, dstate0, grads = cell.sequence_backward(dhs[::-1], dstate_T, cache)
    return dx[::-1], dstate0, grads


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
