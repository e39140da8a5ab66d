"""Pretrained word vectors: read the word2vec text format, seed an embedding with them.

The word2vec text format (also written by fastText and gensim)::

    3 4                      <- header: number of vectors, dimension
    the 0.1 -0.2 0.3 0.05    <- a word, then `dim` numbers, separated by spaces
    cat 0.7 0.1 -0.4 0.2
    sat -0.3 0.2 0.1 0.9

:func:`init_embedding_from_vectors` then builds an embedding matrix ``W (V, D)``
for a :class:`Vocab`: row ``i`` is the pretrained vector of token ``i`` where the
file has one, a random row otherwise, and zero for ``<pad>``. The matrix is a
host array; the model moves it to the device.
"""

from __future__ import annotations

import os

import numpy as np

from minis2s.data.vocab import PAD_ID, SPECIALS, Vocab


def read_word2vec_text(
    path: str | os.PathLike, limit: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Read a word2vec text file.

    Args:
        path: a UTF-8 file: a ``"count dim"`` header line, then ``count`` lines
            ``"word v_1 ... v_dim"``.
        limit: read only the first ``limit`` vectors (files are usually sorted
            by frequency); None reads all.

    Returns:
        ``(words, vectors)``: ``words`` a list of ``n`` str, ``vectors (n, dim)``
        float32 with ``vectors[i]`` the vector of ``words[i]``.

    Raises:
        ValueError: ``"<file>, line <n>: ..."`` for a malformed header, a line
            with the wrong number of fields, a number that does not parse or is
            not finite, a repeated word, invalid UTF-8, or fewer lines than the
            header announces.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    name = os.fspath(path)
    words: list[str] = []
    rows: list[list[str]] = []
    index: dict[str, int] = {}
    with open(path, "rb") as f:
        lineno = 1
        header = _decode(f.readline(), name, lineno).split()
        if len(header) != 2 or not all(h.isdigit() for h in header) or int(header[1]) < 1:
            raise ValueError(
                f"{name}, line 1: expected the header 'count dim' (two positive integers), "
                f"got {' '.join(header)[:60]!r}"
            )
        count, dim = int(header[0]), int(header[1])
        wanted = count if limit is None else min(count, limit)
        while len(words) < wanted:
            raw = f.readline()
            lineno += 1
            if not raw:
                raise ValueError(
                    f"{name}: the header announces {count} vectors, but the file ends after "
                    f"{len(words)} (line {lineno - 1})"
                )
            fields = _decode(raw, name, lineno).split()
            if not fields:
                raise ValueError(f"{name}, line {lineno}: empty line inside the vectors")
            if len(fields) != dim + 1:
                raise ValueError(
                    f"{name}, line {lineno}: expected a word and {dim} numbers, "
                    f"found {len(fields)} fields (word {fields[0][:30]!r})"
                )
            word = fields[0]
            if word in index:
                raise ValueError(
                    f"{name}, line {lineno}: the word {word!r} repeats "
                    f"(first on line {index[word] + 2})"
                )
            index[word] = len(words)
            words.append(word)
            rows.append(fields[1:])
    vectors = np.empty((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        try:
            vectors[i] = np.array(row, dtype=np.float64)
        except ValueError:
            bad = next(v for v in row if not _is_float(v))
            raise ValueError(
                f"{name}, line {i + 2}: {bad[:30]!r} is not a number (word {words[i]!r})"
            ) from None
    bad_rows = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if bad_rows.size:
        i = int(bad_rows[0])
        raise ValueError(
            f"{name}, line {i + 2}: the vector of {words[i]!r} is not finite (inf/nan, or too "
            "large for float32)"
        )
    return words, vectors


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
        ValueError: ``vectors`` is not 2-D, its row count differs from
            ``len(words)``, or ``scale`` is negative.
        TypeError: ``vocab`` is not a Vocab or ``rng`` is not a Generator.
    """
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a Vocab, got {type(vocab).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(
            f"vectors must have shape (len(words), D) = ({len(words)}, D), got {vectors.shape}"
        )
    if scale is None:
        scale = float(vectors.std()) if vectors.size else 1.0
    if not np.isfinite(scale) or scale < 0:
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
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
