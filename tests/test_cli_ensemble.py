"""``--ensemble`` of ``minis2s evaluate`` and ``minis2s translate``: several runs decoded as
one, and what they must share."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error
from conftest import run_cli as run

from minis2s import checkpoint, cli
from minis2s.model import Ensemble
from minis2s.train import load_ensemble, rundir

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TINY = ["--task", "reverse", "--train-size", "120", "--task-option", "valid=16",
        "--task-option", "test=16", "--task-option", "max_len=5", "--cell", "gru",
        "--hidden", "16", "--embedding", "8", "--batch-size", "32", "--lr", "0.02",
        "--epochs", "3", "--patience", "0", "--no-progress", "--no-plots"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three tiny runs: seeds 0 and 1 on the same data, and seed 0 on other data."""
    root = tmp_path_factory.mktemp("ensemble")
    made = {}
    for name, extra in (("a", []), ("b", ["--seed", "1"]), ("other", ["--data-seed", "1"])):
        made[name] = root / name
        assert cli.main(["train", *TINY, *extra, "--out", str(made[name])]) == 0
    return made


def _evaluate(capsys, *argv):
    code, stdout, err = run(capsys, "evaluate", *argv, "--split", "valid", "--json")
    assert code == 0, err
    return json.loads(stdout)


def test_evaluate_an_ensemble(runs, capsys):
    """Two runs decode as one; a run with itself decodes exactly as the run alone."""
    a, b = str(runs["a"]), str(runs["b"])
    alone = _evaluate(capsys, a)
    assert alone["ensemble"] == []
    twice = _evaluate(capsys, a, "--ensemble", a)
    assert twice["metrics"] == alone["metrics"]
    both = _evaluate(capsys, a, "--ensemble", b, "--beam", "2")
    assert both["ensemble"] == [str(runs["a"] / rundir.BEST), str(runs["b"] / rundir.BEST)]
    code, stdout, _ = run(capsys, "evaluate", a, "--ensemble", b, "--split", "valid")
    assert code == 0 and "an ensemble of 2 models" in stdout and "valid split" in stdout


def test_translate_with_an_ensemble(runs, capsys):
    a, b = str(runs["a"]), str(runs["b"])
    code, alone, _ = run(capsys, "translate", a, "abc", "", "cab")
    assert code == 0
    code, twice, _ = run(capsys, "translate", a, "--ensemble", a, "abc", "", "cab")
    assert code == 0 and twice == alone
    code, both, _ = run(capsys, "translate", a, "--ensemble", b, "abc", "", "cab")
    assert code == 0 and len(both.split("\n")) == 4 and both.split("\n")[1] == ""


def test_load_ensemble(runs):
    one = load_ensemble([runs["a"]])
    assert not isinstance(one.model, Ensemble) and one.members == ()
    two = load_ensemble([runs["a"], runs["b"]])
    assert isinstance(two.model, Ensemble) and len(two.model) == 2
    assert two.members == (runs["a"] / rundir.BEST, runs["b"] / rundir.BEST)
    with pytest.raises(TypeError, match=r"expected a non-empty list of checkpoints"):
        load_ensemble([])
    with pytest.raises(TypeError, match=r"expected a non-empty list of checkpoints"):
        load_ensemble(str(runs["a"]))


def _swapped_vocabulary(run_dir, where):
    """The run's best checkpoint with two target tokens swapped (sizes unchanged)."""
    payload = checkpoint.load_checkpoint(run_dir / rundir.BEST)
    tokens = payload["tgt_vocab"]["tokens"]
    tokens[-1], tokens[-2] = tokens[-2], tokens[-1]
    return checkpoint.save_checkpoint(where, payload)


def test_an_ensemble_of_runs_that_differ_is_refused_in_one_line(runs, capsys, tmp_path):
    a = str(runs["a"])
    cases = [
        ([a, "--ensemble", str(runs["other"])],
         ["was trained with data_seed=1", "data_seed=0", "read the same data"]),
        ([a, "--ensemble", str(_swapped_vocabulary(runs["b"], tmp_path / "swapped.npz"))],
         ["different target vocabularies", "same ids to the same tokens"]),
        ([a, "--ensemble", str(tmp_path / "none")], ["none", "no such file"]),
    ]
    for argv, fragments in cases:
        for command in (["evaluate"], ["translate"]):
            code, _, err = run(capsys, *command, *argv, *(["abc"] if command == ["translate"]
                                                          else []))
            assert_one_line_error(code, err, *fragments)
