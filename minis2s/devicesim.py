"""A simulated device: an array module that behaves like CuPy without a GPU.

CI has no GPU, yet the NumPy/CuPy switch has to be proven there. This module
wraps NumPy so that its arrays live "on a device" in the ways that matter for
correctness:

* ``numpy.asarray(device_array)`` raises ``TypeError`` (CuPy refuses implicit
  conversion to host memory the same way);
* mixing a device array with a plain ``numpy.ndarray`` in arithmetic, a ufunc,
  an assignment or an index raises ``TypeError``;
* reductions and scalar indexing return 0-d device arrays, not Python numbers
  (as CuPy does), so code that forgets ``backend.to_float`` is caught where it
  matters;
* ``module.asarray(host_array)`` is the explicit host-to-device copy and
  ``array.get()`` the explicit device-to-host copy, as in CuPy.

The numbers are NumPy's, so results are identical to the CPU backend; the
suite runs under it with ``MINIS2S_BACKEND=devicesim pytest``.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

_MIX_MSG = (
    "devicesim: a device array was mixed with a host numpy.ndarray{where}. "
    "Move data explicitly with minis2s.backend.to_device() / to_host()."
)


class DeviceArray:
    """A NumPy array that pretends to live in device memory."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a: np.ndarray):
        self._a = a

    # -- refusing implicit transfers -------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "devicesim: implicit conversion of a device array to a NumPy array is not "
            "allowed (CuPy refuses it too). Use minis2s.backend.to_host()."
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _apply(getattr(ufunc, method), inputs, kwargs, f" in numpy.{ufunc.__name__}")

    def __array_function__(self, func, types_, args, kwargs):
        return _apply(func, args, kwargs, f" in numpy.{func.__name__}")

    def get(self) -> np.ndarray:
        """Explicit copy to host memory (CuPy's ``ndarray.get``)."""
        return self._a.copy()

    # -- plain attributes ------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: DeviceArray(self._a.T))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # __array_interface__, __array_struct__, buffer: no back doors
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *args, **kwargs: _apply(attr, args, kwargs, f" in .{name}()")
        return _wrap(attr)

    # -- Python protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __repr__(self) -> str:
        return "devicesim." + repr(self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, " as an index")])

    def __setitem__(self, key, value):
        self._a[_unwrap(key, " as an index")] = _unwrap(value, " in an assignment")

    def __setstate__(self, state):  # copy.deepcopy support with __slots__
        self._a = state[1]["_a"] if isinstance(state, tuple) else state["_a"]


def _binary(ufunc, reflected=False, inplace=False):
    def op(self, other):
        if inplace:
            return _apply(ufunc, (self, other), {"out": (self,)}, f" in {ufunc.__name__}=")
        args = (other, self) if reflected else (self, other)
        return _apply(ufunc, args, {}, f" in {ufunc.__name__}")

    return op


for _name, _uf in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
    "matmul": np.matmul, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
}.items():
    setattr(DeviceArray, f"__{_name}__", _binary(_uf))
    setattr(DeviceArray, f"__r{_name}__", _binary(_uf, reflected=True))
    setattr(DeviceArray, f"__i{_name}__", _binary(_uf, inplace=True))
for _name, _uf in {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}.items():
    setattr(DeviceArray, f"__{_name}__", _binary(_uf))
DeviceArray.__neg__ = lambda self: _apply(np.negative, (self,), {}, "")
DeviceArray.__pos__ = lambda self: _apply(np.positive, (self,), {}, "")
DeviceArray.__abs__ = lambda self: _apply(np.absolute, (self,), {}, "")
DeviceArray.__invert__ = lambda self: _apply(np.invert, (self,), {}, "")
DeviceArray.__hash__ = None


def _unwrap(obj: Any, where: str) -> Any:
    if isinstance(obj, DeviceArray):
        return obj._a
    if isinstance(obj, np.ndarray):
        raise TypeError(_MIX_MSG.format(where=where))
    if isinstance(obj, tuple):
        return tuple(_unwrap(o, where) for o in obj)
    if isinstance(obj, list):
        return [_unwrap(o, where) for o in obj]
    return obj


def _wrap(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return DeviceArray(obj)
    if isinstance(obj, np.generic) and not isinstance(obj, np.dtype):
        return DeviceArray(np.asarray(obj))  # reductions give 0-d arrays, as in CuPy
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    if isinstance(obj, list):
        return [_wrap(o) for o in obj]
    return obj


def _apply(func, args, kwargs, where: str = ""):
    out = kwargs.get("out")
    raw_args = _unwrap(tuple(args), where)
    raw_kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
    result = func(*raw_args, **raw_kwargs)
    if out is not None:  # in-place ufunc: hand back the caller's device array
        outs = out if isinstance(out, tuple) else (out,)
        if len(outs) == 1:
            return outs[0]
        return outs
    return _wrap(result)


class _DeviceModule(types.ModuleType):
    """``numpy`` seen through the device: functions take and return DeviceArrays."""

    ndarray = DeviceArray

    def __init__(self, name: str, numpy_module: types.ModuleType):
        super().__init__(name)
        self._np = numpy_module

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._np, name)
        if isinstance(attr, types.ModuleType):
            return _DeviceModule(f"{self.__name__}.{name}", attr)
        if isinstance(attr, type) or not callable(attr):
            return attr  # dtypes, constants, newaxis
        if isinstance(attr, np.ufunc):
            return _DeviceUfunc(attr)
        return lambda *args, **kwargs: _apply(attr, args, kwargs, f" in {name}()")

    # explicit transfers, as in CuPy
    @staticmethod
    def asarray(a, dtype=None):
        if isinstance(a, DeviceArray):
            return a if dtype is None else DeviceArray(a._a.astype(dtype, copy=False))
        return DeviceArray(np.array(a, dtype=dtype))

    array = asarray

    @staticmethod
    def asnumpy(a):
        return a.get() if isinstance(a, DeviceArray) else np.asarray(a)


class _DeviceUfunc:
    """A ufunc whose call and methods (``reduce``, ``at``, ...) refuse host arrays."""

    def __init__(self, ufunc: np.ufunc):
        self._uf = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _apply(self._uf, args, kwargs, f" in {self.__name__}()")

    def __getattr__(self, name: str):
        method = getattr(self._uf, name)
        if callable(method):
            where = f" in {self.__name__}.{name}()"
            return lambda *args, **kwargs: _apply(method, args, kwargs, where)
        return method


module = _DeviceModule("minis2s.devicesim.module", np)
