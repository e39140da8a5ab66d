"""The ``minis2s`` command: train, evaluate, translate, bench; one clear line per bad input."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from conftest import run_cli as run

from minis2s import checkpoint, cli
from minis2s.train import rundir

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TINY = ["--task", "reverse", "--train-size", "120", "--task-option", "valid=16",
        "--task-option", "test=16", "--task-option", "max_len=5", "--cell", "lstm",
        "--hidden", "16", "--embedding", "8", "--batch-size", "32", "--lr", "0.01",
        "--patience", "0", "--no-progress", "--no-plots"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run shared by the evaluate/translate tests."""
    out = tmp_path_factory.mktemp("cli") / "run"
    code = cli.main(["train", *TINY, "--epochs", "2", "--out", str(out)])
    assert code == 0
    return out


# -- train -------------------------------------------------------------------------------
def test_train_writes_everything_and_says_where(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [a for a in TINY if a != "--no-plots"]
    code, stdout, _ = run(capsys, "train", *argv, "--epochs", "2", "--out", str(out))
    assert code == 0
    assert "epoch   2/2" in stdout and "test split (greedy decoding" in stdout
    assert "exact_match" in stdout and "examples (source -> output | reference)" in stdout
    for name in (rundir.BEST, rundir.LAST, "log.jsonl", "metrics.json",
                 "history.png", "grad_norms.png", "attention.png"):
        assert (out / name).exists() and str(out / name) in stdout, name
    saved = checkpoint.load_checkpoint(out / rundir.LAST)["train_config"]
    assert saved["task_options"] == {"valid": 16, "test": 16, "max_len": 5}
    assert saved["patience"] is None


def test_resume_through_the_command(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert run(capsys, "train", *TINY, "--epochs", "1", "--out", out)[0] == 0
    code, stdout, _ = run(capsys, "train", "--resume", "--out", out, "--epochs", "2",
                          "--no-progress")
    assert code == 0 and "resuming" in stdout and "epoch   2/2" in stdout
    code, _, err = run(capsys, "train", "--resume", "--out", out, "--epochs", "3",
                       "--lr", "0.5", "--hidden", "8")
    assert_one_line_error(code, err, "cannot resume", "hidden: 16 -> 8", "lr: 0.01 -> 0.5")
    code, _, err = run(capsys, "train", *TINY, "--epochs", "1", "--out", out)
    assert_one_line_error(code, err, "already holds a training run", "--resume")


def test_train_on_your_own_tsv_file(tmp_path, capsys):
    rng = __import__("random").Random(0)
    lines = []
    for _ in range(300):
        word = "".join(rng.choice("abcdef") for _ in range(rng.randint(2, 5)))
        lines.append(f"{word}\t{word[::-1]}\n")
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(lines))
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", "--data", str(tsv), "--out", str(out), "--epochs",
                          "1", "--hidden", "16", "--embedding", "8", "--no-progress",
                          "--no-plots")
    assert code == 0 and "task pairs.tsv:" in stdout
    saved = checkpoint.load_checkpoint(out / rundir.LAST)
    assert saved["train_config"]["data"] == str(tsv)
    assert len(saved["history"]) == 1
    code, stdout, _ = run(capsys, "evaluate", str(out), "--data", str(tsv), "--json")
    assert code == 0 and json.loads(stdout)["pairs"] == 300


def test_tsv_with_characters_to_words(tmp_path, capsys):
    tsv = tmp_path / "lex.tsv"
    tsv.write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in
                           ("cat", "dog", "bird", "fish", "cow", "hen", "ant", "bee", "eel",
                            "owl", "ape", "yak", "emu", "elk", "gnu", "pig", "rat", "bat",
                            "fox", "hog")))
    out = tmp_path / "run"
    code, _, _ = run(capsys, "train", "--data", str(tsv), "--tokens", "char:word", "--out",
                     str(out), "--epochs", "1", "--hidden", "8", "--embedding", "4",
                     "--no-progress", "--no-plots")
    assert code == 0
    saved = checkpoint.load_checkpoint(out / rundir.LAST)
    assert saved["tokenizer"]["source"] == "char" and saved["tokenizer"]["target"] == "word"
    assert {"C", "A", "T"} <= set(saved["tgt_vocab"]["tokens"])
    code, stdout, _ = run(capsys, "translate", str(out), "cat")
    assert code == 0 and all(len(tok) == 1 for tok in stdout.split())  # words joined by spaces


