"""The timing harness of the benchmarks: one worker process per side, paired rounds.

:mod:`minis2s.bench` (the LSTM stack) and :mod:`minis2s.bench_model` (the whole model)
time their sides the same way, so that the numbers mean something on a busy machine:

* **One process per side.** Each side (minis2s with NumPy/OpenBLAS, PyTorch with
  MKL/OpenMP, ...) runs in its own worker process (``multiprocessing``, spawn), built
  once by a *setup* function (an importable ``"module:function"`` that returns the step
  to time), warmed up, then timed on a ``"go"`` message. Only one side works at a time.
* **Settle pauses.** The parent waits ``settle`` seconds before each hand-over, so that
  the idle thread pool of the side that just finished has stopped spinning (OpenBLAS
  threads spin about 0.1 s) and the pools never fight over the cores.
* **Paired rounds.** Each round times every side once, in order; ratios are taken per
  round and their median reported, which cancels slow drifts in machine load.
* **The load of other processes** during each round: the CPU time the whole machine
  spent (``/proc/stat``) less what this benchmark's own processes spent
  (``/proc/<pid>/stat``), over the round's wall time, in cores (Linux; elsewhere the
  1-minute load average).
* **Peak memory of one step**: how far the worker's resident set rose above its size
  before its first step (Linux: the setup's garbage collected and freed memory handed
  back with ``malloc_trim``, then the high-water mark reset through
  ``/proc/self/clear_refs`` and read from ``VmHWM``; elsewhere the growth of
  ``ru_maxrss``): every allocation on that side counted, library workspaces too.
"""

from __future__ import annotations

import importlib
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

#: The thread variables ``threads=K`` sets in a worker's environment.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def maxrss_bytes() -> int:
    """This process's peak resident set size in bytes."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _status_kb(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def step_peak_bytes(step: Any) -> int:
    """Run ``step()`` once and return how far the resident set rose above its size before
    (see the module docstring)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)   # hand the setup's freed memory back
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                          # reset VmHWM to the current VmRSS
        rss0 = _status_kb("VmRSS")
    except OSError:
        rss0 = None
    if rss0 is None:
        before = maxrss_bytes()
        step()
        return maxrss_bytes() - before
    step()
    return max(0, (_status_kb("VmHWM") or rss0) - rss0) * 1024


