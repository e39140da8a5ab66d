"""Global-norm gradient clipping: the cure for exploding RNN gradients (Pascanu et al., 2013).

All gradients are seen as one long vector ``g = (g_1, ..., g_K)`` (every array
flattened and concatenated). Its Euclidean norm

    ||g|| = sqrt( sum_k sum_i g_k[i]^2 )

is the *global* norm. If it exceeds ``max_norm``, every array is scaled by the
same factor, so the direction of the step is kept and only its length is cut::

    g_k <- g_k * max_norm / (||g|| + 1e-6)      (only when ||g|| > max_norm)

The ``1e-6`` (PyTorch's) keeps the clipped norm just below ``max_norm`` despite
rounding. Clipping each array on its own would change the direction as well.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from minis2s import backend
from minis2s.optim.base import check_number

CLIP_EPS = 1e-6


def global_norm(grads: Mapping[str, Any]) -> float:
    """``||g|| = sqrt(sum_k sum_i g_k[i]^2)`` over every array of ``grads`` (a Python float).

    ``grads``: dict ``{name: array}`` of any shapes on the active backend. The sum of
    squares is formed on the device; one number crosses to the host.
    """
    if not isinstance(grads, Mapping):
        raise TypeError(f"grads must be a dict {{name: array}}, got {type(grads).__name__}")
    if not grads:
        raise ValueError("grads is empty: there is no gradient to measure")
    xp = backend.get_xp()
    for name, g in grads.items():
        if not isinstance(g, xp.ndarray):
            raise TypeError(
                f"grads[{name!r}] is a {type(g).__module__}.{type(g).__name__}, expected an "
                f"array of the active backend {backend.backend_name()!r}"
            )
    # sum_k ||g_k||^2 on the device, accumulated in float64 so float32 grads lose no digits
    sum_sq = sum(xp.sum(g * g, dtype=xp.float64) for g in grads.values())
    return math.sqrt(backend.to_float(sum_sq))


def clip_grad_norm(grads: Mapping[str, Any], max_norm: float) -> float:
    """Scale all of ``grads`` in place so that their global norm is at most ``max_norm``.

    ``grads``: dict ``{name: array}`` (any shapes, active backend), modified in
    place; ``max_norm`` > 0. Returns the global norm *before* clipping, as a
    Python float (worth logging: its history shows exploding gradients).

    If the norm is not finite (a NaN or inf somewhere), the gradients are left
    as they are and the NaN/inf is returned, so the caller can skip the step.
    """
    max_norm = check_number(max_norm, "max_norm", low=0.0, low_open=True)
    total = global_norm(grads)
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + CLIP_EPS)
        for g in grads.values():
            g *= scale  # g_k <- g_k * max_norm / (||g|| + eps)
    return total
