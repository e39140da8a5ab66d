"""The model's one validation layer: every public entry point (building a model, the loss,
its gradients, decoding) checks its input here, so the model's bodies are only math.

Token ids arrive as host ``(T, N)`` integer arrays padded on the right with ``PAD_ID``;
``tgt_in`` is ``<s> y_1 .. y_m`` and ``tgt_out`` is ``y_1 .. y_m </s>``, padded at the same
positions. Ids are checked on the host, before they reach an index: CuPy does not
raise on an out-of-range index, it wraps around.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.data.vocab import PAD_ID
from minis2s.model.config import ModelConfig
from minis2s.ops.validate import check_generator


class CheckedBatch(NamedTuple):
    """A batch that passed :func:`check_batch`: host ids and lengths, device masks."""

    src: np.ndarray            # (Ts, N) host ids
    src_len: np.ndarray        # (N,) host, real tokens per row
    src_mask: Any              # (Ts, N) device, model dtype, 1 at real tokens
    tgt_in: np.ndarray | None  # (Tt, N) host ids, or None (decoding)
    tgt_out: Any               # (Tt, N) device ids, or None
    tgt_mask: Any              # (Tt, N) device, model dtype, or None
    num_tokens: int            # real target tokens (</s> included), 0 without targets


def _kind(x: Any) -> str:
    return type(x).__name__ if not hasattr(x, "dtype") else f"{type(x).__name__} of {x.dtype}"


def host_ids(a: Any, what: str) -> np.ndarray:
    """``a`` as a host ``(T, N)`` integer array, else ``TypeError``/``ValueError``."""
    if a is None or isinstance(a, (str, bytes, dict)):
        raise TypeError(f"{what}: expected a (T, N) array of token ids, got {_kind(a)}")
    try:
        ids = backend.to_host(a)
    except (TypeError, ValueError) as exc:       # a ragged list, a foreign object
        raise TypeError(f"{what}: expected a (T, N) array of token ids, got {_kind(a)} "
                        f"that is not one ({exc})") from None
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{what}: expected integer token ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{what}: expected a (T, N) array of token ids, got shape {ids.shape}")
    if ids.shape[1] == 0:
        raise ValueError(f"{what}: expected at least one sequence (N >= 1), got shape "
                         f"{ids.shape}")
    return ids


def check_range(ids: np.ndarray, vocab: int, what: str) -> None:
    """Every id in ``[0, vocab)``."""
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = ids[(ids < 0) | (ids >= vocab)]
        raise ValueError(
            f"{what}: token ids must lie in [0, {vocab}) (the vocabulary size), "
            f"got {sorted(set(bad.tolist()))[:10]}")


def row_lengths(ids: np.ndarray, what: str) -> np.ndarray:
    """Real tokens per row ``(N,)``; each row non-empty, padding only at its end."""
    real = ids != PAD_ID
    lengths = real.sum(axis=0)
    if ids.shape[0] == 0 or np.any(lengths == 0):
        rows = np.flatnonzero(lengths == 0).tolist() if ids.shape[0] else "all"
        raise ValueError(f"{what}: empty sequence (only padding) in batch rows {rows}")
    expected = np.arange(ids.shape[0])[:, None] < lengths[None, :]
    if np.any(real != expected):
        bad = np.flatnonzero(np.any(real != expected, axis=0)).tolist()
        raise ValueError(
            f"{what}: padding (id {PAD_ID}) must only follow the tokens of a row; "
            f"rows {bad} have a padding id in the middle")
    return lengths


def check_batch(config: Any, reading: Any, dtype: Any, src: Any, tgt_in: Any = None,
                tgt_out: Any = None) -> CheckedBatch:
    """Validate host id arrays (type, shape, range, padding) and make the masks.

    ``src (Ts, N)``; ``tgt_in``, ``tgt_out (Tt, N)`` both or neither. The ``reading``
    (a :class:`~minis2s.model.contexts.base.ContextReading`) refuses lengths it cannot pair.
    """
    src = host_ids(src, "src")
    check_range(src, config.src_vocab, "src")
    src_len = row_lengths(src, "src")
    src_mask = backend.to_device(src != PAD_ID, dtype=dtype)
    if tgt_in is None and tgt_out is None:
        return CheckedBatch(src, src_len, src_mask, None, None, None, 0)
    if tgt_in is None or tgt_out is None:
        missing = "tgt_in" if tgt_in is None else "tgt_out"
        raise TypeError(f"{missing}: expected a (Tt, N) array of token ids beside the other "
                        "target array (give tgt_in and tgt_out, or neither), got None")
    tgt_in = host_ids(tgt_in, "tgt_in")
    tgt_out = host_ids(tgt_out, "tgt_out")
    if tgt_in.shape != tgt_out.shape:
        raise ValueError(f"tgt_in and tgt_out: shapes differ, {tgt_in.shape} vs {tgt_out.shape}")
    if tgt_out.shape[1] != src.shape[1]:
        raise ValueError(
            f"src and tgt: batch sizes differ, src (Ts, N) = {src.shape}, "
            f"tgt (Tt, N) = {tgt_out.shape}")
    check_range(tgt_in, config.tgt_vocab, "tgt_in")
    check_range(tgt_out, config.tgt_vocab, "tgt_out")
    tgt_len = row_lengths(tgt_out, "tgt_out")
    differ = np.any((tgt_in != PAD_ID) != (tgt_out != PAD_ID), axis=0)
    if np.any(differ):
        raise ValueError(
            "tgt_in and tgt_out: expected padding at the same positions (tgt_in is "
            f"<s> y_1 .. y_m, tgt_out is y_1 .. y_m </s>), rows {np.flatnonzero(differ).tolist()}"
            " differ")
    reading.check_lengths(src_len, tgt_len)
    tgt_mask = backend.to_device(tgt_out != PAD_ID, dtype=dtype)
    return CheckedBatch(src, src_len, src_mask, tgt_in, backend.to_device(tgt_out), tgt_mask,
                        int(tgt_len.sum()))


def check_checked_batch(batch: Any, where: str) -> None:
    """``batch`` is a :class:`CheckedBatch` (from ``Seq2Seq.check_batch``), else TypeError."""
    if not isinstance(batch, CheckedBatch):
        raise TypeError(f"{where}: expected a CheckedBatch (from Seq2Seq.check_batch), "
                        f"got {type(batch).__name__}")


def check_forward_args(teacher_forcing: Any, rng: Any, train: Any, dropout: float) -> float:
    """``teacher_forcing`` a ratio in [0, 1]; ``rng`` a Generator (needed for sampling and
    dropout); ``train`` a bool. Returns ``teacher_forcing`` as a float."""
    if isinstance(teacher_forcing, (bool, np.bool_)) or not isinstance(
            teacher_forcing, (int, float, np.integer, np.floating)):
        raise TypeError(f"teacher_forcing: expected a ratio in [0, 1], got {teacher_forcing!r}")
    if not 0.0 <= teacher_forcing <= 1.0:
        raise ValueError(f"teacher_forcing: expected a ratio in [0, 1], got {teacher_forcing}")
    if not isinstance(train, (bool, np.bool_)):
        raise TypeError(f"train: expected True or False, got {train!r}")
    if rng is not None:
        check_generator(rng, "rng")
    elif teacher_forcing < 1.0 or (train and dropout > 0):
        raise ValueError("forward: teacher_forcing < 1 and dropout need a numpy Generator rng")
    return teacher_forcing


def check_real(value: Any, what: str, low: float = -math.inf) -> float:
    """A finite real number ``>= low`` (not a bool), as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what}: expected a finite number, got {_kind(value)} {value!r}")
    if not math.isfinite(value) or value < low:
        more = f" >= {low:g}" if low > -math.inf else ""
        raise ValueError(f"{what}: expected a finite number{more}, got {value!r}")
    return float(value)


