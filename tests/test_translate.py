"""``minis2s translate``: one output line per input line, whatever the inputs; and what the
output lines cannot say (cut at the length limit, empty) said on standard error."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import minis2s.train.loading
from minis2s import cli
from minis2s.decode import Hypothesis

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TINY = ["--task", "reverse", "--train-size", "120", "--task-option", "valid=16",
        "--task-option", "test=16", "--task-option", "max_len=5", "--cell", "lstm",
        "--hidden", "16", "--embedding", "8", "--batch-size", "32", "--lr", "0.01",
        "--epochs", "2", "--no-progress", "--no-plots"]


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("translate") / "run"
    assert cli.main(["train", *TINY, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("how", ["arguments", "stdin"])
def test_one_output_line_per_input_line(trained, capsys, monkeypatch, how):
    """Issue 15, item 2: blank inputs were dropped, so the outputs no longer paired with
    the inputs. Now every input gets exactly one line; a blank one an empty line."""
    inputs = ["abc", "", "  ", "bca", "\t", "cab"]
    alone = run(capsys, "translate", str(trained), "abc", "bca", "cab")[1].split("\n")[:-1]
    if how == "arguments":
        code, stdout, _ = run(capsys, "translate", str(trained), *inputs)
    else:
        monkeypatch.setattr(sys, "stdin", io.StringIO("".join(t + "\n" for t in inputs)))
        code, stdout, _ = run(capsys, "translate", str(trained))
    assert code == 0
    assert stdout.split("\n")[:-1] == [alone[0], "", "", alone[1], "", alone[2]], stdout


def test_texts_given_after_an_option_are_texts_too(trained, capsys):
    """argparse alone stops the texts at an option: ``RUN --beam 2 abc`` was refused with
    "unrecognized arguments: abc". The words after an option join the texts, in order;
    an unknown option is still refused."""
    expected = run(capsys, "translate", str(trained), "--beam", "2", "--", "abc", "bca",
                   "cab")[1]
    for argv in (["--beam", "2", "abc", "bca", "cab"], ["abc", "--beam", "2", "bca", "cab"]):
        code, stdout, _ = run(capsys, "translate", str(trained), *argv)
        assert code == 0 and stdout == expected and len(stdout.split("\n")) == 4
    with pytest.raises(SystemExit):
        cli.main(["translate", str(trained), "--beam", "2", "abc", "--frobnicate"])
    assert "unrecognized arguments: abc --frobnicate" in capsys.readouterr().err


def test_windows_line_ends_are_not_part_of_the_input(trained, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("abc\r\n\r\nbca\r\n"))
    code, stdout, _ = run(capsys, "translate", str(trained))
    expected = run(capsys, "translate", str(trained), "abc", "", "bca")[1]
    assert code == 0 and stdout == expected and len(stdout.split("\n")) == 4


def test_the_library_keeps_the_contract_too(trained):
    model = minis2s.train.load_trained(trained)
    outputs = model.translate(["abc", " ", ""])
    assert len(outputs) == 3 and outputs[1:] == ["", ""]
    details = model.translations(["", "abc"])
    assert details[0].blank_input and details[0].text == "" and not details[1].blank_input


def _fake_decoder(monkeypatch, hypotheses):
    """The model 'decodes' to the given hypotheses, in input order."""
    def decode(model, ids, **kwargs):
        assert len(ids) == len(hypotheses)
        return hypotheses

    monkeypatch.setattr(minis2s.train.loading, "decode_sources", decode)


def _hyp(tokens, finished=True):
    return Hypothesis(tokens=tokens, score=0.0, log_prob=0.0, attention=None,
                      finished=finished)


def test_an_output_cut_at_the_length_limit_is_reported(trained, capsys, monkeypatch):
    """Issue 15, item 5: a model that never emits </s> decoded to the limit silently."""
    a = 5  # the id of some ordinary token
    _fake_decoder(monkeypatch, [_hyp([a, a]), _hyp([a] * 13, finished=False), _hyp([a])])
    code, stdout, err = run(capsys, "translate", str(trained), "ab", "abc", "", "cb")
    assert code == 0 and len(stdout.split("\n")[:-1]) == 4
    lines = err.strip().splitlines()
    assert lines == ["minis2s: warning: the output of input 2 reached the length limit "
                     "without </s> (the model did not decide to stop; the output is cut)"], err


def test_an_empty_output_is_reported(trained, capsys, monkeypatch):
    """Issue 15, item 5: an untrained or NaN model's <pad>/<s> outputs printed as blank
    lines, silently."""
    from minis2s.data.vocab import BOS_ID, PAD_ID

    _fake_decoder(monkeypatch, [_hyp([PAD_ID, BOS_ID]), _hyp([5]), _hyp([])])
    code, stdout, err = run(capsys, "translate", str(trained), "ab", "abc", "ca")
    assert code == 0 and stdout.split("\n")[:-1][0] == "" and stdout.split("\n")[2] == ""
    assert err.strip().splitlines() == [
        "minis2s: warning: the outputs of inputs 1, 3 (of 3): the model produced no text "
        "(only special tokens such as <pad>, <s>); an empty line is printed"], err


def test_many_reported_outputs_are_listed_briefly(trained, capsys, monkeypatch):
    _fake_decoder(monkeypatch, [_hyp([5], finished=False)] * 40)
    code, _, err = run(capsys, "translate", str(trained), *["ab"] * 40)
    assert code == 0
    assert "inputs 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 30 more (of 40)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_real_model_cut_short_is_reported(tmp_path, capsys):
    """The same without a fake: a run decoding with --max-len 1 cuts every output."""
    out = tmp_path / "run"
    assert cli.main(["train", *TINY, "--epochs", "1", "--max-len", "1", "--out",
                     str(out)]) == 0
    capsys.readouterr()
    code, stdout, err = run(capsys, "translate", str(out), "abc", "abcd")
    assert code == 0 and len(stdout.split("\n")[:-1]) == 2
    assert "length limit" in err or "no text" in err, err
    assert np.all([len(line) <= 1 for line in stdout.split("\n")])


def test_a_model_with_nan_parameters_is_refused_when_loaded(trained, tmp_path, capsys):
    """Issue 15, item 5: a NaN model's outputs printed as blank lines; now the checkpoint
    is refused, naming the parameter."""
    from minis2s import checkpoint

    saved = checkpoint.load_checkpoint(trained / "checkpoint.best.npz")
    name = sorted(saved["params"])[0]
    saved["params"][name] = saved["params"][name] * np.nan
    path = checkpoint.save_checkpoint(tmp_path / "nan.npz", saved)
    for command in (["translate", str(path), "abc"], ["evaluate", str(path)]):
        code, stdout, err = run(capsys, *command)
        assert code == 2 and stdout == "", err
        assert err.strip().splitlines() == [
            f"minis2s {command[0]}: error: {path}: parameter {name!r} holds NaN or inf "
            "(the model cannot decode)"]
