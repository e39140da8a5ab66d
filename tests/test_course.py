"""The course kit's parts, without building a kit: the assignments file, the source
surgery (stubs, derivations cut from docstrings, withheld docs sections), the notebook
editions on otter's markers, and the autograder's hidden checks against this library.

The whole kit (build, grade, the student edition's gradcheck and tests) is exercised
by tests/test_course_kit.py.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
from pathlib import Path

import pytest

from minis2s.course import catalog, editions, source, stubs
from minis2s.course.catalog import HERE

ROOT = Path(__file__).resolve().parents[1]
COURSE = catalog.load()
PIECES = [(a, p) for a in COURSE.assignments for p in a.pieces]


def _hidden_names() -> set[str]:
    tree = ast.parse((HERE / "autograder" / "hidden.py").read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


# ----------------------------------------------------------------------------------------
# The assignments file
# ----------------------------------------------------------------------------------------


def test_the_assignments_file_lists_the_six_assignments():
    ids = [a.id for a in COURSE.assignments]
    assert ids == sorted(ids, key=lambda i: int(i[1:]))
    assert {"A1", "A2", "A3", "A4", "A6"} <= set(ids)
    for a in COURSE.assignments:
        assert a.pieces and a.points > 0 and a.minutes > 0 and a.title and a.covers
        assert all(c.points > 0 for p in a.pieces for c in p.checks)


@pytest.mark.parametrize("assignment,piece", PIECES, ids=[p.key for _, p in PIECES])
def test_every_piece_and_its_forward_exist_where_the_file_says(assignment, piece):
    module = importlib.import_module(piece.module)
    obj = module
    for part in piece.qualname.split("."):
        obj = getattr(obj, part)
    assert inspect.isfunction(obj), f"{piece.function} is not a function"
    text = (ROOT / piece.path).read_text(encoding="utf-8")
    source.def_span(text, piece.qualname)                  # the builder finds it by ast
    if piece.forward:
        partner = module
        for part in piece.forward.split("."):
            partner = getattr(partner, part)
        assert callable(partner), f"{piece.partner} is not callable"
        source.def_span(text, piece.forward)
    assert {c.hidden for c in piece.checks} <= _hidden_names()


@pytest.mark.parametrize("assignment", COURSE.assignments, ids=lambda a: a.id)
def test_what_an_assignment_withholds_exists(assignment):
    for spec in assignment.withhold:
        path, _, part = spec.partition("#")
        assert (ROOT / path).exists(), f"{assignment.id}: withhold {spec}: no {path}"
        if part and path.endswith(".md"):
            editions.withhold_markdown((ROOT / path).read_text(encoding="utf-8"), part, "x")
        if part and path.endswith(".ipynb"):
            assert part in (ROOT / path).read_text(encoding="utf-8"), f"{spec}: no such text"
    for spec in assignment.remove_tests:
        path, _, name = spec.partition("::")
        text = (ROOT / path).read_text(encoding="utf-8")
        if name:
            source.def_span(text, name)
    for spec in assignment.rewrite:
        module, template = spec.split(":")
        assert (HERE / "templates" / f"{template}.py").exists()
        importlib.import_module(module)
    for module in assignment.withhold_code:
        importlib.import_module(module)
    if assignment.replaces:
        assert (ROOT / assignment.replaces).exists()


def test_a_malformed_assignments_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "a.toml"
    bad.write_text('[[assignment]]\nid = "A1"\ntitle = "t"\nnotebook = "n"\nminutes = 1\n'
                   '[[assignment.piece]]\nfunction = "minis2s.x:f"\npoints = 3\n'
                   '[[assignment.piece.check]]\nname = "c"\npoints = 2\nhidden = "h"\n')
    with pytest.raises(ValueError, match="points 3.0 but its checks add up to 2.0"):
        catalog.load(bad)
    with pytest.raises(ValueError, match="unknown assignment"):
        COURSE.select(["A99"])


# ----------------------------------------------------------------------------------------
# Source surgery
# ----------------------------------------------------------------------------------------

SAMPLE = '''
def g_forward(x, W):
    """One step, ``y = tanh(W x)``.

    Returns ``y`` and the cache::

        y = tanh(x @ W.T)
    """
    return 1, 2


def g_backward(dy, cache):
    """Gradients of ``y = tanh(W x)``.

    Parameters
    ----------
    dy : ``(N, H)`` the upstream gradient ``dL/dy`` (not modified).

    Returns ``(dx, dW)`` (then summed: ``dW = da^T x``) with shapes of ``x`` and ``W``.
    The chain rule::

        da = dy * (1 - y^2)
        dx = da @ W
    """
    da = dy * (1 - cache.y ** 2)
    return da @ cache.W, da.T @ cache.x
'''


def test_a_stub_keeps_signature_shapes_and_forward_but_not_the_chain_rule():
    text = source.def_source(SAMPLE, "g_backward")
    partner = source.docstrings(source.def_source(SAMPLE, "g_forward"))[0].raw
    stub = stubs.stub_source(text, "g_backward", "A9: write it", None, "g_forward", partner)
    ns: dict = {}
    exec(compile(stub, "<stub>", "exec"), ns)
    assert list(inspect.signature(ns["g_backward"]).parameters) == ["dy", "cache"]
    doc = ns["g_backward"].__doc__
    assert "dy : ``(N, H)``" in doc and "Returns ``(dx, dW)``" in doc
    assert "y = tanh(x @ W.T)" in doc                    # the forward equations
    for answer in ("1 - y^2", "da @ W", "da^T x", "chain rule"):
        assert answer not in doc, f"the stub's docstring still says {answer!r}"
    with pytest.raises(NotImplementedError, match="A9: write it"):
        ns["g_backward"](None, None)
    assert source.code_lines(text) == ["da = dy * (1 - cache.y ** 2)",
                                       "return da @ cache.W, da.T @ cache.x"]


def test_cutting_keeps_a_docstring_without_derivations_unchanged():
    raw = "\n    Parameters\n    ----------\n    x : (N, D) input.\n\n    Returns ``y``.\n    "
    assert source.cut_derivations(raw) == raw
    assert source.cut_derivations("Plain summary.") == "Plain summary."


def test_replace_def_finds_methods_and_keeps_the_rest():
    text = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    new = source.replace_def(text, "A.f", "def f(self):\n    return 3\n")
    ns: dict = {}
    exec(new, ns)
    assert ns["A"]().f() == 3 and ns["A"]().g() == 2


def test_a_withheld_section_keeps_its_heading_and_its_includes():
    page = ("# Page\n\nIntro.\n\n## Keep\n\nKept text.\n\n## Backward\n\n$$\\mathrm{d}x = W$$\n\n"
            "```{literalinclude} /../minis2s/x.py\n:pyobject: f_backward\n```\n\n## After\n\nok\n")
    out = editions.withhold_markdown(page, "Backward", "*withheld*")
    assert "mathrm" not in out and ":pyobject: f_backward" in out and "*withheld*" in out
    assert "Kept text." in out and "## After" in out and out.count("## Backward") == 1
    whole = editions.withhold_markdown(page, None, "*withheld*")
    assert whole.startswith("# Page\n\n*withheld*") and "Kept text." not in whole


@pytest.mark.parametrize("lesson", ["02_backprop_through_time", "09_whole_model_backward"])
def test_a_withheld_lesson_keeps_its_exercises_and_runs(lesson, tmp_path, monkeypatch):
    """A kit without the assignment that replaces a lesson (e.g. A1 without A5 for lesson
    09) keeps a stand-in: the title with a note, the first code cell, the exercises --
    not their self-check cells, which read the withheld code -- and it runs as a lesson."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from test_notebooks import execute_small

    nb = nbformat.read(ROOT / "notebooks" / f"{lesson}.ipynb", as_version=4)
    stand_in = editions._stand_in(nb, COURSE.assignments[0])
    kinds = [c.cell_type for c in stand_in.cells]
    assert kinds == ["markdown", "code", "markdown"], kinds
    assert stand_in.cells[0].source.splitlines()[2].startswith(editions.WITHHELD_LESSON)
    assert "## Exercises" in stand_in.cells[-1].source
    execute_small(stand_in, lesson, tmp_path, monkeypatch)


