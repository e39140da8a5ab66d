"""Pretrained word vectors: read the word2vec text format, seed an embedding with them.

The word2vec text format (also written by fastText and gensim)::

    3 4                      <- header: number of vectors, dimension
    the 0.1 -0.2 0.3 0.05    <- a word, then `dim` numbers, separated by spaces
    cat 0.7 0.1 -0.4 0.2
    sat -0.3 0.2 0.1 0.9

:func:`read_word2vec_text` checks every line it reads (naming the file and line of
the first that is wrong) and can keep only the words a vocabulary needs;
:func:`word2vec_dimension` reads just the header. :func:`init_embedding_from_vectors`
then builds an embedding matrix ``W (V, D)`` for a :class:`Vocab`: row ``i`` is the
pretrained vector of token ``i`` where the file has one, a random row otherwise, and
zero for ``<pad>``. The matrix is a host array; the model moves it to the device.
``minis2s train --vectors`` uses both (:mod:`minis2s.train.pretrained`).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import BinaryIO

import numpy as np

from minis2s.data.quote import short_repr
from minis2s.data.vocab import PAD_ID, SPECIALS, Vocab


def read_word2vec_text(
    path: str | os.PathLike, limit: int | None = None, only: Collection[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text file.

    Args:
        path: a UTF-8 file: a ``"count dim"`` header line, then ``count`` lines
            ``"word v_1 ... v_dim"`` (blank lines may follow them, nothing else).
        limit: read only the first ``limit`` vectors (files are usually sorted
            by frequency); None reads all.
        only: keep only the vectors of these words (e.g. a vocabulary's tokens),
            so that a large file does not fill the memory; every line read is
            still checked. None keeps all.

    Returns:
        ``(words, vectors)``: ``words`` a list of ``n`` str in file order,
        ``vectors (n, dim)`` float32 with ``vectors[i]`` the vector of ``words[i]``.

    Raises:
        ValueError: ``"<file>, line <n>: ..."`` for a malformed header, a line
            with the wrong number of fields, a number that does not parse or is
            not finite, a repeated word, invalid UTF-8, fewer lines than the
            header announces, or more (a line after the announced ones, when all
            are read).
    """
    _check_read_args(path, limit, only)
    name = os.fspath(path)
    keep = None if only is None else set(only)
    words: list[str] = []
    rows: list[np.ndarray] = []
    first_line: dict[str, int] = {}
    with open(path, "rb") as f:
        count, dim = _read_header(f.readline(), name)
        wanted = count if limit is None else min(count, limit)
        lineno = 1
        for lineno in range(2, wanted + 2):
            word, vector = _read_line(f.readline(), name, lineno, dim, count)
            if word in first_line:
                raise ValueError(
                    f"{name}, line {lineno}: the word {short_repr(word)} repeats "
                    f"(first on line {first_line[word]})"
                )
            first_line[word] = lineno
            if keep is None or word in keep:
                words.append(word)
                rows.append(vector)
        if wanted == count:
            _check_nothing_after(f, name, lineno, count)
    vectors = np.stack(rows) if rows else np.empty((0, dim), dtype=np.float32)
    return words, vectors


def word2vec_dimension(path: str | os.PathLike) -> int:
    """The dimension ``dim`` a word2vec text file announces in its header (only the
    first line is read; errors as :func:`read_word2vec_text`'s)."""
    _check_read_args(path, None, None)
    with open(path, "rb") as f:
        return _read_header(f.readline(), os.fspath(path))[1]


def _read_header(raw: bytes, name: str) -> tuple[int, int]:
    """``(count, dim)`` from the header line ``"count dim"``."""
    header = _decode(raw, name, 1).split()
    if len(header) != 2 or not all(h.isdigit() for h in header) or int(header[1]) < 1:
        raise ValueError(
            f"{name}, line 1: expected the header 'count dim' (two positive integers), "
            f"got {short_repr(' '.join(header))}"
        )
    return int(header[0]), int(header[1])


def _read_line(raw: bytes, name: str, lineno: int, dim: int, count: int) -> tuple[str, np.ndarray]:
    """One line ``"word v_1 ... v_dim"`` -> ``(word, vector (dim,) float32)``."""
    if not raw:
        raise ValueError(
            f"{name}: the header announces {count} vectors, but the file ends after "
            f"{lineno - 2} (line {lineno - 1})"
        )
    fields = _decode(raw, name, lineno).split()
    if not fields:
        raise ValueError(f"{name}, line {lineno}: empty line inside the vectors")
    if len(fields) != dim + 1:
        raise ValueError(
            f"{name}, line {lineno}: expected a word and {dim} numbers, "
            f"found {len(fields)} fields (word {short_repr(fields[0], 30)})"
        )
    word = fields[0]
    try:
        with np.errstate(over="ignore"):  # too large for float32 -> inf, refused below
            vector = np.array(fields[1:], dtype=np.float64).astype(np.float32)
    except ValueError:
        bad = next(v for v in fields[1:] if not _is_float(v))
        raise ValueError(
            f"{name}, line {lineno}: {short_repr(bad, 30)} is not a number "
            f"(word {short_repr(word)})"
        ) from None
    if not np.isfinite(vector).all():
        raise ValueError(
            f"{name}, line {lineno}: the vector of {short_repr(word)} is not finite "
            "(inf/nan, or too large for float32)"
        )
    return word, vector


