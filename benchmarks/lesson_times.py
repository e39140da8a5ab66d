"""How long each lesson takes to run top to bottom, at the small (CI) and the full settings.

Executes every notebook of ``notebooks/`` in a fresh kernel (nbclient), one at a time, and
prints a Markdown table of wall and CPU seconds (the kernel's CPU time, read from the
kernel itself at the end) with the load average, so that a teacher can plan a session and
see when the machine was busy.

Usage::

    python benchmarks/lesson_times.py                       # both settings, every lesson
    python benchmarks/lesson_times.py --settings small      # what CI runs
    python benchmarks/lesson_times.py --lessons 02 09

Not part of CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: appended to each notebook: the kernel's own CPU time (children included), one line
CPU_PROBE = ("import resource as _r\n"
             "_s, _c = _r.getrusage(_r.RUSAGE_SELF), _r.getrusage(_r.RUSAGE_CHILDREN)\n"
             "print('CPU_SECONDS', _s.ru_utime + _s.ru_stime + _c.ru_utime + _c.ru_stime)")


def run_lesson(path: Path, small: bool) -> tuple[float, float]:
    """``(wall seconds, kernel CPU seconds)`` of one execution of the notebook at ``path``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CPU_PROBE))
    env_before = os.environ.get("MINIS2S_SMALL")
    if small:
        os.environ["MINIS2S_SMALL"] = "1"
    else:
        os.environ.pop("MINIS2S_SMALL", None)
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        wall = time.perf_counter() - start
    finally:
        if env_before is None:
            os.environ.pop("MINIS2S_SMALL", None)
        else:
            os.environ["MINIS2S_SMALL"] = env_before
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    cpu = float(text.split("CPU_SECONDS", 1)[1].split()[0])
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", choices=["small", "full", "both"], default="both")
    p.add_argument("--lessons", nargs="*", default=[],
                   help="lesson numbers or names to run (default: all)")
    args = p.parse_args(argv)
    if os.environ.get("CI"):
        print("note: CI is set, which makes every notebook take its small settings")
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        lessons = [n for n in lessons if any(n.stem.startswith(k) for k in args.lessons)]
        if not lessons:
            p.error(f"no lesson matches {args.lessons}")
    settings = ["small", "full"] if args.settings == "both" else [args.settings]
    rows = []
    for path in lessons:
        cells = []
        for setting in settings:
            load = os.getloadavg()[0]
            wall, cpu = run_lesson(path, small=setting == "small")
            cells.append(f"{wall:.0f} s / {cpu:.0f} s (load {load:.1f})")
            print(f"{path.stem} {setting}: {cells[-1]}", flush=True)
        rows.append(f"| {path.stem} | " + " | ".join(cells) + " |")
    print("\n| lesson | " + " | ".join(f"{s}: wall / CPU" for s in settings) + " |")
    print("| --- |" + " --- |" * len(settings))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
