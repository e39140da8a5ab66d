"""The text files of the kit: the student's front page and the autograder's entry points."""

from __future__ import annotations

import stat
from pathlib import Path

from minis2s.course import editions
from minis2s.course.catalog import Assignment


def _pieces_table(a: Assignment) -> list[str]:
    lines = ["| function | file | points |", "|---|---|---|"]
    lines += [f"| `{p.qualname}` | `{p.path}` | {p.points:g} |" for p in a.pieces]
    return lines


def front_page(chosen: tuple[Assignment, ...], student: bool) -> str:
    """``ASSIGNMENTS.md`` (student edition) or ``SOLUTIONS.md`` (solutions)."""
    total = sum(a.points for a in chosen)
    if student:
        lines = [
            "# Assignments", "",
            "This copy of minis2s is the student edition of a course. The functions listed "
            "below are yours to write: each raises `NotImplementedError` until you do, and "
            "its docstring gives its signature, the shapes of its arguments and the forward "
            "equations it differentiates. Everything else in the library works as usual.", "",
            "Install it (`pip install -e .`), open the assignment's notebook, and check your "
            "work as you go:", "",
            "- `minis2s gradcheck` prints a float64 gradient check of every backward pass "
            "(`not implemented` for the pieces you have not written yet);",
            "- `pytest` runs the test suite (it fails only on the pieces you have not written);",
            "- the notebook's check cells print what a right answer looks like.", "",
            "Hand in this folder (or the files you changed). The grader runs its own hidden "
            "checks on each function separately, so one wrong piece costs only its points.",
            "", f"Points in all: {total:g}.", ""]
    else:
        lines = ["# Solutions", "",
                 "The reference solutions of the course: the student edition with every "
                 "piece written (the library's own source) and the assignment notebooks "
                 "completed. Graded, it scores full marks.", "", f"Points in all: {total:g}.",
                 ""]
    for a in chosen:
        lines += [f"## {a.id}: {a.title}", "", a.covers, "",
                  f"- notebook: `{editions.notebook_target(a)}`",
                  f"- read first: {', '.join(f'`{r}`' for r in a.read) or '-'}",
                  f"- prerequisites: {', '.join(a.prerequisites) or 'none'}",
                  f"- time: about {a.minutes} minutes", ""]
        lines += _pieces_table(a) + [""]
    return "\n".join(lines)


def write_front_page(root: Path, chosen: tuple[Assignment, ...], student: bool) -> None:
    name = "ASSIGNMENTS.md" if student else "SOLUTIONS.md"
    (root / name).write_text(front_page(chosen, student), encoding="utf-8")


RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope's entry point: grade /autograder/submission into /autograder/results/results.json.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p /autograder/results
python3 grade.py /autograder/submission --json /autograder/results/results.json
"""

SETUP_SH = """#!/usr/bin/env bash
# Gradescope's image setup: the pieces' processes need NumPy (nothing else).
set -euo pipefail
apt-get install -y python3 python3-pip >/dev/null 2>&1 || true
python3 -m pip install numpy
"""


def autograder_readme(info: dict) -> str:
    lines = ["# The autograder of a minis2s course kit", "",
             "    python grade.py SUBMISSION [--json results.json]", "",
             "`SUBMISSION` is a folder holding the student's `minis2s/` package. Each piece "
             "below runs in a process of its own (`runner.py`) with a time limit of "
             f"{info['timeout']:g} s; the hidden checks (`hidden.py`) compare float64 gradient "
             "checks and golden values (`golden/`, computed from the reference at build time) "
             "and never run the submission's own tests. For Gradescope, zip this folder: "
             "`setup.sh` and `run_autograder` are its entry points.", "",
             "| assignment | piece | check | points | what it checks |", "|---|---|---|---|---|"]
    for piece in info["pieces"].values():
        for c in piece["checks"]:
            lines.append(f"| {piece['assignment']} | `{piece['label']}` | {c['name']} | "
                         f"{c['points']:g} | {' '.join(c['about'].split())} |")
    return "\n".join(lines) + "\n"


def write_autograder_files(ag: Path, info: dict) -> None:
    for name, text in (("run_autograder", RUN_AUTOGRADER), ("setup.sh", SETUP_SH)):
        path = ag / name
        path.write_text(text, encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (ag / "README.md").write_text(autograder_readme(info), encoding="utf-8")
