"""Batch shards: one recurrence spread over the CPU's cores.

The rows of a batch never meet inside a recurrence: row ``n`` of ``h_t`` depends only
on row ``n`` of ``x`` and of ``h_{t-1}``. So a batch of ``N`` rows can be cut into
``K`` shards of consecutive rows, each shard run through the *whole* recurrence (every
layer, every step, forward and later backward) on its own thread, and the results
joined:

* outputs, states and input gradients are the shards' rows side by side;
* a weight's gradient is a sum over rows, ``dW = sum_n dW^(n)``, so it is the sum of
  the shards' gradients.

Why try, when the BLAS library already has threads of its own? A recurrence does
``T`` small products (``(N, H) @ (H, 4H)`` at each step) with elementwise gate math
in between. The BLAS threads split each small product, and NumPy's ufuncs leave the
gate math on one core. A shard per core keeps each core busy with *all* of its rows'
work, products and gate math alike, and the cores meet only twice per training step
(after the forward, after the backward). NumPy releases Python's global interpreter
lock inside its ufuncs and matrix products, where almost all of the time goes, so
Python threads suffice.

What it buys, measured on a 2-core machine (``benchmarks/README.md``): for a 2-layer
LSTM at hidden 256-512, 6-12% less time than the BLAS threads once steps run back to
back (the first steps after a pause run slow). Where the per-row work is small
(hidden sizes of a few dozen) the threads spend their time handing the interpreter
lock to each other and one shard is faster. So shards are off by default
(``shards=1``): measure first.

Inside the shards the BLAS library is held to one thread (through ``threadpoolctl``),
so the ``K`` shards use ``K`` cores and the pools never fight.

Shards only make sense for the CPU: on a GPU one kernel already spans the device, so
:func:`default_shards` is 1 there. The code is still backend-agnostic (the tests run
it on the simulated device).

:func:`stack_forward` / :func:`stack_backward` wrap the plain stack of
:mod:`minis2s.cells.stack` (which knows nothing of shards) with ``shards=K``; the
benchmark (``minis2s bench --shards K``) and the gradient checks use them. This module
sits above the cells in the import order: it reads them, they never read it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from minis2s import backend
from minis2s.cells import stack
from minis2s.cells.stack_config import draw_dropout_masks
from minis2s.cells.validate import check_stack_grads, check_stack_sequence

_pool: dict[str, Any] = {"executor": None, "workers": 0, "controller": None, "modules": 0}
_lock = threading.Lock()


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def default_shards() -> int:
    """One shard per core on the CPU (``numpy`` backend), one on any other backend."""
    return cpu_cores() if backend.backend_name() == "numpy" else 1


def check_shards(shards: Any, where: str) -> int:
    """``shards`` as an int >= 1, or a ``ValueError`` naming ``where`` and the value."""
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError(f"{where}: expected shards to be an int >= 1, got {shards!r}")
    return shards


def row_bounds(n_rows: int, shards: int) -> list[tuple[int, int]]:
    """Split ``range(n_rows)`` into at most ``shards`` runs of consecutive rows.

    The runs differ in size by at most one row, come in order, and none is empty
    (fewer runs than ``shards`` when ``n_rows < shards``)::

        row_bounds(10, 3) == [(0, 4), (4, 7), (7, 10)]
    """
    k = max(1, min(shards, n_rows))
    base, extra = divmod(n_rows, k)
    bounds, start = [], 0
    for i in range(k):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _executor(workers: int) -> ThreadPoolExecutor:
    with _lock:
        if _pool["workers"] < workers:
            if _pool["executor"] is not None:
                _pool["executor"].shutdown(wait=True)
            _pool["executor"] = ThreadPoolExecutor(workers, thread_name_prefix="minis2s-shard")
            _pool["workers"] = workers
        return _pool["executor"]


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """The BLAS library on one thread inside the block (a no-op without threadpoolctl)."""
    if backend.backend_name() != "numpy":
        yield
        return
    with _lock:
        # The controller knows the BLAS libraries loaded when it was made; an import since
        # (scipy, torch ...) may have loaded another, so it is made again after imports.
        if _pool["controller"] is None or (_pool["controller"] is not False
                                           and _pool["modules"] != len(sys.modules)):
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # pragma: no cover - threadpoolctl is a dependency
                _pool["controller"] = False
            else:
                _pool["controller"] = ThreadpoolController()
                _pool["modules"] = len(sys.modules)
        controller = _pool["controller"]
    if controller is False:  # pragma: no cover
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def run(fn: Callable[..., Any], jobs: Sequence[tuple]) -> list[Any]:
    """``[fn(*job) for job in jobs]``, the jobs running at the same time.

    Job 0 runs on the calling thread, the others on a pool of worker threads kept
    for the life of the process; the BLAS library is limited to one thread
    meanwhile. Returns the results in the order of ``jobs``; if any job raises, the
    first exception (in job order) is raised once all jobs have finished, so no
    thread is still writing when the caller sees it.
    """
    if len(jobs) == 1:
        return [fn(*jobs[0])]
    executor = _executor(len(jobs) - 1)
    with _one_blas_thread():
        futures = [executor.submit(fn, *job) for job in jobs[1:]]
        results: list[Any] = []
        errors: list[BaseException] = []
        try:
            results.append(fn(*jobs[0]))
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others
            errors.append(exc)
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
    if errors:
        raise errors[0]
    return results


def take_rows(a: Any, bounds: tuple[int, int], axis: int) -> Any:
    """Rows ``bounds[0]:bounds[1]`` of ``a`` along ``axis`` (a view); ``None`` stays ``None``."""
    if a is None:
        return None
    index = [slice(None)] * a.ndim
    index[axis] = slice(*bounds)
    return a[tuple(index)]


def join_rows(parts: Sequence[Any], axis: int) -> Any:
    """The shards' arrays side by side along ``axis`` (one new array)."""
    return backend.get_xp().concatenate(list(parts), axis=axis)


