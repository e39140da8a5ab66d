"""Checkpoints: one file that holds everything needed to continue a run exactly.

A checkpoint is a NumPy ``.npz`` archive (a zip of ``.npy`` files) written and read
**without pickle**. What goes in is a tree of plain data -- dicts with string keys,
lists, strings, numbers, booleans, ``None`` -- with NumPy arrays (and NumPy scalars)
at some leaves. :func:`save_checkpoint` takes the arrays out of the tree, stores each
as its own ``.npy`` member, and stores the rest of the tree as one JSON string, in
which every array is replaced by a reference ``{"__array__": "a7"}``.
:func:`load_checkpoint` puts the tree back together. Nothing in the file is ever
executed: ``numpy.load(..., allow_pickle=False)`` refuses object arrays, and the
JSON is parsed as data.

Members of the archive::

    __meta__     0-d unicode array: the JSON tree, with the format tag and version
    __sha256__   0-d unicode array: SHA-256 of the JSON text and of every array
                 (name, dtype, shape and bytes), so a damaged file is refused
    a0, a1, ...  the arrays, in the order they were found in the tree

Writes are atomic (:func:`minis2s.atomic.atomic_write`: a temporary file in the
*same* directory, flushed and ``fsync``-ed, then renamed over the target): a crash
or Ctrl-C in the middle of a save leaves the previous checkpoint whole.

A missing, truncated, corrupted or foreign file raises :class:`CheckpointError`
(a ``ValueError``) whose message names the file and says what is wrong.

This module is the file *format* only. What a training run saves in a checkpoint,
under which names, in which directory and when: :mod:`minis2s.train.rundir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minis2s.atomic import atomic_write

FORMAT = "minis2s-checkpoint"
VERSION = 1
SUFFIX = ".npz"

_META = "__meta__"
_SUM = "__sha256__"
_ARRAY_TAG = "__array__"
_SCALAR_TAG = "__scalar__"


class CheckpointError(ValueError):
    """A checkpoint file cannot be used: missing, truncated, corrupted or not ours."""


# --------------------------------------------------------------------------------------
# The tree <-> (JSON, arrays) split
# --------------------------------------------------------------------------------------
def _split(tree: Any, arrays: dict[str, np.ndarray], where: str) -> Any:
    """Replace every array of ``tree`` by a reference, collecting the arrays."""
    if isinstance(tree, np.ndarray):
        if tree.dtype.hasobject:
            raise TypeError(f"checkpoint entry {where}: object arrays cannot be saved "
                            "without pickle; expected a numeric or string array")
        name = f"a{len(arrays)}"
        arrays[name] = np.ascontiguousarray(tree)
        return {_ARRAY_TAG: name}
    if isinstance(tree, np.generic):  # a NumPy scalar keeps its dtype exactly
        name = f"a{len(arrays)}"
        arrays[name] = np.asarray(tree)
        return {_SCALAR_TAG: name}
    if isinstance(tree, Mapping):
        out = {}
        for key, value in tree.items():
            if not isinstance(key, str):
                raise TypeError(f"checkpoint entry {where}: keys must be strings, got {key!r}")
            if key in (_ARRAY_TAG, _SCALAR_TAG):
                raise ValueError(f"checkpoint entry {where}: the key {key!r} is reserved")
            out[key] = _split(value, arrays, f"{where}.{key}" if where else key)
        return out
    if isinstance(tree, (list, tuple)):
        return [_split(v, arrays, f"{where}[{i}]") for i, v in enumerate(tree)]
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(
        f"checkpoint entry {where or '<root>'}: expected a NumPy array, a number, a string, "
        f"a list or a dict, got {type(tree).__name__} (move device arrays to the host "
        "with backend.to_host first)"
    )


def _join(tree: Any, arrays: Mapping[str, np.ndarray], path: Path) -> Any:
    """Inverse of :func:`_split`: put the arrays back in place of their references."""
    if isinstance(tree, dict):
        if len(tree) == 1 and (_ARRAY_TAG in tree or _SCALAR_TAG in tree):
            tag = _ARRAY_TAG if _ARRAY_TAG in tree else _SCALAR_TAG
            name = tree[tag]
            if name not in arrays:
                raise CheckpointError(f"checkpoint {path}: array {name!r} is missing "
                                      "(the file is damaged)")
            return arrays[name] if tag == _ARRAY_TAG else arrays[name][()]
        return {k: _join(v, arrays, path) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, arrays, path) for v in tree]
    return tree


def _digest(meta_text: str, arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the JSON text and every array's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(meta_text.encode("utf-8"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` (a dict tree with host NumPy arrays at its leaves) atomically.

    Parameters
    ----------
    path : the file to write (a run's are named in :mod:`minis2s.train.rundir`); its
        directory is created if needed.
    payload : dict with string keys; values are dicts, lists, str, int, float, bool,
        None, NumPy arrays (any numeric dtype and shape) or NumPy scalars.

    Returns the path written. Raises ``TypeError`` for a value that cannot be stored
    without pickle (a device array, an object array, a custom class).
    """
    if not isinstance(payload, Mapping):
        raise TypeError(f"save_checkpoint: expected a dict payload, got {type(payload).__name__}")
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _split(dict(payload), arrays, "")
    meta_text = json.dumps({"format": FORMAT, "version": VERSION, "data": tree},
                           sort_keys=True)
    members = dict(arrays)
    members[_META] = np.array(meta_text)
    members[_SUM] = np.array(_digest(meta_text, arrays))

    return atomic_write(path, lambda f: np.savez(f, **members))


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------
def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` and return its payload.

    The payload comes back as saved, arrays as host NumPy arrays. Raises
    :class:`CheckpointError` naming the file when it is missing, is not an ``.npz``
    archive (e.g. truncated), holds pickled objects, lacks the minis2s format tag
    (a foreign file), was written by a newer format version, or fails its checksum.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a checkpoint file "
                              "(minis2s.train.load_trained and the commands take a run "
                              "directory)")
    if not path.exists():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}") from exc
    if magic != b"PK\x03\x04":  # every .npz is a zip archive, and zips start so
        raise CheckpointError(f"{path} is not a minis2s checkpoint (not an .npz archive; "
                              + ("the file is empty)" if not magic else "foreign file)"))
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if _META not in names or _SUM not in names:
                raise CheckpointError(
                    f"{path} is not a minis2s checkpoint (an .npz archive without the "
                    f"{_META!r} and {_SUM!r} entries a minis2s checkpoint has)"
                )
            members = {name: archive[name] for name in names}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise CheckpointError(
            f"{path} is not a readable checkpoint: {exc} (the file is truncated, "
            "corrupted, or not an .npz archive)"
        ) from exc
    except ValueError as exc:  # pickled objects, or a malformed .npy header
        raise CheckpointError(f"{path} is refused: {exc} (checkpoints never hold "
                              "pickled objects; this file is damaged or foreign)") from exc

    meta_text = _text(members.pop(_META), path, _META)
    stored_sum = _text(members.pop(_SUM), path, _SUM)
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{path} is not a minis2s checkpoint (format tag {found!r}, "
                              f"expected {FORMAT!r})")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {version!r}; this "
                              f"minis2s reads versions up to {VERSION} (upgrade minis2s)")
    if _digest(meta_text, members) != stored_sum:
        raise CheckpointError(f"{path} is corrupted: its checksum does not match its "
                              "contents (the file was modified or damaged)")
    data = meta.get("data")
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: its metadata holds no payload dict")
    return _join(data, members, path)


def _text(a: np.ndarray, path: Path, name: str) -> str:
    if a.shape != () or a.dtype.kind != "U":
        raise CheckpointError(f"{path}: entry {name!r} should be a 0-d string, "
                              f"got dtype {a.dtype} shape {a.shape}")
    return str(a[()])
