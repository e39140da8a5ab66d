"""``minis2s train``: the options (derived from :class:`~minis2s.train.TrainConfig`'s
fields and the library's registries), the configuration they make, the run, the summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from minis2s.cli.common import (
    Command,
    CommandError,
    add_backend_option,
    count,
    key_value,
    metrics_table,
    number,
    one_line,
    positive_int,
    say,
    threads_count,
)
from minis2s.threads import CROSSOVER_HIDDEN
from minis2s.train import TrainConfig, rundir

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130

#: TrainConfig fields whose option has another shape than ``--field VALUE``
_SHAPED = {"task_options": "--task-option KEY=VALUE", "progress": "--no-progress",
           "plots": "--no-plots"}
#: command-line option -> TrainConfig field, for the options copied as they are: every
#: field, so that a new setting is one new option (tests/test_cli.py checks the match)
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in _SHAPED)
#: options that are not settings: how to start (preset, resume, overwrite)
RUN_OPTIONS = ("preset", "resume", "overwrite")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig settings given explicitly on the command line."""
    given = {name: getattr(args, name) for name in TRAIN_FIELDS
             if getattr(args, name) is not None}
    if args.one_hot:
        given["embedding"] = None
    for name in ("clip", "patience", "threads"):  # 0: none
        if given.get(name) == 0:
            given[name] = None
    if args.no_progress:
        given["progress"] = False
    if args.no_plots:
        given["plots"] = False
    if args.task_option:
        given["task_options"] = dict(args.task_option)
    return given


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`~minis2s.train.TrainConfig` a ``minis2s train`` command line asks for.

    A new run: the defaults, then ``--preset``, then every option given explicitly.
    ``--resume``: the configuration saved in ``--out``'s last checkpoint, then the
    preset and the explicit options (a change that would alter the run is refused
    by :func:`minis2s.train.train`, naming it). A setting out of range is a
    :class:`CommandError` naming it.
    """
    from minis2s.train import PRESETS, config_from_preset

    overrides = _overrides(args)
    try:
        if not args.resume:
            _embedding_from_vectors(args.preset, overrides)
            return config_from_preset(args.preset, **overrides)
        out_dir = config_from_preset(args.preset, **overrides).out_dir
    except (ValueError, TypeError) as exc:
        raise CommandError(one_line(exc)) from exc
    run = rundir.RunDir(out_dir)
    if not run.last.exists():
        raise CommandError(f"nothing to resume: {run.last} does not exist (pass the run's "
                           "directory with --out)")
    saved_settings = run.load_last()["train_config"]
    try:
        saved = TrainConfig.from_dict(saved_settings)
    except (ValueError, TypeError) as exc:
        raise CommandError(f"{run.last}: its saved settings are not valid: "
                           f"{one_line(exc)}") from exc
    explicit = {**(PRESETS[args.preset] if args.preset else {}), **overrides}
    explicit["out"] = str(out_dir)
    try:
        return saved.replace(**explicit)
    except (ValueError, TypeError) as exc:
        raise CommandError(one_line(exc)) from exc


def _embedding_from_vectors(preset: str | None, overrides: dict[str, Any]) -> None:
    """``--vectors`` without ``--embedding`` (or ``--one-hot``, or a preset's size): the
    embedding takes the dimension the file's header announces. (Only a new run: a
    resumed one has its size, and does not read the file again.)"""
    from minis2s.data.vectors import word2vec_dimension
    from minis2s.train import PRESETS

    path = overrides.get("vectors")
    if path is None or "embedding" in overrides or "embedding" in PRESETS.get(preset, {}):
        return
    try:
        overrides["embedding"] = word2vec_dimension(path)
    except OSError as exc:
        raise CommandError(f"cannot read the vectors file {path}: "
                           f"{exc.strerror or one_line(exc)}") from exc


def run(args: argparse.Namespace) -> int:
    from minis2s.train import TrainingDivergedError, train

    config = train_config_from_args(args)
    if not (args.resume or args.overwrite or args.out):
        config = _fresh_run_dir(config)
    try:
        result = train(config, resume=args.resume, overwrite=args.overwrite)
    except TrainingDivergedError as exc:
        print(f"minis2s: {one_line(exc)}", file=sys.stderr)
        return EXIT_DIVERGED
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    _print_summary(result, config)
    return 0


def _fresh_run_dir(config: TrainConfig) -> TrainConfig:
    """Without ``--out``, a new run never lands on an earlier one: ``runs/dates`` is
    followed by ``runs/dates-2``, ``runs/dates-3``, ... (nothing is overwritten, and
    running the same command twice just works)."""
    base = config.out_dir
    fresh = rundir.fresh_run_dir(base)
    if fresh == base:
        return config
    what = "holds an earlier run" if rundir.RunDir(base).contents()[0] else "is not empty"
    say(f"{base} {what} (kept); this run goes to {fresh}")
    return config.replace(out=str(fresh))


def _print_summary(result: Any, config: TrainConfig) -> None:
    out = result.out_dir
    best = ("" if result.best_metric is None else f"; best {config.metric} on validation "
            f"{result.best_metric:.4f} at epoch {result.best_epoch}")
    say(f"\ntrained {result.epochs} epoch{'' if result.epochs == 1 else 's'} "
        f"({result.steps} steps) in {result.train_time_s:.0f} s{best}")
    if result.test_metrics is not None:
        how = "greedy" if config.beam == 1 else f"beam {config.beam}"
        say(f"test split ({how} decoding of the best checkpoint):")
        say(metrics_table(result.test_metrics, config.task if not config.data else None))
    if result.examples:
        say("examples (source -> output | reference):")
        for source, output, target in result.examples:
            mark = "ok" if output == target else "WRONG"
            say(f"  {source!r} -> {output!r} | {target!r}  {mark}")
    say(f"files in {out}/:")
    for name, what in ((rundir.BEST, "the best model (evaluate/translate use it)"),
                       (rundir.LAST, "the last state (for --resume)"),
                       (rundir.LOG, "one line per epoch"), (rundir.METRICS, "test metrics")):
        if (out / name).exists():
            say(f"  {out / name}  {what}")
    for path in result.plots:
        say(f"  {path}  plot")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train", help="train a model (default: date normalisation with attention)",
        description="Train a sequence-to-sequence model and write its checkpoints, log, "
        "metrics and plots to the --out directory. With no options: the dates task "
        "(human-written dates in several languages -> ISO 8601), an LSTM with attention, "
        "on the CPU in a few minutes. Options not given take the preset's value, then "
        "the default shown.")
    d = TrainConfig()
    _add_data_options(p.add_argument_group("data"), d)
    _add_model_options(p.add_argument_group("model"), d)
    _add_optimisation_options(p.add_argument_group("optimisation"), d)
    _add_validation_options(p.add_argument_group("validation and stopping"), d)
    _add_running_options(p.add_argument_group("running"), d)
    return p


def _add_data_options(g: Any, d: TrainConfig) -> None:
    from minis2s.data import TASKS
    from minis2s.data.pairs import REFERENCE_MODES
    from minis2s.train import TOKEN_KINDS

    g.add_argument("--task", choices=list(TASKS),
                   help=f"built-in task to learn (default {d.task})")
    g.add_argument("--data", metavar="FILE.tsv",
                   help="your own data: one 'source<TAB>target' pair per line "
                   "(split 90/5/5; instead of --task)")
    g.add_argument("--tokens", choices=list(TOKEN_KINDS),
                   help="tokens of a --data file: characters or words, or SOURCE:TARGET "
                   f"kinds, e.g. char:word for letters -> phonemes (default {d.tokens})")
    g.add_argument("--train-size", type=positive_int, metavar="N",
                   help="training pairs of a built-in task (default: the task's own)")
    g.add_argument("--task-option", type=key_value, action="append", metavar="KEY=VALUE",
                   help="an option of the built-in task, e.g. valid=200 or max_len=8 "
                   "(repeatable)")
    g.add_argument("--references", choices=list(REFERENCE_MODES),
                   help="a source with several targets (e.g. words with several "
                   "pronunciations): train on the first or on all; scoring always uses all "
                   f"(default {d.references})")
    g.add_argument("--data-seed", type=count, metavar="S",
                   help=f"seed of the generated data and splits (default {d.data_seed})")


def _add_model_options(g: Any, d: TrainConfig) -> None:
    from minis2s.cells import CELL_ALIASES, CELL_KINDS
    from minis2s.model import CONTEXTS
    from minis2s.ops.activations import ACTIVATIONS
    from minis2s.ops.attention import SCORERS

    old_names = "; ".join(f"{a!r} is the old name of {k!r}" for a, k in CELL_ALIASES.items())
    g.add_argument("--cell", choices=[*CELL_KINDS, *CELL_ALIASES],
                   help=f"recurrent cell: rnn (the article's plain recurrence), lstm or gru; "
                   f"{old_names} (default {d.cell})")
    g.add_argument("--layers", type=positive_int, metavar="N",
                   help=f"stacked layers in encoder and decoder (default {d.layers})")
    g.add_argument("--hidden", type=positive_int, metavar="H",
                   help=f"hidden size of every layer (default {d.hidden})")
    emb = g.add_mutually_exclusive_group()
    emb.add_argument("--embedding", type=positive_int, metavar="E",
                     help=f"size of the learned token embeddings (default {d.embedding})")
    emb.add_argument("--one-hot", action="store_true",
                     help="feed one-hot vectors instead of embeddings, as the article does")
    g.add_argument("--vectors", metavar="FILE.txt",
                   help="pretrained word vectors (word2vec text format) for the source "
                   "words of a --tokens word file, read when the run starts; the size of "
                   "the embedding is the file's unless --embedding is given")
    g.add_argument("--freeze-embedding", action="store_true", default=None,
                   help="keep the source embedding rows that came from --vectors fixed "
                   "(the other rows learn)")
    g.add_argument("--vectors-vocabulary", type=count, metavar="N",
                   help="add the first N words of the --vectors file to the source "
                   "vocabulary, so that words the training data lacks are read through "
                   "their vectors instead of as <unk> (default 0: none)")
    g.add_argument("--bidirectional", action="store_true", default=None,
                   help="read the source in both directions")
    g.add_argument("--context", choices=list(CONTEXTS),
                   help=f"what the encoder tells the decoder at step t (default {d.context})")
    g.add_argument("--attention", choices=list(SCORERS),
                   help=f"attention score: Bahdanau additive, Luong dot or general "
                   f"(default {d.attention})")
    g.add_argument("--dropout", type=number, metavar="P",
                   help=f"dropout between stacked layers, in [0, 1) (default {d.dropout})")
    g.add_argument("--activation", choices=list(ACTIVATIONS),
                   help=f"f and g of the plain cell (default {d.activation})")


def _add_optimisation_options(g: Any, d: TrainConfig) -> None:
    from minis2s.optim import OPTIMIZERS
    from minis2s.train import SCHEDULE_NAMES

    g.add_argument("--teacher-forcing", type=number, metavar="R",
                   help="probability of feeding the reference token instead of the model's "
                   f"own prediction (default {d.teacher_forcing})")
    g.add_argument("--label-smoothing", type=number, metavar="EPS",
                   help="train against (1 - EPS) one-hot + EPS spread over the vocabulary, in "
                   f"[0, 1) (default {d.label_smoothing}: the plain loss)")
    g.add_argument("--average", type=number, metavar="D",
                   help="validate, keep and test a moving average of the weights, updated "
                   "after every step with decay D in [0, 1), e.g. 0.999 (about the last "
                   f"1/(1 - D) steps) (default {d.average}: the weights as trained)")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS),
                   help=f"update rule (default {d.optimizer})")
    g.add_argument("--lr", type=number, metavar="LR", help=f"learning rate (default {d.lr})")
    g.add_argument("--schedule", choices=list(SCHEDULE_NAMES),
                   help=f"learning-rate schedule: constant, or times --decay per epoch, in "
                   f"one step or smoothly (default {d.schedule})")
    g.add_argument("--decay", type=number, metavar="G",
                   help=f"learning-rate factor per epoch for --schedule (default {d.decay})")
    g.add_argument("--warmup", type=count, metavar="STEPS",
                   help=f"steps of linear learning-rate warm-up (default {d.warmup})")
    g.add_argument("--clip", type=number, metavar="C",
                   help=f"clip the global gradient norm to C; 0: no clipping (default {d.clip})")
    g.add_argument("--batch-size", type=positive_int, metavar="B",
                   help=f"pairs per batch (default {d.batch_size})")
    g.add_argument("--epochs", type=positive_int, metavar="N",
                   help=f"passes over the training data (default {d.epochs})")
    g.add_argument("--seed", type=count, metavar="S",
                   help=f"seed of the weights, shuffling and dropout (default {d.seed})")


def _add_validation_options(g: Any, d: TrainConfig) -> None:
    g.add_argument("--metric", metavar="NAME",
                   help=f"validation metric that picks the best checkpoint (default {d.metric})")
    g.add_argument("--patience", type=count, metavar="N",
                   help=f"stop after N epochs without improvement; 0: never (default "
                   f"{d.patience})")
    g.add_argument("--valid-beam", type=positive_int, metavar="K",
                   help=f"beam size of the per-epoch validation; 1: greedy (default "
                   f"{d.valid_beam})")
    g.add_argument("--beam", type=positive_int, metavar="K",
                   help=f"beam size of the final test evaluation; 1: greedy (default {d.beam})")
    g.add_argument("--max-len", type=positive_int, metavar="T",
                   help="longest output when decoding (default: 2 x source length + 10)")
    g.add_argument("--time-budget", type=number, metavar="SECONDS",
                   help="stop before an epoch that would end after this many seconds "
                   f"(default {d.time_budget})")
    g.add_argument("--examples", type=count, metavar="N",
                   help=f"example translations of the test split shown at the end (default "
                   f"{d.examples})")


def _add_running_options(g: Any, d: TrainConfig) -> None:
    from minis2s.train import PRESETS

    g.add_argument("--preset", choices=list(PRESETS),
                   help="a named configuration; 'article': 2-layer LSTM of 512, Adam, "
                   "lr 0.001, 100 epochs (explicit options win)")
    g.add_argument("--out", metavar="DIR",
                   help="run directory (default runs/<task>, or runs/<task>-2, ... if that "
                   "is taken); it must be new or empty unless --resume or --overwrite")
    g.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out exactly where it stopped")
    g.add_argument("--overwrite", action="store_true",
                   help="start a new run even if --out is not empty: the files of an "
                   "earlier run there are replaced (and named), other files kept")
    add_backend_option(g)
    g.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it is also off when stderr is not a terminal)")
    g.add_argument("--threads", type=threads_count, metavar="N",
                   help=f"BLAS threads on the CPU; 0: one per core; auto: by the model's "
                   f"size, one thread below hidden {CROSSOVER_HIDDEN} (small products gain "
                   "nothing from more, and slow down when cores are busy), from there on "
                   f"every core other programs leave free (default {d.threads})")
    g.add_argument("--no-plots", action="store_true",
                   help="do not draw the PNG plots at the end")


COMMAND = Command("train", add_parser, run)
