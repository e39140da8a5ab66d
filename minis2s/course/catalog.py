"""The assignments file (``assignments.toml``), read and checked.

One file lists every assignment, its pieces (``"module:qualname"`` of the library
functions the student writes), their points and hidden checks, and what the student
edition withholds; :func:`load` turns it into the frozen objects below and refuses a
malformed file with a message that names the assignment and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ASSIGNMENTS_FILE = HERE / "assignments.toml"
_ID = re.compile(r"^A\d+$")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class Check:
    """One line of the grade table: a hidden check of a piece."""

    name: str
    points: float
    hidden: str
    about: str


@dataclass(frozen=True)
class Piece:
    """A library function the student writes."""

    assignment: str
    function: str                 # "minis2s.cells.lstm:step_backward"
    forward: str | None           # its forward partner's qualname (same module), or None
    points: float
    checks: tuple[Check, ...]
    stub_summary: str | None = None
    stub_prose: bool = True       # False: the stub keeps only the summary and the sections

    @property
    def module(self) -> str:
        return self.function.split(":", 1)[0]

    @property
    def qualname(self) -> str:
        return self.function.split(":", 1)[1]

    @property
    def path(self) -> str:
        """The module's file, relative to the project root."""
        return self.module.replace(".", "/") + ".py"

    @property
    def key(self) -> str:
        """A short unique name: ``A3.lstm.step_backward``."""
        return f"{self.assignment}.{self.module.rsplit('.', 1)[-1]}.{self.qualname}"

    @property
    def partner(self) -> str | None:
        return None if self.forward is None else f"{self.module}:{self.forward}"


@dataclass(frozen=True)
class Assignment:
    id: str
    title: str
    covers: str
    notebook: str
    replaces: str | None
    read: tuple[str, ...]
    minutes: int
    prerequisites: tuple[str, ...]
    withhold: tuple[str, ...]
    remove_tests: tuple[str, ...]
    rewrite: tuple[str, ...]
    withhold_code: tuple[str, ...]
    pieces: tuple[Piece, ...]

    @property
    def points(self) -> float:
        return sum(p.points for p in self.pieces)


@dataclass(frozen=True)
class Course:
    timeout: float
    output_cap: int
    assignments: tuple[Assignment, ...]

    def select(self, ids: list[str] | None) -> tuple[Assignment, ...]:
        """The assignments named in ``ids`` (all when ``None``), in the file's order."""
        if not ids:
            return self.assignments
        known = {a.id: a for a in self.assignments}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValueError(f"unknown assignment(s) {', '.join(unknown)}: expected some of "
                             f"{', '.join(known)}")
        return tuple(a for a in self.assignments if a.id in ids)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:        # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                "reading assignments.toml on Python 3.10 needs tomli "
                "(pip install 'minis2s[course]')") from exc
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _field(table: dict, name: str, kind: type | tuple, where: str, default: Any = ...) -> Any:
    if name not in table:
        if default is ...:
            raise ValueError(f"{where}: missing field {name!r}")
        return default
    value = table[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{where}: field {name!r} should be {kind}, got {value!r}")
    return value


def _strings(table: dict, name: str, where: str) -> tuple[str, ...]:
    values = _field(table, name, list, where, [])
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where}: field {name!r} should be a list of strings, got {values!r}")
    return tuple(values)


def _piece(table: dict, assignment: str) -> Piece:
    where = f"{assignment} piece {table.get('function', '?')}"
    function = _field(table, "function", str, where)
    if not _FUNCTION.match(function):
        raise ValueError(f"{where}: function should read 'module:qualname', got {function!r}")
    points = float(_field(table, "points", (int, float), where))
    checks = []
    for c in _field(table, "check", list, where):
        cw = f"{where} check {c.get('name', '?')}"
        checks.append(Check(_field(c, "name", str, cw),
                            float(_field(c, "points", (int, float), cw)),
                            _field(c, "hidden", str, cw), _field(c, "about", str, cw, "")))
    if abs(sum(c.points for c in checks) - points) > 1e-9:
        raise ValueError(f"{where}: points {points} but its checks add up to "
                         f"{sum(c.points for c in checks)}")
    return Piece(assignment, function, _field(table, "forward", str, where, None), points,
                 tuple(checks), _field(table, "stub_summary", str, where, None),
                 _field(table, "stub_prose", bool, where, True))


def load(path: str | Path | None = None) -> Course:
    """Read and check the assignments file (default: the one shipped with minis2s)."""
    path = Path(path) if path is not None else ASSIGNMENTS_FILE
    data = _read_toml(path)
    course = data.get("course", {})
    assignments = []
    for table in _field(data, "assignment", list, str(path)):
        aid = _field(table, "id", str, str(path))
        if not _ID.match(aid):
            raise ValueError(f"{path}: assignment id should read A<number>, got {aid!r}")
        pieces = tuple(_piece(p, aid) for p in _field(table, "piece", list, aid))
        assignments.append(Assignment(
            aid, _field(table, "title", str, aid), _field(table, "covers", str, aid, ""),
            _field(table, "notebook", str, aid), _field(table, "replaces", str, aid, None),
            _strings(table, "read", aid), int(_field(table, "minutes", int, aid)),
            _strings(table, "prerequisites", aid), _strings(table, "withhold", aid),
            _strings(table, "remove_tests", aid), _strings(table, "rewrite", aid),
            _strings(table, "withhold_code", aid), pieces))
    ids = [a.id for a in assignments]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: assignment ids repeat: {ids}")
    functions = [p.function for a in assignments for p in a.pieces]
    if len(set(functions)) != len(functions):
        raise ValueError(f"{path}: a function is a piece of two assignments: {functions}")
    return Course(float(course.get("timeout", 60)), int(course.get("output_cap", 20000)),
                  tuple(assignments))
