"""The documentation: every forward/backward function is on a mapping page, and the docs build.

* ``test_every_forward_backward_is_on_a_mapping_page`` walks the package and lists
  every public forward/backward function (names ending in ``_forward`` /
  ``_backward``, ``forward``/``backward`` methods, the cell protocol's step and
  sequence functions, every optimizer's ``step``/``update``); each must appear in
  a ``literalinclude`` with ``:pyobject: NAME`` of *its own file* in ``docs/``.
* ``test_every_literalinclude_names_an_existing_object`` checks the reverse, without
  a build: each ``:pyobject:`` names an object that exists in the included file.
* ``test_missing_pyobject_breaks_a_build`` shows, on a two-file project, that
  Sphinx with ``-W`` fails on a ``:pyobject:`` that does not exist: the mechanism
  the mapping pages rely on so that they cannot drift from the code.
* ``test_docs_build`` (marker ``docs``) builds the real site with warnings as errors,
  notebooks executed at small settings, and checks a few pages of the result.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import minis2s

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

from minis2s_docstrings import normalise  # noqa: E402  (a docs extension, not the package)

# A literalinclude directive in MyST: ```{literalinclude} PATH  (or :::{literalinclude})
# followed by its ":option: value" lines.
_DIRECTIVE = re.compile(
    r"^(?:`{3,}|:{3,})\{literalinclude\}\s+(?P<path>\S+)\s*\n(?P<options>(?:[ \t]*:[\w-]+:.*\n)*)",
    re.MULTILINE,
)
_PYOBJECT = re.compile(r"^[ \t]*:pyobject:[ \t]*(?P<name>\S+)[ \t]*$", re.MULTILINE)

CELL_PROTOCOL = ("step_forward", "step_backward", "sequence_forward", "sequence_backward")
OPTIMIZER_METHODS = ("step", "update")


def _is_pair_name(name: str) -> bool:
    return name.endswith(("_forward", "_backward")) or name in ("forward", "backward")


def required_functions() -> dict[str, tuple[Path, str]]:
    """``{"module.name": (file, pyobject)}`` for every function the mapping must show."""
    from minis2s.optim.base import Optimizer

    found: dict[str, tuple[Path, str]] = {}
    for info in pkgutil.walk_packages(minis2s.__path__, "minis2s."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):  # __main__ runs the CLI; _private
            continue
        module = importlib.import_module(info.name)
        path = Path(module.__file__).resolve()
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) and _is_pair_name(name):
                found[f"{info.name}.{name}"] = (path, name)
            if inspect.isclass(obj):
                is_optimizer = issubclass(obj, Optimizer)
                for attr, member in vars(obj).items():
                    if not inspect.isfunction(member) or attr.startswith("_"):
                        continue
                    if _is_pair_name(attr) or (is_optimizer and attr in OPTIMIZER_METHODS):
                        found[f"{info.name}.{name}.{attr}"] = (path, f"{name}.{attr}")
        if info.name.startswith("minis2s.cells.") and hasattr(module, "STATE_NAMES"):
            for name in CELL_PROTOCOL:  # the cell protocol, whatever else the module defines
                found[f"{info.name}.{name}"] = (path, name)
    return found


def mapped_objects() -> dict[tuple[Path, str], list[str]]:
    """``{(included file, pyobject): [pages]}`` over every literalinclude of docs/**/*.md."""
    mapped: dict[tuple[Path, str], list[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        if "_build" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        for match in _DIRECTIVE.finditer(text):
            target = match.group("path")
            # Sphinx: a leading "/" is relative to the source directory, else to the page.
            path = (DOCS / target[1:]) if target.startswith("/") else (page.parent / target)
            for option in _PYOBJECT.finditer(match.group("options")):
                key = (path.resolve(), option.group("name"))
                mapped.setdefault(key, []).append(str(page.relative_to(DOCS)))
    return mapped


def test_the_inventory_finds_the_known_pieces():
    """Guards the walker itself: a walker that finds nothing would pass the test below."""
    required = required_functions()
    for name in (
        "minis2s.ops.linear.linear_forward",
        "minis2s.ops.softmax_ce.softmax_cross_entropy_backward",
        "minis2s.cells.rnn.encoder_backward",
        "minis2s.cells.rnn.sequence_backward",
        "minis2s.ops.attention.attention_backward",
        "minis2s.model.seq2seq.Seq2Seq.backward",
        "minis2s.optim.adam.Adam.update",
        "minis2s.optim.base.Optimizer.step",
    ):
        assert name in required, f"the inventory missed {name}"
    assert len(required) >= 40, f"only {len(required)} functions found: {sorted(required)}"


def test_every_forward_backward_is_on_a_mapping_page():
    mapped = mapped_objects()
    missing = [
        f"{path.relative_to(ROOT)}: {pyobject}  ({name})"
        for name, (path, pyobject) in sorted(required_functions().items())
        if (path, pyobject) not in mapped
    ]
    assert not missing, (
        f"{len(missing)} forward/backward functions have no "
        "```{literalinclude} /../<file>``` with `:pyobject: <name>` in docs/ "
        "(add each, with its equations, to a page of docs/mapping/):\n  " + "\n  ".join(missing)
    )


def test_every_literalinclude_names_an_existing_object():
    from sphinx.pycode import ModuleAnalyzer

    broken = []
    for (path, pyobject), pages in sorted(mapped_objects().items()):
        if not path.is_file():
            broken.append(f"{', '.join(pages)}: file {path} does not exist")
            continue
        tags = ModuleAnalyzer.for_file(str(path), "").find_tags() if path.suffix == ".py" else {}
        if path.suffix == ".py" and pyobject not in tags:
            broken.append(f"{', '.join(pages)}: no {pyobject!r} in {path.relative_to(ROOT)}")
    assert mapped_objects(), "no literalinclude with :pyobject: found in docs/ at all"
    assert not broken, "literalinclude of objects that do not exist:\n  " + "\n  ".join(broken)


def _sphinx(src: Path, out: Path, timeout: float, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src),
         str(out)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )


def test_missing_pyobject_breaks_a_build(tmp_path):
    """A literalinclude of a function that no longer exists fails a -W build."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["myst_parser"]\n', encoding="utf-8")
    linear = Path(os.path.relpath(ROOT / "minis2s" / "ops" / "linear.py", src)).as_posix()
    page = "# Page\n\n```{{literalinclude}} {path}\n:pyobject: {name}\n```\n"
    (src / "index.md").write_text(page.format(path=linear, name="linear_forward"), "utf-8")
    ok = _sphinx(src, tmp_path / "ok", timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (src / "index.md").write_text(page.format(path=linear, name="linear_renamed"), "utf-8")
    broken = _sphinx(src, tmp_path / "broken", timeout=120)
    assert broken.returncode != 0
    assert "linear_renamed" in broken.stderr and "not found" in broken.stderr, broken.stderr


def test_docstring_normaliser_moves_shapes_out_of_types_and_ends_lists():
    lines = [
        "One line.",
        "",
        "Parameters",
        "----------",
        "x : ``(T, N, D)`` float, the inputs",
        "    time-major.",
        "mask :",
        "    ``(T, N)``.",
        "",
        "Returns ``(out, cache)``.",
        "",
        "Raises",
        "------",
        "ValueError : untouched outside field sections",
    ]
    assert normalise(lines) == [
        "One line.",
        "",
        "Parameters",
        "----------",
        "x",
        "    ``(T, N, D)`` float, the inputs",
        "    time-major.",
        "mask",
        "    ``(T, N)``.",
        "",
        "",
        "Returns ``(out, cache)``.",
        "",
        "Raises",
        "------",
        "ValueError : untouched outside field sections",
    ]


def test_docstring_normaliser_restores_a_lone_literal_block():
    # inspect.getdoc of '"""Use it::\n\n        f(x)\n    """' loses the block's indentation
    assert normalise(["Use it::", "", "f(x)", "    g(y)"]) == [
        "Use it::", "", "    f(x)", "        g(y)"
    ]
    kept = ["Use it::", "", "    f(x)", "", "Then more."]
    assert normalise(kept) == kept


@pytest.mark.docs
def test_docs_build(tmp_path):
    """The real site: warnings are errors, every page is there.

    The notebooks are executed by tests/test_notebooks.py; running them a second time
    here would double the suite's longest part, so this build renders them without
    outputs unless MINIS2S_DOCS_EXECUTE is set (the full site, ``python -m sphinx -W
    docs docs/_build/html``, executes them, and then the notebook pages are checked for
    outputs and plots too)."""
    out = tmp_path / "html"
    execute = os.environ.get("MINIS2S_DOCS_EXECUTE", "off") != "off"
    env = dict(os.environ, MINIS2S_SMALL="1", MINIS2S_DOCS_EXECUTE="force" if execute else "off")
    result = _sphinx(DOCS, out, timeout=1500, env=env)
    log = (result.stdout + result.stderr)[-8000:]
    assert result.returncode == 0, f"sphinx-build -W failed:\n{log}"

    page = (out / "mapping" / "rnn.html").read_text(encoding="utf-8")
    assert re.search(r'class="k">def</span>.{0,60}class="nf">encoder_forward<', page), (
        "the code of encoder_forward is missing from mapping/rnn.html"
    )
    assert "_static/mathjax/tex-chtml.js" in page, "MathJax is not served from the build"
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (out / "api" / "generated" / "minis2s.ops.linear.html").is_file()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = out / "notebooks" / f"{notebook.stem}.html"
        assert page.is_file(), f"notebook {notebook.name} has no page"
        html = page.read_text(encoding="utf-8")
        if not execute:
            assert "cell_input" in html, f"notebook page {page.name} shows no code"
            continue
        assert "cell_output" in html, f"notebook page {page.name} shows no output"
        assert "<img" in html, f"notebook page {page.name} shows no plot"
