"""What each part of the g2p recipe buys: the same short run with one thing changed.

Every variant is a run of ``benchmarks/g2p_results.py`` (same recipe, same seeds, same
data) with a smaller training set and time budget, so that the six variants fit in 80
minutes of one core (40 on two); each changes one thing against the first row. Writes
``ablation.md`` (the table ``docs/results_g2p.md`` includes) and ``ablation.json`` in
``--out``; each variant's own ``results.md`` / ``results.json`` stay in its folder.

Usage::

    python benchmarks/g2p_ablation.py --out runs/g2p_ablation          # about 80 min
    python benchmarks/g2p_ablation.py --minutes 1 --train-size 2000 --out /tmp/abl  # a smoke run

Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import g2p_results  # noqa: E402  (the sibling script: one recipe, one way to run it)

#: (label, g2p_results options): each row changes one thing against the first
VARIANTS = [
    ("the recipe (trained on first pronunciations)", []),
    ("no label smoothing", ["--train-option=--label-smoothing=0"]),
    ("no weight averaging", ["--train-option=--average=0"]),
    ("trained on all pronunciations", ["--references", "all"]),
    ("one-directional encoder", ["--without=--bidirectional"]),
    ("constant learning rate (no decay)", ["--train-option=--schedule=constant"]),
]


def scaled_average(train_size: int) -> str:
    """The recipe's weight average reaches back ``1 / (1 - 0.999) = 1000`` steps, 0.6 of the
    1,653 of an epoch of the full data; this option gives a run of ``train_size`` words
    the same reach in epochs (a row that turns averaging off overrides it)."""
    import math

    recipe = float(g2p_results.RECIPE[g2p_results.RECIPE.index("--average") + 1])
    batch = int(g2p_results.RECIPE[g2p_results.RECIPE.index("--batch-size") + 1])
    epochs = 1.0 / (1.0 - recipe) / math.ceil(105751 / batch)
    return f"--train-option=--average={1.0 - 1.0 / (epochs * math.ceil(train_size / batch)):.4f}"


def row(label: str, report: dict) -> str:
    """One line of the table from a variant's ``results.json``."""
    cells = []
    for decoding in ("greedy", next(k for k in report["results"] if k.startswith("beam"))):
        m = report["results"][decoding]["all"]["metrics"]
        cells += [f"{100 * m['error_rate']:.2f} %", f"{100 * m['sequence_error_rate']:.2f} %"]
    return f"| {label} | {len(report['curve'])} | " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/g2p_ablation", help="output directory")
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per variant")
    p.add_argument("--train-size", type=int, default=20000, help="training words per variant")
    p.add_argument("--split", choices=["hash", "random"], default="hash")
    p.add_argument("--variants", type=int, nargs="+", metavar="K",
                   help="run only these rows (0-based; e.g. two processes with 0 1 2 and 3 4 5 "
                        "on two cores), then --reuse to write the table")
    p.add_argument("--reuse", action="store_true",
                   help="keep a variant whose results.json exists in --out (no retraining)")
    p.add_argument("--publish", metavar="DIR",
                   help="also copy ablation.md into DIR as g2p_ablation.md (docs/results does)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.variants and not set(args.variants) <= set(range(len(VARIANTS))):
        p.error(f"--variants: rows are 0 to {len(VARIANTS) - 1}, got {args.variants}")
    reports = {}
    for k, (label, options) in enumerate(VARIANTS):
        folder = out / f"variant{k}"
        if args.variants and k not in args.variants:
            continue
        if not (args.reuse and (folder / "results.json").exists()):
            g2p_results.main(["--out", str(folder), "--minutes", f"{args.minutes:g}",
                              "--train-size", str(args.train_size), "--split", args.split,
                              scaled_average(args.train_size), *options])
        reports[label] = json.loads((folder / "results.json").read_text())
    if args.variants:
        return 0                     # a part of the rows: the table comes with --reuse
    first = next(iter(reports.values()))
    lines = [f"| variant ({args.train_size:,} training words, {args.minutes:g} min each) | epochs "
             "| PER greedy | WER greedy | PER beam | WER beam |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [row(label, report) for label, report in reports.items()]
    text = "\n".join(lines) + (
        f"\n\nScored against all pronunciations of each of the test split's words ({args.split} "
        f"split). Every row averages the weights with `{scaled_average(args.train_size)[15:]}`, "
        "the recipe's reach in epochs (about 0.6) at this training size. "
        f"Machine: {first['machine']}. Commit: `{first['commit']}`. Command: "
        f"`python benchmarks/g2p_ablation.py --minutes {args.minutes:g} --train-size "
        f"{args.train_size} --split {args.split}`.\n")
    (out / "ablation.md").write_text(text)
    (out / "ablation.json").write_text(json.dumps(
        {"minutes": args.minutes, "train_size": args.train_size, "split": args.split,
         "variants": {label: {"options": opts, "report": reports[label]}
                      for label, opts in VARIANTS}}, indent=2))
    if args.publish:
        Path(args.publish).mkdir(parents=True, exist_ok=True)
        (Path(args.publish) / "g2p_ablation.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
