"""Serve MathJax 3 from the built site itself, so the math renders with no network.

Sphinx's ``sphinx.ext.mathjax`` links a script; by default from a CDN, which a
reader offline, a CI machine or a sandboxed browser cannot reach. The PyPI
package ``sphinx-mathjax-offline`` (a dev dependency) ships MathJax 3.2.2. This
extension uses it only as the source of the files: after an HTML build it copies
the one combined component the pages load (``tex-chtml.js``: TeX input, HTML
output, menu, assistive MathML) and the few files that component may fetch later
(its web fonts, the TeX extensions it autoloads, the menu and accessibility parts)
into ``_static/mathjax/`` -- about 3 MB instead of the package's 24 MB -- and
declares itself safe for parallel builds (the package's own extension does not,
which ``-j`` with ``-W`` turns into an error).

``conf.py`` points ``mathjax_path`` at ``mathjax/tex-chtml.js``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

PACKAGE = "sphinx-mathjax-offline"
PARTS = (
    "tex-chtml.js",
    "output/chtml/fonts/woff-v2",
    "input/tex/extensions",
    "ui",
    "a11y",
)


def mathjax_source() -> Path:
    """The MathJax directory inside the installed ``sphinx-mathjax-offline`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            f"MathJax for the docs comes from the package {PACKAGE!r}, which is not "
            'installed: pip install -e ".[dev]" (or pip install sphinx-mathjax-offline)'
        )
    source = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    if not (source / "tex-chtml.js").is_file():
        raise ExtensionError(f"{PACKAGE} is installed but has no {source / 'tex-chtml.js'}")
    return source


def _copy(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        src, dst = source / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists() or dst.stat().st_size != src.stat().st_size:
                shutil.copyfile(src, dst)


def setup(app):
    mathjax_source()  # fail at start-up, with the fix, rather than ship pages without math
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
