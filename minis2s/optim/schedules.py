"""Learning-rate schedules: ``schedule(step) -> lr``, set on the optimizer before each step.

``step`` counts the updates already taken: 0 for the first update. A training
loop does::

    for step, batch in enumerate(batches):
        optimizer.lr = schedule(step)
        ...
        optimizer.step(grads)

Each schedule is a small callable object (so it prints, and its settings can be
logged); :func:`make_schedule` builds one by name.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

from minis2s.optim.base import check_number


def _check_count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


class Schedule:
    """Base class: ``schedule(step)`` checks ``step`` (an integer >= 0) and returns
    :meth:`lr_at`, the learning rate for that step (a Python float)."""

    def __init__(self, base_lr: float):
        self.base_lr = check_number(base_lr, "base_lr", low=0.0)

    def __call__(self, step: int) -> float:
        return self.lr_at(_check_count(step, "step", 0))

    def lr_at(self, step: int) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """``lr(step) = base_lr``."""

    def lr_at(self, step: int) -> float:
        return self.base_lr


class StepDecay(Schedule):
    """Multiply by ``gamma`` every ``step_size`` steps::

        lr(step) = base_lr * gamma ^ floor(step / step_size)

    ``step_size`` >= 1, ``gamma`` in (0, 1] (default 0.1), as ``torch.optim.lr_scheduler.StepLR``.
    """

    def __init__(self, base_lr: float, step_size: int, gamma: float = 0.1):
        super().__init__(base_lr)
        self.step_size = _check_count(step_size, "step_size", 1)
        self.gamma = check_number(gamma, "gamma", low=0.0, high=1.0, low_open=True)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma ** (step // self.step_size)


class Exponential(Schedule):
    """Multiply by ``gamma`` every step::

        lr(step) = base_lr * gamma ^ step

    ``gamma`` in (0, 1], as ``torch.optim.lr_scheduler.ExponentialLR``.
    """

    def __init__(self, base_lr: float, gamma: float):
        super().__init__(base_lr)
        self.gamma = check_number(gamma, "gamma", low=0.0, high=1.0, low_open=True)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma**step


class LinearWarmup(Schedule):
    """Rise linearly to ``base_lr`` over ``warmup_steps`` steps, then hand over::

        lr(step) = base_lr * (step + 1) / warmup_steps     for step < warmup_steps
        lr(step) = then(step - warmup_steps)                for step >= warmup_steps

    where ``then`` is another schedule (its clock restarts at 0 when the warm-up
    ends) or, if ``None``, the constant ``base_lr``. The first step uses
    ``base_lr / warmup_steps``, not 0 (a step with lr 0 would be wasted), and
    the last warm-up step reaches ``base_lr``. Warm-up keeps Adam's first, badly
    estimated steps small.
    """

    def __init__(self, base_lr: float, warmup_steps: int, then: Schedule | None = None):
        super().__init__(base_lr)
        self.warmup_steps = _check_count(warmup_steps, "warmup_steps", 1)
        if then is not None and not callable(then):
            raise TypeError(f"then must be a schedule (a callable step -> lr), got {then!r}")
        self.then = then

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.then is None:
            return self.base_lr
        return float(self.then(step - self.warmup_steps))


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": StepDecay,
    "exponential": Exponential,
    "warmup": LinearWarmup,
}


def _options(cls: type) -> list[str]:
    names = list(inspect.signature(cls).parameters)
    return [n for n in names if n != "base_lr"]


def make_schedule(name: str, base_lr: float, **kw: Any) -> Schedule:
    """A schedule by name: ``"constant"``, ``"step"`` (``step_size``, ``gamma``),
    ``"exponential"`` (``gamma``) or ``"warmup"`` (``warmup_steps``, ``then``).

    For ``"warmup"``, ``then`` may be a schedule object or the name of one; in the
    latter case the remaining keywords go to it, with the same ``base_lr``::

        make_schedule("warmup", 1e-3, warmup_steps=100, then="exponential", gamma=0.999)

    Unknown names raise ``ValueError`` listing the choices; unknown options
    raise ``TypeError`` listing the schedule's options.
    """
    if not isinstance(name, str) or name.lower() not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}: expected one of {', '.join(SCHEDULES)}")
    name = name.lower()
    cls = SCHEDULES[name]
    if name == "warmup" and isinstance(kw.get("then"), str):
        then_name = kw.pop("then")
        own = {k: kw.pop(k) for k in list(kw) if k in ("warmup_steps",)}
        return LinearWarmup(base_lr, then=make_schedule(then_name, base_lr, **kw), **own)
    unknown = [k for k in kw if k not in _options(cls)]
    if unknown:
        raise TypeError(
            f"schedule {name!r} takes no option {unknown[0]!r} "
            f"(its options: {', '.join(_options(cls))})"
        )
    return cls(base_lr, **kw)
