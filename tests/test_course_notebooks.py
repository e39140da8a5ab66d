"""The course kit's assignment notebooks: each runs, and each is committed as the builder expects.

Every notebook in ``minis2s/course/notebooks/`` is an assignment of
``minis2s/course/assignments.toml``. It is run top to bottom in a fresh ``python3`` kernel
with ``MINIS2S_SMALL=1``, against the full library (where the reference solutions live),
so its own check cells must pass; a run passes when no cell raises, something was
plotted and nothing was written to stderr -- the rules of the lessons, whose place an
assignment takes in the student edition (``tests/test_notebooks.py``).

The committed files are checked too: outputs stripped, kernelspec ``python3``; the shape
of a lesson (one ``# Assignment A<k>: ...`` title, the ``SMALL`` switch in the first code
cell, a "When you are done" section, the exercises last); otter's solution markers
balanced where the builder reads them, with nothing of a solution left in the student
edition; and every library function the assignment's pieces name appears in the
notebook with its file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_notebooks import SMALL_SWITCH, execute_small

nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the dev extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the dev extra")

from minis2s.course import catalog  # noqa: E402
from minis2s.course.notebooks import edition  # noqa: E402

pytestmark = pytest.mark.notebooks

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "minis2s" / "course" / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
COURSE = catalog.load()

CODE_BEGIN = re.compile(r"^\s*#\s*BEGIN SOLUTION\b")
CODE_END = re.compile(r"^\s*#\s*END SOLUTION\b")
MD_BEGIN = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->\s*$")
MD_END = re.compile(r"^\s*<!--\s*END SOLUTION\s*-->\s*$")


def _read(name: str):
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def _assignment(name: str) -> catalog.Assignment:
    found = [a for a in COURSE.assignments if a.notebook == name]
    assert found, f"{name} is not the notebook of any assignment in assignments.toml"
    return found[0]


def test_every_assignment_has_its_notebook_and_no_other():
    named = sorted(a.notebook for a in COURSE.assignments)
    assert NOTEBOOKS == named, (
        f"minis2s/course/notebooks/ holds {NOTEBOOKS}; assignments.toml names {named}")
    for a in COURSE.assignments:
        assert a.notebook.startswith(f"{a.id}_"), f"{a.id}: notebook {a.notebook} misnamed"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_with_outputs_stripped(name):
    nb = _read(name)
    nbformat.validate(nb)
    spec = nb.metadata.get("kernelspec", {})
    assert spec.get("name") == "python3", f"{name}: kernelspec {spec!r}, expected python3"
    assert "jupytext" not in nb.metadata, f"{name}: jupytext pairing metadata left in"
    for k, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        assert cell.outputs == [], f"{name}: code cell {k} has outputs (strip them)"
        assert cell.execution_count is None, f"{name}: code cell {k} has an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_has_the_shape_of_a_lesson(name):
    nb = _read(name)
    aid = _assignment(name).id
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    titles = [line for text in markdown for line in text.splitlines() if line.startswith("# ")]
    assert len(titles) == 1 and titles[0].startswith(f"# Assignment {aid}: "), (
        f"{name}: expected one title '# Assignment {aid}: ...', got {titles}")
    assert SMALL_SWITCH in code[0], f"{name}: the first code cell must set {SMALL_SWITCH}"
    assert any("## When you are done" in text for text in markdown), (
        f"{name}: no '## When you are done' section")
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Exercises"), (
        f"{name}: the last cell must be the exercises")
    exercises = re.findall(r"^\d+\. ", last.source, flags=re.MULTILINE)
    assert 2 <= len(exercises) <= 4, f"{name}: {len(exercises)} exercises, expected 2 to 4"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_names_the_functions_the_student_writes(name):
    nb = _read(name)
    intro = "\n".join(c.source for c in nb.cells[:3] if c.cell_type == "markdown")
    for piece in _assignment(name).pieces:
        assert f"`{piece.path}`" in intro, f"{name}: the file {piece.path} is not named"
        assert re.search(rf"[`\s.]{re.escape(piece.qualname)}\(", intro), (
            f"{name}: the function {piece.function} is not named in the introduction")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solutions_are_marked_and_left_out_of_the_student_edition(name):
    nb = _read(name)
    solution_lines, other_lines = [], set()
    for k, cell in enumerate(nb.cells):
        begin, end = (CODE_BEGIN, CODE_END) if cell.cell_type == "code" else (MD_BEGIN, MD_END)
        other = (MD_BEGIN, MD_END) if cell.cell_type == "code" else (CODE_BEGIN, CODE_END)
        inside = False
        for line in cell.source.splitlines():
            assert not any(p.match(line) for p in other), (
                f"{name}: cell {k} uses the other cell type's solution marker: {line!r}")
            if begin.match(line):
                assert not inside, f"{name}: cell {k} opens a solution inside a solution"
                inside = True
            elif end.match(line):
                assert inside, f"{name}: cell {k} closes a solution it did not open"
                inside = False
            elif inside:
                solution_lines.append(line.strip())
            else:
                other_lines.add(line.strip())
        assert not inside, f"{name}: cell {k} leaves a solution open"
    code_solutions = sum(CODE_BEGIN.match(line) is not None
                         for c in nb.cells if c.cell_type == "code"
                         for line in c.source.splitlines())
    assert code_solutions >= 1, f"{name}: no '# BEGIN SOLUTION' in any code cell"

    # a solution's distinctive lines: long enough, not comments, not also outside a solution
    distinctive = [line for line in solution_lines if len(line) > 12
                   and not line.startswith("#") and line not in other_lines]
    assert distinctive, f"{name}: no distinctive solution line to look for"
    student = edition(nb, student=True)
    text = "\n".join(c.source for c in student.cells)
    leaked = [line for line in distinctive if line in text]
    assert not leaked, f"{name}: the student edition still shows {leaked}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_executes_in_the_full_library(name, tmp_path, monkeypatch):
    execute_small(_read(name), name, tmp_path, monkeypatch)
