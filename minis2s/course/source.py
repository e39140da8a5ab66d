"""Source surgery for the student edition: find a function by qualname, stub it, cut derivations.

Everything here works on the *text* of a module and locates definitions with
:mod:`ast`, so a piece is named by ``module:qualname`` in ``assignments.toml``
and survives edits around it (a moved function is one line there).

The docstring convention (no markers in the library's source): a docstring is a
sequence of *blocks* separated by blank lines -- prose paragraphs, ``::`` literal
blocks (the indented lines after a paragraph ending in ``::``), ``.. math::``
directives and RST section titles. A block is *derivative-bearing* when one of its
lines writes a derivative (:data:`DERIVATIVE`): ``dx = ...``, ``dc += ...``,
``dL/dh``, ``\\partial``, ``\\mathrm{d}``, ``tanh'``/``f'(a)``, "chain rule".
:func:`cut_derivations` drops those blocks (and the paragraph that introduces a
dropped literal block, and a section title left with nothing under it); what
remains is the summary, the shapes and the forward equations.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass

#: A line that writes a derivative: ``dW = ...``, ``dc += ...``, ``dL/dx``, LaTeX
#: ``\partial`` / ``\mathrm{d}``, an activation's derivative ``f'(a)``, ``tanh'``.
DERIVATIVE = re.compile(
    r"(?<![\w.'])d[A-Za-z][\w\[\]{},:^]*\s*\+?=(?!=)"       # dW_k = ..., dc += ...
    r"|\\partial|\\mathrm\{d\}"                               # LaTeX derivatives
    r"|\b\w+'\s*(\(|=)"                                       # f'(a), tanh' = ...
    r"|chain rule|Jacobian",
    re.IGNORECASE,
)

_TITLE_UNDERLINE = re.compile(r"^\s*([=\-~^\"'`#*+])\1{2,}\s*$")


# ----------------------------------------------------------------------------------------
# Locating definitions
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Lines ``start..end`` (1-based, inclusive) of a definition, decorators included."""

    start: int
    end: int
    indent: str


def find_def(tree: ast.Module, qualname: str) -> ast.FunctionDef | ast.ClassDef:
    """The ``def``/``class`` named by ``qualname`` (``"f"`` or ``"Class.method"``)."""
    body: list[ast.stmt] = tree.body
    node = None
    for part in qualname.split("."):
        matches = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.ClassDef)) and n.name == part]
        if not matches:
            raise LookupError(f"no definition {qualname!r} (missing {part!r})")
        node = matches[-1]                      # the last one wins, as at run time
        body = node.body
    return node


def def_span(source: str, qualname: str) -> Span:
    """Where the definition of ``qualname`` sits in ``source``."""
    node = find_def(ast.parse(source), qualname)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    line = source.splitlines()[node.lineno - 1]
    return Span(start, node.end_lineno, line[: len(line) - len(line.lstrip())])


def def_source(source: str, qualname: str) -> str:
    """The text of the definition of ``qualname`` (decorators included), dedented."""
    span = def_span(source, qualname)
    lines = source.splitlines(keepends=True)[span.start - 1: span.end]
    return "".join(_dedent_line(line, span.indent) for line in lines)


def replace_def(source: str, qualname: str, new_text: str) -> str:
    """``source`` with the definition of ``qualname`` replaced by ``new_text`` (given at
    column 0; re-indented to where the old one stood)."""
    span = def_span(source, qualname)
    lines = source.splitlines(keepends=True)
    body = [span.indent + line if line.strip() else line
            for line in new_text.rstrip("\n").splitlines(keepends=True)]
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    return "".join(lines[: span.start - 1] + body + lines[span.end:])


def _dedent_line(line: str, indent: str) -> str:
    return line[len(indent):] if line.startswith(indent) else line.lstrip(" ")


# ----------------------------------------------------------------------------------------
# Docstrings: find them in the text, cut derivations out of them
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Docstring:
    """A docstring literal in the source: its position and its raw text between quotes."""

    start: int                  # offset of the literal's first character in the source
    end: int                    # offset just past its last character
    prefix: str                 # r, R, ... (before the quotes)
    quote: str                  # ''' or \"\"\"
    raw: str                    # the text between the quotes, escapes as written


def _docstring_nodes(tree: ast.Module) -> list[ast.Constant]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                found.append(body[0].value)
    return found


