r"""Equation numbers that link to the line of code computing them, read from the source.

A mapping page numbers its equations with ``\eqtag{L3}`` inside the math::

    $$
    \begin{aligned}
    \mathrm{d}i &= \mathrm{d}c \odot g && \eqtag{L3}
    \end{aligned}
    $$

and the line of the package that computes the equation carries the same tag in its
comment, ``di = dc * g  # (L3) ...``. At build time this extension

* highlights (``emphasize-lines``) every line of an included source file
  (``literalinclude``) whose comment carries a tag ``(X<number>)``;
* turns each ``\eqtag{L3}`` into the link ``(L3)`` to that line (the first line with
  the tag on the page), and gives the equation the anchor ``eq-L3``;
* turns the ``(L3)`` of each tagged comment into a link back to the equation, the
  first such comment being the anchor ``code-L3``.

The line numbers are never written by hand: they come from the source at every build,
so they cannot go stale. On a page that numbers equations this way, an ``\eqtag``
with no tagged line and a tagged line with no ``\eqtag`` are warnings (errors under
``-W``): renaming, removing or retagging a line of code breaks the build instead of a
link.
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

TAG = r"[A-Z][0-9]{1,3}"
EQTAG = re.compile(r"\\eqtag\{\s*(" + TAG + r")\s*\}")
CODE_TAG = re.compile(r"#[^\n]*?\((" + TAG + r")\)")  # a tag in a comment of a source line
# In the HTML: the tag inside a highlighted comment (Pygments' class "c1").
HTML_CODE_TAG = re.compile(r'(<span class="c1">[^<]*?)\((' + TAG + r")\)")
EQ_ANCHOR = re.compile(r"\\cssId\{eq-(" + TAG + r")\}")


def eqtag_tex(tag: str, linked: bool) -> str:
    r"""What ``\eqtag{tag}`` becomes: an anchor, and a link to the code line if there is one."""
    text = r"\text{(" + tag + ")}"
    if linked:
        text = r"\href{#code-" + tag + "}{" + text + "}"
    return r"\cssId{eq-" + tag + "}{" + text + "}"


def _included_code(doctree: nodes.document):
    """Literal blocks read from a source file (``literalinclude``), in document order."""
    for block in doctree.findall(nodes.literal_block):
        if block.get("source") and block.get("language", "python") in ("python", "py", "default"):
            yield block


def tag_doctree(app, doctree: nodes.document) -> None:
    """Highlight tagged code lines and link ``\\eqtag``s to them (``doctree-read``)."""
    code: dict[str, tuple[nodes.literal_block, int]] = {}  # tag -> first block, line
    for block in _included_code(doctree):
        lines = block.astext().split("\n")
        tagged = []
        for number, line in enumerate(lines, start=1):  # Pygments' hl_lines count from 1
            match = CODE_TAG.search(line)
            if match:
                tagged.append(number)
                code.setdefault(match.group(1), (block, number))
        if tagged:
            args = block.setdefault("highlight_args", {})
            args["hl_lines"] = sorted(set(args.get("hl_lines", ())) | set(tagged))

    used: dict[str, nodes.Element] = {}
    for node in doctree.findall(lambda n: isinstance(n, (nodes.math, nodes.math_block))):
        text = node.astext()
        if not EQTAG.search(text):
            continue
        for match in EQTAG.finditer(text):
            tag = match.group(1)
            if tag in used:
                logger.warning("equation tag %s is used twice on this page", tag,
                               location=node, type="eqtags", subtype="duplicate")
            used.setdefault(tag, node)
            if tag not in code:
                logger.warning("equation tag %s: no included source line has the comment "
                               "tag (%s)", tag, tag, location=node, type="eqtags",
                               subtype="unmatched")
        new = EQTAG.sub(lambda m: eqtag_tex(m.group(1), m.group(1) in code), text)
        node.children[0].parent = None
        node[:] = [nodes.Text(new)]
    if used:
        for tag, (block, number) in sorted(code.items()):
            if tag not in used:
                logger.warning("the source line tagged (%s) (line %d of the block) has no "
                               "\\eqtag{%s} on this page", tag, number, tag, location=block,
                               type="eqtags", subtype="unmatched")


def link_code_tags(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Link each code tag that has an equation to it, in the HTML (``html-page-context``)."""
    if doctree is None or "body" not in context:
        return
    tags = {
        match.group(1)
        for node in doctree.findall(lambda n: isinstance(n, (nodes.math, nodes.math_block)))
        for match in EQ_ANCHOR.finditer(node.astext())
    }
    if not tags:
        return
    seen: set[str] = set()

    def link(match: re.Match) -> str:
        before, tag = match.group(1), match.group(2)
        if tag not in tags:
            return match.group(0)
        anchor = "" if tag in seen else f' id="code-{tag}"'
        seen.add(tag)
        return (f'{before}<a class="eqtag"{anchor} href="#eq-{tag}" '
                f'title="equation ({tag})">({tag})</a>')

    context["body"] = HTML_CODE_TAG.sub(link, context["body"])


def setup(app) -> dict:
    app.connect("doctree-read", tag_doctree)
    app.connect("html-page-context", link_code_tags)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
