"""``minis2s evaluate``: score a trained model on a split of its task or on a TSV file."""

from __future__ import annotations

import argparse
import json
from typing import Any

from minis2s.cli.common import (
    Command,
    CommandError,
    add_backend_option,
    add_model_arguments,
    metrics_table,
    model_paths,
    one_line,
    positive_int,
    say,
)


def run(args: argparse.Namespace) -> int:
    from minis2s.train import (
        blas_threads,
        evaluate_pairs,
        load_ensemble,
        prepare_data,
        run_threads,
    )

    trained = load_ensemble(model_paths(args))
    tok = trained.tokenizer
    if args.data is not None:
        from minis2s.data import read_tsv

        try:
            pairs = read_tsv(args.data, tokens=(tok.source, tok.target),
                             lowercase=tok.lowercase)
        except (ValueError, TypeError) as exc:
            raise CommandError(one_line(exc)) from exc
        where = args.data
    else:
        data = prepare_data(trained.train_config)
        pairs = data.valid if args.split == "valid" else data.test
        where = f"{data.name} {args.split} split"
    if not pairs:
        raise CommandError(f"nothing to evaluate: the {where} is empty")
    if args.references == "first":
        from minis2s.data import select_references

        pairs = select_references(pairs, "first")
    with blas_threads(run_threads(trained.train_config)):
        result = evaluate_pairs(trained.model, pairs, trained.src_vocab, trained.tgt_vocab,
                                beam=args.beam, max_len=trained.max_len)
    metrics, count = result.metrics, result.references
    if args.json:
        say(json.dumps({"checkpoint": str(trained.path),
                        "ensemble": [str(m) for m in trained.members], "data": where,
                        "pairs": len(pairs),
                        "sources": count.outputs, "references": count.references,
                        "sources_with_several_references": count.with_several,
                        "scored_against": args.references, "beam": args.beam,
                        "metrics": metrics}, indent=2))
    else:
        how = "greedy" if args.beam == 1 else f"beam {args.beam}"
        model = (str(trained.path) if not trained.members else
                 f"an ensemble of {len(trained.members)} models "
                 f"({', '.join(map(str, trained.members))})")
        say(f"{model} on {where} ({count.outputs} sources, {how} decoding; scored "
            f"against {count.describe()}):")
        say(metrics_table(metrics, trained.train_config.task
                          if not trained.train_config.data else None))
    return 0


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from minis2s.data.pairs import REFERENCE_MODES

    p = sub.add_parser(
        "evaluate", help="score a trained model on a split of its task or on a TSV file",
        description="Decode a split (or a TSV file) with a trained model and print every "
        "metric: token accuracy, exact match, precision/recall/F1, BLEU, error rates.")
    add_model_arguments(p)
    p.add_argument("--split", choices=["test", "valid"], default="test",
                   help="which split of the model's task to score (default test)")
    p.add_argument("--data", metavar="FILE.tsv",
                   help="score these 'source<TAB>target' lines instead of a split")
    p.add_argument("--beam", type=positive_int, default=1, metavar="K",
                   help="beam size; 1: greedy decoding (default 1)")
    p.add_argument("--references", choices=list(REFERENCE_MODES), default="all",
                   help="a source with several targets (a word with several "
                   "pronunciations, a TSV source on several lines): score against all of "
                   "them (an output is right if it equals any; error rates use the "
                   "closest) or only the first listed (default all)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_backend_option(p)
    return p


COMMAND = Command("evaluate", add_parser, run)
