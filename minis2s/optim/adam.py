"""Adam: momentum on the gradient, RMSprop on its scale, both bias-corrected."""

from __future__ import annotations

from typing import Any

from minis2s import backend
from minis2s.optim.base import Optimizer


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), with bias correction, in PyTorch's form.

    For each parameter ``p`` with gradient ``g``, first moment ``m`` and second
    moment ``v`` (all the same shape, ``m`` and ``v`` starting at zero; squares,
    roots and divisions element-wise), at step ``t = 1, 2, ...``::

        m     <- beta1 m + (1 - beta1) g
        v     <- beta2 v + (1 - beta2) g^2
        m_hat  = m / (1 - beta1^t)
        v_hat  = v / (1 - beta2^t)
        p     <- p - lr m_hat / (sqrt(v_hat) + eps)

    ``m`` and ``v`` start at zero, so early on they underestimate the moments by
    the factors ``1 - beta^t``; dividing by them (bias correction) removes that.
    ``eps`` is added to ``sqrt(v_hat)`` -- outside the root, after the bias
    correction -- as in the paper and in ``torch.optim.Adam``.

    Parameters: ``lr`` (default 1e-3), ``betas = (beta1, beta2)`` each in [0, 1)
    (default (0.9, 0.999)), ``eps`` > 0 (default 1e-8): PyTorch's defaults,
    and the article's choice (Adam, lr 1e-3).
    """

    SLOTS = ("m", "v")
    HYPERPARAMS = {
        "lr": {"low": 0.0},
        "beta1": {"low": 0.0, "high": 1.0, "high_open": True},
        "beta2": {"low": 0.0, "high": 1.0, "high_open": True},
        "eps": {"low": 0.0, "low_open": True},
    }
    DEFAULT_LR = 1e-3

    def __init__(
        self,
        params: Any,
        lr: float | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.beta1 = self.checked("beta1", betas[0])
        self.beta2 = self.checked("beta2", betas[1])
        self.eps = self.checked("eps", eps)

    def update(self, p: Any, g: Any, s: dict[str, Any]) -> None:
        xp = backend.get_xp()
        b1, b2, t = self.beta1, self.beta2, self.t
        m = s["m"] = b1 * s["m"] + (1 - b1) * g  # m <- beta1 m + (1 - beta1) g
        v = s["v"] = b2 * s["v"] + (1 - b2) * g * g  # v <- beta2 v + (1 - beta2) g^2
        m_hat = m / (1 - b1**t)  # m_hat = m / (1 - beta1^t)
        v_hat = v / (1 - b2**t)  # v_hat = v / (1 - beta2^t)
        p -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)  # p <- p - lr m_hat / (...)