# ----------------------------------------------------------------------------------------
# Notebook editions (otter-grader's markers, outputs stripped with nbformat)
# ----------------------------------------------------------------------------------------


def test_notebook_editions_follow_otters_markers():
    nbformat = pytest.importorskip("nbformat")
    from minis2s.course import notebooks

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Assignment A9: x\n<!-- BEGIN SOLUTION -->\nsecret\n"
                                      "<!-- END SOLUTION -->"),
        nbformat.v4.new_code_cell("def f(y):\n    # BEGIN SOLUTION\n    return 1 - y * y\n"
                                  "    # END SOLUTION\nz = 2 * 3  # SOLUTION\n"
                                  "# BEGIN SOLUTION\nw = 4\n# END SOLUTION"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="out")]
    nb.cells[1].execution_count = 3
    student = notebooks.edition(nb, student=True)
    code = student.cells[1].source
    assert "1 - y * y" not in code and "w = 4" not in code and "2 * 3" not in code
    assert 'raise NotImplementedError("TODO")' in code and "z = ...  # TODO" in code
    assert "secret" not in student.cells[0].source
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    solution = notebooks.edition(nb, student=False)
    assert "BEGIN SOLUTION" not in solution.cells[1].source
    assert "return 1 - y * y" in solution.cells[1].source
    assert "z = 2 * 3" in solution.cells[1].source
    assert nb.cells[1].outputs, "the original notebook is left as it was"


