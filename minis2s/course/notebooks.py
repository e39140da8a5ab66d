"""Student and solution editions of an assignment notebook, on otter-grader's markers.

In a code cell, the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are the
solution: the student edition replaces them (markers included) with ``# TODO`` and
``...`` -- or ``raise NotImplementedError`` when they sit inside a function body -- and
a line ending in ``# SOLUTION`` keeps its left-hand side (``x = ...``). In markdown,
``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->`` becomes *Your answer here.*
The solutions edition only drops the marker lines. Both editions leave without
outputs or execution counts (:func:`strip_outputs`, through nbformat).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

BEGIN = re.compile(r"^(\s*)#\s*BEGIN SOLUTION\b.*$")
END = re.compile(r"^\s*#\s*END SOLUTION\b.*$")
ONE_LINE = re.compile(r"^(\s*)(.+?)\s*#\s*SOLUTION\s*$")
MD_BEGIN = re.compile(r"^\s*<!--\s*BEGIN SOLUTION\s*-->\s*$")
MD_END = re.compile(r"^\s*<!--\s*END SOLUTION\s*-->\s*$")
_ASSIGN = re.compile(r"^([\w.,\s\[\]\"']+?)\s*(\+?=)\s*(?!=)")


def _nbformat():
    try:
        import nbformat
    except ModuleNotFoundError as exc:          # pragma: no cover - nbformat comes with dev
        raise ModuleNotFoundError(
            "the course kit reads notebooks with nbformat (pip install nbformat)") from exc
    return nbformat


def read(path: str | Path) -> Any:
    return _nbformat().read(str(path), as_version=4)


def write(nb: Any, path: str | Path) -> None:
    nbf = _nbformat()
    nbf.validate(nb)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    nbf.write(nb, str(path))


def strip_outputs(nb: Any) -> Any:
    """Outputs, execution counts and transient metadata removed (in place; returned)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
    nb.metadata.pop("widgets", None)
    return nb


def _student_code(source: str) -> str:
    out: list[str] = []
    lines = source.split("\n")
    i = 0
    while i < len(lines):
        m = BEGIN.match(lines[i])
        if m:
            indent = m.group(1)
            j = i + 1
            while j < len(lines) and not END.match(lines[j]):
                j += 1
            if j == len(lines):
                raise ValueError(f"'# BEGIN SOLUTION' without '# END SOLUTION' in:\n{source}")
            if indent:                                   # inside a function body
                out += [f"{indent}# TODO", f'{indent}raise NotImplementedError("TODO")']
            else:
                out += ["# TODO", "..."]
            i = j + 1
            continue
        one = ONE_LINE.match(lines[i])
        if one and not BEGIN.match(lines[i]) and not END.match(lines[i]):
            indent, code = one.group(1), one.group(2)
            lhs = _ASSIGN.match(code)
            out.append(f"{indent}{lhs.group(1)} {lhs.group(2)} ...  # TODO" if lhs
                       else f"{indent}...  # TODO")
        else:
            out.append(lines[i])
        i += 1
    return "\n".join(out)


def _solution_code(source: str) -> str:
    lines = []
    for line in source.split("\n"):
        if BEGIN.match(line) or END.match(line):
            continue
        one = ONE_LINE.match(line)
        lines.append(f"{one.group(1)}{one.group(2)}" if one else line)
    return "\n".join(lines)


def _markdown(source: str, student: bool) -> str:
    out, inside = [], False
    for line in source.split("\n"):
        if MD_BEGIN.match(line):
            inside = True
            if student:
                out.append("*Your answer here.*")
            continue
        if MD_END.match(line):
            inside = False
            continue
        if not (inside and student):
            out.append(line)
    return "\n".join(out)


def edition(nb: Any, student: bool) -> Any:
    """The student (``student=True``) or solutions edition of ``nb`` (a copy)."""
    nb = _nbformat().from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = _student_code(cell.source) if student else _solution_code(cell.source)
        elif cell.cell_type == "markdown":
            cell.source = _markdown(cell.source, student)
    return strip_outputs(nb)


def has_solutions(nb: Any) -> bool:
    """Whether the notebook marks any solution (a notebook without one hands out nothing)."""
    return any(BEGIN.match(line) or ONE_LINE.match(line) or MD_BEGIN.match(line)
               for cell in nb.cells for line in cell.source.split("\n"))


def retitle(nb: Any, title: str) -> Any:
    """Replace the notebook's ``# `` title line (the first one in markdown) by ``title``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        for k, line in enumerate(lines):
            if line.startswith("# "):
                lines[k] = title
                cell.source = "\n".join(lines)
                return nb
    raise ValueError("the notebook has no '# ' title to replace")


def title_of(nb: Any) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.split("\n"):
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def drop_cells(nb: Any, text: str) -> int:
    """Remove the cells whose source contains ``text``; return how many went."""
    before = len(nb.cells)
    nb.cells = [c for c in nb.cells if text not in c.source]
    return before - len(nb.cells)
