"""The array backend: the one module that knows CuPy exists.

Every numeric function in minis2s asks for the array module when it runs::

    xp = backend.get_xp()
    h = xp.tanh(a)

and never binds ``xp = numpy`` at import time, so one call switches the whole
library between

* ``"numpy"``     -- the CPU (the default);
* ``"cupy"``      -- an NVIDIA GPU through CuPy (``pip install -e ".[gpu]"``);
* ``"devicesim"`` -- a simulated device for tests on machines without a GPU: its
  arrays refuse silent conversion to, and mixing with, NumPy arrays, exactly
  the mistakes CuPy refuses (see :mod:`minis2s.devicesim`).

Three ways to choose, strongest last:

1. the environment variable ``MINIS2S_BACKEND`` (read on first use);
2. ``set_backend("cupy")``;
3. ``with use_backend("cupy"): ...`` (restores the previous choice on exit).

Arrays cross between host and device only through :func:`to_device` and
:func:`to_host`; weights are created on the host (with a seeded NumPy
``Generator``) and moved, so CPU and GPU runs start from the same numbers.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import numpy as np

BACKENDS = ("numpy", "cupy", "devicesim")
ENV_VAR = "MINIS2S_BACKEND"


class BackendUnavailableError(RuntimeError):
    """Raised when a known backend cannot run on this machine (says why and how to fix it)."""


_state: dict[str, Any] = {"name": None, "xp": None}


def _load_numpy() -> ModuleType:
    return np


def _load_cupy() -> ModuleType:
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        raise BackendUnavailableError(
            "backend 'cupy' asked for, but CuPy is not installed "
            f"({exc}). Install it with: pip install -e \".[gpu]\" (CuPy for CUDA 12), "
            "or use backend 'numpy'."
        ) from exc
    try:
        available = bool(cupy.cuda.is_available())
    except Exception as exc:  # a broken CUDA install raises from deep inside CuPy
        raise BackendUnavailableError(
            f"backend 'cupy' asked for, CuPy is installed, but CUDA failed to start: {exc}. "
            "Check the NVIDIA driver (nvidia-smi), or use backend 'numpy'."
        ) from exc
    if not available:
        raise BackendUnavailableError(
            "backend 'cupy' asked for, CuPy is installed, but no GPU is visible "
            "(cupy.cuda.is_available() is False). Run on a machine with an NVIDIA GPU "
            "and driver, check CUDA_VISIBLE_DEVICES, or use backend 'numpy'."
        )
    return cupy


def _load_devicesim() -> ModuleType:
    from minis2s import devicesim

    return devicesim.module


_LOADERS = {"numpy": _load_numpy, "cupy": _load_cupy, "devicesim": _load_devicesim}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name.lower() not in _LOADERS:
        raise ValueError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    return name.lower()


def set_backend(name: str) -> None:
    """Make ``name`` the active backend for every later call.

    The module is loaded (and, for CuPy, the GPU probed) *before* anything is
    switched: on error the previous backend stays active.
    """
    name = _check_name(name)
    module = _LOADERS[name]()
    _state["name"], _state["xp"] = name, module


def get_xp() -> ModuleType:
    """The active array module (``numpy``, ``cupy`` or the device simulator)."""
    if _state["xp"] is None:
        set_backend(os.environ.get(ENV_VAR, "numpy") or "numpy")
    return _state["xp"]


def backend_name() -> str:
    """The name of the active backend: ``"numpy"``, ``"cupy"`` or ``"devicesim"``."""
    get_xp()
    return _state["name"]


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[ModuleType]:
    """Run a block on another backend, then restore the previous one::

    with use_backend("cupy") as xp:
        ...
    """
    previous = (_state["name"], _state["xp"])
    set_backend(name)
    try:
        yield _state["xp"]
    finally:
        _state["name"], _state["xp"] = previous


def is_host_array(a: Any) -> bool:
    """True for a plain NumPy array (host memory)."""
    return isinstance(a, np.ndarray)


def to_device(a: Any, dtype: Any = None) -> Any:
    """Host data (NumPy array, list, scalar) -> an array of the active backend.

    An array already on the active backend is returned as it is (cast if
    ``dtype`` differs). This is the one sanctioned host-to-device transfer.
    """
    xp = get_xp()
    if xp is np:
        out = np.asarray(a)
    elif isinstance(a, xp.ndarray):
        out = a
    else:
        out = xp.asarray(np.asarray(a))
    if dtype is not None and out.dtype != np.dtype(dtype):
        out = out.astype(dtype)
    return out


def to_host(a: Any) -> np.ndarray:
    """An array of any backend (or a list / scalar) -> a NumPy array in host memory.

    The one sanctioned device-to-host transfer: use it where numbers are logged,
    plotted, compared in tests or turned into text.
    """
    if isinstance(a, np.ndarray):
        return a
    get = getattr(a, "get", None)
    if callable(get) and not isinstance(a, dict):  # cupy and devicesim arrays
        return np.asarray(get())
    return np.asarray(a)


def to_float(a: Any) -> float:
    """A 0-d array of any backend (e.g. a loss) -> a Python float (synchronises a GPU)."""
    return float(to_host(a))


def scatter_add(target: Any, indices: Any, values: Any) -> None:
    """``target[indices[k]] += values[k]`` with repeated indices accumulating.

    ``target[indices] += values`` is wrong when an index repeats (only one write
    survives); NumPy's ``np.add.at`` and CuPy's ``cupyx.scatter_add`` are right.
    """
    xp = get_xp()
    if _state["name"] == "cupy":
        cupyx = importlib.import_module("cupyx")
        cupyx.scatter_add(target, indices, values)
    else:
        xp.add.at(target, indices, values)


def synchronize() -> None:
    """Wait for queued device work to finish (for timing); a no-op on the CPU."""
    if backend_name() == "cupy":
        get_xp().cuda.Device().synchronize()
