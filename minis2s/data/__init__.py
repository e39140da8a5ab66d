"""The data layer: text pairs -> token ids -> padded time-major batches.

::

    load_task("dates") / read_tsv(path)      (src_tokens, tgt_tokens) pairs
        -> Vocab.build(...), encode_pairs     lists of token ids
        -> make_batches(...)                  Batch: (T, N) int64 arrays + masks

Modules, one idea each:

* :mod:`~minis2s.data.vocab`     -- :class:`Vocab`, the special ids PAD/BOS/EOS/UNK
* :mod:`~minis2s.data.tokenizer` -- characters or words, and back to text
* :mod:`~minis2s.data.batching`  -- padding, masks, length bucketing
* :mod:`~minis2s.data.splits`    -- train/valid/test without shared sources
* :mod:`~minis2s.data.pairs`     -- sources with several references: group them, keep
  all or the first
* :mod:`~minis2s.data.tasks`     -- the registry :data:`TASKS` and :func:`load_task`;
  the tasks live in :mod:`~minis2s.data.toy`, :mod:`~minis2s.data.dates`,
  :mod:`~minis2s.data.g2p`
* :mod:`~minis2s.data.files`     -- :func:`read_tsv` for your own pairs
* :mod:`~minis2s.data.vectors`   -- pretrained word2vec vectors for an embedding
* :mod:`~minis2s.data.quote`     -- user input quoted in errors, cut to 80 characters

Everything here runs on the host (plain Python and NumPy) and never imports
the array backend: the model moves batches to the device.
"""

from minis2s.data.batching import Batch, make_batches, pad_sequences, padding_fraction
from minis2s.data.files import read_tsv
from minis2s.data.pairs import (
    REFERENCE_MODES,
    check_pairs,
    group_references,
    select_references,
)
from minis2s.data.splits import split_pairs
from minis2s.data.tasks import DEFAULT_TASK, TASKS, TaskData, TaskSpec, load_task
from minis2s.data.tokenizer import Tokenizer
from minis2s.data.vectors import init_embedding_from_vectors, read_word2vec_text
from minis2s.data.vocab import (
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    PAD,
    PAD_ID,
    SPECIALS,
    UNK,
    UNK_ID,
    Vocab,
    encode_pairs,
)

__all__ = [
    "BOS",
    "BOS_ID",
    "DEFAULT_TASK",
    "EOS",
    "EOS_ID",
    "PAD",
    "PAD_ID",
    "REFERENCE_MODES",
    "SPECIALS",
    "TASKS",
    "UNK",
    "UNK_ID",
    "Batch",
    "TaskData",
    "TaskSpec",
    "Tokenizer",
    "Vocab",
    "check_pairs",
    "encode_pairs",
    "group_references",
    "init_embedding_from_vectors",
    "load_task",
    "make_batches",
    "pad_sequences",
    "padding_fraction",
    "read_tsv",
    "read_word2vec_text",
    "select_references",
    "split_pairs",
]
