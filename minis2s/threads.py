"""How many BLAS threads a model's matrix products should run on, chosen by its size.

A training step of a recurrent model is a loop of small matrix products (one per step
and layer) with element-wise work between them. A BLAS library splits each product
over its threads; that pays when the products are large, and costs when they are
small: the threads wake, split a product that one core would finish in microseconds,
and wait for each other -- and the element-wise work between the products runs on
one core anyway. On a machine where other programs keep the cores busy, a thread that
waits for a descheduled partner makes things far worse (10x measured on a shared
2-core machine).

So: one thread below a crossover size; from it on, every core that other programs
leave free (the 1-minute load average, read when the run starts, rounded to whole
cores: 0.3 of two cores leaves two, 1.6 leaves one). The size is the hidden
size, which sets every per-step product (``N x hidden`` by ``hidden x gates*hidden``).
Measured on this project's 2-core machine (a whole training step of an LSTM x1 with
attention on a dates batch, N = 64; 1 and 2 OpenBLAS threads interleaved in one
process, the median over rounds of the per-round ratio 2 threads / 1 thread;
``python benchmarks/bench_threads.py`` reruns it):

============  ======  ======  ======  ======
hidden          64     128     256     512
============  ======  ======  ======  ======
quiet           0.95    0.81    0.76    0.65
busy            1.74    1.20    1.42    1.40
============  ======  ======  ======  ======

("busy": two other processes spinning, about one core left; single rounds there ran up
to 8x and 23x slower with two threads). The gain on a quiet machine grows with the
size -- 5% at the default 64, 24-35% from 256 on -- while the loss on a busy one does
not shrink. Below 256 the gain does not pay for the risk: one thread. From 256 on
(the article's 512) every free core: two g2p runs side by side at hidden 256, each
started with two threads, took several times longer per epoch than with one each.
A machine that gets busy after the start is not seen; give ``--threads 1`` there.
"""

from __future__ import annotations

import os
from typing import Any

#: Smallest hidden size at which all cores beat one thread on a whole training step
#: (LSTM, batch 64; measured, see the module docstring).
CROSSOVER_HIDDEN = 256


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def other_load() -> float:
    """The 1-minute load average: cores' worth of runnable work (0.0 where the system
    does not report it)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def threads_for_model(settings: Any, cores: int | None = None,
                      load: float | None = None) -> int:
    """BLAS threads for a model with these settings (anything with ``hidden``, e.g. a
    ``ModelSettings``): 1 when ``hidden < CROSSOVER_HIDDEN``, else the cores that the
    ``load`` of other programs leaves free, ``max(1, cores - round(load))``.

    ``cores``: default :func:`cpu_cores`; ``load``: default :func:`other_load` (call it
    before the run starts, so that the load is other programs')."""
    hidden = getattr(settings, "hidden", None)
    if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
        raise TypeError(f"threads_for_model: expected model settings with a positive "
                        f"integer hidden size, got {type(settings).__name__}")
    if hidden < CROSSOVER_HIDDEN:
        return 1
    cores = cpu_cores() if cores is None else cores
    load = other_load() if load is None else load
    if not (load >= 0.0):          # also NaN
        raise ValueError(f"threads_for_model: load must be a number >= 0, got {load!r}")
    return max(1, cores - round(load))


# ----------------------------------------------------------------------------------------
# The BLAS library's work buffer, touched once
# ----------------------------------------------------------------------------------------

#: The side of the square float32 product :func:`warm_blas` runs (384 was the smallest
#: that did it here).
WARM_SIZE = 512
_warmed = False


def warm_blas() -> bool:
    """Run one ``WARM_SIZE``-square float32 matrix product on one BLAS thread, once per
    process (about 0.1 s, most of it threadpoolctl finding the BLAS library; 2 MB of
    memory); returns whether it ran now.

    Why: on this project's machine (a virtual machine, OpenBLAS 0.3.31 with its Haswell
    kernels), a process whose products are all small -- decoding a model of hidden 128 or
    256 on one thread, say, where every product is ``(64, H) x (H, 4H)`` or smaller -- runs
    them up to 3.5x slower than the same products after one larger product: a profile
    puts the time on a prefetch in the GEMM kernel that reaches into the part of the
    library's work buffer that small products never write, pages that stay unmapped
    and cost a page walk at every prefetch. One larger product writes them, for good.
    Measured (``python benchmarks/bench_blas_warmup.py``, fresh processes, one thread):
    greedy decoding of a batch of 64 2.3x faster at hidden 256, 1.5x at 128, within 10%
    at 64 and 512; the bare product ``(64, 256) @ (256, 256)`` 3.5x. A training step
    runs larger products itself (its weight gradients) and does not need it. Called by
    the decoder (:class:`minis2s.model.fast_decoder.InferenceDecoder`) on NumPy.
    """
    global _warmed
    if _warmed:
        return False
    _warmed = True
    import numpy as np
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:            # the library's own threads do the product instead
        threadpool_limits = None
    limit = threadpool_limits(1, user_api="blas") if threadpool_limits else None
    try:
        a = np.ones((WARM_SIZE, WARM_SIZE), dtype=np.float32)
        a @ a                      # (float64 products showed no such slowdown)
    finally:
        if limit is not None:
            limit.restore_original_limits()
    return True
