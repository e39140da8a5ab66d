"""Quoting user input in error messages, cut to a readable length.

An error message names what came, but a malformed 1 MB line or a million-item
list must not be echoed whole: :func:`short_repr` keeps the first
:data:`QUOTE_LIMIT` characters and says how long the whole was::

    short_repr("x" * 1_000_000)   ->  'xxxx...xxx'... (1000000 characters)

Every error of the data layer and of :mod:`minis2s.metrics` quotes user values
through it. Host-side, plain Python.
"""

from __future__ import annotations

from typing import Any

#: The most characters of a value an error message quotes.
QUOTE_LIMIT = 80


def short_repr(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)``, or, when longer than ``limit`` characters, its start and the length.

    * ``str``/``bytes`` longer than ``limit``: ``repr(value[:limit]) + "... (n characters)"``
      (``n = len(value)``, so the count is the real length, not the repr's);
    * anything else whose repr is longer than ``limit``:
      ``repr(value)[:limit] + "... (n characters)"`` with ``n`` the repr's length.
    """
    if isinstance(value, str | bytes) and len(value) > limit:
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:limit]!r}... ({len(value)} {unit})"
    text = repr(value)
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text)} characters)"
    return text
