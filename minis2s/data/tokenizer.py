"""Tokenizers: how a line of text becomes tokens, and how tokens become text again.

Two kinds of token are enough for every task here:

* ``"char"`` -- every character is a token (``"3 mai"`` -> ``["3", " ", "m", "a", "i"]``);
  runs of whitespace are first collapsed to one space;
* ``"word"`` -- whitespace-separated words (``"HH AH L OW"`` -> ``["HH", "AH", "L", "OW"]``).

A :class:`Tokenizer` fixes the kind of each side of a task and whether the
source is lower-cased, so the text a user types at inference time is cut the
same way as the training data was. It saves to a small dict, next to the
vocabularies in a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from minis2s.data.quote import short_repr

KINDS = ("char", "word")


def _check_kind(kind: Any, what: str = "token kind") -> None:
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"{what} must be one of {KINDS}, got {short_repr(kind)}")


def split_text(text: str, kind: str) -> list[str]:
    """Cut ``text`` into tokens of ``kind`` (``"char"`` or ``"word"``).

    ``"char"``: ``list(" ".join(text.split()))``, i.e. characters with
    whitespace runs collapsed to one space and the ends stripped.
    ``"word"``: ``text.split()``.
    """
    _check_kind(kind)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__} {short_repr(text)}")
    return list(" ".join(text.split())) if kind == "char" else text.split()


def join_tokens(tokens: list[str], kind: str) -> str:
    """The inverse of :func:`split_text`: ``""``-join chars, ``" "``-join words.

    ``tokens`` is a list (or tuple) of str; a plain ``str`` is refused, since
    joining its characters would hide a mix-up.
    """
    _check_kind(kind)
    if isinstance(tokens, str) or not isinstance(tokens, list | tuple):
        raise TypeError(
            f"tokens must be a list of str, got {type(tokens).__name__} {short_repr(tokens)}"
        )
    for k, tok in enumerate(tokens):
        if not isinstance(tok, str):
            raise TypeError(
                f"tokens[{k}] must be a str, got {type(tok).__name__} {short_repr(tok)}"
            )
    return ("" if kind == "char" else " ").join(tokens)


@dataclass(frozen=True)
class Tokenizer:
    """How a task cuts its text.

    Attributes:
        source: ``"char"`` or ``"word"``, the kind of source token.
        target: ``"char"`` or ``"word"``, the kind of target token.
        lowercase: lower-case the source before cutting it.

    Calling the tokenizer cuts a source text: ``tok("May 3, 2021")``.
    """

    source: str = "char"
    target: str = "char"
    lowercase: bool = False

    def __post_init__(self) -> None:
        for side in ("source", "target"):
            _check_kind(getattr(self, side), f"Tokenizer {side} kind")
        if not isinstance(self.lowercase, bool):
            raise TypeError(f"Tokenizer lowercase must be a bool, got {short_repr(self.lowercase)}")

    def __call__(self, text: str) -> list[str]:
        return self.encode_source(text)

    def encode_source(self, text: str) -> list[str]:
        """Source text -> source tokens (lower-cased first if ``lowercase``)."""
        if not isinstance(text, str):
            raise TypeError(f"expected source text as str, got {type(text).__name__}")
        return split_text(text.lower() if self.lowercase else text, self.source)

    def encode_target(self, text: str) -> list[str]:
        """Target text -> target tokens (never lower-cased)."""
        if not isinstance(text, str):
            raise TypeError(f"expected target text as str, got {type(text).__name__}")
        return split_text(text, self.target)

    def join_source(self, tokens: list[str]) -> str:
        return join_tokens(tokens, self.source)

    def join_target(self, tokens: list[str]) -> str:
        """Target tokens -> text, e.g. a decoded prediction -> ``"2021-05-03"``."""
        return join_tokens(tokens, self.target)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, d: Any) -> Tokenizer:
        """Rebuild a tokenizer saved by :meth:`to_dict` (ValueError if malformed)."""
        if not isinstance(d, dict) or set(d) != {"source", "target", "lowercase"}:
            raise ValueError(
                "a saved tokenizer must be a dict with keys 'source', 'target', 'lowercase', "
                f"got {short_repr(d)}"
            )
        try:
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"malformed saved tokenizer {short_repr(d)}: {exc}") from None
