"""The ``minis2s`` command (also ``python -m minis2s``).

Sub-commands::

    minis2s train      train a model (the default: date normalisation with attention)
    minis2s evaluate   score a checkpoint on a split or a TSV file
    minis2s translate  decode texts given as arguments or read from standard input
    minis2s gradcheck  check every hand-written backward pass numerically
    minis2s bench      time the LSTM against PyTorch and the matrix-product ceiling

Bad input (an unknown option value, a malformed or empty data file, a missing or
damaged checkpoint, an unavailable backend) ends with one line on standard error
and exit status 2 -- no traceback (set ``MINIS2S_DEBUG=1`` to see one). A training
run that diverges exits with 1, one stopped by Ctrl-C with 130 (after saving).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import warnings
from typing import Any

from minis2s import __version__, backend

EXIT_INPUT = 2
EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A user-facing error of the command line: printed as one line, exit status 2."""


def _error_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# ======================================================================================
# gradcheck
# ======================================================================================
def _cmd_gradcheck(args: argparse.Namespace) -> int:
    from minis2s.checks import all_cases
    from minis2s.gradcheck import format_table

    backend.set_backend(args.backend)
    start = time.perf_counter()
    results = []
    for case in all_cases():
        if args.only and not any(word in case.piece for word in args.only):
            continue
        results.extend(case.run(seed=args.seed))
    print(format_table(results))
    failed = [r for r in results if not r.passed]
    print(
        f"\n{len(results)} gradients checked in {time.perf_counter() - start:.1f} s "
        f"(float64, central differences, backend {backend.backend_name()}): "
        f"{len(results) - len(failed)} passed, {len(failed)} failed"
    )
    return 1 if failed or not results else 0


