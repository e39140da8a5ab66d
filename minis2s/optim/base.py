"""The optimizer base class: a flat parameter dict, updated in place, with checkpointable state.

Every optimizer in :mod:`minis2s.optim` works on the model's parameter dict

    params: {name: array}      e.g. {"enc.W_ih": (4H, D), "enc.b_ih": (4H,), ...}

and, each step, on a gradient dict with exactly the same keys and shapes. It
subtracts its step from each array *in place* (``p -= ...``), so the model, which
holds the same dict, sees the new values without being told.

Each update rule keeps zero or more *slots* per parameter -- arrays shaped like
the parameter, on the active backend (a velocity, a running mean of squares, ...).
``state_dict()`` copies them to the host as plain NumPy arrays, together with the
step count and the hyperparameters, under flat keys

    "step", "lr", <hyperparameters>, "<slot>.<parameter name>"

so a checkpoint stores them in an ``.npz`` file without pickle, and
``load_state_dict()`` validates and moves them back to the device.

A subclass names its ``SLOTS`` and ``HYPERPARAMS`` and writes ``update(p, g, s)``:
one parameter ``p``, its gradient ``g`` and its slot dict ``s``, one line of
code per line of the math in its docstring.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from minis2s import backend


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a Python float, after checking it is a finite real in the stated range.

    ``low``/``high`` bound the range, closed unless ``low_open``/``high_open``.
    Raises ``TypeError`` for a non-number (booleans included) and ``ValueError``
    for NaN, infinity or a value out of range, naming ``name`` and the range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or too_low or too_high:
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return value


def _is_count(x: Any) -> bool:
    return math.isfinite(x) and x >= 0 and float(x).is_integer()


def _describe(a: Any) -> str:
    return f"{type(a).__module__}.{type(a).__name__}"


def _check_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict {{name: array}}, got {_describe(params)}")
    if not params:
        raise ValueError("params is empty: an optimizer needs at least one parameter array")
    xp = backend.get_xp()
    for name, p in params.items():
        if not isinstance(name, str):
            raise TypeError(f"params keys must be strings, got {name!r}")
        if not isinstance(p, xp.ndarray):
            raise TypeError(
                f"params[{name!r}] is a {_describe(p)}, expected an array of the active "
                f"backend {backend.backend_name()!r} (move it with backend.to_device)"
            )
        if np.dtype(p.dtype).kind != "f":
            raise TypeError(f"params[{name!r}] has dtype {p.dtype}, expected a float dtype")
    return params  # the caller's dict itself: the updates must reach the model


class Optimizer:
    """Base class: holds ``params``, the learning rate ``lr``, the step count ``t`` and the slots.

    Parameters
    ----------
    params : dict ``{name: array}`` of float arrays on the active backend, updated
        in place by :meth:`step` (the dict is kept, not copied).
    lr : the learning rate; ``None`` takes the class's ``DEFAULT_LR``. A training
        loop with a schedule sets ``optimizer.lr = schedule(step)`` before each step.

    Attributes
    ----------
    t : number of steps taken so far (Adam's bias correction uses it).
    state : ``{name: {slot: array}}``, each array shaped like ``params[name]``.
    """

    SLOTS: tuple[str, ...] = ()
    #: each hyperparameter's allowed range, as keyword arguments of :func:`check_number`
    HYPERPARAMS: dict[str, dict[str, Any]] = {"lr": {"low": 0.0}}
    DEFAULT_LR: float = 1e-3

    def __init__(self, params: Mapping[str, Any], lr: float | None = None):
        self.params = _check_params(params)
        self.lr = self.DEFAULT_LR if lr is None else lr
        self.t = 0
        self.state = {
            name: {slot: self.init_slot(slot, p) for slot in self.SLOTS}
            for name, p in self.params.items()
        }

    # -- the learning rate, checked whenever it is set ----------------------------------
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = self.checked("lr", value)

    def checked(self, name: str, value: Any) -> float:
        """``value`` checked against the allowed range of hyperparameter ``name``."""
        return check_number(value, name, **self.HYPERPARAMS[name])

    # -- what a subclass provides ---------------------------------------------------------
    def init_slot(self, slot: str, p: Any) -> Any:
        """The initial value of ``slot`` for parameter ``p``: zeros shaped like ``p``."""
        return backend.get_xp().zeros_like(p)

    def update(self, p: Any, g: Any, s: dict[str, Any]) -> None:
        """Update one parameter ``p`` in place from its gradient ``g`` and slots ``s``."""
        raise NotImplementedError

    # -- one step ---------------------------------------------------------------------------
    def step(self, grads: Mapping[str, Any]) -> None:
        """Apply one update to every parameter, in place.

        ``grads`` must have exactly the keys of ``params``, each an array of the
        active backend with the parameter's shape (``ValueError``/``TypeError``
        naming the offending key otherwise; nothing is updated then).
        """
        self._check_grads(grads)
        self.t += 1
        for name, p in self.params.items():
            self.update(p, grads[name], self.state[name])

    def _check_grads(self, grads: Any) -> None:
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict {{name: array}}, got {_describe(grads)}")
        if self.params.keys() != self.state.keys():
            raise ValueError(
                f"params changed keys after the optimizer was built (now {sorted(self.params)}, "
                f"state for {sorted(self.state)}): build a new optimizer"
            )
        missing = [k for k in self.params if k not in grads]
        extra = [k for k in grads if k not in self.params]
        if missing:
            raise ValueError(f"grads is missing {missing} (one gradient per parameter expected)")
        if extra:
            raise ValueError(f"grads has keys {extra} that are not parameters")
        xp = backend.get_xp()
        for name, p in self.params.items():
            g = grads[name]
            if not isinstance(g, xp.ndarray):
                raise TypeError(
                    f"grads[{name!r}] is a {_describe(g)}, expected an array of the active "
                    f"backend {backend.backend_name()!r}"
                )
            if tuple(g.shape) != tuple(p.shape):
                raise ValueError(
                    f"grads[{name!r}] has shape {tuple(g.shape)}, expected {tuple(p.shape)} "
                    f"(the shape of params[{name!r}])"
                )

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as host data: ``{"step": int, "lr": float, <hyper>: float,
        "<slot>.<name>": numpy.ndarray}`` -- copies, unaffected by later steps."""
        out: dict[str, Any] = {"step": self.t}
        out.update({h: float(getattr(self, h)) for h in self.HYPERPARAMS})
        for name, slots in self.state.items():
            for slot, a in slots.items():
                out[f"{slot}.{name}"] = np.array(backend.to_host(a), copy=True)
        return out

    def _expected_keys(self) -> list[str]:
        keys = ["step", *self.HYPERPARAMS]
        keys += [f"{slot}.{name}" for name in self.params for slot in self.SLOTS]
        return keys

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (possibly read back from an ``.npz``, where numbers
        come as 0-d arrays). Keys, shapes and values are all checked before anything is
        changed; arrays are moved to the active backend in the parameters' dtypes."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict, got {_describe(state)}")
        expected = self._expected_keys()
        missing = [k for k in expected if k not in state]
        extra = [k for k in state if k not in expected]
        if missing:
            raise ValueError(f"{type(self).__name__} state is missing keys {missing}")
        if extra:
            raise ValueError(f"{type(self).__name__} state has unexpected keys {extra}")
        step = backend.to_host(state["step"])
        if step.shape != () or step.dtype.kind not in "iuf" or not _is_count(step.item()):
            raise ValueError(f"state['step'] must be a non-negative integer, got {step!r}")
        hyper = {}
        for h in self.HYPERPARAMS:
            value = backend.to_host(state[h])
            if value.shape != () or value.dtype.kind not in "iuf":
                raise ValueError(f"state[{h!r}] must be a number, got {value!r}")
            hyper[h] = self.checked(h, value.item())
        slots: dict[str, dict[str, Any]] = {}
        for name, p in self.params.items():
            slots[name] = {}
            for slot in self.SLOTS:
                key = f"{slot}.{name}"
                a = backend.to_host(state[key])
                if a.shape != tuple(p.shape):
                    raise ValueError(
                        f"state[{key!r}] has shape {a.shape}, expected {tuple(p.shape)} "
                        f"(the shape of params[{name!r}])"
                    )
                slots[name][slot] = backend.to_device(np.array(a, copy=True), dtype=p.dtype)
        for h, value in hyper.items():
            setattr(self, h, value)
        self.t = int(step)
        self.state = slots

    def __repr__(self) -> str:
        hyper = ", ".join(f"{h}={getattr(self, h)!r}" for h in self.HYPERPARAMS)
        return f"{type(self).__name__}({len(self.params)} arrays, {hyper}, t={self.t})"