def docstrings(source: str) -> list[Docstring]:
    """Every module/class/function docstring of ``source``, in order of position."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out = []
    for node in _docstring_nodes(ast.parse(source)):
        a = offsets[node.lineno - 1] + _char_col(lines[node.lineno - 1], node.col_offset)
        b = offsets[node.end_lineno - 1] + _char_col(lines[node.end_lineno - 1],
                                                     node.end_col_offset)
        literal = source[a:b]
        m = re.match(r"([rRuU]*)('''|\"\"\"|'|\")", literal)
        if m is None:
            continue
        prefix, quote = m.group(1), m.group(2)
        raw = literal[len(prefix) + len(quote): len(literal) - len(quote)]
        out.append(Docstring(a, b, prefix, quote, raw))
    return sorted(out, key=lambda d: d.start)


def _char_col(line: str, byte_col: int) -> int:
    """ast gives UTF-8 byte columns; turn one into a character column of ``line``."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def rewrite_docstrings(source: str, edit) -> str:
    """``source`` with each docstring's raw text replaced by ``edit(raw)``."""
    out, pos = [], 0
    for doc in docstrings(source):
        a, b = doc.start, doc.end
        new_raw = edit(doc.raw)
        out.append(source[pos:a])
        out.append(f"{doc.prefix}{doc.quote}{new_raw}{doc.quote}")
        pos = b
    out.append(source[pos:])
    return "".join(out)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def split_blocks(raw: str) -> list[list[str]]:
    """The blocks of a docstring's raw text: paragraphs, literal blocks (the indented
    lines after a ``::`` paragraph), ``.. math::``/other directives with their content,
    and section titles; each a list of lines (blank lines inside a literal block kept)."""
    return [block for _, block in _blocks(raw.split("\n"))]


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """``(first line index, lines)`` of each block of :func:`split_blocks`."""
    blocks: list[tuple[int, list[str]]] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        base = _indent_of(lines[i])
        if i + 1 < len(lines) and _TITLE_UNDERLINE.match(lines[i + 1]):
            blocks.append((i, lines[i:i + 2]))
            i += 2
            continue
        start = i
        directive = lines[i].lstrip().startswith(".. ")
        i += 1
        while (i < len(lines) and lines[i].strip() and _indent_of(lines[i]) >= base
               and not (not directive and _indent_of(lines[i]) == base
                        and lines[i].lstrip().startswith(".. "))):
            i += 1
        if directive:                      # the directive's indented content, blank lines too
            i = max(i, _take_indented(lines, i, base))
        blocks.append((start, lines[start:i]))
        if lines[i - 1].rstrip().endswith("::") and not directive:
            j = i
            while j < len(lines) and not lines[j].strip():
                j += 1
            k = _take_indented(lines, j, base)
            if k > j:
                blocks.append((j, lines[j:k]))
                i = k
    return blocks


def _take_indented(lines: list[str], i: int, base: int) -> int:
    """Index past the lines from ``i`` indented deeper than ``base`` (blank lines allowed
    inside, not at the end)."""
    j, last = i, i
    while j < len(lines):
        if lines[j].strip():
            if _indent_of(lines[j]) <= base:
                break
            last = j + 1
        j += 1
    return last


def is_derivative(block: list[str]) -> bool:
    """True when a line of ``block`` writes a derivative (see :data:`DERIVATIVE`)."""
    return any(DERIVATIVE.search(line) for line in block)


def _is_literal(block: list[str], previous: list[str] | None) -> bool:
    return previous is not None and previous[-1].rstrip().endswith("::") and bool(block) and (
        _indent_of(block[0]) > _indent_of(previous[0]))


def _strip_parentheticals(block: list[str]) -> list[str]:
    """A prose paragraph without the parenthesised groups that write a derivative
    (``(then summed: dL/dh = ...)``), or unchanged when none does."""
    text = "\n".join(block)
    out, depth, start, last = [], 0, 0, 0
    for k, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                start = k
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0 and DERIVATIVE.search(text[start:k + 1]):
                out.append(text[last:start].rstrip(" "))
                last = k + 1
    out.append(text[last:])
    return block if last == 0 else _rewrap("".join(out), block)


def _strip_sentences(block: list[str]) -> list[str]:
    """A prose paragraph without its sentences that write a derivative (re-wrapped)."""
    parts = re.split(r"((?<=\.)\s+)", "\n".join(block))
    sentences, seps = parts[0::2], parts[1::2] + [""]
    kept = "".join(s + sep for s, sep in zip(sentences, seps) if not DERIVATIVE.search(s))
    return _rewrap(kept, block)


def _rewrap(text: str, like: list[str]) -> list[str]:
    """``text`` filled to the width and indentation of the paragraph ``like``."""
    if not text.strip():
        return []
    indent = " " * min(_indent_of(ln) for ln in like if ln.strip())
    width = max(len(ln.rstrip()) for ln in like)
    return textwrap.wrap(" ".join(text.split()), width=max(width, 40), initial_indent=indent,
                         subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False)


def _is_prose(block: list[str], previous: list[str] | None) -> bool:
    first = block[0].lstrip()
    title = len(block) == 2 and bool(_TITLE_UNDERLINE.match(block[1]))
    return not (title or first.startswith(".. ") or _is_literal(block, previous))


