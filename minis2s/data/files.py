"""Your own data: a tab-separated file of (source, target) pairs.

One pair per line, UTF-8::

    the cat sat<TAB>le chat était assis
    3 March 2021<TAB>2021-03-03

Blank lines are skipped; each side is stripped of surrounding whitespace. A
malformed line stops the reading with its file name and line number, so a bad
line is fixed at the source instead of being silently dropped (the message
quotes at most the line's first 80 characters and says how long it is).

**Several references**: the same source on several lines gives that source
several targets (two translations of one sentence, two pronunciations of one
word), kept as one pair per line in file order; the first line is the first
reference. :func:`~minis2s.data.pairs.group_references` collects them per source,
:func:`~minis2s.data.pairs.select_references` keeps all or the first.

Then :func:`split_pairs` (from :mod:`minis2s.data.splits`) cuts the pairs into
train / valid / test by distinct source, so a source's references stay together.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from minis2s.data.quote import short_repr
from minis2s.data.splits import Pair, split_pairs
from minis2s.data.tokenizer import KINDS, split_text

__all__ = ["read_tsv", "split_pairs"]


def _kinds(tokens: str | Sequence[str]) -> tuple[str, str]:
    pair = (tokens, tokens) if isinstance(tokens, str) else tokens
    if (
        not isinstance(pair, list | tuple)
        or len(pair) != 2
        or any(not isinstance(k, str) or k not in KINDS for k in pair)
    ):
        raise ValueError(
            "tokens must be 'char', 'word', or a (source, target) pair of them, "
            f"got {short_repr(tokens)}"
        )
    return pair[0], pair[1]


def read_tsv(
    path: str | os.PathLike, tokens: str | Sequence[str] = "char", lowercase: bool = False
) -> list[Pair]:
    """Read ``source<TAB>target`` lines into token pairs.

    Args:
        path: a UTF-8 text file.
        tokens: ``"char"`` (each character a token), ``"word"``
            (whitespace-separated), or a pair such as ``("char", "word")`` for
            a different kind per side (e.g. spelling -> phonemes).
        lowercase: lower-case the source side.

    Returns:
        ``[(src_tokens, tgt_tokens), ...]`` in file order.

    Raises:
        ValueError: ``"<file>, line <n>: ..."`` for a line without a tab, with
            more than one tab, with an empty side, or that is not valid UTF-8;
            ``"<file>: ..."`` for a file without any pair; a bad ``tokens``.
        TypeError: ``path`` is not a str or path, ``lowercase`` not a bool.
        FileNotFoundError: the file does not exist.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or os.PathLike naming a file, got {type(path).__name__} "
            f"{short_repr(path)}"
        )
    if not isinstance(lowercase, bool):
        raise TypeError(f"lowercase must be True or False, got {short_repr(lowercase)}")
    src_kind, tgt_kind = _kinds(tokens)
    with open(path, "rb") as f:
        raw = f.read()
    name = os.fspath(path)
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark (Windows editors)
        raw = raw[3:]
    pairs: list[Pair] = []
    for lineno, line_bytes in enumerate(raw.split(b"\n"), start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{name}, line {lineno}: not valid UTF-8 (byte {line_bytes[exc.start]:#04x} "
                f"at column {exc.start + 1}); save the file as UTF-8"
            ) from None
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            what = "no tab" if len(fields) == 1 else f"{len(fields) - 1} tabs"
            raise ValueError(
                f"{name}, line {lineno}: expected 'source<TAB>target', found {what}: "
                f"{short_repr(line)}"
            )
        src, tgt = fields[0].strip(), fields[1].strip()
        for side, text in (("source", src), ("target", tgt)):
            if not text:
                raise ValueError(
                    f"{name}, line {lineno}: the {side} side is empty: {short_repr(line)}"
                )
        if lowercase:
            src = src.lower()
        pairs.append((split_text(src, src_kind), split_text(tgt, tgt_kind)))
    if not pairs:
        raise ValueError(f"{name}: no 'source<TAB>target' pairs found (the file is empty)")
    return pairs
