"""Batching: lists of token ids -> padded, time-major integer arrays and masks.

A batch of N pairs becomes (``T`` = the longest sequence of the batch)::

    src      (Ts, N)  source ids, right-padded with PAD_ID
    tgt_in   (Tt, N)  <s>  y_1 ... y_n          the decoder's inputs (teacher forcing)
    tgt_out  (Tt, N)  y_1 ... y_n  </s>         what the decoder must predict
    src_mask, tgt_mask (T, N) bool: True on real tokens, False on padding

``tgt_in`` and ``tgt_out`` are the same sequence shifted by one step: at step t
the decoder reads ``tgt_in[t]`` and is scored on ``tgt_out[t]``. Arrays are
time-major, so ``src[t]`` (the N tokens of step t) is contiguous.

Padding wastes work: a batch costs as much as its longest row. *Bucketing*
sorts examples by source length inside chunks of ~50 batches before cutting
them into batches, so rows of a batch have similar lengths; shuffling the
batches afterwards keeps the training order random.

This module is host-side: it returns NumPy arrays; the model moves them to the
device (``backend.to_device``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from minis2s.data.quote import short_repr
from minis2s.data.vocab import BOS_ID, EOS_ID, PAD_ID

#: Bucketing sorts by length inside windows of this many batches.
BUCKET_CHUNK_BATCHES = 50


@dataclass
class Batch:
    """One padded, time-major batch of N (source, target) pairs (host arrays).

    Attributes:
        src: ``(Ts, N)`` int64 source ids, padded with PAD_ID.
        tgt_in: ``(Tt, N)`` int64 ``[BOS, y_1..y_n]``, padded with PAD_ID.
        tgt_out: ``(Tt, N)`` int64 ``[y_1..y_n, EOS]``, padded with PAD_ID.
        src_mask: ``(Ts, N)`` bool, ``src_mask[t, i] = t < src_lengths[i]``.
        tgt_mask: ``(Tt, N)`` bool, ``tgt_mask[t, i] = t < tgt_lengths[i]``.
        src_lengths: ``(N,)`` int64 source lengths.
        tgt_lengths: ``(N,)`` int64 target lengths *including* the added
            BOS/EOS step, i.e. ``len(y) + 1`` (the number of scored positions).
        indices: ``(N,)`` int64 position of each row in the lists given to
            :func:`make_batches` (to map predictions back to examples).
    """

    src: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    src_mask: np.ndarray
    tgt_mask: np.ndarray
    src_lengths: np.ndarray
    tgt_lengths: np.ndarray
    indices: np.ndarray

    @property
    def size(self) -> int:
        """N, the number of pairs."""
        return int(self.src.shape[1])

    @property
    def n_tgt_tokens(self) -> int:
        """The number of scored target positions, ``sum(tgt_lengths)``."""
        return int(self.tgt_lengths.sum())


def _flatten(seqs: Sequence[Sequence[int]], side: str) -> tuple[np.ndarray, np.ndarray]:
    """All ids of ``seqs`` in one int64 array, and the length of each sequence.

    Raises TypeError/ValueError naming the first offending sequence.
    """
    if isinstance(seqs, str | bytes) or not isinstance(seqs, list | tuple):
        raise TypeError(
            f"expected a list of {side}id sequences, got {type(seqs).__name__} {short_repr(seqs)}"
        )
    if len(seqs) == 0:
        raise ValueError(f"need at least one {side}sequence, got none")
    for i, s in enumerate(seqs):
        if isinstance(s, str | bytes):
            raise TypeError(f"{side}sequence {i} is a str; encode it to ids with a Vocab first")
        if not isinstance(s, _SEQUENCE_TYPES):
            raise TypeError(
                f"{side}sequence {i} must be a list of int ids, got {type(s).__name__} "
                f"{short_repr(s)}"
            )
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise ValueError(
            f"{side}sequence {int(empty[0])} is empty; every sequence needs >= 1 token"
        )
    values = list(chain.from_iterable(seqs))
    try:
        flat = np.asarray(values)
    except (TypeError, ValueError):  # ragged nesting: numpy cannot make one array of it
        flat = None
    if (
        flat is None
        or flat.ndim != 1
        or not np.issubdtype(flat.dtype, np.integer)
        or not _BOOLS.isdisjoint(map(type, values))  # True/False would pass as 1/0
    ):
        _name_non_id(seqs, side)
    return flat.astype(np.int64, copy=False), lengths


_INT64 = np.iinfo(np.int64)
_SEQUENCE_TYPES = (list, tuple, np.ndarray)
_BOOLS = frozenset({bool, np.bool_})


def _name_non_id(seqs: Sequence[Sequence[int]], side: str) -> None:
    """Raise TypeError naming the first element of ``seqs`` that is not an int64 id."""
    for i, s in enumerate(seqs):
        for k, t in enumerate(s):
            if (
                isinstance(t, bool | np.bool_)
                or not isinstance(t, int | np.integer)
                or not _INT64.min <= t <= _INT64.max
            ):
                raise TypeError(
                    f"{side}sequence {i} must be a flat list of ints (int64 ids), got "
                    f"{short_repr(t)} ({type(t).__name__}) at position {k}"
                )
    raise TypeError(f"{side}sequences must hold int64 ids")  # not reached: a culprit exists


def _first_bad(flat: np.ndarray, lengths: np.ndarray, bad: np.ndarray) -> tuple[int, int]:
    """(sequence index, id) of the first True in ``bad``, a mask over ``flat``."""
    pos = int(np.flatnonzero(bad)[0])
    seq = int(np.searchsorted(np.cumsum(lengths), pos, side="right"))
    return seq, int(flat[pos])


def _pad_flat(flat: np.ndarray, lengths: np.ndarray, pad_id: int) -> np.ndarray:
    """Scatter the concatenated ids into a ``(T, N)`` array filled with ``pad_id``."""
    n = len(lengths)
    starts = np.cumsum(lengths) - lengths
    cols = np.repeat(np.arange(n), lengths)
    rows = np.arange(len(flat)) - np.repeat(starts, lengths)
    out = np.full((int(lengths.max()), n), pad_id, dtype=np.int64)
    out[rows, cols] = flat
    return out


def pad_sequences(
    seqs: Sequence[Sequence[int]], pad_id: int = PAD_ID
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad integer sequences into a time-major array.

    ``out[t, i] = seqs[i][t]`` for ``t < len(seqs[i])``, else ``pad_id``.

    Args:
        seqs: N non-empty sequences of ints.
        pad_id: the fill value.

    Returns:
        ``(out, lengths)``: ``out (T, N)`` int64 with ``T = max len``, and
        ``lengths (N,)`` int64.

    Raises:
        ValueError: no sequences, or sequence i is empty (named by index).
        TypeError: a sequence holds a non-integer (named by index), or ``pad_id``
            is not an int.
    """
    if isinstance(pad_id, bool) or not isinstance(pad_id, int | np.integer):
        raise TypeError(f"pad_id must be an int, got {type(pad_id).__name__} {short_repr(pad_id)}")
    if not np.iinfo(np.int64).min <= pad_id <= np.iinfo(np.int64).max:
        raise ValueError(f"pad_id must fit in int64, got {pad_id}")
    flat, lengths = _flatten(seqs, "")
    return _pad_flat(flat, lengths, pad_id), lengths


