"""The docs in a real browser, and the equation tags that link equations to code lines.

* ``test_nothing_is_clipped`` (marker ``docs``) opens the mapping and derivation pages
  of a built site in headless Chromium at 1280 x 900 (``docs/check_layout.py``) and
  asserts that no code block and no display equation is wider than its box; it saves
  screenshots of the LSTM pages. It builds the site (notebooks not executed) unless
  ``MINIS2S_DOCS_HTML`` names one already built, and skips without Chromium.
* ``test_lstm_equations_link_to_their_code_lines`` (marker ``docs``) reads the built
  LSTM mapping page: every backward equation (L1)..(L15) links to its source line.
* ``test_an_equation_tag_without_its_code_line_breaks_a_build`` shows, on a two-file
  project, that ``docs/_ext/eqtags.py`` turns a stale tag into a failed ``-W`` build.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import check_layout  # noqa: E402  (docs/check_layout.py, a script of the docs)

LSTM_PAGES = ("mapping/lstm.html", "derivations/lstm.html")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A built site: ``$MINIS2S_DOCS_HTML`` if it names one, else a fresh build."""
    given = os.environ.get("MINIS2S_DOCS_HTML")
    if given:
        path = Path(given)
        if not (path / "mapping" / "lstm.html").is_file():
            pytest.fail(f"MINIS2S_DOCS_HTML={given} is not a built site")
        return path
    out = tmp_path_factory.mktemp("site") / "html"
    check_layout.build(out)
    return out


@pytest.mark.docs
def test_nothing_is_clipped(site, tmp_path):
    if check_layout.find_chromium() is None:
        pytest.skip("no chromium (set $CHROMIUM to its path)")
    pytest.importorskip("websocket", reason="websocket-client is not installed")
    pages = check_layout.default_pages(site)
    assert set(LSTM_PAGES) <= set(pages), pages
    report = check_layout.check(site, pages, shots=tmp_path)
    clipped = [f"{page}: {item['kind']} {item['scroll']} > {item['client']} px: {item['label']}"
               for page, items in report.items() for item in items]
    assert not clipped, (f"{len(clipped)} element(s) wider than their box at "
                         f"{check_layout.WIDTH} px:\n  " + "\n  ".join(clipped))
    for page in LSTM_PAGES:
        shot = tmp_path / (page.removesuffix(".html").replace("/", "_") + ".png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"no screenshot of {page}"


@pytest.mark.docs
def test_lstm_equations_link_to_their_code_lines(site):
    html = (site / "mapping" / "lstm.html").read_text(encoding="utf-8")
    for k in range(1, 16):
        tag = f"L{k}"
        assert f"\\href{{#code-{tag}}}" in html, f"equation ({tag}) links to no code line"
        assert html.count(f'id="code-{tag}"') == 1, f"({tag}) is not one anchor in the code"
        assert f'href="#eq-{tag}"' in html, f"the code's ({tag}) does not link back"
    # the tagged lines are the highlighted ones
    assert len(re.findall(r'<span class="hll">', html)) >= 15


def test_an_equation_tag_without_its_code_line_breaks_a_build(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "code.py").write_text("def f(x):\n    y = 2 * x  # (Q1) y = 2x\n    return y\n",
                                 encoding="utf-8")
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(DOCS / '_ext')!r})\n"
        'extensions = ["myst_parser", "eqtags"]\n'
        'myst_enable_extensions = ["dollarmath", "amsmath"]\n', encoding="utf-8")
    page = ("# Page\n\n$$\ny = 2x \\qquad \\eqtag{{{tag}}}\n$$\n\n"
            "```{{literalinclude}} code.py\n:pyobject: f\n```\n")

    def build(tag: str, out: str):
        (src / "index.md").write_text(page.format(tag=tag), encoding="utf-8")
        return subprocess.run(
            [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
             str(src), str(tmp_path / out)], capture_output=True, text=True, timeout=120)

    ok = build("Q1", "ok")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    html = (tmp_path / "ok" / "index.html").read_text(encoding="utf-8")
    assert 'id="code-Q1"' in html and "\\href{#code-Q1}" in html
    stale = build("Q2", "stale")
    assert stale.returncode != 0
    assert "Q2" in stale.stderr and "Q1" in stale.stderr, stale.stderr
