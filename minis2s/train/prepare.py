"""The data of a run, and the model configuration that follows from it.

:func:`prepare_data` turns a :class:`~minis2s.train.config.TrainConfig` into token
pairs and vocabularies; :func:`model_config_for` adds the vocabulary sizes to the
configuration's model settings. Everything here reads user input (a task's
options, a data file), so every refusal is an :class:`~minis2s.train.errors.InputError`
naming what is wrong.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minis2s.train.config import TrainConfig
from minis2s.train.errors import InputError

#: the fractions of a data file's distinct sources that go to validation and test
FILE_SPLIT = {"valid": 0.05, "test": 0.05}
#: the fewest distinct sources a data file needs so that no split is empty
MIN_FILE_SOURCES = next(
    n for n in itertools.count(1)
    if all(round(f * n) >= 1 for f in FILE_SPLIT.values())
    and sum(round(f * n) for f in FILE_SPLIT.values()) < n)


@dataclass
class DataBundle:
    """A task's splits as token pairs, its tokenizer and the two vocabularies."""

    name: str
    train: list
    valid: list
    test: list
    tokenizer: Any
    src_vocab: Any
    tgt_vocab: Any


def prepare_data(config: TrainConfig) -> DataBundle:
    """Load or generate the data of ``config`` and build its vocabularies.

    A built-in task comes from :func:`minis2s.data.load_task` with ``data_seed``;
    a TSV file is read with :func:`minis2s.data.read_tsv` and split 90/5/5 by
    distinct source with a generator seeded by ``data_seed``. The vocabularies are
    built from the training split (tokens seen only in valid/test map to ``<unk>``).

    Raises :class:`InputError` (a ``ValueError``) when the task's options or the file
    cannot be used: an unknown task or option, a bad option value, a missing,
    unreadable or malformed file, too little data for a validation split.
    """
    from minis2s import data

    try:
        if config.data is not None:
            name = Path(config.data).name
            train, valid, test, tokenizer = _read_file(config)
        else:
            options = dict(config.task_options or {})
            if config.train_size is not None:
                options["train"] = config.train_size
            task = data.load_task(config.task, seed=config.data_seed, **options)
            train, valid, test, tokenizer, name = (task.train, task.valid, task.test,
                                                   task.tokenizer, task.name)
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"cannot read the data file {config.data}: "
                         f"{exc.strerror or _one_line(exc)}") from exc
    except (ValueError, TypeError) as exc:
        message = _one_line(exc)
        where = str(config.data) if config.data else repr(config.task)
        if where not in message:
            message = f"{'data file' if config.data else 'task'} {where}: {message}"
        raise InputError(message) from exc
    if not valid:
        raise InputError(f"{name}: the validation split is empty (it picks the best "
                         "checkpoint): give the task a validation size, e.g. "
                         "task_options={'valid': 100} (--task-option valid=100)")
    train = data.select_references(train, config.references)
    sources = [s for s, _ in train]
    if config.vectors_vocabulary:   # the file's words get rows of their own (and vectors)
        from minis2s.train.pretrained import vector_words

        sources.append(vector_words(config, name, tokenizer))
    src_vocab = data.Vocab.build(sources)
    tgt_vocab = data.Vocab.build([t for _, t in train])
    return DataBundle(name, list(train), list(valid), list(test), tokenizer,
                      src_vocab, tgt_vocab)


def _read_file(config: TrainConfig) -> tuple[list, list, list, Any]:
    """A TSV file's pairs, split 90/5/5 by distinct source, and its tokenizer."""
    from minis2s import data

    source, _, target = config.tokens.partition(":")
    target = target or source
    pairs = data.read_tsv(config.data, tokens=(source, target))
    n = len({tuple(s) for s, _ in pairs})
    if n < MIN_FILE_SOURCES:
        raise InputError(f"{config.data}: {n} distinct source{'s' if n != 1 else ''} "
                         f"cannot be split into training, validation and test pairs "
                         f"(90/5/5); the file needs at least {MIN_FILE_SOURCES} lines with "
                         "different sources")
    train, valid, test = data.split_pairs(pairs, np.random.default_rng(config.data_seed),
                                          **FILE_SPLIT)
    return train, valid, test, data.Tokenizer(source=source, target=target)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def model_config_for(config: TrainConfig, data: DataBundle):
    """The :class:`~minis2s.model.ModelConfig` of a run: ``config``'s model settings and
    the sizes of ``data``'s vocabularies."""
    from minis2s.model import ModelConfig

    return ModelConfig(src_vocab=len(data.src_vocab), tgt_vocab=len(data.tgt_vocab),
                       **config.model_settings())
