"""The edits that turn a copy of the project into the student or the solutions edition.

Each function edits a tree in place (``root`` is the copy's top folder) and is driven by
``assignments.toml``: :func:`stub_piece` (the student's functions), :func:`rewrite`
(fast paths that would give an answer away), :func:`cut_docstrings` (derivations in
the docstrings of a module that holds a piece), :func:`withhold` (docs pages, sections
and lesson cells), :func:`remove_tests` and :func:`place_notebook`.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

from minis2s.course import notebooks, source, stubs
from minis2s.course.catalog import HERE, Assignment, Piece

TEMPLATES = HERE / "templates"
NOTEBOOKS = HERE / "notebooks"
HANDOUT = "assignments"           # the student edition's folder of assignment notebooks


# ----------------------------------------------------------------------------------------
# Where an assignment's notebook lands, and what a stub says
# ----------------------------------------------------------------------------------------


def notebook_source(assignment: Assignment) -> Path:
    """The assignment's notebook (with solutions) in ``minis2s/course/notebooks/``."""
    path = NOTEBOOKS / assignment.notebook
    if path.exists():
        return path
    found = sorted(NOTEBOOKS.glob(f"{assignment.id}_*.ipynb"))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(f"{assignment.id}: notebook {assignment.notebook} not found in "
                            f"{NOTEBOOKS} (found {[p.name for p in found]})")


def notebook_target(assignment: Assignment) -> str:
    """Where the notebook goes in an edition: the lesson it replaces, or the handout folder."""
    return assignment.replaces or f"{HANDOUT}/{notebook_source(assignment).name}"


def stub_message(piece: Piece, assignment: Assignment) -> str:
    where = [notebook_target(assignment)] + [r for r in assignment.read
                                             if r != notebook_target(assignment)]
    return (f"{assignment.id}: {piece.module}.{piece.qualname} is yours to write "
            f"(assignment {assignment.id}, {assignment.title}). "
            f"Read {', '.join(where)}; ASSIGNMENTS.md lists what to write.")


# ----------------------------------------------------------------------------------------
# Python source
# ----------------------------------------------------------------------------------------


def _partner_raw(text: str, qualname: str | None) -> str | None:
    if qualname is None:
        return None
    docs = source.docstrings(source.def_source(text, qualname))
    return docs[0].raw if docs else None


def stub_piece(root: Path, piece: Piece, assignment: Assignment) -> None:
    """Replace ``piece`` by its stub in ``root`` (signature, shapes, forward equations)."""
    path = root / piece.path
    text = path.read_text(encoding="utf-8")
    stub = stubs.stub_source(
        source.def_source(text, piece.qualname), piece.qualname,
        stub_message(piece, assignment), piece.stub_summary, piece.forward,
        _partner_raw(text, piece.forward), piece.stub_prose)
    path.write_text(source.replace_def(text, piece.qualname, stub), encoding="utf-8")


def _module_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _template_list(text: str, name: str) -> tuple[str, ...]:
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise LookupError(f"template without {name}")


