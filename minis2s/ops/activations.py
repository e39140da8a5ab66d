"""Element-wise activations: the article's ``f`` (encoder) and ``g`` (decoder).

::

    name       forward  y = f(a)            backward  da = dy * f'(a)
    tanh       y = tanh(a)                  da = dy * (1 - y^2)
    sigmoid    y = 1 / (1 + exp(-a))        da = dy * y * (1 - y)
    relu       y = max(a, 0)                da = dy * [y > 0]
    identity   y = a                        da = dy

Every derivative in the table is written with the **output** ``y``, never the
input ``a``: ``tanh'(a) = 1 - tanh(a)^2`` and ``sigmoid'(a) = s(1 - s)`` reuse
the value already computed, and ``relu'(a) = [a > 0] = [y > 0]``. That is
cheaper (no second ``tanh``/``exp``) and it is what lets a recurrence cache
only its states ``h_t``: the pre-activations ``a_t`` are never stored. A new
activation joins :data:`ACTIVATIONS` only if its derivative can be written from
its output the same way.

The derivative of ``relu`` at the kink ``a = 0`` is taken as 0 (the usual
subgradient); gradient checks keep their inputs away from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.ops.validate import check_dtype, check_float, check_instance, check_shape


class Activation(NamedTuple):
    """One entry of the registry: the function, its backward (from the output), its math."""

    name: str
    forward: Callable[[Any], Any]
    """``y = f(a)`` element-wise; returns a new array."""
    backward: Callable[[Any, Any], Any]
    """``(dy, y) -> da = dy * f'(a)``, with ``f'(a)`` written through ``y``; returns a new array."""
    equation: str


def _tanh(a: Any) -> Any:
    return backend.get_xp().tanh(a)


def _tanh_backward(dy: Any, y: Any) -> Any:
    return dy * (1.0 - y * y)  # tanh'(a) = 1 - tanh(a)^2


def sigmoid(a: Any, out: Any = None) -> Any:
    """``sigma(a) = 1 / (1 + exp(-a))`` element-wise: the one sigmoid of the package.

    ``out``: where to write the result (``out=a`` computes it in place, as the LSTM and
    GRU loops do); ``None``: a new array. Four passes over the data, one of them
    ``exp`` (on this kind of CPU ``exp`` costs about half of ``tanh``, so this beats
    the identity ``sigma(a) = (1 + tanh(a/2)) / 2``).

    For very negative ``a``, ``exp(-a)`` overflows to ``inf`` (``a < -709`` in
    float64, ``a < -88`` in float32) and ``1 / (1 + inf) = 0`` is the right limit,
    never a NaN; NumPy's overflow warning there is noise and is silenced (CuPy never
    warns).
    """
    check_float(a, "sigmoid a")
    if out is not None and out is not a:
        check_float(out, "sigmoid out")
        check_shape(out, tuple(a.shape), "sigmoid out")
    with np.errstate(over="ignore"):
        return sigmoid_into(a, out)


def sigmoid_into(a: Any, out: Any) -> Any:
    """The core of :func:`sigmoid`, for loops: no checks, and ``exp``'s overflow is the
    caller's to silence (the fast loops hold ``np.errstate(over="ignore")`` once around
    all their steps). ``out``: an array of ``a``'s shape (``a`` itself: in place), or
    ``None``."""
    xp = backend.get_xp()
    out = xp.negative(a, out=out)
    xp.exp(out, out=out)
    out += 1.0
    xp.divide(1.0, out, out=out)
    return out


def tanh_via_exp(a: Any, out: Any = None) -> Any:
    """``tanh(a) = 2 sigma(2a) - 1 = 2 / (1 + exp(-2a)) - 1`` element-wise, for the fast paths.

    The same function as ``tanh``, by the identity :math:`\\tanh a = 2\\sigma(2a) - 1`, in
    five passes, one of them ``exp``: on this project's CPU NumPy's float32 ``exp`` costs
    about 3.7 ns an element and ``tanh`` 7.2 ns, the four other passes about 1.2 ns together
    (``python benchmarks/bench_gates.py``). It differs from ``tanh`` by rounding only,
    a few units in the last place of 1 (absolute), which is why it serves the fast paths
    (tested against the textbook to 1e-14 absolute in float64) and not the textbook
    steps. ``out``: as in :func:`sigmoid` (``out=a`` works in place).

    For ``a < -44`` in float32 (``-355`` in float64) ``exp(-2a)`` overflows to ``inf``
    and the result is ``2 / inf - 1 = -1``, the right limit, never a NaN.
    """
    check_float(a, "tanh_via_exp a")
    if out is not None and out is not a:
        check_float(out, "tanh_via_exp out")
        check_shape(out, tuple(a.shape), "tanh_via_exp out")
    with np.errstate(over="ignore"):
        return tanh_via_exp_into(a, out)


def tanh_via_exp_into(a: Any, out: Any) -> Any:
    """The core of :func:`tanh_via_exp`, for loops: no checks, and ``exp``'s overflow is
    the caller's to silence (the fast loops hold ``np.errstate(over="ignore")`` once
    around all their steps). ``out``: an array of ``a``'s shape, or ``None``."""
    xp = backend.get_xp()
    out = xp.multiply(a, -2.0, out=out)
    xp.exp(out, out=out)
    out += 1.0
    xp.divide(2.0, out, out=out)
    out -= 1.0
    return out