def _check_nothing_after(f: BinaryIO, name: str, lineno: int, count: int) -> None:
    """After the ``count`` announced vectors (the last on line ``lineno``) only blank
    lines may follow: another line means the header's count is wrong."""
    for extra, raw in enumerate(f, start=lineno + 1):
        if raw.strip():
            raise ValueError(
                f"{name}, line {extra}: the header announces {count} "
                f"vector{'' if count == 1 else 's'}, but the file goes on after "
                f"{'it' if count == 1 else 'them'} (fix the count on line 1)"
            )


def _check_read_args(path: object, limit: object, only: object) -> None:
    if only is not None and (isinstance(only, str) or not isinstance(only, Collection)
                             or not all(isinstance(w, str) for w in only)):
        raise TypeError(f"only must be a collection of str words or None, got {short_repr(only)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {short_repr(limit)}")
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or os.PathLike naming a file, got {type(path).__name__} "
            f"{short_repr(path)}"
        )


def _decode(raw: bytes, name: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{name}, line {lineno}: not valid UTF-8 (byte {raw[exc.start]:#04x} "
            f"at column {exc.start + 1})"
        ) from None


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def init_embedding_from_vectors(
    vocab: Vocab,
    words: list[str],
    vectors: np.ndarray,
    rng: np.random.Generator,
    scale: float | None = None,
    lowercase_fallback: bool = False,
    dtype: type = np.float32,
) -> tuple[np.ndarray, int, list[str]]:
    """An embedding matrix for ``vocab``, seeded with pretrained vectors.

    ``W[i] = vectors[j]`` where ``words[j] == vocab.tokens[i]``;
    ``W[i] ~ N(0, scale^2 I)`` for tokens without a vector (the specials
    ``<s>``, ``</s>``, ``<unk>`` included); ``W[PAD_ID] = 0``.

    The random rows are drawn for the whole matrix before the known rows are
    copied in, so they do not depend on which words happen to be found.

    Args:
        vocab: the vocabulary, size ``V``.
        words: ``n`` words, as from :func:`read_word2vec_text`.
        vectors: ``(n, D)`` their vectors.
        rng: a seeded ``numpy.random.Generator`` for the random rows.
        scale: standard deviation of the random rows; None uses the standard
            deviation of ``vectors``, so random and pretrained rows have similar
            sizes.
        lowercase_fallback: for a token without a vector, try its lower-case form.
        dtype: dtype of the result (float32 for training).

    Returns:
        ``(W, n_found, unknown_words)``: ``W (V, D)`` host array; the number of
        vocabulary tokens that got a pretrained vector; the (non-special)
        tokens that did not, in id order, for the caller to report.

    Raises:
        ValueError: ``vectors`` is not 2-D, has no columns, its row count differs
            from ``len(words)``, or holds inf/NaN; ``scale`` is negative or not finite.
        TypeError: ``vocab`` is not a Vocab, ``rng`` is not a Generator, ``words``
            is not a list of str, ``vectors`` is not a real-number array, ``scale``
            is not a number, ``lowercase_fallback`` is not a bool, or ``dtype`` is not
            a floating-point type.
    """
    _check_embedding_args(vocab, words, rng, scale, lowercase_fallback, dtype)
    vectors = _check_vectors(vectors, len(words))
    if scale is None:
        scale = float(vectors.std()) if vectors.size else 1.0
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {short_repr(scale)}")
    lookup = {w: j for j, w in enumerate(words)}
    V, D = len(vocab), vectors.shape[1]
    W = rng.normal(0.0, scale, size=(V, D))
    n_found, unknown = 0, []
    for i, token in enumerate(vocab.tokens):
        if token in SPECIALS:
            continue
        j = lookup.get(token)
        if j is None and lowercase_fallback:
            j = lookup.get(token.lower())
        if j is None:
            unknown.append(token)
        else:
            W[i] = vectors[j]
            n_found += 1
    W[PAD_ID] = 0.0
    return W.astype(dtype), n_found, unknown


def _check_embedding_args(
    vocab: object, words: object, rng: object, scale: object, fallback: object, dtype: object
) -> None:
    """The type checks of :func:`init_embedding_from_vectors` (TypeError naming the argument)."""
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a Vocab, got {type(vocab).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not isinstance(words, list | tuple) or not all(isinstance(w, str) for w in words):
        raise TypeError(f"words must be a list of str, got {short_repr(words)}")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)):
        raise TypeError(f"scale must be a number or None, got {short_repr(scale)}")
    if not isinstance(fallback, bool):
        raise TypeError(f"lowercase_fallback must be True or False, got {short_repr(fallback)}")
    try:
        floating = np.issubdtype(np.dtype(dtype), np.floating)
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"dtype must be a floating-point type, got {short_repr(dtype)}")


def _check_vectors(vectors: object, n_words: int) -> np.ndarray:
    """``vectors`` as a finite real ``(n_words, D)`` host array, ``D >= 1``."""
    array = np.asarray(vectors)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"vectors must be an array of real numbers, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] != n_words:
        raise ValueError(
            f"vectors must have shape (len(words), D) = ({n_words}, D), got {array.shape}"
        )
    if array.shape[1] == 0:
        raise ValueError(f"vectors must have D >= 1 columns, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("vectors holds inf or NaN; every pretrained value must be finite")
    return array