def rewrite(root: Path, spec: str) -> list[str]:
    """Apply ``"module:template"``: the template's definitions replace (and precede) the
    module's; returns the qualnames written."""
    module, template = spec.split(":", 1)
    path = root / (module.replace(".", "/") + ".py")
    tpl = (TEMPLATES / f"{template}.py").read_text(encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    missing = [n for n in _template_list(tpl, "NEEDS") if n not in _module_names(ast.parse(text))]
    if missing:
        raise LookupError(f"rewrite {spec}: {module} lacks {', '.join(missing)}, which the "
                          f"template needs")
    replaces, adds = _template_list(tpl, "REPLACES"), _template_list(tpl, "ADDS")
    first = replaces[0]
    new_first = source.def_source(tpl, first)
    if adds:
        added = "\n\n".join(source.def_source(tpl, name).rstrip("\n") for name in adds)
        new_first = added + "\n\n\n" + new_first
    text = source.replace_def(text, first, new_first)
    for name in replaces[1:]:
        text = source.replace_def(text, name, source.def_source(tpl, name))
    text = drop_unused_private(text)
    path.write_text(text, encoding="utf-8")
    return [f"{module}:{n}" for n in adds + replaces]


def drop_unused_private(text: str) -> str:
    """``text`` without the private module-level functions nothing refers to any more
    (the helpers of a replaced fast path, which would still hold its gradients)."""
    while True:
        tree = ast.parse(text)
        private = {n.name: n for n in tree.body
                   if isinstance(n, ast.FunctionDef) and n.name.startswith("_")}
        used: set[str] = set()
        for node in tree.body:
            skip = node.name if isinstance(node, ast.FunctionDef) else None
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and sub.id != skip:
                    used.add(sub.id)
                elif isinstance(sub, ast.Attribute):
                    used.add(sub.attr)
        dead = [name for name in private if name not in used]
        if not dead:
            return re.sub(r"\n{4,}", "\n\n\n", text).rstrip("\n") + "\n"
        for name in dead:
            text = source.replace_def(text, name, "")


_GRADIENT_CODE = re.compile(r"backward|grad")


def withhold_code(root: Path, module: str, assignment: Assignment) -> list[str]:
    """Stub every function and method of ``module`` whose name says it computes gradients
    (``*backward*``, ``*grad*``): a fast path whose gradients are an assignment's answer.
    Returns the ``module:qualname`` stubbed."""
    path = root / (module.replace(".", "/") + ".py")
    text = path.read_text(encoding="utf-8")
    names = []
    for node in ast.parse(text).body:
        members = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            members = [(f"{node.name}.{m.name}", m) for m in node.body
                       if isinstance(m, ast.FunctionDef)]
        names += [q for q, m in members if _GRADIENT_CODE.search(m.name)]
    for qualname in names:
        message = (f"{assignment.id}: {module}.{qualname} is withheld in the student edition "
                   f"(a fast path that computes the gradients of assignment {assignment.id}; "
                   f"the model runs through your functions instead)")
        stub = stubs.stub_source(source.def_source(text, qualname), qualname, message,
                                  None, None, None, prose=False)
        text = source.replace_def(text, qualname, stub)
    path.write_text(source.cut_module(drop_unused_private(text)), encoding="utf-8")
    return [f"{module}:{q}" for q in names]


def cut_docstrings(root: Path, module: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(source.cut_module(path.read_text(encoding="utf-8")), encoding="utf-8")


# ----------------------------------------------------------------------------------------
# Docs, lessons, tests
# ----------------------------------------------------------------------------------------

_FENCE = re.compile(r"^(`{3,}|:{3,})")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


def _md_blocks(lines: list[str]) -> list[tuple[int, int, bool]]:
    """``(start, end, is_literalinclude)`` of every fenced block of a MyST page."""
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            fence = m.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].startswith(fence):
                j += 1
            out.append((i, min(j, len(lines) - 1), "{literalinclude}" in lines[i]))
            i = j + 1
        else:
            i += 1
    return out


def withhold_markdown(text: str, section: str | None, note: str) -> str:
    """The page with one section (or the whole page when ``section`` is None) replaced by
    its heading, ``note`` and the section's ``literalinclude`` blocks (they show the
    stubs, and the docs' mapping test still finds every function)."""
    lines = text.split("\n")
    blocks = _md_blocks(lines)
    inside = set()
    for a, b, _ in blocks:
        inside.update(range(a, b + 1))
    headings = [(k, len(m.group(1)), m.group(2)) for k, line in enumerate(lines)
                if k not in inside and (m := _HEADING.match(line))]
    if section is None:
        start, level = headings[0][0] if headings else 0, 0
        end = len(lines)
    else:
        match = [(k, lvl) for k, lvl, title in headings if title == section]
        if not match:
            raise LookupError(f"no section {section!r} (sections: {[h[2] for h in headings]})")
        start, level = match[0]
        end = next((k for k, lvl, _ in headings if k > start and lvl <= level), len(lines))
    kept = [lines[start], "", note, ""]
    for a, b, include in blocks:
        if include and start <= a < end:
            kept += lines[a:b + 1] + [""]
    return "\n".join(lines[:start] + kept + lines[end:]).rstrip("\n") + "\n"


def drop_missing_includes(root: Path) -> None:
    """Remove the docs' ``literalinclude`` blocks whose ``:pyobject:`` the edition no longer
    has (a fast path's helper dropped with it): Sphinx would refuse them."""
    docs = root / "docs"
    for page in docs.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        lines = text.split("\n")
        drop: list[tuple[int, int]] = []
        for a, b, include in _md_blocks(lines):
            target = lines[a].split("}", 1)[1].strip() if include else ""
            names = [ln.split(":pyobject:", 1)[1].strip() for ln in lines[a:b + 1]
                     if ":pyobject:" in ln]
            if not (include and names):
                continue
            path = (docs / target[1:]) if target.startswith("/") else (page.parent / target)
            try:
                source.find_def(ast.parse(path.read_text(encoding="utf-8")), names[0])
            except (LookupError, OSError, SyntaxError):
                drop.append((a, b))
        for a, b in reversed(drop):
            end = b + 1 + (1 if b + 1 < len(lines) and not lines[b + 1].strip() else 0)
            del lines[a:end]
        if drop:
            page.write_text("\n".join(lines), encoding="utf-8")


#: The line a withheld lesson's title cell carries (tests/test_notebooks.py reads it: such a
#: lesson has no plot to show).
WITHHELD_LESSON = "*Withheld in the student edition while assignment"


def _stand_in(nb, assignment: Assignment):
    """A withheld lesson: its title, a note, its first code cell (the ``SMALL`` switch)
    and its exercises (without their self-check cells, which read the lesson's code);
    the derivation in between comes back with the solutions."""
    code = [c for c in nb.cells if c.cell_type == "code"][:1]
    title = next(c for c in nb.cells if c.cell_type == "markdown")
    exercises = [c for c in nb.cells if c.cell_type == "markdown" and "## Exercises" in c.source]
    first = title.source.split("\n", 1)[0]
    title.source = (f"{first}\n\n{WITHHELD_LESSON} "
                    f"{assignment.id} ({assignment.title}) is open: this lesson works "
                    f"through its answers. It comes back with the solutions.*")
    nb.cells = [title, *code, *exercises[-1:]]
    return nb


def withhold(root: Path, spec: str, assignment: Assignment) -> None:
    """Withhold ``"path"``, ``"page.md#Section"`` or ``"lesson.ipynb#cell text"``."""
    path, _, part = spec.partition("#")
    target = root / path
    if not target.exists():
        raise FileNotFoundError(f"{assignment.id}: withhold {spec}: no file {path}")
    if path.endswith(".ipynb"):
        nb = notebooks.read(target)
        if "(assignment A" in notebooks.title_of(nb):
            return                          # the lesson is an assignment here already
        if not part:
            nb = _stand_in(nb, assignment)
        else:
            notebooks.drop_cells(nb, part)  # (the catalog's test checks the text exists)
        notebooks.write(nb, target)
        return
    note = (f"*Withheld in the student edition while assignment {assignment.id} "
            f"({assignment.title}) is open; it comes back with the solutions.*")
    text = target.read_text(encoding="utf-8")
    target.write_text(withhold_markdown(text, part or None, note), encoding="utf-8")


def remove_tests(root: Path, spec: str) -> None:
    """Delete ``"tests/file.py::test_name"`` (the function) or ``"tests/file.py"``."""
    path, _, name = spec.partition("::")
    target = root / path
    if not target.exists():
        raise FileNotFoundError(f"remove_tests {spec}: no file {path}")
    if not name:
        target.unlink()
        return
    text = target.read_text(encoding="utf-8")
    span = source.def_span(text, name)
    lines = text.splitlines(keepends=True)
    target.write_text("".join(lines[: span.start - 1] + lines[span.end:]), encoding="utf-8")


def place_notebook(root: Path, assignment: Assignment, student: bool) -> str:
    """Write the assignment's notebook into the edition; return its path there."""
    nb = notebooks.edition(notebooks.read(notebook_source(assignment)), student)
    target = notebook_target(assignment)
    if assignment.replaces:
        number = int(Path(assignment.replaces).name.split("_", 1)[0])
        title = notebooks.title_of(nb)
        title = re.sub(r"^Assignment\s+A\d+\s*:\s*", "", title)
        notebooks.retitle(nb, f"# Lesson {number}: {title} (assignment {assignment.id})")
    notebooks.write(nb, root / target)
    return target


def drop_course(root: Path) -> None:
    """The editions leave out the kit itself: its package, its tests, the instructor's page."""
    shutil.rmtree(root / "minis2s" / "course", ignore_errors=True)
    for path in (root / "tests").glob("test_course*.py"):
        path.unlink()
    page = root / "docs" / "course.md"
    if page.exists():
        page.unlink()
        for md in (root / "docs").glob("*.md"):
            text = md.read_text(encoding="utf-8")
            new = re.sub(r"(?m)^course\n", "", text)
            new = re.sub(r"\{doc\}`course`", "the course kit", new)
            if new != text:
                md.write_text(new, encoding="utf-8")
