"""Read the package's numpy-style docstrings the way their authors write them.

Three habits of the package's docstrings meet the habits of napoleon and autodoc:

1. ``name : text`` -- in minis2s the text after the colon is the array's shape and
   meaning (``x : ``(T, N, D)`` float, the inputs``), not a type to link to.
   Napoleon would turn it into a ``:type:`` field, and Sphinx would try to resolve
   each word of it as a class. Here it is moved to the description (``name`` on
   its own line, the text indented under it), which renders as ``name -- text``.
2. ``Summary::`` followed by nothing but the code block. ``inspect.getdoc`` (and
   autodoc) remove the common indentation of the lines after the first, so when the
   code block is all there is, it loses its indentation and is no longer a literal
   block. A literal block that starts unindented is always an RST error, so the rest
   of the docstring is indented back under its ``::``.
3. A paragraph after a Parameters list (``Returns ``(out, cache)``.``) ends the
   list. Napoleon ends a section only at two blank lines or the next header, so it
   would read that paragraph as one more parameter. Here a second blank line is
   inserted before such a paragraph.

The hook runs before napoleon's (lower priority number) and changes nothing else.
"""

from __future__ import annotations

import re

_NAMES = r"\*{0,2}[A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*"
_FIELD = re.compile(rf"^({_NAMES})\s+:\s*(.*)$")  # "name : text" (text may be empty)
_BARE = re.compile(rf"^{_NAMES}$")  # "name" alone
_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_FIELD_SECTIONS = {
    "parameters", "params", "other parameters", "keyword arguments", "attributes",
    "returns", "return", "yields", "yield", "receives",
}
_SECTIONS = _FIELD_SECTIONS | {
    "raises", "warns", "warnings", "notes", "note", "examples", "example", "see also",
    "references", "methods", "todo",
}


def normalise(lines: list[str]) -> list[str]:
    """The docstring ``lines`` rewritten as described in the module docstring."""
    lines = _reindent_literal(lines)
    out: list[str] = []
    section: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        following = lines[i + 1] if i + 1 < len(lines) else None
        header = line.strip().lower()
        if header in _SECTIONS and following is not None and _UNDERLINE.match(following):
            section = header
            out += [line, following]
            i += 2
            continue
        if section in _FIELD_SECTIONS and line and not line[0].isspace():
            match = _FIELD.match(line)
            if match:
                out.append(match.group(1))
                if match.group(2):
                    out.append("    " + match.group(2))
                i += 1
                continue
            if not _BARE.match(line) and out and out[-1] == "":
                out.append("")  # two blank lines: napoleon ends the section here
                section = None
        out.append(line)
        i += 1
    return out


def _reindent_literal(lines: list[str]) -> list[str]:
    """Indent everything after a ``::`` whose block starts unindented (see point 2)."""
    for k, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        rest = lines[k + 1:]
        first = next((r for r in rest if r.strip()), None)
        if first is not None and not first[0].isspace():
            return lines[: k + 1] + [("    " + r) if r.strip() else r for r in rest]
    return lines


_ALIAS = re.compile(r"^Alias for field number \d+$")


def _process(app, what, name, obj, options, lines: list[str]) -> None:
    if len(lines) == 1 and _ALIAS.match(lines[0]):  # a NamedTuple field without a docstring
        lines[:] = []
        return
    lines[:] = normalise(lines)



# -- Cross-references written the short way ---------------------------------------------
#
# Docstrings say :func:`load_task` in a package __init__ that re-exports it, or
# :data:`DEFAULTS` for a module constant that autodoc does not document. Such a
# name exists; the reader wants the page it lives on. The hook below imports the
# name as seen from where the reference is written, follows it to the module that
# defines it, and links to the nearest documented object on that path (the
# function, else its class, else its module). A name that cannot be imported stays
# unresolved: under ``nitpicky`` and ``-W`` a reference to something that no longer
# exists still breaks the build.


def _import_path(dotted: str):
    """The object at ``dotted`` (``pkg.mod.Class.attr``), or None if there is none."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception:  # noqa: BLE001 - any failure means "not a module"
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return None
            obj = getattr(obj, attr)
        return obj, ".".join(parts[:cut]), parts[cut:]
    return None


def _canonical_names(target: str, modname: str | None, clsname: str | None) -> list[str]:
    """Dotted names, most specific first, under which ``target`` may be documented."""
    bases = []
    if modname and clsname:
        bases.append(f"{modname}.{clsname}")
    if modname:
        parts = modname.split(".")
        bases += [".".join(parts[:k]) for k in range(len(parts), 0, -1)]
    bases.append("")
    for base in bases:
        dotted = f"{base}.{target}" if base else target
        found = _import_path(dotted)
        if found is None:
            continue
        obj, module, attrs = found
        qualname = getattr(obj, "__qualname__", None)
        defined_in = getattr(obj, "__module__", None)
        if isinstance(qualname, str) and isinstance(defined_in, str) and "<" not in qualname:
            full = f"{defined_in}.{qualname}"
        else:  # data: documented, at best, where it was found
            full = ".".join([module, *attrs])
        parts = full.split(".")
        return [".".join(parts[:k]) for k in range(len(parts), 0, -1)]
    return []


def _missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    from sphinx.util.nodes import make_refnode

    domain = env.get_domain("py")
    target = node["reftarget"].lstrip("~.")
    for name in _canonical_names(target, node.get("py:module"), node.get("py:class")):
        entry = domain.objects.get(name) or domain.modules.get(name)
        if entry is not None:
            return make_refnode(
                app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name
            )
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _process, priority=400)
    app.connect("missing-reference", _missing_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
