"""Grapheme-to-phoneme result of ``docs/results_g2p.md``, produced end to end by one command.

Trains the built-in ``g2p`` task (CMUdict, stress removed) with ``minis2s train``, then
scores the test split with ``minis2s evaluate``: greedy and beam, each against the
first listed pronunciation of a word and against all of them (a word counts as right
if the output equals any; PER uses the closest). Writes, in ``--out``:

* ``results.md``  -- the table the page shows, with the wall time, the machine and the
  commit, and the commands that made it;
* ``results.json`` -- every number of the table (and the raw ``evaluate`` reports);
* ``wer_curve.png`` / ``wer_curve.csv`` -- validation WER (greedy, all references)
  against training minutes, one point per epoch.

Usage::

    python benchmarks/g2p_results.py                      # the page's run (60 min budget)
    python benchmarks/g2p_results.py --split random       # the second, seeded random split
    python benchmarks/g2p_results.py --minutes 2 --train-size 3000 --out /tmp/g2p_quick

An ensemble: train each member as above, one run per seed (side by side, one core
each), then decode them as one (``minis2s evaluate --ensemble``: the mean of their
next-token distributions) -- no training; the table gives each member's rows and the
ensemble's, the curve each member's::

    python benchmarks/g2p_results.py --out runs/g2p_s0 &
    python benchmarks/g2p_results.py --out runs/g2p_s1 --train-option=--seed=1 &
    wait
    python benchmarks/g2p_results.py --ensemble-of runs/g2p_s0 runs/g2p_s1 --out runs/g2p_ens

Not part of CI (an hour of CPU). Every number the page reports comes from here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

#: The recipe of the page's run (the options of ``minis2s train`` besides data and budget).
RECIPE = ["--cell", "gru", "--hidden", "256", "--embedding", "64", "--bidirectional",
          "--context", "attention", "--attention", "additive",
          "--optimizer", "adam", "--lr", "3e-3", "--schedule", "exponential", "--decay", "0.8",
          "--clip", "5", "--batch-size", "64", "--epochs", "40", "--patience", "3",
          # regularisation at no cost in time: the model memorised without it (training
          # loss a fifth of the validation loss); the average reaches back ~1000 steps,
          # about 0.6 epoch of the full data
          "--label-smoothing", "0.1", "--average", "0.999",
          "--valid-beam", "1", "--seed", "0", "--data-seed", "0",
          # one BLAS thread: two runs side by side (or anything else on the machine) with
          # two threads each made an epoch several times slower
          "--threads", "1"]
#: (label, evaluate options) of the table's rows
ROWS = [("greedy", ["--beam", "1"]), ("beam 5", ["--beam", "5"])]
SCORINGS = ("first", "all")


def minis2s(*args: str, capture: bool = False) -> str:
    """Run ``python -m minis2s ARGS`` with one BLAS thread; its stdout when captured."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "minis2s", *args]
    print("$", " ".join(cmd[1:]), flush=True)
    done = subprocess.run(cmd, env=env, check=True, text=True,
                          stdout=subprocess.PIPE if capture else None)
    return done.stdout if capture else ""


def machine() -> str:
    """One line: CPU model, cores, Python and NumPy versions."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, one BLAS thread")


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=True, text=True,
                              capture_output=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def wer_curve(log_path: Path) -> list[tuple[float, float, float]]:
    """``[(training minutes, valid WER %, valid PER %), ...]`` one per epoch of a run's log."""
    points = []
    for line in log_path.read_text().splitlines():
        record = json.loads(line)
        valid = record["valid"]
        points.append((record["elapsed_s"] / 60.0, 100.0 * valid["sequence_error_rate"],
                       100.0 * valid["error_rate"]))
    return points


