"""Adagrad: divide each gradient entry by the root of the sum of all its past squares."""

from __future__ import annotations

from typing import Any

from minis2s import backend
from minis2s.optim.base import Optimizer, check_number


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan and Singer, 2011), in PyTorch's form.

    For each parameter ``p`` with gradient ``g`` and accumulated squares ``G``
    (all the same shape, ``G`` starting at ``initial_accumulator``; squares and
    roots element-wise)::

        G <- G + g^2
        p <- p - lr g / (sqrt(G) + eps)

    ``G`` only grows, so each entry's step size only shrinks: rarely updated
    entries (embeddings of rare tokens) keep larger steps than frequent ones.
    ``eps`` is added *outside* the square root, as PyTorch does. Parameters:
    ``lr`` (default 1e-2), ``eps`` > 0 (default 1e-10), ``initial_accumulator``
    >= 0 (default 0). Matches ``torch.optim.Adagrad`` (no lr decay, no weight decay).
    """

    SLOTS = ("sum_sq",)
    HYPERPARAMS = {"lr": {"low": 0.0}, "eps": {"low": 0.0, "low_open": True}}
    DEFAULT_LR = 1e-2

    def __init__(
        self,
        params: Any,
        lr: float | None = None,
        eps: float = 1e-10,
        initial_accumulator: float = 0.0,
    ):
        self.initial_accumulator = check_number(initial_accumulator, "initial_accumulator", low=0)
        super().__init__(params, lr)
        self.eps = self.checked("eps", eps)

    def init_slot(self, slot: str, p: Any) -> Any:
        return backend.get_xp().full_like(p, self.initial_accumulator)

    def update(self, p: Any, g: Any, s: dict[str, Any]) -> None:
        xp = backend.get_xp()
        G = s["sum_sq"] = s["sum_sq"] + g * g  # G <- G + g^2
        p -= self.lr * g / (xp.sqrt(G) + self.eps)  # p <- p - lr g / (sqrt(G) + eps)