def check_count(value: Any, what: str, high: int | None = None) -> int:
    """An integer in ``[1, high]`` (not a bool, not a float), as an int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what}: expected an integer >= 1, got {_kind(value)} {value!r}")
    if value < 1 or (high is not None and value > high):
        span = ">= 1" if high is None else f"in [1, {high}]"
        raise ValueError(f"{what}: expected an integer {span}, got {value!r}")
    return int(value)


def check_model_args(config: Any, rng: Any, dtype: Any) -> np.dtype:
    """``Seq2Seq(config, rng, dtype)``: a ``ModelConfig``, a ``numpy.random.Generator``, a
    floating-point dtype (returned as a ``numpy.dtype``)."""
    if not isinstance(config, ModelConfig):
        raise TypeError(f"Seq2Seq: expected a ModelConfig, got {type(config).__name__}")
    check_generator(rng, "Seq2Seq")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError("Seq2Seq: expected a floating-point dtype (numpy.float32 or "
                        f"numpy.float64), got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"Seq2Seq: expected a floating-point dtype, got {dt}")
    return dt


def check_host_params(host_params: Any, expected: dict[str, tuple[int, ...]]) -> None:
    """``host_params`` holds exactly the names of ``expected``, each a numeric array of
    that shape."""
    if not isinstance(host_params, Mapping):
        raise TypeError(f"set_params: expected a dict of arrays, got {_kind(host_params)}")
    missing = sorted(set(expected) - set(host_params))
    extra = sorted(map(str, set(host_params) - set(expected)))
    if missing or extra:
        raise ValueError(f"set_params: missing parameters {missing}, unexpected {extra}")
    for k, shape in expected.items():
        v = host_params[k]
        if not hasattr(v, "shape") or not hasattr(v, "dtype"):
            raise TypeError(f"set_params: parameter {k!r} expected an array, got {_kind(v)}")
        if np.dtype(v.dtype).kind not in "iuf":
            raise TypeError(f"set_params: parameter {k!r} expected a numeric array, "
                            f"got dtype {v.dtype}")
        if tuple(v.shape) != shape:
            raise ValueError(
                f"set_params: parameter {k!r} expected shape {shape}, got {tuple(v.shape)}")