def table(results: dict[str, dict[str, dict]]) -> str:
    """The Markdown table: one row per decoding, PER and WER against the first and against
    all references (``results[row][scoring]`` is an ``evaluate --json`` report)."""
    lines = ["| decoding | PER (first) | WER (first) | PER (any) | WER (any) |",
             "| --- | --- | --- | --- | --- |"]
    for label in results:
        cells = []
        for scoring in SCORINGS:
            m = results[label][scoring]["metrics"]
            cells += [f"{100 * m['error_rate']:.2f} %", f"{100 * m['sequence_error_rate']:.2f} %"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The issue's targets, drawn on the curve: test WER and PER against any pronunciation
TARGETS = {"WER": 25.0, "PER": 7.0}


def script_command(args: argparse.Namespace) -> str:
    """The command that reproduces a run (``--out`` and ``--publish`` left out: where the
    files go changes no number)."""
    parts = ["python benchmarks/g2p_results.py", "--split", args.split, "--references",
             args.references, "--minutes", f"{args.minutes:g}", "--beam", str(args.beam)]
    if args.train_size:
        parts += ["--train-size", str(args.train_size)]
    parts += [f"--without={o}" for o in args.without]
    parts += [f"--train-option={o}" for o in args.train_option]
    return " ".join(parts)


def scoring_note(results: dict[str, dict[str, dict]]) -> str:
    """The sentence under a table: the test split's size and what the columns score."""
    scored = next(iter(results.values()))["all"]
    return (f"Test split: {scored['sources']:,} test words, {scored['references']:,} "
            f"pronunciations ({scored['sources_with_several_references']} words with "
            "several). PER is `error_rate`, WER `sequence_error_rate`; 'first' scores against "
            "each word's first listed pronunciation, 'any' against all of them (right if "
            "equal to any; PER against the closest).")


def render(out: Path, report: dict) -> None:
    """``results.md``, ``wer_curve.csv`` and ``wer_curve.png`` in ``out``, from the
    ``results.json`` dict ``report`` (so a table can be redrawn without retraining)."""
    results, curve = report["results"], report["curve"]
    text = [f"#### g2p, {report['split']} split, trained on {report['references']} "
            "references", "", table(results), "", scoring_note(results), "",
            f"`minis2s train`: {report['train_s'] / 60:.1f} min of wall time (training "
            f"budget {report['minutes']:g} min, {len(curve)} epochs, then its own test "
            f"pass); the whole script {report['wall_s'] / 60:.1f} min. "
            f"Machine: {report['machine']}. Commit: `{report['commit']}`. Made by:", "",
            "```", report["command"], "```", ""]
    (out / "results.md").write_text("\n".join(text))
    write_curves(out, report["split"], [("", curve)])


def write_curves(out: Path, split: str, curves: list[tuple[str, list]]) -> None:
    """``wer_curve.csv`` and ``wer_curve.png`` in ``out``: validation WER and PER against
    training minutes, one ``(label, curve)`` per run (label "" for a lone run)."""
    (out / "wer_curve.csv").write_text(
        "run,minutes,valid_wer_percent,valid_per_percent\n"
        + "".join(f"{label or 'run'},{m:.2f},{w:.2f},{p:.2f}\n"
                  for label, curve in curves for m, w, p in curve))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, (name, marker) in enumerate((("WER", "o"), ("PER", "s"))):
        color = f"C{k}"
        for r, (label, curve) in enumerate(curves):
            ax.plot([c[0] for c in curve], [c[1 + k] for c in curve], marker=marker,
                    color=color, alpha=1.0 if r == 0 else 0.55, linestyle="-" if r == 0
                    else ":", label=f"valid {name}" + (f", {label}" if label else ""))
        ax.axhline(TARGETS[name], color=color, linestyle="--", linewidth=1,
                   label=f"target {name} (test) {TARGETS[name]:g} %")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("% (greedy, any pronunciation)")
    ax.set_title(f"g2p ({split} split): validation error against training time")
    top = max(c[1] for _, curve in curves for c in curve)
    ax.set_ylim(0, 1.55 * top)                     # room for the legend above the curves
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "wer_curve.png", dpi=120)
    plt.close(fig)


def member_label(report: dict) -> str:
    """``"seed 1"``: a member run's seed, read from the command that made it."""
    seed = RECIPE[RECIPE.index("--seed") + 1]
    for part in report["command"].split():
        if part.startswith("--train-option=--seed="):
            seed = part.rsplit("=", 1)[1]
    return f"seed {seed}"


