"""RMSprop: divide each gradient entry by a running root-mean-square of its past values."""

from __future__ import annotations

from typing import Any

from minis2s import backend
from minis2s.optim.base import Optimizer


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), in PyTorch's form.

    For each parameter ``p`` with gradient ``g`` and running mean of squares ``s``
    (all the same shape, ``s`` starting at zero; squares and roots element-wise)::

        s <- alpha s + (1 - alpha) g^2
        p <- p - lr g / (sqrt(s) + eps)

    ``eps`` is added *outside* the square root, as PyTorch does. Parameters:
    ``lr`` (default 1e-2), ``alpha`` in [0, 1) (default 0.99), ``eps`` > 0
    (default 1e-8). Matches ``torch.optim.RMSprop`` without momentum/centering.
    """

    SLOTS = ("square_avg",)
    HYPERPARAMS = {
        "lr": {"low": 0.0},
        "alpha": {"low": 0.0, "high": 1.0, "high_open": True},
        "eps": {"low": 0.0, "low_open": True},
    }
    DEFAULT_LR = 1e-2

    def __init__(
        self, params: Any, lr: float | None = None, alpha: float = 0.99, eps: float = 1e-8
    ):
        super().__init__(params, lr)
        self.alpha = self.checked("alpha", alpha)
        self.eps = self.checked("eps", eps)

    def update(self, p: Any, g: Any, s: dict[str, Any]) -> None:
        xp = backend.get_xp()
        a = self.alpha
        sq = s["square_avg"] = a * s["square_avg"] + (1 - a) * g * g  # s <- a s + (1-a) g^2
        p -= self.lr * g / (xp.sqrt(sq) + self.eps)  # p <- p - lr g / (sqrt(s) + eps)
