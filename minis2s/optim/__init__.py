"""Optimizers, gradient clipping and learning-rate schedules.

One idea per file:

========================  ==================================================
``base.py``               the :class:`Optimizer` base: in-place updates of a flat
                          parameter dict, checks, ``state_dict``/``load_state_dict``
``sgd.py``                :class:`SGD`            ``p <- p - lr g``
``momentum.py``           :class:`Momentum`, :class:`Nesterov`
``rmsprop.py``            :class:`RMSprop`
``adagrad.py``            :class:`Adagrad`
``adam.py``               :class:`Adam` (bias-corrected)
``clipping.py``           :func:`clip_grad_norm`, :func:`global_norm`
``schedules.py``          :func:`make_schedule` and the schedules
``averaging.py``          :class:`WeightAverage`: a moving average of the weights
========================  ==================================================

A training step::

    loss, grads = model.loss_and_grads(batch)
    norm = clip_grad_norm(grads, max_norm=5.0)
    optimizer.lr = schedule(step)
    optimizer.step(grads)          # params updated in place
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from minis2s.optim.adagrad import Adagrad
from minis2s.optim.adam import Adam
from minis2s.optim.averaging import WeightAverage
from minis2s.optim.base import Optimizer, check_number
from minis2s.optim.clipping import clip_grad_norm, global_norm
from minis2s.optim.momentum import Momentum, Nesterov
from minis2s.optim.rmsprop import RMSprop
from minis2s.optim.schedules import (
    SCHEDULES,
    Constant,
    Exponential,
    LinearWarmup,
    Schedule,
    StepDecay,
    make_schedule,
)
from minis2s.optim.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adagrad": Adagrad,
}


def make_optimizer(
    name: str, params: Mapping[str, Any], lr: float | None = None, **kw: Any
) -> Optimizer:
    """An optimizer by name over ``params`` (dict of float arrays on the active backend).

    ``name``: one of ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"rmsprop"``,
    ``"adam"``, ``"adagrad"`` (``ValueError`` listing them otherwise). ``lr``:
    the learning rate, ``None`` for the optimizer's default. ``kw``: the
    optimizer's own options (``momentum``, ``alpha``, ``betas``, ``eps``, ...);
    an option it does not take raises ``TypeError`` listing those it does.
    """
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name.lower()]
    options = [n for n in inspect.signature(cls).parameters if n not in ("params", "lr")]
    unknown = [k for k in kw if k not in options]
    if unknown:
        raise TypeError(
            f"optimizer {name!r} takes no option {unknown[0]!r} "
            f"(its options: {', '.join(options) or 'none besides lr'})"
        )
    return cls(params, lr, **kw)


__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adagrad",
    "Adam",
    "Constant",
    "Exponential",
    "LinearWarmup",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "Schedule",
    "StepDecay",
    "WeightAverage",
    "check_number",
    "clip_grad_norm",
    "global_norm",
    "make_optimizer",
    "make_schedule",
]
