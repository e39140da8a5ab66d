"""Softmax with masked sequence cross-entropy: the loss of a padded batch (and the
decoders' log-softmax, :func:`~minis2s.ops.softmax_ce.log_softmax`).

For logits ``z`` ``(T, N, V)``, target ids ``y`` ``(T, N)`` and a padding mask
``m`` ``(T, N)`` (1 = real token, 0 = padding)::

    p[t, n, :]  = softmax(z[t, n, :])
    l[t, n]     = -log p[t, n, y[t, n]]
                = log sum_v exp(z[t, n, v]) - z[t, n, y[t, n]]          per-token loss
    L           = (sum_{t, n} m[t, n] l[t, n]) / (sum_{t, n} m[t, n])

The sum runs over real tokens only and is divided **once**, by the number of
real tokens ``C = sum m``: every real token weighs the same whatever sentence
it sits in, and ``L`` is the mean per-token loss (its ``exp`` the perplexity).
Dividing by ``T`` or ``N`` as well, or averaging per sentence first, gives a
different and length-dependent number.

Stability: ``log sum exp`` is computed as ``c + log sum exp(z - c)`` with
``c = max_v z``, so logits of ``1e4`` give a finite loss (``exp(1e4)`` alone
overflows).

Backward (``dL`` the upstream scalar, 1 for the loss itself)::

    dz[t, n, v] = dL * m[t, n] / C * (p[t, n, v] - [v == y[t, n]])

Label smoothing (``eps`` in [0, 1), 0 by default: the plain loss above) trains against
the target distribution ``q = (1 - eps) onehot(y) + eps / V`` instead of ``onehot(y)``,
so the model is not pushed to put all its mass on one token::

    l[t, n]     = -sum_v q_v log p[t, n, v]
                = (1 - eps) (-log p[t, n, y]) + eps / V sum_v (-log p[t, n, v])
                = log sum_v exp(z_v - c) - (1 - eps) (z_y - c) - eps / V sum_v (z_v - c)

(``q`` sums to 1, so ``sum_v q_v log sum exp`` is the log-sum-exp itself), and since
``d(log sum exp)/dz_v = p_v``::

    dz[t, n, v] = dL * m[t, n] / C * (p[t, n, v] - q_v)
                = dL * m[t, n] / C * (p[t, n, v] - (1 - eps) [v == y] - eps / V)

The smoothed loss is at least the entropy of ``q``, not 0; it is the training
objective only (validation reports the plain loss).

Padded positions get exactly zero gradient (selected with ``where``, so even
non-finite logits there cannot leak a NaN), and a padded target may hold any
integer: it is never used as an index.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.ops.validate import (
    check_float,
    check_instance,
    check_mask,
    check_shape,
    check_token_ids,
)


class SoftmaxCECache(NamedTuple):
    """What :func:`softmax_cross_entropy_backward` needs, plus the per-token losses."""

    probs: Any
    """``(T, N, V)`` the softmax ``p``."""
    targets: Any
    """``(T, N)`` target ids on the active backend, padding replaced by 0."""
    mask: Any
    """``(T, N)`` bool on the active backend, True at real tokens; ``None``: no padding."""
    count: int
    """``C``, the number of real tokens (a Python int, known on the host)."""
    token_losses: Any
    """``(T, N)`` ``l[t, n] = -log p[t, n, y[t, n]]`` (smoothed: ``-sum_v q_v log p_v``) at
    real tokens, exactly 0 at padding. ``token_losses.sum(axis=0)`` gives one summed loss
    per sentence."""
    smoothing: float = 0.0
    """``eps``, the label smoothing the loss was computed with."""


def softmax_cross_entropy_forward(
    logits: Any, targets: Any, mask: Any = None, smoothing: float = 0.0
) -> tuple[Any, SoftmaxCECache]:
    """Masked mean cross-entropy ``L = sum(m * l) / sum(m)`` (see the module docstring).

    Parameters
    ----------
    logits : ``(T, N, V)`` float, the unnormalised scores ``z``.
    targets : ``(T, N)`` integer ids, on the host or the active backend; in
        ``[0, V)`` wherever ``mask`` is 1 (checked on the host); any integer at padding.
    mask : ``(T, N)`` bool or 0/1 (host or active backend); ``None`` means
        every position is a real token.
    smoothing : label smoothing ``eps`` in [0, 1): the target distribution is
        ``(1 - eps) onehot(y) + eps / V``; 0 (the default) is the plain cross-entropy.

    Returns ``L`` as a 0-d array of ``logits.dtype`` on the active backend, and
    the cache (whose ``token_losses`` holds the ``(T, N)`` per-token losses).
    Raises ``ValueError`` when the mask holds no real token.
    """
    check_float(logits, "softmax_ce logits (T, N, V)", ndim=3)
    T, N, V = logits.shape
    if not hasattr(targets, "shape"):
        raise TypeError(f"softmax_ce targets: expected an integer array, got {type(targets)}")
    check_shape(targets, (T, N), "softmax_ce targets", names=("T", "N"))
    if mask is None:
        mask_host = None
        count = T * N
    else:
        mask_host = check_mask(mask, (T, N), "softmax_ce mask")
        count = int(mask_host.sum())
    check_token_ids(targets, V, "softmax_ce targets", mask=mask_host)
    smoothing = _check_smoothing(smoothing)
    if count == 0:
        raise ValueError(
            "softmax_ce: the mask holds no real token (every position is padding); "
            "the mean loss over zero tokens is undefined"
        )
    xp = backend.get_xp()
    y = backend.to_device(targets)
    m = None
    if mask_host is not None:
        m = backend.to_device(mask_host)
        y = xp.where(m, y, 0)                                 # padding never used as an index

    rows, cols = xp.arange(T)[:, None], xp.arange(N)[None, :]
    shifted = logits - logits.max(axis=-1, keepdims=True)    # z - c, c = max_v z
    target_shifted = shifted[rows, cols, y]                   # z_y - c, (T, N)
    probs = xp.exp(shifted)
    sum_exp = probs.sum(axis=-1)                              # (T, N), in [1, V]
    probs /= sum_exp[..., None]                               # p = softmax(z)
    token_losses = xp.log(sum_exp) - target_shifted           # l = log sum exp(z - c) - (z_y - c)
    if smoothing:      # l = log sum exp(z - c) - (1 - eps)(z_y - c) - eps / V sum_v (z_v - c)
        token_losses += smoothing * target_shifted
        token_losses -= (smoothing / V) * shifted.sum(axis=-1)
    if m is not None:
        token_losses = xp.where(m, token_losses, 0.0)         # exactly 0 at padding
    loss = xp.asarray(token_losses.sum() / count)             # divided once, by C
    return loss, SoftmaxCECache(probs, y, m, count, token_losses, smoothing)


def softmax_cross_entropy_backward(dloss: Any, cache: SoftmaxCECache) -> Any:
    """``dz = dL * m / C * (p - q)``, ``q = (1 - eps) onehot(y) + eps / V`` (``eps = 0``:
    ``p - onehot(y)``).

    Parameters
    ----------
    dloss : upstream gradient of the scalar loss: a Python float or a 0-d
        array (1.0 when the loss is the objective).
    cache : from :func:`softmax_cross_entropy_forward`.

    Returns ``dlogits`` ``(T, N, V)``, exactly zero at padded positions.
    """
    check_instance(cache, SoftmaxCECache, "softmax_cross_entropy_backward cache",
                   "softmax_cross_entropy_forward")
    xp = backend.get_xp()
    probs = cache.probs
    dloss = backend.to_device(dloss, dtype=probs.dtype)
    if dloss.shape != ():
        raise ValueError(
            f"softmax_ce dloss: expected a scalar or 0-d array, got shape {tuple(dloss.shape)}"
        )
    T, N, _ = probs.shape
    rows, cols = xp.arange(T)[:, None], xp.arange(N)[None, :]
    dz = probs.copy()
    eps = cache.smoothing
    dz[rows, cols, cache.targets] -= 1.0 - eps                # p - (1 - eps) onehot(y)
    if eps:
        dz -= eps / probs.shape[2]                            # ... - eps / V
    dz *= dloss / cache.count                                 # dL / C
    if cache.mask is None:
        return dz
    return xp.where(cache.mask[..., None], dz, 0.0)           # m: exactly zero at padding


def _check_smoothing(smoothing: Any) -> float:
    """``smoothing`` as a float in [0, 1); a TypeError or ValueError naming what came."""
    if isinstance(smoothing, (bool, np.bool_)) or not isinstance(
            smoothing, (int, float, np.integer, np.floating)):
        raise TypeError(f"softmax_ce smoothing: expected a number in [0, 1), "
                        f"got {type(smoothing).__name__}")
    if not 0.0 <= float(smoothing) < 1.0:      # also rejects NaN
        raise ValueError(f"softmax_ce smoothing: expected a number in [0, 1), got {smoothing!r}")
    return float(smoothing)


def log_softmax(logits: Any) -> Any:
    """``log p = z - c - log sum_v exp(z_v - c)`` over the last axis, ``c = max_v z``.

    ``logits (..., V)`` float on the active backend -> the log-probabilities, same shape
    (the decoders' step scores; no backward, decoding needs none).
    """
    check_float(logits, "log_softmax logits (..., V)")
    xp = backend.get_xp()
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
