"""Sphinx configuration of the minis2s documentation.

Build it with::

    sphinx-build -W --keep-going -b html docs docs/_build/html

* Markdown pages (MyST) with ``$...$`` / ``$$...$$`` math, rendered by MathJax 3
  served from the build itself (files from the ``sphinx-mathjax-offline``
  package, copied by ``_ext/mathjax_local.py``; no CDN: the pages render on a
  machine without network, and in CI).
* Code beside the math comes from ``literalinclude`` with ``:pyobject:``, so a
  page shows the function as it is in the package; an object that no longer
  exists is a warning, and ``-W`` turns it into a failed build.
* Equation numbers link to code lines: ``\\eqtag{L3}`` in a page's math and the
  comment tag ``# (L3)`` on the source line that computes it (``_ext/eqtags.py``
  highlights the line and links the two, from the source at each build).
* The API reference is generated from the docstrings (autodoc + autosummary,
  numpy-style sections through napoleon).
* The notebooks in ``../notebooks`` are copied into ``docs/notebooks/`` (a
  build artefact, ignored by git) and executed by myst-nb at small settings
  (``MINIS2S_SMALL=1`` unless already set), so their plots appear on the pages.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the package, importable without installing it
sys.path.insert(0, str(DOCS / "_ext"))  # the docs' own small extensions

# -- Project -----------------------------------------------------------------------------
project = "minis2s"
author = "the minis2s authors"
copyright = "2026, the minis2s authors"
release = "0.1.0"

extensions = [
    "myst_nb",  # MyST Markdown + notebooks (brings myst_parser with it)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "minis2s_docstrings",  # must come before napoleon: see docs/_ext/minis2s_docstrings.py
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "mathjax_local",  # MathJax 3 copied into _static/mathjax: no CDN (docs/_ext)
    "eqtags",  # \eqtag{L3} in an equation links to the source line tagged # (L3) (docs/_ext)
]

# .rst first: autosummary writes its generated stubs with the first suffix.
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
# results/: tables written by benchmarks/ scripts (--publish), included by the result pages
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store", "results/*.md"]
templates_path = ["_templates"]

# Warnings are errors in CI (-W); nitpicky makes every unresolved cross-reference one
# too, so a link to a function that was renamed or removed breaks the build.
nitpicky = True
# Types from outside the package have no inventory to link to (intersphinx needs the
# network): they are written as plain text rather than reported.
nitpick_ignore_regex = [
    # Napoleon turns the text after "name :" in a Parameters section into a type, and
    # the package writes shapes there ("``(T, N, D)`` float"): such text is not a
    # class to link to. Functions, methods, modules and attributes stay checked.
    (r"py:class", r".*"),
    (r"py:.*", r"(numpy|np|cupy|typing|types|collections|contextlib|pathlib|os|io|"
               r"argparse|dataclasses|matplotlib|enum)(\..*)?"),
]

# MathJax 3 from the build itself (docs/_ext/mathjax_local.py), not from a CDN.
mathjax_path = "mathjax/tex-chtml.js"

# -- MyST ----------------------------------------------------------------------------------
myst_enable_extensions = ["amsmath", "dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# -- Notebooks (myst-nb) -------------------------------------------------------------------
# Every notebook runs at each build ("force"): the pages show fresh plots, and a
# notebook that no longer runs breaks the docs build. MINIS2S_DOCS_EXECUTE=off skips
# execution (pages without outputs) for a quick look at the prose.
nb_execution_mode = "off" if os.environ.get("MINIS2S_DOCS_EXECUTE") == "off" else "force"
nb_execution_timeout = 300  # seconds per cell
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_in_temp = True  # files a notebook writes do not land in docs/
nb_merge_streams = True
nb_output_stderr = "remove-warn"  # progress bars on stderr are not content
# Notebooks shrink their settings when MINIS2S_SMALL is set (see docs/conventions.md,
# "Notebooks"); the kernel inherits this process's environment.
os.environ.setdefault("MINIS2S_SMALL", "1")

NOTEBOOKS_SRC = ROOT / "notebooks"
NOTEBOOKS_DST = DOCS / "notebooks"


def _sync_notebooks() -> list[str]:
    """Mirror ``notebooks/*.ipynb`` into ``docs/notebooks/`` (Sphinx reads only its source dir).

    Files are copied only when they changed (so incremental builds stay incremental)
    and copies of notebooks that were deleted are removed. Returns the names copied.
    """
    NOTEBOOKS_DST.mkdir(exist_ok=True)
    sources = sorted(NOTEBOOKS_SRC.glob("*.ipynb")) if NOTEBOOKS_SRC.is_dir() else []
    names = {p.name for p in sources}
    for stale in NOTEBOOKS_DST.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    for src in sources:
        dst = NOTEBOOKS_DST / src.name
        if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
            shutil.copyfile(src, dst)
    return sorted(names)


NOTEBOOKS = _sync_notebooks()
NOTEBOOKS_MARKER = "<!-- notebooks-toctree -->"


def _notebooks_toctree(app, docname: str, source: list[str]) -> None:
    """Replace the marker in notebooks.md by a toctree of the notebooks that exist.

    Generated rather than globbed: an empty glob is a warning (an error under -W)
    that Sphinx gives no way to silence, and there are no notebooks in a fresh
    checkout of an early commit.
    """
    if docname != "notebooks" or NOTEBOOKS_MARKER not in source[0]:
        return
    if NOTEBOOKS:
        entries = "\n".join(f"notebooks/{Path(name).stem}" for name in NOTEBOOKS)
        block = f"```{{toctree}}\n:maxdepth: 1\n\n{entries}\n```\n"
    else:
        block = "*No notebook has been written yet.*\n"
    source[0] = source[0].replace(NOTEBOOKS_MARKER, block)


BENCHMARKS = ROOT / "benchmarks" / "README.md"
BENCHMARKS_MARKER = "<!-- benchmark-results -->"


def _benchmark_results(app, docname: str, source: list[str]) -> None:
    """Put benchmarks/README.md (the measured figures) where fast_paths.md has its marker.

    Included, not copied, so the page shows whatever the benchmark last wrote; a
    clearly marked note stands in while the file does not exist.
    """
    if docname != "fast_paths" or BENCHMARKS_MARKER not in source[0]:
        return
    if BENCHMARKS.is_file():
        block = "```{include} ../benchmarks/README.md\n:heading-offset: 2\n```\n"
    else:
        block = (
            ":::{note}\n**Not measured yet.** The benchmark (`minis2s bench`) writes its "
            "figures to `benchmarks/README.md`, and this section shows that file once it "
            "exists.\n:::\n"
        )
    source[0] = source[0].replace(BENCHMARKS_MARKER, block)


def _reread_generated_pages(app, env, added, changed, removed) -> list[str]:
    """Re-read the pages whose content depends on files outside docs/ at every build."""
    return ["notebooks", "fast_paths"]


def setup(app) -> dict:
    app.connect("source-read", _notebooks_toctree)
    app.connect("source-read", _benchmark_results)
    app.connect("env-get-outdated", _reread_generated_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

# -- API reference (autodoc, autosummary, napoleon) ----------------------------------------
autosummary_generate = True
autosummary_generate_overwrite = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"  # no "x (Any)" lists for caches
autodoc_typehints_format = "short"
# A package __init__ re-exports names (its __all__); each is documented once, in the
# module that defines it.
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
# cupy may be absent; the two __main__ modules run a CLI when imported (mocked, so they are
# skipped).
autodoc_mock_imports = ["cupy", "cupyx", "minis2s.__main__", "minis2s.course.__main__"]
# Both styles occur in the package (numpy in ops and cells, Google in data).
napoleon_google_docstring = True
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_preprocess_types = False

# -- HTML ----------------------------------------------------------------------------------
html_theme = "furo"
html_title = "minis2s"
html_static_path = ["_static"]
html_css_files = ["minis2s.css"]
html_theme_options = {"navigation_with_keys": True}
pygments_style = "friendly"
pygments_dark_style = "monokai"
