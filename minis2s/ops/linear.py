"""An affine map applied at every position: ``y = W x + b``.

Forward, for ``x`` ``(..., D)`` (e.g. ``(T, N, D)``), ``W`` ``(M, D)``, ``b`` ``(M,)``::

    y[..., :] = W x[..., :] + b        in code:  y = x @ W.T + b      -> (..., M)

Backward, with ``X`` = ``x`` flattened to ``(K, D)`` and ``dY`` = ``dy``
flattened to ``(K, M)``, ``K`` = the product of the leading dims::

    dx = dy @ W                        dL/dx[k] = W^T dy[k]           -> (..., D)
    dW = dY^T X                        sum_k dy[k] x[k]^T             -> (M, D)
    db = sum_k dY[k]                                                  -> (M,)

``dW`` is a sum over every time step and every sequence of an outer product;
writing that sum as *one* ``(M, K) @ (K, D)`` matrix product instead of a
Python loop of ``T`` products is the same arithmetic, done by one BLAS call
(or one GPU kernel) that keeps the machine busy.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from minis2s.ops.validate import (
    check_dtype,
    check_float,
    check_instance,
    check_same_dtype,
    check_shape,
)


class LinearCache(NamedTuple):
    """What :func:`linear_backward` needs."""

    x: Any
    """``(..., D)`` the input."""
    W: Any
    """``(M, D)`` the weight."""
    has_bias: bool
    """whether a bias was added (``db`` is ``None`` otherwise)."""


def linear_forward(x: Any, W: Any, b: Any = None) -> tuple[Any, LinearCache]:
    """``y = x @ W.T + b``, i.e. ``y = W x + b`` at every leading position.

    Parameters
    ----------
    x : ``(..., D)`` float (``(T, N, D)`` for a sequence batch, ``(N, D)`` for one step).
    W : ``(M, D)`` float, stored (out_features, in_features).
    b : ``(M,)`` float, or ``None`` for a map without bias.

    Returns ``y`` ``(..., M)`` and the cache.
    """
    check_float(W, "linear W (M, D)", ndim=2)
    M, D = W.shape
    check_float(x, "linear x (..., D)")
    if x.ndim < 1 or x.shape[-1] != D:
        raise ValueError(
            f"linear x: expected a last axis of length D = {D} (W has shape {tuple(W.shape)}), "
            f"got x of shape {tuple(x.shape)}"
        )
    if b is not None:
        check_float(b, "linear b (M,)")
        check_shape(b, (M,), "linear b", names=("M",))
    check_same_dtype({"x": x, "W": W, "b": b}, "linear")
    y = (x.reshape(-1, D) @ W.T).reshape(x.shape[:-1] + (M,))
    if b is not None:
        y += b
    return y, LinearCache(x, W, b is not None)


def linear_backward(dy: Any, cache: LinearCache) -> tuple[Any, Any, Any]:
    """Gradients of ``y = x @ W.T + b``.

    Parameters
    ----------
    dy : ``(..., M)`` upstream gradient ``dL/dy`` (not modified).
    cache : from :func:`linear_forward`.

    Returns ``(dx (..., D), dW (M, D), db (M,) or None)``::

        dx = dy @ W        dW = dY^T X (one product)        db = sum_k dY[k]
    """
    check_instance(cache, LinearCache, "linear_backward cache", "linear_forward")
    x, W = cache.x, cache.W
    M, D = W.shape
    check_float(dy, "linear dy")
    check_shape(dy, tuple(x.shape[:-1]) + (M,), "linear dy")
    check_dtype(dy, W.dtype, "linear dy", source="the forward pass")
    dY = dy.reshape(-1, M)
    dx = (dY @ W).reshape(x.shape)
    dW = dY.T @ x.reshape(-1, D)
    db = dY.sum(axis=0) if cache.has_bias else None
    return dx, dW, db

