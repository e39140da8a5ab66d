"""Input validation shared by every public entry point.

Each helper raises ``TypeError`` (wrong kind of thing: not an array, wrong
dtype, array of the wrong backend) or ``ValueError`` (right kind, wrong
content: shape, token range, mask values), and the message names *what* was
checked, what was expected and what came::

    W_c: expected shape (H, H) = (4, 4), got (4, 5)

Token ids and masks are checked **on the host** (through
:func:`minis2s.backend.to_host`) before they reach an index: CuPy does not
raise on an out-of-range integer index, it wraps around silently, so a bad id
would otherwise become a wrong answer instead of an error. For ids that
already live on a GPU this costs one small device-to-host copy of a
``(T, N)`` integer array per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from minis2s import backend

Shape = Sequence["int | str | None"]


def _kind_name(x: Any) -> str:
    """``numpy.ndarray``, ``list``, ``int`` ... for error messages."""
    t = type(x)
    module = t.__module__.split(".")[0]
    return t.__name__ if module == "builtins" else f"{module}.{t.__name__}"


def check_array(x: Any, what: str) -> None:
    """``x`` must be an array of the *active* backend.

    A NumPy array handed to a device backend (or a list anywhere) is refused
    with a ``TypeError`` that says how to move it, instead of failing later
    deep inside an arithmetic expression.
    """
    xp = backend.get_xp()
    if isinstance(x, xp.ndarray):
        return
    if backend.is_host_array(x):
        raise TypeError(
            f"{what}: expected an array on the active backend {backend.backend_name()!r}, "
            "got a host numpy.ndarray; move it with minis2s.backend.to_device()"
        )
    raise TypeError(f"{what}: expected an array, got {_kind_name(x)}")


def check_float(x: Any, what: str, ndim: int | None = None) -> None:
    """``x`` must be a floating-point array of the active backend (with ``ndim`` axes, if given)."""
    check_array(x, what)
    if np.dtype(x.dtype).kind != "f":
        raise TypeError(f"{what}: expected a floating-point array, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(
            f"{what}: expected a {ndim}-d array, got {x.ndim}-d with shape {tuple(x.shape)}"
        )


def _format_expected(expected: Shape) -> str:
    """``(T, N, 4)`` style: symbolic names for free axes, numbers for fixed ones."""
    parts = ["*" if e is None else str(e) for e in expected]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def check_shape(x: Any, expected: Shape, what: str, names: Sequence[str] | None = None) -> None:
    """``x.shape`` must match ``expected``.

    ``expected`` holds an ``int`` for a fixed axis and ``None`` for an axis of
    any length. ``names`` (e.g. ``("T", "N", "D")``), when given, is printed
    beside the numbers: ``expected shape (T, N, D) = (*, 3, 4), got (5, 2, 4)``.
    """
    shape = tuple(x.shape)
    ok = len(shape) == len(expected) and all(
        e is None or int(e) == s for e, s in zip(expected, shape)
    )
    if ok:
        return
    label = ""
    if names is not None:
        label = "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ") = "
    raise ValueError(f"{what}: expected shape {label}{_format_expected(expected)}, got {shape}")


def check_same_dtype(arrays: Mapping[str, Any], what: str) -> None:
    """All named arrays share one dtype (``None`` entries are skipped).

    Mixed float32/float64 inputs would be silently promoted by NumPy and CuPy;
    a gradient check would then pass on float64 while training ran in float32.
    """
    present = {name: a for name, a in arrays.items() if a is not None}
    dtypes = {np.dtype(a.dtype) for a in present.values()}
    if len(dtypes) > 1:
        listing = ", ".join(f"{name}: {a.dtype}" for name, a in present.items())
        raise TypeError(f"{what}: expected all arrays to share one dtype, got {listing}")


def check_generator(rng: Any, what: str) -> np.random.Generator:
    """``rng`` must be a ``numpy.random.Generator`` (seeded draws on the host); returns it."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{what}: expected a numpy.random.Generator "
                        f"(np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def check_float_dtype(dtype: Any, what: str) -> np.dtype:
    """``dtype`` must name a floating-point type; returns it as a ``numpy.dtype``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: expected a floating-point dtype, got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"{what}: expected a floating-point dtype, got {dt}")
    return dt


def check_positive_int(n: Any, what: str) -> int:
    """``n`` must be a positive Python/NumPy integer (not a bool or float); returns ``int(n)``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{what}: expected a positive integer, got {_kind_name(n)} {n!r}")
    if n <= 0:
        raise ValueError(f"{what}: expected a positive integer, got {n}")
    return int(n)


def check_token_ids(
    ids: Any, vocab_size: int, what: str, mask: np.ndarray | None = None
) -> np.ndarray:
    """Token ids must be integers in ``[0, vocab_size)``; checked on the host.

    Parameters
    ----------
    ids : integer array of any shape, on the host or on the active backend.
    vocab_size : ``V``.
    what : the name used in error messages (``"targets"``, ``"source ids"`` ...).
    mask : optional host bool array of ``ids.shape``; when given, only entries
        where it is true are range-checked (padding may hold any integer,
        e.g. PyTorch's ``-100``).

    Returns the ids as a host ``numpy.ndarray`` (the very same object when they
    were already on the host), for callers that need them there again.
    """
    if not hasattr(ids, "dtype") or not hasattr(ids, "shape"):
        raise TypeError(f"{what}: expected an integer array of token ids, got {_kind_name(ids)}")
    if np.dtype(ids.dtype).kind not in "iu":
        raise TypeError(f"{what}: expected an integer dtype for token ids, got {ids.dtype}")
    host = backend.to_host(ids)
    bad = (host < 0) | (host >= vocab_size)
    if mask is not None:
        bad &= mask
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{what}: expected token ids in [0, {vocab_size}) (vocabulary size "
            f"{vocab_size}), got {host[where]} at index {where}"
        )
    return host


