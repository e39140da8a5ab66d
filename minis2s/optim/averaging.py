"""Weight averaging: an exponential moving average of the parameters (Polyak averaging).

Adam's last iterate jitters around a minimum by about ``lr`` per step; the average of the
recent iterates sits closer to it. After every optimizer step ``t = 1, 2, ...``, for each
parameter ``p`` (element-wise)::

    a     <- d a + (1 - d) p          a starts at zero
    p_avg  = a / (1 - d^t)            the bias correction, as in Adam

``d`` in [0, 1) is the decay: the average reaches back about ``1 / (1 - d)`` steps
(``d = 0.999``: the last thousand or so). Since ``sum_{i=1..t} (1 - d) d^(t-i) = 1 - d^t``,
dividing by it makes ``p_avg`` a weighted mean of the iterates ``p_1 .. p_t`` (weights
``(1 - d) d^(t-i) / (1 - d^t)``, summing to 1) from the first step on: no start-up bias
toward zero, and a constant parameter (a frozen row) averages to itself.

Training updates the parameters themselves; only evaluation and the saved best model
use ``p_avg`` (:mod:`minis2s.train.loop`). Averaging adds no gradient, so it has no
backward pass to check: its tests pin the formula on golden sequences.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from minis2s import backend


class WeightAverage:
    """The moving average ``a`` of a parameter dict (arrays on the active backend)."""

    def __init__(self, params: Mapping[str, Any], decay: float):
        if isinstance(decay, bool) or not isinstance(decay, (int, float, np.floating)) \
                or not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"weight average decay: expected a number in [0, 1), got {decay!r}")
        xp = backend.get_xp()
        self.decay = float(decay)
        self.t = 0
        self.sums = {name: xp.zeros_like(p) for name, p in params.items()}

    def update(self, params: Mapping[str, Any]) -> None:
        """``a <- d a + (1 - d) p`` for every parameter, in place; ``t <- t + 1``."""
        d = self.decay
        for name, a in self.sums.items():
            a *= d
            a += (1.0 - d) * params[name]
        self.t += 1

    def averaged(self) -> dict[str, Any]:
        """``{name: a / (1 - d^t)}``: new arrays (``t = 0``: a ValueError, nothing to
        average yet)."""
        if self.t == 0:
            raise ValueError("weight average: no step has been averaged yet")
        scale = 1.0 / (1.0 - self.decay ** self.t)
        return {name: a * scale for name, a in self.sums.items()}

    @contextlib.contextmanager
    def swapped_in(self, params: Mapping[str, Any]) -> Iterator[None]:
        """While the block runs, ``params``' arrays hold the averaged weights (written in
        place, so whoever holds those arrays -- the model, the optimizer -- sees them);
        after it, their own values again, bit for bit."""
        own = {name: p.copy() for name, p in params.items()}
        for name, a in self.averaged().items():
            params[name][...] = a
        try:
            yield
        finally:
            for name, p in own.items():
                params[name][...] = p

    def state_dict(self) -> dict[str, Any]:
        """``{"step": t, "decay": d, "avg.<name>": host copy of a}``."""
        out: dict[str, Any] = {"step": self.t, "decay": self.decay}
        out.update({f"avg.{name}": np.array(backend.to_host(a), copy=True)
                    for name, a in self.sums.items()})
        return out

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (numbers may come back as 0-d arrays); keys, decay
        and shapes are checked before anything changes."""
        expected = {"step", "decay", *(f"avg.{name}" for name in self.sums)}
        if not isinstance(state, Mapping) or set(state) != expected:
            got = sorted(state) if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"weight average state: expected keys {sorted(expected)}, "
                             f"got {got}")
        step = int(np.asarray(state["step"]))
        if step < 0 or float(np.asarray(state["decay"])) != self.decay:
            raise ValueError(f"weight average state: step {step} and decay "
                             f"{float(np.asarray(state['decay']))} do not fit decay "
                             f"{self.decay}")
        arrays = {}
        for name, a in self.sums.items():
            saved = np.asarray(state[f"avg.{name}"])
            if saved.shape != a.shape:
                raise ValueError(f"weight average state: avg.{name} has shape {saved.shape}, "
                                 f"expected {a.shape}")
            arrays[name] = backend.to_device(saved, dtype=a.dtype)
        self.t, self.sums = step, arrays