def test_preset_and_explicit_options():
    parser = cli.build_parser()
    config = cli.train_config_from_args(parser.parse_args(
        ["train", "--preset", "article", "--hidden", "64", "--one-hot", "--clip", "0"]))
    assert (config.cell, config.layers, config.hidden, config.optimizer, config.lr,
            config.epochs) == ("lstm", 2, 64, "adam", 0.001, 100)
    assert config.embedding is None and config.clip is None
    default = cli.train_config_from_args(parser.parse_args(["train"]))
    assert default.task == "dates" and default.context == "attention"


def test_divergence_exits_1_with_advice(tmp_path, capsys):
    code, _, err = run(capsys, "train", *TINY, "--optimizer", "sgd", "--lr", "1e30",
                       "--clip", "0", "--out", str(tmp_path / "run"))
    assert code == 1 and "diverged at step" in err and "--clip" in err
    assert "Traceback" not in err


def test_ctrl_c_in_a_real_process_saves_and_tells_how_to_resume(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "minis2s", "train", *TINY, "--epochs",
                             "10000", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while not (out / "log.jsonl").exists() or not (out / "log.jsonl").read_text():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"Resume with: minis2s train --resume --out {out}" in stdout
    assert checkpoint.load_checkpoint(out / rundir.LAST)["progress"]["step"] >= 4


# -- evaluate / translate ----------------------------------------------------------------
def test_evaluate_prints_every_metric(trained, capsys):
    code, stdout, _ = run(capsys, "evaluate", str(trained), "--split", "valid")
    assert code == 0 and ("valid split (16 sources, greedy decoding; scored against "
                          "16 references for 16 outputs)") in stdout
    for name in ("token_accuracy", "exact_match", "f1", "bleu", "error_rate"):
        assert name in stdout
    code, stdout, _ = run(capsys, "evaluate", str(trained / rundir.LAST), "--json",
                          "--beam", "3")
    report = json.loads(stdout)
    assert report["pairs"] == 16 and report["beam"] == 3
    assert 0.0 <= report["metrics"]["exact_match"] <= 1.0


def test_evaluate_on_a_tsv_file(trained, tmp_path, capsys):
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("abc\tcba\nhello\tolleh\n")
    code, stdout, _ = run(capsys, "evaluate", str(trained), "--data", str(tsv), "--json")
    assert code == 0 and json.loads(stdout)["pairs"] == 2


def test_evaluate_scores_against_every_reference_of_a_source(trained, tmp_path, capsys,
                                                            monkeypatch):
    """A source on several lines is decoded once and counted right if the output equals
    any of its targets (exact match), as the field scores g2p. The decoder is scripted
    to answer "ba" (the tiny model is untrained), so only the scoring is under test."""
    from types import SimpleNamespace

    from minis2s.train import evaluation, load_trained

    tgt_vocab = load_trained(trained).tgt_vocab
    answer = SimpleNamespace(tokens=tgt_vocab.encode(list("ba")))
    decoded = []

    def scripted(model, src_ids, **options):
        decoded.append(len(src_ids))
        return [answer] * len(src_ids)

    monkeypatch.setattr(evaluation, "decode_sources", scripted)
    tsv = tmp_path / "several.tsv"
    tsv.write_text("abc\tab\n")
    code, stdout, _ = run(capsys, "evaluate", str(trained), "--data", str(tsv), "--json")
    assert code == 0 and json.loads(stdout)["metrics"]["exact_match"] == 0.0
    tsv.write_text("abc\tab\nabc\tba\n")          # the output matches the second
    code, stdout, _ = run(capsys, "evaluate", str(trained), "--data", str(tsv), "--json")
    report = json.loads(stdout)
    assert code == 0 and report["pairs"] == 2 and report["sources"] == 1
    assert decoded == [1, 1]                         # each distinct source decoded once
    assert report["references"] == 2 and report["sources_with_several_references"] == 1
    assert report["metrics"]["exact_match"] == 1.0 and report["metrics"]["error_rate"] == 0.0
    code, stdout, _ = run(capsys, "evaluate", str(trained), "--data", str(tsv), "--json",
                          "--references", "first")
    report = json.loads(stdout)
    assert report["references"] == 1 and report["scored_against"] == "first"
    assert report["metrics"]["exact_match"] == 0.0


def test_translate_arguments_and_stdin(trained, capsys, monkeypatch):
    code, stdout, err = run(capsys, "translate", str(trained), "abc", "xy")
    assert code == 0 and len(stdout.splitlines()) == 2 and "Traceback" not in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("abc\nxy\n"))
    code, stdout2, _ = run(capsys, "translate", str(trained), "--beam", "2")
    assert code == 0 and len(stdout2.splitlines()) == 2