def sum_grads(parts: Sequence[dict]) -> dict:
    """``{name: sum of the shards' gradients}``: the weight gradients of the whole batch."""
    total = {name: g.copy() for name, g in parts[0].items()}
    for part in parts[1:]:
        for name, g in part.items():
            total[name] += g
    return total


# --------------------------------------------------------------------------------------
# a stack of cells, in shards
# --------------------------------------------------------------------------------------


class ShardedStackCache(NamedTuple):
    """What :func:`stack_backward` needs after a sharded :func:`stack_forward`."""

    parts: tuple  # one minis2s.cells.stack.StackCache per shard
    bounds: tuple  # (start, stop) rows of the batch per shard


def stack_forward(
    x: Any,
    params: Mapping[str, Any],
    config: stack.StackConfig,
    state0: Any = None,
    mask: Any = None,
    train: bool = False,
    rng: np.random.Generator | None = None,
    prefix: str = "",
    shards: int = 1,
) -> tuple[Any, tuple, stack.StackCache | ShardedStackCache]:
    """:func:`minis2s.cells.stack.stack_forward` with the batch in ``shards`` shards of
    consecutive rows, one per thread.

    The arguments and results are those of the plain stack, plus ``shards``; with
    ``shards=1`` (or a batch of one row) it *is* the plain stack and returns its
    :class:`~minis2s.cells.stack.StackCache`, else a :class:`ShardedStackCache`.
    The results are those of one shard, up to float rounding in the summed weight
    gradients: the dropout masks are drawn for the whole batch first, so they do not
    depend on ``shards``.
    """
    where = "stack_forward"
    shards = check_shards(shards, where)
    state0, mask, dropping = check_stack_sequence(x, params, config, state0, mask, train, rng,
                                                  prefix, where)
    T, N = x.shape[:2]
    drops = draw_dropout_masks(rng if dropping else None, config, T, N, x.dtype)
    bounds = row_bounds(N, shards)
    if len(bounds) == 1:
        return stack.layers_forward(x, params, config, state0, mask, drops, prefix)

    def shard(b: tuple[int, int]) -> tuple:
        s0 = None if state0 is None else tuple(take_rows(s, b, 1) for s in state0)
        return stack.layers_forward(take_rows(x, b, 1), params, config, s0,
                                    take_rows(mask, b, 1), [take_rows(d, b, 1) for d in drops],
                                    prefix)

    parts = run(shard, [(b,) for b in bounds])
    hs = join_rows([p[0] for p in parts], axis=1)
    state_T = tuple(join_rows([p[1][i] for p in parts], axis=1) for i in range(len(parts[0][1])))
    return hs, state_T, ShardedStackCache(tuple(p[2] for p in parts), tuple(bounds))


def stack_backward(dhs: Any, dstate_T: Any, cache: stack.StackCache | ShardedStackCache
                   ) -> tuple[Any, tuple, dict]:
    """Backward of :func:`stack_forward`: after a sharded forward each shard runs
    :func:`minis2s.cells.stack.stack_backward` on its rows of ``dhs`` and ``dstate_T``
    (on as many threads); ``dx`` and ``dstate0`` are the shards' rows side by side, and
    each weight gradient the sum of the shards'. A plain cache goes to the plain stack.
    """
    if not isinstance(cache, ShardedStackCache):
        return stack.stack_backward(dhs, dstate_T, cache)
    first = cache.parts[0]
    T, N = first.x_shape[0], cache.bounds[-1][1]
    shape = (T, N, first.config.directions * first.config.hidden_size)
    dstate_T = check_stack_grads(dhs, dstate_T, first.config, shape, first.dtype,
                                 "stack_backward")

    def shard(part: stack.StackCache, b: tuple[int, int]) -> tuple:
        return stack.stack_backward(take_rows(dhs, b, 1),
                                    tuple(take_rows(g, b, 1) for g in dstate_T), part)

    parts = run(shard, list(zip(cache.parts, cache.bounds)))
    dx = join_rows([p[0] for p in parts], axis=1)
    dstate0 = tuple(join_rows([p[1][i] for p in parts], axis=1) for i in range(len(dstate_T)))
    return dx, dstate0, sum_grads([p[2] for p in parts])
