"""A learned embedding: token id ``v`` -> row ``v`` of a matrix ``W``.

Forward, for ids ``y`` ``(T, N)`` and ``W`` ``(V, D)``::

    out[t, n] = W[y[t, n]]                                   -> (T, N, D)

which is ``onehot(y[t, n]) @ W``, computed as a lookup.

Backward. Entry ``W[v, d]`` reaches every output position holding token
``v``, so its gradient is the sum over those positions::

    dW[v] = sum over (t, n) with y[t, n] == v of dout[t, n]      -> (V, D)

A token that occurs twice in a batch must receive *both* contributions. The
tempting ``dW[y] += dout`` keeps only one of them (the indexed assignment
writes each row once); :func:`minis2s.backend.scatter_add` (``np.add.at``,
``cupyx.scatter_add``) accumulates, and ``tests/test_ops_embedding.py``
checks a batch with repeated ids.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from minis2s import backend
from minis2s.ops.validate import (
    check_dtype,
    check_float,
    check_instance,
    check_shape,
    check_token_ids,
)


class EmbeddingCache(NamedTuple):
    """What :func:`embedding_backward` needs."""

    ids: Any
    """``(T, N)`` or ``(N,)`` integer ids on the active backend."""
    vocab_size: int
    """``V``, the number of rows of ``W``."""
    dim: int
    """``D``, the number of columns of ``W``."""
    dtype: Any
    """the dtype of ``W`` (and of ``dW``)."""


def embedding_forward(ids: Any, W: Any) -> tuple[Any, EmbeddingCache]:
    """``out[..., :] = W[ids[...], :]``.

    Parameters
    ----------
    ids : integer array ``(T, N)`` (a sequence batch) or ``(N,)`` (one decoding
        step), on the host or the active backend; ids in ``[0, V)``, checked
        on the host before any indexing.
    W : ``(V, D)`` float, the embedding matrix (one row per token).

    Returns ``out`` ``(T, N, D)`` or ``(N, D)``, and the cache.
    """
    check_float(W, "embedding W (V, D)", ndim=2)
    V, D = W.shape
    check_token_ids(ids, V, "embedding ids")
    if ids.ndim not in (1, 2):
        raise ValueError(
            f"embedding ids: expected shape (T, N) or (N,), got {tuple(ids.shape)}"
        )
    ids = backend.to_device(ids)
    return W[ids], EmbeddingCache(ids, V, D, W.dtype)


def embedding_backward(dout: Any, cache: EmbeddingCache) -> Any:
    """``dW[v] = sum_{(t, n): ids[t, n] = v} dout[t, n]`` by scatter-add.

    Parameters
    ----------
    dout : ``(T, N, D)`` or ``(N, D)``, upstream gradient ``dL/dout`` (not modified).
    cache : from :func:`embedding_forward`.

    Returns ``dW`` ``(V, D)``; rows of tokens absent from the batch are zero.
    """
    check_instance(cache, EmbeddingCache, "embedding_backward cache", "embedding_forward")
    check_float(dout, "embedding dout")
    check_shape(dout, tuple(cache.ids.shape) + (cache.dim,), "embedding dout")
    check_dtype(dout, cache.dtype, "embedding dout", source="the forward pass")
    xp = backend.get_xp()
    dW = xp.zeros((cache.vocab_size, cache.dim), dtype=cache.dtype)
    backend.scatter_add(dW, cache.ids.reshape(-1), dout.reshape(-1, cache.dim))
    return dW