def _load_setup(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def worker(setup: str, args: tuple, conn: Any, warmup: int, clock: str = "wall") -> None:
    """Worker process: ``step = setup(*args)``, measure one step's peak memory, warm up,
    then answer each ``("go", k)`` with the best of ``k`` timed steps (seconds)."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    try:
        step = _load_setup(setup)(*args)
        peak = step_peak_bytes(step)
        for _ in range(warmup):
            step()
        conn.send(("ready", peak))
        while True:
            msg, k = conn.recv()
            if msg != "go":
                break
            times = []
            for _ in range(k):
                start = now()
                step()
                times.append(now() - start)
            conn.send(("time", min(times)))
    except Exception as exc:  # report, do not hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class Side:
    """One side of a benchmark in its own spawned worker: ``Side(ctx, name, setup, args)``,
    then :meth:`time` per round and :meth:`close`. ``threads`` sets :data:`THREAD_VARS`
    in the worker's environment (``None``: the libraries' own choice)."""

    def __init__(self, ctx: Any, name: str, setup: str, args: tuple, warmup: int,
                 threads: int | None = None, clock: str = "wall"):
        self.name = name
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(setup, args, child, warmup, clock),
                                daemon=True)
        saved = {var: os.environ.get(var) for var in THREAD_VARS}
        if threads is not None:  # read by the libraries when the spawned child loads them
            os.environ.update({var: str(threads) for var in THREAD_VARS})
        try:
            self.proc.start()
        finally:
            for var, value in saved.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
        child.close()
        kind, value = self.conn.recv()
        if kind == "error":
            self.close()
            raise RuntimeError(f"{name} worker failed: {value}")
        self.peak = value

    def time(self, k: int) -> float:
        self.conn.send(("go", k))
        kind, value = self.conn.recv()
        if kind == "error":
            raise RuntimeError(f"{self.name} worker failed: {value}")
        return value

    def close(self) -> None:
        try:
            self.conn.send(("stop", 0))
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()


def _machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy since boot (``/proc/stat``), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _process_seconds(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) of the processes ``pids`` (``/proc/<pid>/stat``)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


class LoadMeter:
    """The cores that *other* processes kept busy between :meth:`start` and :meth:`stop`:
    the machine's busy CPU time less that of ``pids`` (this benchmark's processes), over
    the wall time. Without ``/proc``: the 1-minute load average at :meth:`stop`."""

    def __init__(self, pids: Sequence[int]):
        self.pids = list(pids)
        self._start: tuple | None = None

    def start(self) -> None:
        self._start = (time.perf_counter(), _machine_busy_seconds(),
                       _process_seconds(self.pids))

    def stop(self) -> float:
        wall0, busy0, ours0 = self._start
        busy = _machine_busy_seconds()
        if busy is None or busy0 is None:
            return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        others = (busy - busy0) - (_process_seconds(self.pids) - ours0)
        return max(0.0, others) / max(time.perf_counter() - wall0, 1e-9)


def paired_rounds(sides: Sequence[Side], rounds: int, per_round: int, settle: float
                  ) -> tuple[dict[str, list[float]], list[float]]:
    """Time every side once per round, one at a time, ``settle`` seconds apart:
    ``({side name: [best of per_round seconds, one per round]}, [other load per round])``."""
    times: dict[str, list[float]] = {s.name: [] for s in sides}
    loads = []
    meter = LoadMeter([os.getpid()] + [s.proc.pid for s in sides])
    for _ in range(rounds):
        meter.start()
        for s in sides:
            time.sleep(settle)
            times[s.name].append(s.time(per_round))
        loads.append(meter.stop())
    return times, loads


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """The median over rounds of the per-round ratio ``a / b``."""
    return statistics.median(x / y for x, y in zip(a, b))


def torch_available() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def check_command(args: Any, counts: Sequence[str], without_torch: str) -> bool | None:
    """The checks both benchmark commands make before timing: every option in ``counts``
    (a number or a list of numbers, None for unset) at least 1 -- else a one-line error and
    ``None`` -- then whether PyTorch is wanted and installed (said when it is not, with
    ``without_torch`` naming what is timed instead). Prints the environment report."""
    for name in counts:
        values = getattr(args, name)
        if values is None:
            continue
        if any(v < 1 for v in (values if isinstance(values, list) else [values])):
            print(f"minis2s bench: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return None
    use_torch = not args.no_torch
    if use_torch and not torch_available():
        print(f"PyTorch is not installed: timing {without_torch} only.")
        use_torch = False
    print(environment_report())
    return use_torch


def environment_report() -> str:
    """Thread counts and BLAS kernels in use, and the OpenBLAS variables that change them."""
    import numpy as np

    lines = [f"numpy {np.__version__}, {os.cpu_count()} CPUs (thread pools of this process; "
             "--threads sets the workers')"]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            lines.append(f"  {var}={os.environ[var]}")
    try:
        import threadpoolctl

        for info in threadpoolctl.threadpool_info():
            lines.append(
                f"  {info.get('internal_api')} {info.get('version') or ''} "
                f"kernel={info.get('architecture', '-')} threads={info.get('num_threads')}"
            )
    except ImportError:
        lines.append("  (pip install threadpoolctl to see the BLAS kernel in use)")
    return "\n".join(lines)


def format_rows(head: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    """A right-aligned text table: the header, a rule, the lines."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(head)]
    table = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    table.append("  ".join("-" * w for w in widths))
    table += ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    return table