def _check_ids(
    seqs: Sequence[Sequence[int]], side: str, forbidden: dict[int, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one side of the data; return its flat ids and lengths."""
    flat, lengths = _flatten(seqs, side + " ")
    if (flat < 0).any():
        i, t = _first_bad(flat, lengths, flat < 0)
        raise ValueError(f"{side} sequence {i} holds the negative id {t}; ids must be >= 0")
    for t, why in forbidden.items():
        if (flat == t).any():
            i, _ = _first_bad(flat, lengths, flat == t)
            raise ValueError(f"{side} sequence {i} holds id {t}: {why}")
    return flat, lengths


def _order(
    src_lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, bucket: bool
) -> list[np.ndarray]:
    """Split ``range(n)`` into batches of indices (see :func:`make_batches`)."""
    n = len(src_lengths)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    if bucket:
        chunk = batch_size * BUCKET_CHUNK_BATCHES
        parts = []
        for start in range(0, n, chunk):
            idx = order[start : start + chunk]
            # stable sort by source length; equal lengths keep their (shuffled) order
            parts.append(idx[np.argsort(src_lengths[idx], kind="stable")])
        order = np.concatenate(parts)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if rng is not None and bucket:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


def _check_batch_args(
    src_ids: object, tgt_ids: object, batch_size: object, rng: object, bucket: object
) -> None:
    """The argument checks of :func:`make_batches` (the ids themselves: :func:`_check_ids`)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"batch_size must be a positive int, got {short_repr(batch_size)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    if not isinstance(bucket, bool):
        raise TypeError(f"bucket must be True or False, got {short_repr(bucket)}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator or None, got {type(rng).__name__} "
            "(make one with np.random.default_rng(seed))"
        )
    for name, seqs in (("src_ids", src_ids), ("tgt_ids", tgt_ids)):
        if isinstance(seqs, str | bytes) or not isinstance(seqs, list | tuple):
            raise TypeError(
                f"{name} must be a list of id lists, got {type(seqs).__name__} {short_repr(seqs)}"
            )
    if len(src_ids) != len(tgt_ids):
        raise ValueError(
            f"src_ids and tgt_ids must pair up, got {len(src_ids)} sources "
            f"and {len(tgt_ids)} targets"
        )
    if len(src_ids) == 0:
        raise ValueError("make_batches needs at least one pair, got none")


def make_batches(
    src_ids: Sequence[Sequence[int]],
    tgt_ids: Sequence[Sequence[int]],
    batch_size: int,
    rng: np.random.Generator | None = None,
    bucket: bool = True,
) -> list[Batch]:
    """Cut encoded pairs into padded :class:`Batch` objects.

    Order:

    * ``rng`` given: the pairs are shuffled (a new order for every call, e.g.
      once per epoch); deterministic given the generator's state.
    * ``bucket=True``: within chunks of ``BUCKET_CHUNK_BATCHES * batch_size``
      pairs, pairs are sorted by source length (stable) before being cut into
      batches, and, when ``rng`` is given, the batches are shuffled again, so
      the model does not see short sequences first and long ones last.
    * neither: batches follow the given order (e.g. for evaluation).

    Args:
        src_ids: N source id lists (no padding).
        tgt_ids: N target id lists *without* BOS/EOS (added here).
        batch_size: the most pairs per batch (the last batch may be smaller).
        rng: a seeded ``numpy.random.Generator`` for shuffling, or None.
        bucket: group similar source lengths to cut padding.

    Returns:
        A list of :class:`Batch`; ``Batch.indices`` map rows back to positions
        in ``src_ids``/``tgt_ids``.

    Raises:
        ValueError: the lists differ in length or are empty, ``batch_size`` is
            not a positive int, a sequence is empty, an id is negative or is
            PAD_ID, or a target already holds BOS_ID/EOS_ID (each names the
            sequence's index).
        TypeError: an id is not an int, or ``rng`` is not a Generator.
    """
    _check_batch_args(src_ids, tgt_ids, batch_size, rng, bucket)
    pad = "PAD_ID is reserved for padding"
    _, src_lengths = _check_ids(src_ids, "source", {PAD_ID: pad})
    _, tgt_lengths = _check_ids(
        tgt_ids,
        "target",
        {
            PAD_ID: pad,
            BOS_ID: "pass targets without BOS_ID; make_batches adds it",
            EOS_ID: "pass targets without EOS_ID; make_batches adds it",
        },
    )
    batches = []
    for idx in _order(src_lengths, int(batch_size), rng, bucket):
        s_len, y_len = src_lengths[idx], tgt_lengths[idx]
        src = _pad_flat(_gather(src_ids, idx, s_len), s_len, PAD_ID)
        y = _pad_flat(_gather(tgt_ids, idx, y_len), y_len, PAD_ID)  # (Ty, N), no BOS/EOS
        n = len(idx)
        tgt_in = np.concatenate([np.full((1, n), BOS_ID, dtype=np.int64), y])  # <s> y
        tgt_out = np.concatenate([y, np.full((1, n), PAD_ID, dtype=np.int64)])
        tgt_out[y_len, np.arange(n)] = EOS_ID  # y </s>
        t_len = y_len + 1
        batches.append(
            Batch(
                src=src,
                tgt_in=tgt_in,
                tgt_out=tgt_out,
                src_mask=np.arange(src.shape[0])[:, None] < s_len[None, :],
                tgt_mask=np.arange(tgt_in.shape[0])[:, None] < t_len[None, :],
                src_lengths=s_len,
                tgt_lengths=t_len,
                indices=idx.astype(np.int64),
            )
        )
    return batches


def _gather(seqs: Sequence[Sequence[int]], idx: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The ids of ``seqs[i] for i in idx``, concatenated (already validated)."""
    rows = (seqs[i] for i in idx)
    return np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))


def padding_fraction(batches: Sequence[Batch]) -> float:
    """The share of source cells that are padding, ``1 - sum(len) / sum(Ts * N)``.

    ``batches``: a non-empty list of :class:`Batch` (TypeError/ValueError otherwise).
    """
    if not isinstance(batches, list | tuple):
        raise TypeError(f"batches must be a list of Batch, got {type(batches).__name__}")
    if not batches:
        raise ValueError("padding_fraction needs at least one batch, got none")
    for i, b in enumerate(batches):
        if not isinstance(b, Batch):
            raise TypeError(f"batches[{i}] must be a Batch, got {type(b).__name__}")
    real = sum(int(b.src_lengths.sum()) for b in batches)
    total = sum(b.src.size for b in batches)
    return 1.0 - real / total
