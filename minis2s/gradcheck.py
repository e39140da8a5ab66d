"""Gradient checking: the proof that each hand-derived backward pass is right.

For a scalar loss :math:`L(\\theta)` the central difference

.. math::  \\frac{\\partial L}{\\partial \\theta_i} \\approx
           \\frac{L(\\theta + h e_i) - L(\\theta - h e_i)}{2h}

has error :math:`O(h^2)`; with float64 and :math:`h = 10^{-5}` it agrees with a
correct analytic gradient to about 1e-9 relative error on the small shapes used
here. Float32 cannot: its 7 significant digits are all used up by the
difference quotient, so a check in float32 proves nothing and is refused
(``allow_low_precision=True`` runs it anyway, with a warning, for teaching).

A forward/backward pair is checked against a *random projection* of its
outputs, :math:`L = \\sum_k \\langle G_k, Y_k \\rangle` with fixed random
:math:`G_k`, so that every output element contributes and the upstream
gradient handed to the backward pass is exactly :math:`G_k`.

Relative error is one number per array,

.. math::  \\mathrm{rel}(a, b) = \\frac{\\lVert a - b\\rVert_2}
           {\\max(\\lVert a\\rVert_2 + \\lVert b\\rVert_2, \\epsilon)},

which, unlike an element-wise maximum, is not thrown off by entries that are
zero in both.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from minis2s import backend

DEFAULT_TOL = 1e-7
DEFAULT_STEP = 1e-5


@dataclass(frozen=True)
class CheckResult:
    """One line of a gradient-check table."""

    piece: str
    name: str
    rel_error: float
    tol: float
    note: str = ""
    """Set when the pair could not be checked, e.g. ``"not implemented (A1: ...)"``: a
    backward pass left to write in a course's student edition (``minis2s course``)."""

    @property
    def passed(self) -> bool:
        return not self.note and bool(np.isfinite(self.rel_error) and self.rel_error <= self.tol)


def rel_error(a: Any, b: Any) -> float:
    """``||a - b|| / max(||a|| + ||b||, 1e-300)`` as a Python float (0 when both are 0)."""
    a = backend.to_host(a).astype(np.float64)
    b = backend.to_host(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    if denom == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / max(denom, 1e-300))


def _require_float64(x: Any, what: str, allow_low_precision: bool) -> None:
    dtype = np.dtype(x.dtype)
    if dtype.kind != "f":
        raise TypeError(f"gradient check of {what}: expected a float array, got dtype {dtype}")
    if dtype != np.float64:
        msg = (
            f"gradient check of {what} in {dtype}: central differences need float64 "
            "(float32 keeps ~7 digits, all lost in the difference quotient)"
        )
        if not allow_low_precision:
            raise ValueError(msg + "; cast to float64, or pass allow_low_precision=True")
        warnings.warn(msg + "; the result is not meaningful", RuntimeWarning, stacklevel=3)


def numerical_gradient(
    f: Callable[[], Any], x: Any, h: float = DEFAULT_STEP, allow_low_precision: bool = False,
    entries: Any = None,
) -> Any:
    """Central-difference gradient of the scalar ``f()`` with respect to ``x``.

    ``x`` (any shape, any backend) is perturbed *in place*, one entry at a time,
    and restored; ``f`` must read it. Returns an array shaped like ``x`` on the
    same backend. Cost: ``2 * x.size`` calls of ``f`` -- or, with ``entries``
    (a list of index tuples), only those entries are computed and the others
    are left at zero.
    """
    _require_float64(x, "numerical_gradient", allow_low_precision)
    grad = np.zeros(x.shape, dtype=np.float64)
    flat_index = np.ndindex(*x.shape) if entries is None else entries
    for idx in flat_index:
        old = float(x[idx])
        x[idx] = old + h
        f_plus = backend.to_float(f())
        x[idx] = old - h
        f_minus = backend.to_float(f())
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2.0 * h)
    return backend.to_device(grad, dtype=x.dtype)


def _as_tuple(out: Any) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def check_pair(
    piece: str,
    forward: Callable[[Mapping[str, Any]], tuple[Any, Any]],
    backward: Callable[[Any, Any], Mapping[str, Any]],
    arrays: Mapping[str, Any],
    rng: np.random.Generator,
    tol: float = DEFAULT_TOL,
    h: float = DEFAULT_STEP,
    allow_low_precision: bool = False,
    max_entries: int | None = None,
) -> list[CheckResult]:
    """Check every gradient that ``backward`` returns against central differences.

    Parameters
    ----------
    forward : ``forward(arrays) -> (out, cache)``; ``out`` is an array or a tuple
        of arrays (``None`` entries allowed, they carry no gradient).
    backward : ``backward(dout, cache) -> {name: gradient}``; ``dout`` has the
        structure of ``out``. Names must be keys of ``arrays``; arrays it does
        not return (token ids, masks) are treated as constants.
    arrays : the inputs and parameters, float64 for every differentiable one.
        They are perturbed in place during the check and restored.
    rng : seeds the random projection ``G`` (and the sampled entries).
    max_entries : check at most this many entries of each array, drawn at random
        (every entry when ``None``): keeps whole-model checks affordable while
        still touching every parameter array.

    Returns one :class:`CheckResult` per returned gradient.
    """
    out, cache = forward(arrays)
    outs = _as_tuple(out)
    projections = tuple(
        None if o is None else backend.to_device(rng.standard_normal(o.shape), dtype=o.dtype)
        for o in outs
    )
    xp = backend.get_xp()

    def loss() -> Any:
        o2 = _as_tuple(forward(arrays)[0])
        return sum(xp.sum(g * o) for g, o in zip(projections, o2) if g is not None)

    dout = projections if isinstance(out, tuple) else projections[0]
    analytic = backward(dout, cache)
    results = []
    for name, grad in analytic.items():
        if name not in arrays:
            raise KeyError(f"{piece}: backward returned a gradient for unknown array {name!r}")
        x = arrays[name]
        if tuple(grad.shape) != tuple(x.shape):
            raise ValueError(
                f"{piece}: gradient of {name!r} has shape {tuple(grad.shape)}, "
                f"expected {tuple(x.shape)}"
            )
        _require_float64(x, f"{piece}.{name}", allow_low_precision)
        if max_entries is None or x.size <= max_entries:
            numeric = numerical_gradient(loss, x, h=h, allow_low_precision=allow_low_precision)
            results.append(CheckResult(piece, name, rel_error(grad, numeric), tol))
            continue
        flat = rng.choice(x.size, size=max_entries, replace=False)
        entries = [tuple(int(i) for i in np.unravel_index(f, x.shape)) for f in flat]
        numeric = numerical_gradient(loss, x, h=h, allow_low_precision=allow_low_precision,
                                     entries=entries)
        picked = tuple(np.array(ix) for ix in zip(*entries))
        a_host, n_host = backend.to_host(grad)[picked], backend.to_host(numeric)[picked]
        results.append(CheckResult(piece, name, rel_error(a_host, n_host), tol))
    return results


def format_table(results: list[CheckResult]) -> str:
    """The results as an aligned text table: piece, array, relative error, tolerance, verdict
    (``ok``, ``FAIL``, or the note of a pair that could not be checked)."""
    rows = [("piece", "gradient", "rel. error", "tol", "")]
    rows += [
        (r.piece, "-" if r.note else r.name, "-" if r.note else f"{r.rel_error:.2e}",
         f"{r.tol:.0e}", r.note or ("ok" if r.passed else "FAIL"))
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
