"""The stub of a piece: its signature, a docstring without derivations, and the forward
equations of its partner; the body raises ``NotImplementedError`` naming the assignment.

See :mod:`minis2s.course.source` for the docstring convention the cut relies on.
"""

from __future__ import annotations

import ast
import textwrap

from minis2s.course.source import (
    _TITLE_UNDERLINE,
    _blocks,
    _indent_of,
    _is_literal,
    cut_derivations,
    docstrings,
    is_derivative,
    split_blocks,
)


def forward_equations(raw: str) -> list[list[str]]:
    """The blocks of a forward function's docstring that state equations: its summary
    paragraph and every ``::``/math block that is not derivative-bearing."""
    blocks = split_blocks(raw)
    keep = []
    for k, block in enumerate(blocks):
        if is_derivative(block):
            continue
        literal = k and _is_literal(block, blocks[k - 1])
        math = block[0].lstrip().startswith(".. math::")
        bullets = block[0].lstrip().startswith(("* ", "- "))
        if k == 0 or literal or math or bullets:
            keep.append(block)
    return keep


# ----------------------------------------------------------------------------------------


def _reindent(block: list[str], indent: str) -> list[str]:
    base = min((_indent_of(ln) for ln in block if ln.strip()), default=0)
    return [indent + ln[base:] if ln.strip() else "" for ln in block]


def _message_lines(message: str, indent: str, width: int = 88) -> list[str]:
    """``message`` as implicitly concatenated string literals, each line within ``width``."""
    room = max(width - len(indent) - 4, 30)
    parts = textwrap.wrap(message, width=room, drop_whitespace=False) or [""]
    return [f"{indent}    {part!r}" for part in parts]


def _sections_only(lines: list[str]) -> list[str]:
    """The numpydoc sections (``Parameters``, ``Returns`` ... with their content) of a
    docstring body, without the free prose between them."""
    blocks = _blocks(lines)
    out: list[str] = []
    inside = False
    for _, block in blocks:
        title = len(block) == 2 and bool(_TITLE_UNDERLINE.match(block[1]))
        if title:
            inside = True
        elif not inside:
            continue
        out += ([""] if out else []) + block
    return out


def stub_source(def_text: str, qualname: str, message: str, summary: str | None,
                forward_name: str | None, forward_raw: str | None, prose: bool = True) -> str:
    """The stub of a function whose definition (at column 0) is ``def_text``.

    Keeps the decorators and the signature; the docstring is the original with its
    derivations cut (its summary replaced by ``summary`` when given, or by a plain one
    when the cut took it), followed by the forward pass's equations (from
    ``forward_raw``, the partner's raw docstring); with ``prose=False`` only the summary
    and the numpydoc sections (Parameters, Returns ...) stay. The body raises
    ``NotImplementedError(message)``.
    """
    node = ast.parse(def_text).body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError(f"{qualname}: a piece must be a function, got {type(node).__name__}")
    lines = def_text.splitlines()
    first = node.body[0]
    indent = " " * first.col_offset
    has_doc = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
               and isinstance(first.value.value, str))
    head = lines[: first.lineno - 1]
    fallback = (f"Backward pass of :func:`{forward_name}`." if forward_name
                else "Withheld in the student edition.")
    body: list[str] = []
    if has_doc:
        raw = docstrings(def_text)[0].raw
        original, cut = _blocks(raw.split("\n")), _blocks(cut_derivations(raw).split("\n"))
        body = cut_derivations(raw).rstrip().split("\n")
        kept_summary = bool(cut) and bool(original) and cut[0][1] == original[0][1] and (
            cut[0][0] == original[0][0])
        if kept_summary:
            body = body[len(cut[0][1]) + cut[0][0]:]
        while body and not body[0].strip():
            body.pop(0)
        if not prose:
            body = _sections_only(body)
        body = [summary or (" ".join(ln.strip() for ln in cut[0][1]) if kept_summary
                            else fallback)] + ([""] + body if body else [])
    else:
        body = [summary or fallback]
    if forward_raw:
        eqs = forward_equations(forward_raw)
        if eqs:
            body += ["", f"{indent}The forward pass (:func:`{forward_name}`) computes:"]
            for block in eqs:
                if block[-1].rstrip().endswith("::"):
                    block = block[:-1] + [block[-1].rstrip()[:-1].rstrip() + "."]
                if block is eqs[0]:                   # the summary: one paragraph, flush
                    body += [""] + [indent + ln.strip() for ln in block]
                    continue
                literal = _indent_of(block[0]) > 0 and not block[0].lstrip().startswith(".. ")
                body += [""] + _reindent(block, indent + ("    " if literal else ""))
    summary_lines = textwrap.wrap(body[0].strip(), width=88 - len(indent) - 3,
                                  break_long_words=False, break_on_hyphens=False)
    prefix = "r" if any("\\" in ln for ln in body) else ""
    doc = [f'{indent}{prefix}"""{summary_lines[0]}'] + [f"{indent}{ln}" for ln in summary_lines[1:]]
    doc += [ln.rstrip() for ln in body[1:]] + [f'{indent}"""']
    raise_lines = ([f"{indent}raise NotImplementedError("] + _message_lines(message, indent)
                   + [f"{indent})"])
    return "\n".join(head + doc + raise_lines) + "\n"


