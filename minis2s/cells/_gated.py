"""What the gated cells (LSTM and GRU) share: parameter layout, initialisation, masks.

Both cells store PyTorch's fused layout: ``G`` gate blocks of ``H`` rows stacked in
one weight, ``W_ih (G*H, D)``, ``W_hh (G*H, H)``, ``b_ih (G*H,)``, ``b_hh (G*H,)``.
Their inputs are checked by :mod:`minis2s.cells.validate` (with the
:class:`~minis2s.cells.validate.CellLayout` from :func:`layout`), their sigmoid is
:func:`minis2s.ops.activations.sigmoid`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minis2s import backend
from minis2s.cells.validate import CellLayout
from minis2s.ops.validate import check_float_dtype, check_generator, check_positive_int

PARAM_NAMES = ("W_ih", "W_hh", "b_ih", "b_hh")
TORCH_NAMES = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}


def layout(cell: str, gates: int, state_names: tuple) -> CellLayout:
    """The layout the input checks read: ``W_ih``, ``W_hh``, ``b_ih``, ``b_hh``."""
    return CellLayout(cell, gates, "W_ih", "W_hh", ("b_ih", "b_hh"), state_names)


def param_shapes(cell: str, gates: int, D: int, H: int) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of a cell with ``gates`` gate blocks, input size D, hidden size H."""
    D = check_positive_int(D, f"{cell} input size D")
    H = check_positive_int(H, f"{cell} hidden size H")
    return {"W_ih": (gates * H, D), "W_hh": (gates * H, H),
            "b_ih": (gates * H,), "b_hh": (gates * H,)}


def init_params(cell: str, gates: int, rng: Any, D: int, H: int, dtype: Any) -> dict:
    """Host arrays drawn from ``U(-1/sqrt(H), 1/sqrt(H))``, PyTorch's default for RNN cells."""
    check_generator(rng, f"{cell}.init_params")
    dtype = check_float_dtype(dtype, f"{cell}.init_params")
    shapes = param_shapes(cell, gates, D, H)  # validates D and H
    bound = 1.0 / np.sqrt(H)
    return {name: rng.uniform(-bound, bound, size=shape).astype(dtype)
            for name, shape in shapes.items()}


def zeros_if_none(a: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
    """``a``, or zeros of ``shape`` where ``a`` is ``None`` (``None`` means zero)."""
    return backend.get_xp().zeros(shape, dtype=dtype) if a is None else a


def mask_factors(mask: Any, dtype: Any) -> tuple[Any, Any]:
    """``(m, keep)`` from a ``(T, N)`` bool mask (``None``: ``(None, None)``): ``m (T, N, 1)``
    as ``dtype`` multiplies gradients, ``keep (T, N, 1)`` bool is True where the state
    is carried (mask 0)."""
    if mask is None:
        return None, None
    return mask.astype(dtype)[:, :, None], backend.get_xp().logical_not(mask)[:, :, None]


def padded_steps(keep: Any, T: int) -> list[bool]:
    """Per step, whether any row carries its state there (``keep (T, N, 1)`` from
    :func:`mask_factors`; ``None``: no step). On the host: a step where every row is
    real skips the mask's work (the carry forward, the split of the gradient backward),
    which would change nothing there. Bucketed batches pad only their last steps."""
    if keep is None:
        return [False] * T
    return backend.to_host(keep.any(axis=(1, 2))).tolist()
