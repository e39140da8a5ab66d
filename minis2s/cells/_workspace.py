"""Workspaces: the fast paths' buffers, carved out of one block, and blocks used again.

A fast sequence function (:func:`minis2s.cells.lstm.sequence_forward`, ...) asks for all
its buffers at once, ``workspace(dtype, shape1, shape2, ...)``, and gets uninitialised
arrays that are views of ONE block of memory. Two things make that fast:

* *One block per call*, not one allocation per buffer.
* *Blocks used again.* On Linux the C allocator hands a large freed block back to the
  operating system, and the next step's block then costs a page fault per 4 KB page
  (the kernel zeroes every page it hands out). A training step asks for the same sizes
  every time, so the package keeps the blocks it made (:data:`POOL`) and hands one out
  again once nothing refers to it any more: every view of a block holds a reference
  to it, so a block whose only reference is the pool's is free. Measured on the
  2-layer LSTM of ``minis2s bench`` (T=20, N=64, hidden 256 and 512, forward and
  backward): about 2,800 page faults a step without the pool, none with it, and the
  step 5-7% faster (``python benchmarks/bench_workspace.py``).

Only NumPy blocks are kept: CuPy keeps its own pool of device memory, and on the
simulated device the point is to behave like one. A block is handed out only for a
request between half its size and its size (the smallest that fits; of equal ones,
the most recently used), and the pool keeps at most :attr:`BlockPool.max_blocks`
blocks, dropping the least recently used free one. The pool's memory is what the
largest steps needed at once; :meth:`BlockPool.clear` gives it back, and
:meth:`BlockPool.drop_free` the blocks nothing uses (the encoder for decoding calls it:
kept, its layers' blocks would sit beside the decoder's and raise the peak of a
decoding step, 41 MB against 32 MB on the article's model).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

from minis2s import backend


class BlockPool:
    """Blocks of host memory, handed out again once every view of them is gone."""

    def __init__(self, max_blocks: int = 32, min_bytes: int = 1 << 18):
        self.max_blocks = max_blocks      # blocks kept, free or in use
        self.min_bytes = min_bytes        # smaller requests: plain np.empty (no faults)
        self._blocks: list[np.ndarray] = []   # least recently used first
        self._lock = threading.Lock()     # batch shards ask from several threads
        # What _refs reads for a block that only the list holds, measured through the same
        # code (an interpreter that borrows references on its stack counts fewer).
        self._blocks.append(np.empty(0))
        self._free_refs = self._refs(0)
        self._blocks.clear()

    def take(self, size: int, dtype: Any) -> np.ndarray:
        """A 1-D block of at least ``size`` elements of ``dtype`` (uninitialised)."""
        dtype = np.dtype(dtype)
        if size * dtype.itemsize < self.min_bytes:
            return np.empty(size, dtype=dtype)
        with self._lock:
            best = None
            for k in range(len(self._blocks)):
                if self._fits(k, size, dtype) and (
                        best is None or self._blocks[k].size <= self._blocks[best].size):
                    best = k
            if best is not None:
                block = self._blocks.pop(best)
            else:
                block = np.empty(size, dtype=dtype)
                if len(self._blocks) >= self.max_blocks:
                    self._drop_one()
            self._blocks.append(block)     # most recently used last
            return block[:size]

    def _refs(self, k: int) -> int:
        """The reference count of block ``k``, read without a local name for it."""
        return sys.getrefcount(self._blocks[k])

    def _free(self, k: int) -> bool:
        """Whether nothing but the pool refers to block ``k`` (no view of it is alive)."""
        return self._refs(k) == self._free_refs

    def _fits(self, k: int, size: int, dtype: np.dtype) -> bool:
        """Whether block ``k`` is free and holds ``size`` elements of ``dtype`` without
        being more than twice as large."""
        if not self._free(k):
            return False
        block = self._blocks[k]
        return block.dtype == dtype and size <= block.size <= 2 * size

    def _drop_one(self) -> None:
        """Forget the least recently used free block (or, if every block is in use, the
        oldest one: its views keep it alive until they go)."""
        for k in range(len(self._blocks)):
            if self._free(k):
                del self._blocks[k]
                return
        del self._blocks[0]

    def drop_free(self) -> None:
        """Forget every block that no view refers to (their memory goes back now); blocks
        in use stay. For work that runs once and then needs other sizes, like the encoder
        before decoding (:func:`minis2s.model.encoding.encoder_layers`)."""
        with self._lock:
            self._blocks = [self._blocks[k] for k in range(len(self._blocks))
                            if not self._free(k)]

    def clear(self) -> None:
        """Forget every block (the memory goes back once no view refers to it)."""
        with self._lock:
            self._blocks.clear()

    def nbytes(self) -> int:
        """The bytes of the blocks the pool holds."""
        with self._lock:
            return sum(block.nbytes for block in self._blocks)


POOL = BlockPool()
"""The package's pool: :func:`workspace` takes its host blocks from here."""


def workspace(dtype: Any, *shapes: tuple[int, ...]) -> list:
    """Uninitialised arrays of the given shapes, views of ONE block of memory (from
    :data:`POOL` on NumPy). Every returned view keeps the whole block in use."""
    xp = backend.get_xp()
    sizes = [int(np.prod(shape)) for shape in shapes]
    total = sum(sizes)
    block = POOL.take(total, dtype) if xp is np else xp.empty(total, dtype=dtype)
    views, start = [], 0
    for shape, size in zip(shapes, sizes):
        views.append(block[start:start + size].reshape(shape))
        start += size
    return views