def _sigmoid_backward(dy: Any, y: Any) -> Any:
    return dy * y * (1.0 - y)  # sigmoid'(a) = s (1 - s)


def _relu(a: Any) -> Any:
    return backend.get_xp().maximum(a, 0.0)


def _relu_backward(dy: Any, y: Any) -> Any:
    return backend.get_xp().where(y > 0, dy, 0.0)  # [a > 0] == [y > 0]


def _identity(a: Any) -> Any:
    return a.copy()  # a new array, like every other activation: no aliasing surprises


def _identity_backward(dy: Any, y: Any) -> Any:
    return dy.copy()


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", _tanh, _tanh_backward, "y = tanh(a);  da = dy (1 - y^2)"),
    "sigmoid": Activation(
        "sigmoid", sigmoid, _sigmoid_backward, "y = 1 / (1 + exp(-a));  da = dy y (1 - y)"
    ),
    "relu": Activation("relu", _relu, _relu_backward, "y = max(a, 0);  da = dy [y > 0]"),
    "identity": Activation("identity", _identity, _identity_backward, "y = a;  da = dy"),
}
"""The activations by name; cells and models look their ``f``/``g`` up here."""


def get_activation(name: Any) -> Activation:
    """The registry entry for ``name``; an unknown name raises ``ValueError`` listing the names."""
    if not isinstance(name, str):
        raise TypeError(
            f"activation: expected a name (one of {', '.join(ACTIVATIONS)}), "
            f"got {type(name).__name__} {name!r}"
        )
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}: expected one of {', '.join(ACTIVATIONS)}"
        ) from None


class ActivationCache(NamedTuple):
    """What :func:`activation_backward` needs: the name and the output ``y`` (any shape)."""

    name: str
    y: Any


def activation_forward(name: str, a: Any) -> tuple[Any, ActivationCache]:
    """``y = f(a)`` element-wise, ``f`` one of :data:`ACTIVATIONS`.

    Parameters
    ----------
    name : ``"tanh"``, ``"sigmoid"``, ``"relu"`` or ``"identity"``.
    a : float array, any shape ``(...)``: the pre-activation.

    Returns ``y`` with the shape of ``a``, and the cache.
    """
    act = get_activation(name)
    check_float(a, "activation input a")
    y = act.forward(a)
    return y, ActivationCache(act.name, y)


def activation_backward(dy: Any, cache: ActivationCache) -> Any:
    """``da = dy * f'(a)``, with ``f'(a)`` computed from the cached output ``y``.

    Parameters
    ----------
    dy : ``(...)``, the shape of ``y``: upstream gradient ``dL/dy`` (not modified).
    cache : from :func:`activation_forward`.

    Returns ``da`` ``(...)``.
    """
    check_instance(cache, ActivationCache, "activation_backward cache", "activation_forward")
    check_float(dy, "activation dy")
    check_shape(dy, tuple(cache.y.shape), "activation dy")
    check_dtype(dy, cache.y.dtype, "activation dy", source="the forward pass")
    return ACTIVATIONS[cache.name].backward(dy, cache.y)
