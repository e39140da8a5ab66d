"""SGD with momentum (heavy ball) and with Nesterov momentum, in PyTorch's form.

The velocity ``v`` is a running sum of gradients, decayed by ``mu`` each step;
the parameter moves along ``v`` instead of along the latest gradient alone, so
directions the gradients agree on speed up and directions they flip in cancel.

PyTorch's form (used here) keeps ``lr`` outside the velocity,
``v <- mu v + g; p <- p - lr v``. CS231n's form, ``v <- mu v - lr g; p <- p + v``,
takes the same steps while ``lr`` is constant but not once a schedule changes it:
ours applies the new ``lr`` to the whole velocity at once.
"""

from __future__ import annotations

from typing import Any

from minis2s.optim.base import Optimizer


class Momentum(Optimizer):
    """SGD with (heavy-ball) momentum.

    For each parameter ``p`` with gradient ``g`` and velocity ``v`` (all the same
    shape, ``v`` starting at zero)::

        v <- mu v + g
        p <- p - lr v

    Parameters: ``lr`` (default 1e-3), ``momentum`` ``mu`` in [0, 1) (default 0.9).
    Matches ``torch.optim.SGD(momentum=mu)`` (dampening 0, no weight decay).
    """

    SLOTS = ("velocity",)
    HYPERPARAMS = {"lr": {"low": 0.0}, "momentum": {"low": 0.0, "high": 1.0, "high_open": True}}
    DEFAULT_LR = 1e-3

    def __init__(self, params: Any, lr: float | None = None, momentum: float = 0.9):
        super().__init__(params, lr)
        self.momentum = self.checked("momentum", momentum)

    def update(self, p: Any, g: Any, s: dict[str, Any]) -> None:
        mu = self.momentum
        v = s["velocity"] = mu * s["velocity"] + g  # v <- mu v + g
        p -= self.lr * v  # p <- p - lr v


class Nesterov(Momentum):
    """SGD with Nesterov momentum: the step looks ahead along the new velocity.

    For each parameter ``p`` with gradient ``g`` and velocity ``v`` (all the same
    shape, ``v`` starting at zero)::

        v <- mu v + g
        p <- p - lr (g + mu v)

    This is Sutskever et al.'s Nesterov update rewritten in terms of the
    parameters themselves (not the look-ahead point), as in
    ``torch.optim.SGD(momentum=mu, nesterov=True)``.
    """

    def update(self, p: Any, g: Any, s: dict[str, Any]) -> None:
        mu = self.momentum
        v = s["velocity"] = mu * s["velocity"] + g  # v <- mu v + g
        p -= self.lr * (g + mu * v)  # p <- p - lr (g + mu v)
