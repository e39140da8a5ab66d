"""Plain stochastic gradient descent: step against the gradient."""

from __future__ import annotations

from typing import Any

from minis2s.optim.base import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, no memory between steps.

    For each parameter ``p`` (any shape) with gradient ``g`` (same shape)::

        p <- p - lr g

    Parameters: ``params`` (dict of float arrays, updated in place), ``lr``
    (default 1e-3, PyTorch's).
    """

    DEFAULT_LR = 1e-3

    def update(self, p: Any, g: Any, s: dict[str, Any]) -> None:
        p -= self.lr * g  # p <- p - lr g
