"""Vocabularies: the map between tokens (strings) and ids (integers).

Every vocabulary starts with the same four special tokens, so their ids are
constants the whole library can rely on::

    id  token    meaning
    0   <pad>    padding: fills short rows of a batch; masked out of the loss
    1   <s>      begin of sequence (BOS): the decoder's first input
    2   </s>     end of sequence (EOS): the decoder's last target; decoding stops there
    3   <unk>    unknown: any token the vocabulary did not see when it was built

The other tokens follow in a deterministic order -- by frequency, most frequent
first, ties broken by the token itself -- so the same data always gives the same
ids, whatever order Python's sets or dicts happen to iterate in.

This module is host-side: plain Python, no array backend.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from minis2s.data.pairs import check_pairs
from minis2s.data.quote import short_repr

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIALS: tuple[str, ...] = (PAD, BOS, EOS, UNK)

_FORMAT = "minis2s.vocab"
_VERSION = 1


class Vocab:
    """A fixed token <-> id map whose first four entries are :data:`SPECIALS`.

    Build one from data with :meth:`Vocab.build`; save it with :meth:`to_dict`
    (JSON-serialisable) and restore it with :meth:`Vocab.from_dict`.

    Args:
        tokens: every token in id order, the four specials first.

    Raises:
        ValueError: the specials are not the first four tokens, a token repeats,
            or a token is not a non-empty string.
    """

    def __init__(self, tokens: Sequence[str]):
        if isinstance(tokens, str) or not isinstance(tokens, list | tuple):
            raise TypeError(
                f"a vocabulary needs a list of str tokens, got {type(tokens).__name__} "
                f"{short_repr(tokens)}"
            )
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(
                f"a vocabulary must start with the special tokens {list(SPECIALS)}, "
                f"got {short_repr(tokens[: len(SPECIALS)])}"
            )
        index: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if not isinstance(token, str) or token == "":
                raise ValueError(
                    f"vocabulary token {i} must be a non-empty str, got {short_repr(token)}"
                )
            if token in index:
                raise ValueError(
                    f"vocabulary token {short_repr(token)} appears twice "
                    f"(ids {index[token]} and {i})"
                )
            index[token] = i
        self._tokens: list[str] = tokens
        self._index: dict[str, int] = index

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_count: int = 1) -> Vocab:
        """Build a vocabulary from token sequences.

        Order: the four specials, then every token seen at least ``min_count``
        times, by count descending, ties by the token (so the result never depends
        on the order of ``sequences``). Tokens spelled like a special (e.g. a
        literal ``"<unk>"`` in the data) are not added twice.

        Args:
            sequences: an iterable of token lists, e.g. ``[["a", "b"], ["b"]]``.
            min_count: the fewest occurrences a token needs to get its own id;
                rarer tokens will be encoded as ``<unk>``.

        Raises:
            TypeError: ``sequences`` is not iterable, a sequence is a plain string
                (pass a list of tokens) or not a list/tuple, or a token is not a string.
            ValueError: ``min_count`` is not a positive integer.
        """
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive int, got {short_repr(min_count)}")
        if isinstance(sequences, str | bytes) or not isinstance(sequences, Iterable):
            raise TypeError(
                "sequences must be an iterable of token lists, got "
                f"{type(sequences).__name__} {short_repr(sequences)}"
            )
        counts: Counter[str] = Counter()
        for i, seq in enumerate(sequences):
            if isinstance(seq, str):
                raise TypeError(
                    f"sequence {i} is a str ({short_repr(seq, 20)}); pass a list of tokens, "
                    "e.g. list(text) for characters or text.split() for words"
                )
            if not isinstance(seq, list | tuple):
                raise TypeError(
                    f"sequence {i} must be a list of str tokens, got {type(seq).__name__} "
                    f"{short_repr(seq)}"
                )
            for token in seq:
                if not isinstance(token, str):
                    raise TypeError(
                        f"sequence {i} holds a {type(token).__name__} ({short_repr(token)}); "
                        "tokens must be str"
                    )
            counts.update(seq)
        kept = [t for t, c in counts.items() if c >= min_count and t not in SPECIALS and t]
        kept.sort(key=lambda t: (-counts[t], t))
        return cls(list(SPECIALS) + kept)

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._tokens[len(SPECIALS) : len(SPECIALS) + 8])
        more = ", ..." if len(self) > len(SPECIALS) + 8 else ""
        return f"Vocab(size={len(self)}, tokens=[{head}{more}])"

    @property
    def tokens(self) -> list[str]:
        """Every token in id order (a copy)."""
        return list(self._tokens)

    def token_to_id(self, token: str) -> int:
        """The id of ``token``, or :data:`UNK_ID` if the vocabulary lacks it."""
        return self._index.get(token, UNK_ID)

    def id_to_token(self, i: int) -> str:
        """The token with id ``i``; ValueError if ``i`` is out of range."""
        return self._tokens[self._check_id(i, "id")]

    # ------------------------------------------------------------------ encode / decode
    def encode(
        self,
        tokens: Sequence[str],
        add_bos: bool = False,
        add_eos: bool = False,
        unknown: list[str] | None = None,
    ) -> list[int]:
        """Tokens -> ids, optionally framed by ``<s>`` ... ``</s>``.

        ``[t_1, ..., t_n] -> [BOS_ID?, id(t_1), ..., id(t_n), EOS_ID?]`` where
        ``id(t) = UNK_ID`` for a token the vocabulary lacks.

        Args:
            tokens: a list of token strings (not one string: ``list(text)`` or
                ``text.split()`` first).
            add_bos, add_eos: prepend :data:`BOS_ID` / append :data:`EOS_ID`.
            unknown: if a list is given, every token mapped to ``<unk>`` is
                appended to it, so the caller can warn (``encode`` itself never
                prints).

        Raises:
            TypeError: ``tokens`` is a str or not a list/tuple, or holds a non-str
                token; ``add_bos``/``add_eos`` is not a bool; ``unknown`` is not a
                list or None.
        """
        if isinstance(tokens, str):
            raise TypeError(
                f"encode expects a list of tokens, got the str {short_repr(tokens, 20)}; "
                "split it first, e.g. list(text) or text.split()"
            )
        if not isinstance(tokens, list | tuple):
            raise TypeError(
                f"encode expects a list of str tokens, got {type(tokens).__name__} "
                f"{short_repr(tokens)}"
            )
        for flag, value in (("add_bos", add_bos), ("add_eos", add_eos)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be True or False, got {short_repr(value)}")
        if unknown is not None and not isinstance(unknown, list):
            raise TypeError(
                f"unknown must be a list to collect into, or None, got {type(unknown).__name__}"
            )
        ids = [BOS_ID] if add_bos else []
        index = self._index
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(
                    f"tokens must be str, got {type(token).__name__} ({short_repr(token)})"
                )
            i = index.get(token)
            if i is None:
                i = UNK_ID
                if unknown is not None:
                    unknown.append(token)
            ids.append(i)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[Any], strip_special: bool = True) -> list[str]:
        """Ids -> tokens.

        With ``strip_special`` (the default) decoding stops at the first
        ``</s>`` and drops ``<pad>`` and ``<s>``; ``<unk>`` is kept, since it
        stands for a real (unknown) token. Without it every id becomes its token.

        Args:
            ids: Python or NumPy integers, e.g. a row of a host array
                ``(T,)``. Device arrays must be brought to the host first
                (``backend.to_host``).

        Raises:
            ValueError: an id is outside ``[0, len(self))``.
            TypeError: an id is not an integer, ``ids`` is not iterable (or is a
                str), or ``strip_special`` is not a bool.
        """
        if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
            raise TypeError(
                f"ids must be an iterable of integer ids, got {type(ids).__name__} "
                f"{short_repr(ids)}"
            )
        if not isinstance(strip_special, bool):
            raise TypeError(f"strip_special must be True or False, got {short_repr(strip_special)}")
        out = []
        for i in ids:
            i = self._check_id(i, "id")
            if strip_special:
                if i == EOS_ID:
                    break
                if i in (PAD_ID, BOS_ID):
                    continue
            out.append(self._tokens[i])
        return out

    def _check_id(self, i: Any, what: str) -> int:
        # Accept Python ints and NumPy integer scalars; refuse bools, floats, strings.
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"{what} must be an integer, got {type(i).__name__} ({short_repr(i)})")
        i = i.__index__()
        if not 0 <= i < len(self._tokens):
            raise ValueError(f"{what} {i} is outside the vocabulary range [0, {len(self)})")
        return i

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description, to store next to a checkpoint."""
        return {"format": _FORMAT, "version": _VERSION, "tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, d: Any) -> Vocab:
        """Rebuild a vocabulary saved by :meth:`to_dict`.

        Raises:
            ValueError: ``d`` is not such a dict (wrong type, format, version,
                or token list), with what was expected and what came.
        """
        if not isinstance(d, dict):
            raise ValueError(f"a saved vocabulary must be a dict, got {type(d).__name__}")
        if d.get("format") != _FORMAT:
            raise ValueError(
                f"a saved vocabulary must have format {_FORMAT!r}, "
                f"got {short_repr(d.get('format'))}"
            )
        if d.get("version") != _VERSION:
            raise ValueError(
                f"saved vocabulary version {short_repr(d.get('version'))} is not supported "
                f"(this minis2s reads version {_VERSION})"
            )
        tokens = d.get("tokens")
        if not isinstance(tokens, list):
            raise ValueError(
                f"a saved vocabulary needs a list 'tokens', got {type(tokens).__name__}"
            )
        return cls(tokens)


def encode_pairs(
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    unknown: list[str] | None = None,
) -> tuple[list[list[int]], list[list[int]]]:
    """Encode (source tokens, target tokens) pairs, ready for :func:`make_batches`.

    No ``<s>``/``</s>`` are added: batching adds them to the targets.

    Args:
        pairs: ``[(src_tokens, tgt_tokens), ...]`` as returned by the tasks and
            :func:`read_tsv`.
        unknown: if given, collects every token (source or target) mapped to
            ``<unk>``.

    Returns:
        ``(src_ids, tgt_ids)``, two lists of id lists.

    Raises:
        TypeError: ``pairs`` is not a list of token-list pairs (see
            :func:`~minis2s.data.pairs.check_pairs`) or a vocabulary is not a
            :class:`Vocab`.
    """
    for name, vocab in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
        if not isinstance(vocab, Vocab):
            raise TypeError(f"{name} must be a Vocab, got {type(vocab).__name__}")
    check_pairs(pairs)
    src_ids = [src_vocab.encode(s, unknown=unknown) for s, _ in pairs]
    tgt_ids = [tgt_vocab.encode(t, unknown=unknown) for _, t in pairs]
    return src_ids, tgt_ids