def test_translate_warns_about_unknown_symbols(trained, capsys):
    code, stdout, err = run(capsys, "translate", str(trained), "ab\u00e9!")
    assert code == 0 and len(stdout.splitlines()) == 1
    assert "warning" in err and "'\u00e9'" in err and "'!'" in err and "<unk>" in err


# -- bad input: one line on stderr, exit 2 ----------------------------------------------
@pytest.mark.parametrize("argv, fragments", [
    (["train", "--task", "nope"], ["invalid choice: 'nope'"]),
    (["train", "--cell", "elman"], ["--cell", "invalid choice"]),
    (["train", "--lr", "fast"], ["--lr", "expected a number"]),
    (["train", "--lr", "nan"], ["--lr", "finite"]),
    (["train", "--batch-size", "0"], ["--batch-size", "positive integer"]),
    (["train", "--dropout", "1.5"], ["dropout: expected a rate"]),
    (["train", "--metric", "accuracy"], ["unknown metric 'accuracy'"]),
    (["train", "--task-option", "valid"], ["KEY=VALUE"]),
    (["train", "--task", "reverse", "--task-option", "colour=3"], ["colour"]),
    (["train", "--embedding", "8", "--one-hot"], ["not allowed with"]),
    (["train", "--backend", "cupy"], ["cupy"]),
    (["evaluate", "--split", "train", "x"], ["invalid choice: 'train'"]),
    (["frobnicate"], ["invalid choice"]),
])
def test_bad_options(tmp_path, capsys, argv, fragments, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default --out lands here, if it ever got that far
    code, _, err = run(capsys, *argv)
    if argv[:3] == ["train", "--backend", "cupy"]:
        from minis2s import backend

        try:
            with backend.use_backend("cupy"):
                pytest.skip("a GPU is present: cupy is not refused here")
        except backend.BackendUnavailableError:
            pass
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.npz"))


@pytest.mark.parametrize("content, fragments", [
    ("", ["empty"]),
    ("\n\n", ["empty"]),
    ("abc\tcba\nno tab here\n", ["line 2"]),
    ("abc\tcba\na\tb\tc\n", ["line 2"]),
])
def test_bad_data_files(tmp_path, capsys, content, fragments):
    tsv = tmp_path / "data.tsv"
    tsv.write_text(content)
    code, _, err = run(capsys, "train", "--data", str(tsv), "--out", str(tmp_path / "run"),
                       "--no-progress")
    assert_one_line_error(code, err, "data.tsv", *fragments)
    assert not (tmp_path / "run" / rundir.LAST).exists()


def test_missing_data_file(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--data", str(tmp_path / "nope.tsv"))
    assert_one_line_error(code, err, "nope.tsv")


@pytest.mark.parametrize("damage", ["missing", "truncated", "foreign", "edited", "not_a_run"])
@pytest.mark.parametrize("command", ["evaluate", "translate"])
def test_bad_checkpoints(trained, tmp_path, capsys, damage, command):
    path = tmp_path / "model.npz"
    if damage == "truncated":
        path.write_bytes((trained / rundir.BEST).read_bytes()[:5000])
    elif damage == "foreign":
        path.write_text("not a model\n")
    elif damage == "not_a_run":  # a valid checkpoint file, but of something else
        checkpoint.save_checkpoint(path, {"epoch": 1})
    elif damage == "edited":
        import numpy as np

        with np.load(trained / rundir.BEST, allow_pickle=False) as archive:
            members = {k: archive[k] for k in archive.files}
        members["a0"] = members["a0"] * 2
        np.savez(path, **members)
    code, _, err = run(capsys, command, str(path), *(["abc"] if command == "translate" else []))
    assert_one_line_error(code, err, "model.npz")


def test_resume_with_nothing_to_resume(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--resume", "--out", str(tmp_path / "none"))
    assert_one_line_error(code, err, "nothing to resume")


def test_translate_with_no_text(trained, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run(capsys, "translate", str(trained))
    assert_one_line_error(code, err, "nothing to translate")


# -- the other commands and the help ------------------------------------------------------
def test_bench_runs_or_says_it_is_absent(capsys, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("minis2s.bench") is None:
        code, _, err = run(capsys, "bench")
        assert_one_line_error(code, err, "not part of this installation")
    else:
        import minis2s.bench

        seen = []
        monkeypatch.setattr(minis2s.bench, "main", lambda argv: seen.append(argv) or 0)
        assert run(capsys, "bench", "--hidden", "256")[0] == 0
        assert seen == [["--hidden", "256"]]


def test_gradcheck_still_works(capsys):
    code, stdout, _ = run(capsys, "gradcheck", "--only", "linear")
    assert code == 0 and "passed, 0 failed" in stdout


def test_every_option_has_a_help_line():
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.dest in ("help", "raw"):
                continue
            assert action.help, f"minis2s {name} {action.option_strings or action.dest}"


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "minis2s", "train", "--help"],
                            capture_output=True, text=True, cwd=Path(__file__).parent)
    assert result.returncode == 0 and "--teacher-forcing" in result.stdout
    assert "--preset {article}" in result.stdout


def test_a_second_run_without_out_never_lands_on_the_first(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "train", *TINY, "--epochs", "1")[0] == 0
    first = (tmp_path / "runs" / "reverse" / rundir.LAST).read_bytes()
    code, stdout, _ = run(capsys, "train", *TINY, "--epochs", "1", "--seed", "1")
    assert code == 0
    assert "holds an earlier run (kept); this run goes to runs/reverse-2" in stdout
    assert (tmp_path / "runs" / "reverse-2" / rundir.LAST).exists()
    assert (tmp_path / "runs" / "reverse" / rundir.LAST).read_bytes() == first


def test_library_warnings_are_one_line_said_once(tmp_path, capsys):
    code, _, err = run(capsys, "train", *TINY, "--epochs", "1", "--dropout", "0.3",
                       "--out", str(tmp_path / "run"))
    assert code == 0
    lines = [line for line in err.splitlines() if "dropout" in line]
    assert lines == ["minis2s: warning: dropout 0.3 acts between stacked layers, "
                     "so with layers=1 it has no effect; use layers >= 2"], err


# -- issue 15 ------------------------------------------------------------------------------
def test_a_directory_holding_a_shared_best_model_is_never_overwritten(tmp_path, capsys,
                                                                      trained):
    """Item 1: a best checkpoint and metrics.json copied somewhere were silently replaced."""
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in (rundir.BEST, rundir.METRICS):
        (shared / name).write_bytes((trained / name).read_bytes())
    before = {p.name: p.read_bytes() for p in shared.iterdir()}
    code, _, err = run(capsys, "train", *TINY, "--epochs", "1", "--out", str(shared))
    assert_one_line_error(code, err, "already holds a training run", rundir.BEST,
                          rundir.METRICS, "--overwrite")
    assert {p.name: p.read_bytes() for p in shared.iterdir()} == before
    code, stdout, _ = run(capsys, "train", *TINY, "--epochs", "1", "--out", str(shared),
                          "--overwrite")
    assert code == 0
    assert (f"--overwrite: replacing the earlier run in {shared} (deleted {rundir.BEST}, "
            f"{rundir.METRICS})") in stdout


def test_a_directory_of_other_files_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, _, err = run(capsys, "train", *TINY, "--epochs", "1", "--out", str(out))
    assert_one_line_error(code, err, "did not write", "thesis.tex")
    assert [p.name for p in out.iterdir()] == ["thesis.tex"]


def test_without_out_a_run_skips_a_directory_of_other_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "reverse").mkdir(parents=True)
    (tmp_path / "runs" / "reverse" / "notes.txt").write_text("mine")
    code, stdout, _ = run(capsys, "train", *TINY, "--epochs", "1")
    assert code == 0 and "runs/reverse is not empty (kept); this run goes to runs/reverse-2" \
        in stdout
    assert sorted(p.name for p in (tmp_path / "runs" / "reverse").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("extra, fragments", [
    (["--train-size", "50"], ["train_size", "would be ignored"]),
    (["--task-option", "valid=3"], ["task_options", "would be ignored"]),
])
def test_task_settings_with_a_data_file_are_refused(tmp_path, capsys, extra, fragments):
    """Item 5: --task-option and --train-size were silently ignored with --data."""
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{w}\t{w[::-1]}\n" for w in ("abc", "bcd", "cde", "def")))
    code, _, err = run(capsys, "train", "--data", str(tsv), *extra, "--out",
                       str(tmp_path / "run"))
    assert_one_line_error(code, err, *fragments)


def test_train_size_does_not_hide_an_invalid_task_option(tmp_path, capsys):
    """Item 5: --train-size silently overrode an invalid --task-option train=abc."""
    code, _, err = run(capsys, "train", "--task", "reverse", "--train-size", "100",
                       "--task-option", "train=abc", "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "training size is given twice", "'abc'")


def test_too_small_a_data_file_gets_advice_that_can_be_followed(tmp_path, capsys):
    """Item 5: the advice was 'set valid=0', which a --data run cannot set (and 0 would
    fail); now it says how much data the 90/5/5 split needs."""
    tsv = tmp_path / "few.tsv"
    tsv.write_text("".join(f"{w}\t{w[::-1]}\n" for w in ("abc", "bcd", "cde", "def", "efg")))
    code, _, err = run(capsys, "train", "--data", str(tsv), "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "few.tsv", "5 distinct sources", "at least 11")
    assert "valid=0" not in err


def test_a_closed_standard_output_does_not_stop_training(tmp_path):
    """Item 5: 'minis2s train ... | head -1' aborted the run with "[Errno 32] Broken pipe",
    reported as bad input (exit 2). The run must train on and save."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "minis2s", "train", *TINY, "--epochs", "3",
                             "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # what 'head -1' reads, before it exits
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    assert first.startswith("task reverse:")
    assert proc.returncode == 0, stderr
    assert "Broken pipe" not in stderr and "Traceback" not in stderr
    saved = checkpoint.load_checkpoint(out / rundir.LAST)
    assert saved["progress"]["epoch"] == 3
    assert json.loads((out / "metrics.json").read_text())["status"] == "completed"


def test_translate_into_a_closed_pipe_exits_quietly(trained, tmp_path):
    texts = "".join(f"{'abc' * (1 + k % 3)}\n" for k in range(3000))
    proc = subprocess.Popen([sys.executable, "-m", "minis2s", "translate", str(trained)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdin.write(texts)
    proc.stdin.close()
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in stderr and "Broken pipe" not in stderr