@pytest.mark.parametrize("assignment", COURSE.assignments, ids=lambda a: a.id)
def test_each_assignment_notebook_is_committed_clean_and_marks_its_solutions(assignment):
    pytest.importorskip("nbformat")
    from minis2s.course import notebooks

    nb = notebooks.read(editions.notebook_source(assignment))
    assert notebooks.has_solutions(nb), f"{assignment.id}: no '# BEGIN SOLUTION' marker"
    assert notebooks.title_of(nb).startswith(f"Assignment {assignment.id}:")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    code = "\n".join(c.source for c in nb.cells)
    for piece in assignment.pieces:
        assert piece.qualname.split(".")[-1] in code + "\n".join(
            c.source for c in nb.cells if c.cell_type == "markdown"), (
            f"{assignment.id}'s notebook never names {piece.qualname}")


def test_the_instructors_page_covers_every_assignment():
    page = (ROOT / "docs" / "course.md").read_text(encoding="utf-8")
    for a in COURSE.assignments:
        assert f"| {a.id} |" in page, f"docs/course.md has no row for {a.id}"
        for p in a.pieces:
            assert p.qualname.split(".")[-1] in page, (
                f"docs/course.md does not name {p.qualname} ({a.id})")
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert "\ncourse\n" in index, "docs/course.md is not in the toctree"


def test_the_command_refuses_bad_input_with_one_line(tmp_path):
    from minis2s.course.cli import main

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    for argv, words in ((["build", str(busy)], "not empty"),
                        (["build", str(tmp_path / "new"), "--assignments", "A1,A99"],
                         "unknown assignment"),
                        (["grade", str(tmp_path)], "no autograder found")):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main(argv) == 2, argv
        assert words in err.getvalue() and err.getvalue().count("\n") == 1, err.getvalue()
    assert not (tmp_path / "new").exists()


def test_the_main_command_has_the_course_sub_command(capsys):
    from minis2s import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["course", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "build" in out and "grade" in out
