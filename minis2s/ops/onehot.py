"""One-hot encoding: a token id as a vector with a single 1.

For ids ``y`` of shape ``(T, N)`` and a vocabulary of ``V`` words::

    onehot(y)[t, n, v] = 1 if y[t, n] == v else 0            -> (T, N, V)

It has no parameters. Multiplying a one-hot vector by a matrix picks a row,
``onehot(y) @ W == W[y]``, which is why a learned embedding
(:mod:`minis2s.ops.embedding`) is computed by indexing, not by this product:
the product costs ``T N V D`` multiply-adds, the lookup ``T N D`` copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minis2s import backend
from minis2s.ops.validate import check_float_dtype, check_positive_int, check_token_ids


def onehot(ids: Any, vocab_size: int, dtype: Any = np.float32) -> Any:
    """``out[..., v] = [ids[...] == v]``.

    Parameters
    ----------
    ids : integer array ``(T, N)`` (any shape ``S`` works), on the host or the
        active backend; every id in ``[0, V)`` (checked on the host).
    vocab_size : ``V``, a positive integer.
    dtype : a floating-point dtype for the result (float32 by default).

    Returns an array of the active backend with shape ``S + (V,)``.
    """
    V = check_positive_int(vocab_size, "onehot vocab_size")
    dtype = check_float_dtype(dtype, "onehot dtype")
    check_token_ids(ids, V, "onehot ids")
    xp = backend.get_xp()
    ids = backend.to_device(ids)
    # One broadcast comparison, (..., 1) == (V,) -> (..., V): no V x V identity matrix.
    return (ids[..., None] == xp.arange(V)).astype(dtype)