def _drop_intro(block: list[str]) -> list[str] | None:
    """The introduction (``...::``) of a dropped literal block, without the sentence that
    introduces it when that sentence is about the derivation; ``None`` to drop it all."""
    text = "\n".join(block).rstrip()[:-2].rstrip()
    cut = max(text.rfind(". "), text.rfind(".\n"))
    last = text[cut + 1:] if cut >= 0 else text
    about = re.search(r"backward|gradient|chain rule|derivative|backprop", last, re.I)
    if about or len(last.split()) <= 2:
        if cut < 0:
            return None
        text = text[:cut + 1]
    else:
        text += "."
    kept = [ln.rstrip() for ln in text.split("\n") if ln.strip()]
    return None if not kept or is_derivative(kept) else kept


def cut_derivations(raw: str) -> str:
    """``raw`` without its derivative-bearing blocks (see the module docstring)."""
    lines = raw.split("\n")
    found = _blocks(lines)
    starts = [start for start, _ in found]
    blocks = [block for _, block in found]
    ends = [start + len(block) for start, block in found]
    for k, block in enumerate(blocks):
        if is_derivative(block) and _is_prose(block, blocks[k - 1] if k else None):
            trimmed = _strip_parentheticals(block)
            if trimmed and is_derivative(trimmed):
                trimmed = _strip_sentences(trimmed)
            if trimmed and not is_derivative(trimmed):
                blocks[k] = trimmed
    keep: list[list[str] | None] = [None if is_derivative(b) else b for b in blocks]
    for k, block in enumerate(blocks):
        if k and _is_literal(block, blocks[k - 1]):
            if keep[k] is None and keep[k - 1] is not None:
                if keep[k - 1][-1].rstrip().endswith("::"):
                    keep[k - 1] = _drop_intro(keep[k - 1])
            elif keep[k - 1] is None:
                keep[k] = None             # a literal block whose introduction went
    # a section title followed by another title (or by nothing) lost its content
    alive = [k for k in range(len(blocks)) if keep[k] is not None]
    for pos, k in enumerate(alive):
        b = keep[k]
        if len(b) == 2 and _TITLE_UNDERLINE.match(b[1]):
            nxt = alive[pos + 1] if pos + 1 < len(alive) else None
            if nxt is None or (len(keep[nxt]) == 2 and _TITLE_UNDERLINE.match(keep[nxt][1])):
                keep[k] = None
    out: list[str] = []
    previous_end = 0
    for k, block in enumerate(keep):
        if block is None:
            continue
        if out:
            gap = starts[k] - previous_end           # blank lines before it originally
            out.extend([""] * (1 if gap > 0 else 0))
        elif starts[k] > 0:
            out.extend([""] * starts[k])             # a docstring opening with a newline
        out.extend(block)
        previous_end = ends[k]
    last_content = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    trailing = "\n".join(lines[last_content + 1:]) if last_content >= 0 else ""
    if not out:
        return "\n" + lines[-1] if len(lines) > 1 else ""
    if len(lines) > last_content + 1:
        return "\n".join(out) + "\n" + trailing
    return "\n".join(out)


def cut_module(source: str) -> str:
    """Every docstring of ``source`` with its derivations cut (one that loses everything
    says so)."""
    def cut(raw: str) -> str:
        new = cut_derivations(raw)
        return new if new.strip() else "Withheld in the student edition."
    return rewrite_docstrings(source, cut)


# ----------------------------------------------------------------------------------------
# Distinctive lines (what a search of the student edition must not find)
# ----------------------------------------------------------------------------------------


def normalise(line: str) -> str:
    """A line of code or text with runs of whitespace collapsed (for searching)."""
    return " ".join(line.split())


def code_lines(def_text: str) -> list[str]:
    """The normalised lines of a definition's body: signature, comments and docstrings
    left out."""
    tree = ast.parse(def_text)
    doc_rows: set[int] = set(range(1, tree.body[0].body[0].lineno))    # the signature
    for node in _docstring_nodes(tree):
        doc_rows.update(range(node.lineno, node.end_lineno + 1))
    out: dict[int, list[str]] = {}
    tokens = tokenize.generate_tokens(io.StringIO(def_text).readline)
    for tok in tokens:
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                        tokenize.DEDENT, tokenize.ENDMARKER):
            continue
        if tok.start[0] in doc_rows:
            continue
        out.setdefault(tok.start[0], []).append(tok.string)
    lines = def_text.splitlines()
    result = []
    for row in sorted(out):
        text = lines[row - 1].split("#", 1)[0] if "#" in lines[row - 1] else lines[row - 1]
        result.append(normalise(text))
    return [ln for ln in result if ln]