def ensemble(args: argparse.Namespace) -> int:
    """``--ensemble-of``: decode earlier runs as one and write the table of each run's rows
    and the ensemble's (no training)."""
    folders = [Path(d) for d in args.ensemble_of]
    members = [json.loads((f / "results.json").read_text()) for f in folders]
    if len({m["split"] for m in members}) != 1:
        raise SystemExit("--ensemble-of: the runs were trained on different splits: "
                         + ", ".join(f"{f} ({m['split']})" for f, m in zip(folders, members)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    runs = [str(f / "train") for f in folders]
    also = [word for run in runs[1:] for word in ("--ensemble", run)]
    mixed: dict[str, dict] = {}
    for m in members:
        for label, scorings in m["results"].items():
            mixed[f"{member_label(m)}, {label}"] = scorings
    for label, options in ROWS:
        mixed[f"ensemble of {len(runs)}, {label}"] = {
            scoring: json.loads(minis2s("evaluate", runs[0], *also, "--split", "test",
                                        *options, "--references", scoring, "--json",
                                        capture=True))
            for scoring in SCORINGS}
    split = members[0]["split"]
    report = {"split": split, "references": members[0]["references"],
              "decode_s": time.perf_counter() - start, "machine": machine(),
              "commit": commit(), "members": members, "results": mixed,
              "command": "python benchmarks/g2p_results.py --ensemble-of "
                         + " ".join(f"RUN{k + 1}" for k in range(len(runs)))}
    return finish(out, report, args.publish)


def render_ensemble(out: Path, report: dict) -> None:
    """``results.md`` and the curves of an ``--ensemble-of`` run, from its report."""
    members = report["members"]
    text = [f"#### g2p, {report['split']} split, an ensemble of {len(members)} runs trained "
            f"on {report['references']} references", "", table(report["results"]), "",
            scoring_note(report["results"]) + " The ensemble decodes with the mean of its "
            "members' next-token distributions.", ""]
    for k, m in enumerate(members):
        text += [f"RUN{k + 1}, {member_label(m)}: `minis2s train` {m['train_s'] / 60:.1f} min "
                 f"of wall time (training budget {m['minutes']:g} min, {len(m['curve'])} "
                 f"epochs, then its own test pass); the whole script {m['wall_s'] / 60:.1f} "
                 f"min. Machine: {m['machine']}. Commit: `{m['commit']}`. Made by:", "",
                 "```", m["command"], "```", ""]
    text += [f"The ensemble's decoding took {report['decode_s'] / 60:.1f} min (commit "
             f"`{report['commit']}`), made by:", "", "```", report["command"], "```", ""]
    (out / "results.md").write_text("\n".join(text))
    write_curves(out, report["split"], [(member_label(m), m["curve"]) for m in members])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/g2p_results", help="output directory")
    p.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    p.add_argument("--split", choices=["hash", "random"], default="hash",
                   help="the fixed hash split, or the seeded random one of the same sizes")
    p.add_argument("--references", choices=list(SCORINGS), default="first",
                   help="train on the first pronunciation of a word, or on all")
    p.add_argument("--train-size", type=int, help="training words (default: all)")
    p.add_argument("--beam", type=int, default=5, help="beam size of the beam row")
    p.add_argument("--train-option", action="append", default=[], metavar="OPTION",
                   help="one more `minis2s train` option after the recipe, e.g. "
                        "--train-option=--layers=2 (repeat; a later option wins)")
    p.add_argument("--without", action="append", default=[], metavar="FLAG",
                   choices=[o for o in RECIPE if o.startswith("--") and
                            (RECIPE.index(o) + 1 == len(RECIPE)
                             or RECIPE[RECIPE.index(o) + 1].startswith("--"))],
                   help="drop a flag of the recipe, e.g. --without=--bidirectional (repeat)")
    p.add_argument("--publish", metavar="DIR",
                   help="also copy results.md and the curve (png, csv) into DIR as "
                        "g2p_<split>.md, g2p_<split>_wer_curve.png/.csv (docs/results does)")
    p.add_argument("--rewrite", action="store_true",
                   help="no training: redraw results.md and the curve from --out's "
                        "results.json (then --publish, if given)")
    p.add_argument("--ensemble-of", nargs="+", metavar="OUT",
                   help="no training: decode the runs of these earlier --out folders (same "
                        "split) as one ensemble, and write the table of each run's rows and "
                        "the ensemble's")
    args = p.parse_args(argv)
    ROWS[1] = (f"beam {args.beam}", ["--beam", str(args.beam)])
    out = Path(args.out)
    if args.ensemble_of and not args.rewrite:
        return ensemble(args)
    if args.rewrite:
        report = json.loads((out / "results.json").read_text())
        report.setdefault("minutes", args.minutes)
        report.setdefault("command", script_command(args))
        return finish(out, report, args.publish)
    out.mkdir(parents=True, exist_ok=True)
    run_dir = out / "train"
    start = time.perf_counter()
    started_at = commit()          # the code that trains: the commit when the run starts
    recipe = [o for o in RECIPE if o not in args.without]
    train_cmd = ["-m", "minis2s", "train", "--task", "g2p", *recipe,
                 "--task-option", f"split={args.split}", "--references", args.references,
                 "--time-budget", str(int(args.minutes * 60)), "--out", str(run_dir),
                 "--overwrite", "--no-progress", "--no-plots"]
    if args.train_size:
        train_cmd += ["--train-size", str(args.train_size)]
    train_cmd += args.train_option
    t0 = time.perf_counter()
    minis2s(*train_cmd[2:])
    train_s = time.perf_counter() - t0
    results: dict[str, dict[str, dict]] = {}
    for label, options in ROWS:
        results[label] = {}
        for scoring in SCORINGS:
            report = minis2s("evaluate", str(run_dir), "--split", "test", *options,
                             "--references", scoring, "--json", capture=True)
            results[label][scoring] = json.loads(report)
    curve = wer_curve(run_dir / "log.jsonl")
    report = {"split": args.split, "references": args.references, "minutes": args.minutes,
              "train_s": train_s, "wall_s": time.perf_counter() - start,
              "machine": machine(), "commit": started_at, "command": script_command(args),
              "curve": curve, "results": results}
    return finish(out, report, args.publish)


def finish(out: Path, report: dict, folder: str | None) -> int:
    """Write ``results.json``, draw the table and the curves (of one run or of an
    ensemble), copy them into ``folder`` if given, and print the table."""
    (out / "results.json").write_text(json.dumps(report, indent=2))
    (render_ensemble if "members" in report else render)(out, report)
    if folder:
        publish(out, Path(folder), f"g2p_{report['split']}")
    print((out / "results.md").read_text())
    return 0


def publish(out: Path, folder: Path, name: str) -> None:
    """Copy a run's table and curve where the docs include them (no checkpoints, no raw
    hypotheses: the page shows what ``results.md`` says)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "results.md", folder / f"{name}.md")
    for ext in ("png", "csv"):
        shutil.copyfile(out / f"wer_curve.{ext}", folder / f"{name}_wer_curve.{ext}")


if __name__ == "__main__":
    sys.exit(main())