def check_mask(
    mask: Any, shape: Sequence[int], what: str = "mask", names: Sequence[str] | None = None
) -> np.ndarray:
    """A padding mask: ``shape``, values 0/1 (bool or numeric); checked on the host.

    ``names`` (e.g. ``("T", "N")``) label the axes in the message. Returns the mask
    as a host ``bool`` array; the caller moves it to the device
    (``backend.to_device``) once, which is free on the CPU.
    """
    if not hasattr(mask, "dtype") or not hasattr(mask, "shape"):
        raise TypeError(f"{what}: expected a 0/1 or bool array, got {_kind_name(mask)}")
    check_shape(mask, tuple(shape), what, names=names)
    host = backend.to_host(mask)
    if host.dtype == np.bool_:
        return host
    if host.dtype.kind not in "iuf":
        raise TypeError(f"{what}: expected a bool or 0/1 numeric array, got dtype {host.dtype}")
    if not np.all((host == 0) | (host == 1)):
        bad = host[(host != 0) & (host != 1)][0]
        raise ValueError(f"{what}: expected only 0 and 1, got the value {bad}")
    return host != 0


def check_dtype(x: Any, dtype: Any, what: str, source: str = "the parameters") -> None:
    """``x.dtype`` must be ``dtype`` (that of ``source``): mixed precisions are refused, not
    silently promoted (a float16 input to float64 weights would otherwise compute in
    float64 and hand back float64 gradients)."""
    if np.dtype(x.dtype) != np.dtype(dtype):
        raise TypeError(f"{what}: expected dtype {np.dtype(dtype)} (that of {source}), "
                        f"got {x.dtype}")


def check_names(
    params: Any, names: Sequence[str], what: str, exact: bool = False
) -> Mapping[str, Any]:
    """``params`` must be a dict holding every one of ``names`` (only those, if ``exact``).

    Returns ``params``. ``TypeError`` for something that is not a dict, ``ValueError``
    naming the missing (or unexpected) keys and the keys expected.
    """
    expected = ", ".join(names) if names else "none"
    if not isinstance(params, Mapping):
        raise TypeError(f"{what}: expected a dict of arrays with keys {expected}, "
                        f"got {_kind_name(params)}")
    missing = [name for name in names if name not in params]
    if missing:
        raise ValueError(f"{what}: expected keys {expected}, missing {', '.join(missing)} "
                         f"(got {', '.join(map(str, params)) or 'none'})")
    extra = [str(name) for name in params if name not in names]
    if exact and extra:
        raise ValueError(f"{what}: expected keys {expected}, got the unexpected "
                         f"{', '.join(extra)}")
    return params


def check_tuple(value: Any, names: Sequence[str], what: str, allow_none: bool = True) -> tuple:
    """A tuple (or list) with one entry per name, e.g. a cell state ``(h, c)``.

    ``None`` stands for a tuple of ``None`` where ``allow_none`` (the entries'
    checks decide what a ``None`` entry means). Returns the entries as a tuple.
    """
    if value is None and allow_none:
        return (None,) * len(names)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = (f"{type(value).__name__} of length {len(value)}"
               if isinstance(value, (tuple, list)) else _kind_name(value))
        raise TypeError(f"{what}: expected a tuple ({', '.join(names)}"
                        f"{',' if len(names) == 1 else ''}), got {got}")
    return tuple(value)


def check_instance(obj: Any, cls: type, what: str, source: str) -> None:
    """``obj`` must be a ``cls`` (a cache handed back to its backward, a config ...);
    ``source`` says where a right one comes from."""
    if not isinstance(obj, cls):
        article = "an" if cls.__name__[0] in "AEIOU" else "a"
        raise TypeError(f"{what}: expected {article} {cls.__name__} (from {source}), "
                        f"got {_kind_name(obj)}")


def check_name(name: Any, choices: Sequence[str], what: str) -> str:
    """``name`` must be one of ``choices`` (a scorer, an activation ...); returns it."""
    if not isinstance(name, str):
        raise TypeError(f"{what}: expected a name, one of {', '.join(choices)}; "
                        f"got {_kind_name(name)} {name!r}")
    if name not in choices:
        raise ValueError(f"{what}: expected one of {', '.join(choices)}, got {name!r}")
    return name


def check_named_shapes(
    arrays: Any, shapes: Mapping[str, tuple], what: str, item: str = "parameter"
) -> None:
    """``arrays`` must be a dict holding, for every ``name: shape`` of ``shapes``, an array
    of that shape (a parameter dict against the shapes a config implies).

    Keys beyond ``shapes`` are not looked at. Only the shapes are checked (not the
    backend or the dtype), so this serves host arrays and PyTorch tensors alike.
    """
    if not isinstance(arrays, Mapping):
        raise TypeError(f"{what}: expected a dict of arrays, got {_kind_name(arrays)}")
    for name, shape in shapes.items():
        if name not in arrays:
            raise ValueError(f"{what}: missing {item} {name!r} (expected shape {shape})")
        got = getattr(arrays[name], "shape", None)
        if got is None:
            raise TypeError(f"{what}: {item} {name!r}: expected an array of shape {shape}, "
                            f"got {_kind_name(arrays[name])}")
        if tuple(got) != tuple(shape):
            raise ValueError(f"{what}: {item} {name!r}: expected shape {tuple(shape)}, "
                             f"got {tuple(got)}")