# ======================================================================================
# train
# ======================================================================================
#: command-line option -> TrainConfig field, for the options copied as they are
_TRAIN_FIELDS = ("task", "data", "tokens", "data_seed", "train_size", "cell", "layers",
                 "hidden", "embedding", "bidirectional", "context", "attention", "dropout",
                 "activation", "teacher_forcing", "optimizer", "lr", "schedule", "decay",
                 "warmup", "clip", "batch_size", "epochs", "seed", "metric", "patience",
                 "valid_beam", "beam", "max_len", "time_budget", "out", "backend",
                 "threads")


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig settings given explicitly on the command line."""
    given = {name: getattr(args, name) for name in _TRAIN_FIELDS
             if getattr(args, name) is not None}
    if args.one_hot:
        given["embedding"] = None
    if given.get("clip") == 0:
        given["clip"] = None
    if given.get("patience") == 0:
        given["patience"] = None
    if given.get("threads") == 0:
        given["threads"] = None
    if args.no_progress:
        given["progress"] = False
    if args.no_plots:
        given["plots"] = False
    if args.task_option:
        given["task_options"] = dict(args.task_option)
    return given


def _key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, true, null), else text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def train_config_from_args(args: argparse.Namespace):
    """The :class:`~minis2s.train.TrainConfig` a ``minis2s train`` command line asks for.

    A new run: the defaults, then ``--preset``, then every option given explicitly.
    ``--resume``: the configuration saved in ``--out``'s last checkpoint, then the
    preset and the explicit options (a change that would alter the run is refused
    by :func:`minis2s.train.train`, naming it).
    """
    from minis2s import checkpoint
    from minis2s.train import PRESETS, TrainConfig, config_from_preset

    overrides = _train_overrides(args)
    if not args.resume:
        return config_from_preset(args.preset, **overrides)
    out_dir = config_from_preset(args.preset, **overrides).out_dir
    last = out_dir / checkpoint.LAST
    if not last.exists():
        raise CommandError(f"nothing to resume: {last} does not exist (pass the run's "
                           "directory with --out)")
    saved = TrainConfig.from_dict(checkpoint.load_checkpoint(last)["train_config"])
    explicit = {**(PRESETS[args.preset] if args.preset else {}), **overrides}
    explicit["out"] = str(out_dir)
    return saved.replace(**explicit)


def _cmd_train(args: argparse.Namespace) -> int:
    from minis2s.train import TrainingDivergedError, train

    backend.set_backend(args.backend or backend.backend_name())  # refuse cupy before any work
    config = train_config_from_args(args)
    if not (args.resume or args.overwrite or args.out):
        config = _fresh_run_dir(config)
    try:
        result = train(config, resume=args.resume, overwrite=args.overwrite)
    except TrainingDivergedError as exc:
        print(f"minis2s: {_error_line(exc)}", file=sys.stderr)
        return EXIT_DIVERGED
    if result.status == "interrupted":
        return EXIT_INTERRUPTED
    _print_summary(result, config)
    return 0


def _fresh_run_dir(config: Any) -> Any:
    """Without ``--out``, a new run never lands on an earlier one: ``runs/dates`` is
    followed by ``runs/dates-2``, ``runs/dates-3``, ... (nothing is overwritten, and
    running the same command twice just works)."""
    from minis2s import checkpoint

    base = config.out_dir
    if not (base / checkpoint.LAST).exists():
        return config
    k = 2
    while (base.parent / f"{base.name}-{k}" / checkpoint.LAST).exists():
        k += 1
    fresh = base.parent / f"{base.name}-{k}"
    print(f"{base} holds an earlier run (kept); this run goes to {fresh}")
    return config.replace(out=str(fresh))


def _print_summary(result: Any, config: Any) -> None:
    out = result.out_dir
    best = ("" if result.best_metric is None else f"; best {config.metric} on validation "
            f"{result.best_metric:.4f} at epoch {result.best_epoch}")
    print(f"\ntrained {result.epochs} epoch{'' if result.epochs == 1 else 's'} "
          f"({result.steps} steps) in "
          f"{result.train_time_s:.0f} s{best}")
    if result.test_metrics is not None:
        how = "greedy" if config.beam == 1 else f"beam {config.beam}"
        print(f"test split ({how} decoding of the best checkpoint):")
        print(_metrics_table(result.test_metrics, config.task if not config.data else None))
    if result.examples:
        print("examples (source -> output | reference):")
        for source, output, target in result.examples:
            mark = "ok" if output == target else "WRONG"
            print(f"  {source!r} -> {output!r} | {target!r}  {mark}")
    print(f"files in {out}/:")
    from minis2s import checkpoint

    for name, what in ((checkpoint.BEST, "the best model (evaluate/translate use it)"),
                       (checkpoint.LAST, "the last state (for --resume)"),
                       ("log.jsonl", "one line per epoch"), ("metrics.json", "test metrics")):
        if (out / name).exists():
            print(f"  {out / name}  {what}")
    for path in result.plots:
        print(f"  {path}  plot")


def _metrics_table(metrics: dict[str, float], task: str | None) -> str:
    lines = [f"  {name:<20} {value:.4f}" for name, value in metrics.items()]
    if task == "g2p":
        lines.append(f"  (PER = error_rate = {metrics['error_rate']:.4f}; WER = "
                     f"sequence_error_rate = {metrics['sequence_error_rate']:.4f})")
    return "\n".join(lines)


# ======================================================================================
# evaluate / translate
# ======================================================================================
def _cmd_evaluate(args: argparse.Namespace) -> int:
    from minis2s.train import blas_threads, evaluate_pairs, load_trained, prepare_data

    backend.set_backend(args.backend or backend.backend_name())
    trained = load_trained(args.checkpoint)
    tok = trained.tokenizer
    if args.data is not None:
        from minis2s.data import read_tsv

        pairs = read_tsv(args.data, tokens=(tok.source, tok.target), lowercase=tok.lowercase)
        where = args.data
    else:
        data = prepare_data(trained.train_config)
        pairs = data.valid if args.split == "valid" else data.test
        where = f"{data.name} {args.split} split"
    with blas_threads(trained.train_config.threads):
        metrics, _ = evaluate_pairs(trained.model, pairs, trained.src_vocab,
                                    trained.tgt_vocab, beam=args.beam, max_len=trained.max_len)
    if args.json:
        print(json.dumps({"checkpoint": str(trained.path), "data": where, "pairs": len(pairs),
                          "beam": args.beam, "metrics": metrics}, indent=2))
    else:
        how = "greedy" if args.beam == 1 else f"beam {args.beam}"
        print(f"{trained.path} on {where} ({len(pairs)} pairs, {how} decoding):")
        print(_metrics_table(metrics, trained.train_config.task
                             if not trained.train_config.data else None))
    return 0


def _cmd_translate(args: argparse.Namespace) -> int:
    from minis2s.train import blas_threads, load_trained

    backend.set_backend(args.backend or backend.backend_name())
    trained = load_trained(args.checkpoint)
    texts = args.text if args.text else [line.rstrip("\n") for line in sys.stdin]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise CommandError("nothing to translate: give texts as arguments or lines on "
                           "standard input")
    unknown: list[str] = []
    with blas_threads(trained.train_config.threads):
        outputs = trained.translate(texts, beam=args.beam, unknown=unknown)
    if unknown:
        symbols = ", ".join(repr(s) for s in dict.fromkeys(unknown))
        print(f"minis2s: warning: symbols the model never saw were mapped to <unk>: {symbols}",
              file=sys.stderr)
    for output in outputs:
        print(output)
    return 0


# ======================================================================================
# bench
# ======================================================================================
def _cmd_bench(args: argparse.Namespace) -> int:
    try:
        bench = importlib.import_module("minis2s.bench")
    except ModuleNotFoundError as exc:
        if exc.name != "minis2s.bench":
            raise
        raise CommandError("the benchmark (minis2s/bench.py) is not part of this "
                           "installation") from exc
    return int(bench.main(args.bench_args) or 0)


# ======================================================================================
# The parser
# ======================================================================================
def _int_at_least(low: int, what: str):
    """An argparse type: an integer >= ``low``, refused with ``what`` it should be."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_count = _int_at_least(0, "an integer >= 0")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _add_train_parser(sub: Any) -> None:
    from minis2s.cells.stack import CELL_KINDS
    from minis2s.data import TASKS
    from minis2s.model import CONTEXTS
    from minis2s.optim import OPTIMIZERS
    from minis2s.train import PRESETS, SCHEDULE_NAMES, TOKEN_KINDS, TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train", help="train a model (default: date normalisation with attention)",
        description="Train a sequence-to-sequence model and write its checkpoints, log, "
        "metrics and plots to the --out directory. With no options: the dates task "
        "(human-written dates in several languages -> ISO 8601), an LSTM with attention, "
        "on the CPU in a few minutes. Options not given take the preset's value, then "
        "the default shown.")
    g = p.add_argument_group("data")
    g.add_argument("--task", choices=list(TASKS),
                   help=f"built-in task to learn (default {d.task})")
    g.add_argument("--data", metavar="FILE.tsv",
                   help="your own data: one 'source<TAB>target' pair per line "
                   "(split 90/5/5; overrides --task)")
    g.add_argument("--tokens", choices=list(TOKEN_KINDS),
                   help="tokens of a --data file: characters or words, or SOURCE:TARGET "
                   f"kinds, e.g. char:word for letters -> phonemes (default {d.tokens})")
    g.add_argument("--train-size", type=_positive_int, metavar="N",
                   help="training pairs of a built-in task (default: the task's own)")
    g.add_argument("--task-option", type=_key_value, action="append", metavar="KEY=VALUE",
                   help="an option of the built-in task, e.g. valid=200 or max_len=8 "
                   "(repeatable)")
    g.add_argument("--data-seed", type=_count, metavar="S",
                   help=f"seed of the generated data and splits (default {d.data_seed})")
    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=list(CELL_KINDS),
                   help=f"recurrent cell: the article's plain recurrence, LSTM or GRU "
                   f"(default {d.cell})")
    g.add_argument("--layers", type=_positive_int, metavar="N",
                   help=f"stacked layers in encoder and decoder (default {d.layers})")
    g.add_argument("--hidden", type=_positive_int, metavar="H",
                   help=f"hidden size of every layer (default {d.hidden})")
    emb = g.add_mutually_exclusive_group()
    emb.add_argument("--embedding", type=_positive_int, metavar="E",
                     help=f"size of the learned token embeddings (default {d.embedding})")
    emb.add_argument("--one-hot", action="store_true",
                     help="feed one-hot vectors instead of embeddings, as the article does")
    g.add_argument("--bidirectional", action="store_true", default=None,
                   help="read the source in both directions")
    g.add_argument("--context", choices=list(CONTEXTS),
                   help=f"what the encoder tells the decoder at step t (default {d.context})")
    g.add_argument("--attention", choices=["additive", "dot", "general"],
                   help=f"attention score: Bahdanau additive, Luong dot or general "
                   f"(default {d.attention})")
    g.add_argument("--dropout", type=_number, metavar="P",
                   help=f"dropout between stacked layers, in [0, 1) (default {d.dropout})")
    g.add_argument("--activation", choices=["tanh", "relu", "sigmoid", "identity"],
                   help=f"f and g of the seed cell (default {d.activation})")
    g.add_argument("--teacher-forcing", type=_number, metavar="R",
                   help="probability of feeding the reference token instead of the model's "
                   f"own prediction (default {d.teacher_forcing})")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS),
                   help=f"update rule (default {d.optimizer})")
    g.add_argument("--lr", type=_number, metavar="LR", help=f"learning rate (default {d.lr})")
    g.add_argument("--schedule", choices=list(SCHEDULE_NAMES),
                   help=f"learning-rate schedule: constant, or times --decay per epoch, in "
                   f"one step or smoothly (default {d.schedule})")
    g.add_argument("--decay", type=_number, metavar="G",
                   help=f"learning-rate factor per epoch for --schedule (default {d.decay})")
    g.add_argument("--warmup", type=_count, metavar="STEPS",
                   help=f"steps of linear learning-rate warm-up (default {d.warmup})")
    g.add_argument("--clip", type=_number, metavar="C",
                   help=f"clip the global gradient norm to C; 0: no clipping (default {d.clip})")
    g.add_argument("--batch-size", type=_positive_int, metavar="B",
                   help=f"pairs per batch (default {d.batch_size})")
    g.add_argument("--epochs", type=_positive_int, metavar="N",
                   help=f"passes over the training data (default {d.epochs})")
    g.add_argument("--seed", type=_count, metavar="S",
                   help=f"seed of the weights, shuffling and dropout (default {d.seed})")
    g = p.add_argument_group("validation and stopping")
    g.add_argument("--metric", metavar="NAME",
                   help=f"validation metric that picks the best checkpoint (default {d.metric})")
    g.add_argument("--patience", type=_count, metavar="N",
                   help=f"stop after N epochs without improvement; 0: never (default "
                   f"{d.patience})")
    g.add_argument("--valid-beam", type=_positive_int, metavar="K",
                   help=f"beam size of the per-epoch validation; 1: greedy (default "
                   f"{d.valid_beam})")
    g.add_argument("--beam", type=_positive_int, metavar="K",
                   help=f"beam size of the final test evaluation; 1: greedy (default {d.beam})")
    g.add_argument("--max-len", type=_positive_int, metavar="T",
                   help="longest output when decoding (default: 2 x source length + 10)")
    g.add_argument("--time-budget", type=_number, metavar="SECONDS",
                   help="stop before an epoch that would end after this many seconds "
                   f"(default {d.time_budget})")
    g = p.add_argument_group("running")
    g.add_argument("--preset", choices=list(PRESETS),
                   help="a named configuration; 'article': 2-layer LSTM of 512, Adam, "
                   "lr 0.001, 100 epochs (explicit options win)")
    g.add_argument("--out", metavar="DIR", help="run directory (default runs/<task>)")
    g.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out exactly where it stopped")
    g.add_argument("--overwrite", action="store_true",
                   help="start a new run even if --out already holds one (it is replaced)")
    g.add_argument("--backend", choices=["numpy", "cupy"],
                   help="array backend: numpy (CPU) or cupy (NVIDIA GPU) (default numpy)")
    g.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it is also off when stderr is not a terminal)")
    g.add_argument("--threads", type=_count, metavar="N",
                   help=f"BLAS threads on the CPU; 0: one per core (default {d.threads}: "
                   "small models gain nothing from more, and slow down when cores are busy)")
    g.add_argument("--no-plots", action="store_true",
                   help="do not draw the PNG plots at the end")
    p.set_defaults(func=_cmd_train)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="minis2s",
        description="Sequence-to-sequence RNNs in plain NumPy, every backward pass checked.",
    )
    parser.add_argument("--version", action="version", version=f"minis2s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    _add_train_parser(sub)

    p = sub.add_parser(
        "evaluate", help="score a trained model on a split of its task or on a TSV file",
        description="Decode a split (or a TSV file) with a trained model and print every "
        "metric: token accuracy, exact match, precision/recall/F1, BLEU, error rates.")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a checkpoint file, or a run directory (its best checkpoint)")
    p.add_argument("--split", choices=["test", "valid"], default="test",
                   help="which split of the model's task to score (default test)")
    p.add_argument("--data", metavar="FILE.tsv",
                   help="score these 'source<TAB>target' lines instead of a split")
    p.add_argument("--beam", type=_positive_int, default=1, metavar="K",
                   help="beam size; 1: greedy decoding (default 1)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--backend", choices=["numpy", "cupy"], help="array backend (default numpy)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "translate", help="decode texts with a trained model",
        description="Decode each TEXT given, or each line of standard input, one output "
        "line per input. Symbols the model never saw become <unk> (with a warning).")
    p.add_argument("checkpoint", metavar="CHECKPOINT",
                   help="a checkpoint file, or a run directory (its best checkpoint)")
    p.add_argument("text", nargs="*", metavar="TEXT",
                   help="texts to decode (none: read standard input)")
    p.add_argument("--beam", type=_positive_int, default=1, metavar="K",
                   help="beam size; 1: greedy decoding (default 1)")
    p.add_argument("--backend", choices=["numpy", "cupy"], help="array backend (default numpy)")
    p.set_defaults(func=_cmd_translate)

    p = sub.add_parser(
        "gradcheck",
        help="check every hand-written backward pass against numerical gradients",
        description="Run the float64 gradient check of every forward/backward pair and "
        "print a table; exit 1 if any relative error is above its tolerance.",
    )
    p.add_argument("--only", nargs="*", metavar="WORD",
                   help="check only pieces whose name contains one of these words")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--backend", default="numpy", choices=backend.BACKENDS,
                   help="array backend to run on (default numpy)")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser(
        "bench", help="time the LSTM against PyTorch and the matrix-product ceiling",
        description="Run the LSTM benchmark (minis2s.bench); its own options follow "
        "(minis2s bench --help shows them).", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, metavar="...",
                   help="options passed to the benchmark")
    p.set_defaults(func=_cmd_bench)
    return parser


_SAID: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A library warning as one line on standard error, each text said once per process
    (a setting checked in two places warns from two places)."""
    text = f"minis2s: warning: {message}"
    if text not in _SAID:
        _SAID.add(text)
        print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _SAID.clear()
    parser = build_parser()
    if argv[:1] == ["bench"]:  # everything after "bench" is the benchmark's own
        args = argparse.Namespace(command="bench", func=_cmd_bench, bench_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    from minis2s.checkpoint import CheckpointError

    try:
        with warnings.catch_warnings():
            # the library's UserWarnings, as one line each, said once
            warnings.simplefilter("once", UserWarning)
            warnings.showwarning = _show_warning
            return args.func(args)
    except backend.BackendUnavailableError as exc:
        print(f"minis2s: {_error_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
    except (CommandError, CheckpointError, ValueError, TypeError, OSError) as exc:
        if os.environ.get("MINIS2S_DEBUG"):
            raise
        print(f"minis2s {args.command}: error: {_error_line(exc)}", file=sys.stderr)
        return EXIT_INPUT
