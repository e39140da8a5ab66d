"""What the command says when something is wrong: bad input gets one line and exit 2,
every option's wrong values included; a bug in minis2s shows as a bug (traceback, exit 70);
every command runs on the backend that MINIS2S_BACKEND names."""

from __future__ import annotations

import argparse
import dataclasses

import pytest
from conftest import assert_one_line_error
from conftest import run_cli as run

from minis2s import backend, cli
from minis2s.cli import cmd_train
from minis2s.train import TrainConfig

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TINY = ["--task", "reverse", "--train-size", "60", "--task-option", "valid=8",
        "--task-option", "test=8", "--task-option", "max_len=4", "--cell", "gru",
        "--hidden", "8", "--embedding", "4", "--batch-size", "32", "--epochs", "1",
        "--no-progress", "--no-plots"]


@pytest.fixture
def no_training(monkeypatch):
    """``minis2s train`` up to the run itself: the options parsed, the configuration made
    and checked; ``train`` records the configuration instead of training."""
    import minis2s.train

    seen = []

    def fake_train(config, **kwargs):
        seen.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(minis2s.train, "train", fake_train)
    return seen


# -- a bug is a bug, bad input is bad input -------------------------------------------------
def test_a_value_error_deep_inside_training_shows_as_a_bug(tmp_path, capsys, monkeypatch):
    """Issue 10, item 7: every ValueError used to become 'bad input', exit 2, no traceback."""
    from minis2s.model import Seq2Seq

    def broken(self, *args, **kwargs):
        raise ValueError("shapes (3, 4) and (5, 6) not aligned")  # a bug, not the user's

    monkeypatch.setattr(Seq2Seq, "loss_and_grads", broken)
    code, _, err = run(capsys, "train", *TINY, "--out", str(tmp_path / "run"))
    assert code == cli.EXIT_BUG == 70
    assert "Traceback (most recent call last)" in err and "loss_and_grads" in err
    assert "ValueError: shapes (3, 4) and (5, 6) not aligned" in err
    assert "this is a bug in minis2s" in err and "report it" in err


def test_a_student_stub_is_not_a_bug(tmp_path, capsys, monkeypatch):
    """In a course's student edition a backward pass may still be a stub: the command says
    which piece is missing (exit 3, one line), not 'a bug in minis2s' with a traceback."""
    from minis2s.model import Seq2Seq

    def stub(*args, **kwargs):
        raise NotImplementedError("A3: write minis2s.cells.lstm.step_backward "
                                  "(read lesson 03)")

    monkeypatch.setattr(Seq2Seq, "loss_and_grads", stub)
    code, _, err = run(capsys, "train", *TINY, "--out", str(tmp_path / "run"))
    assert code == cli.EXIT_NOT_IMPLEMENTED == 3
    assert err.strip().splitlines()[-1] == (
        "minis2s train: not implemented yet: A3: write minis2s.cells.lstm.step_backward "
        "(read lesson 03)")
    assert "Traceback" not in err and "bug" not in err


def test_a_type_error_in_decoding_shows_as_a_bug(tmp_path, capsys, monkeypatch):
    import minis2s.train.loading

    monkeypatch.setattr(minis2s.train.loading, "decode_sources",
                        lambda *a, **k: (_ for _ in ()).throw(TypeError("unhashable")))
    out = tmp_path / "run"
    assert run(capsys, "train", *TINY, "--out", str(out))[0] == 0
    code, _, err = run(capsys, "translate", str(out), "abc")
    assert code == 70 and "Traceback" in err and "bug in minis2s" in err


def test_bad_input_found_deep_inside_is_still_one_line(tmp_path, capsys):
    tsv = tmp_path / "data.tsv"
    tsv.write_text("abc\tcba\nno tab\n")
    code, _, err = run(capsys, "train", "--data", str(tsv), "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "data.tsv", "line 2")


def test_debug_variable_shows_the_traceback_of_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MINIS2S_DEBUG", "1")
    with pytest.raises(Exception, match="nope.tsv"):
        cli.main(["train", "--data", str(tmp_path / "nope.tsv")])


def test_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch):
    from minis2s.model import Seq2Seq

    def huge(self, *args, **kwargs):
        raise MemoryError("Unable to allocate 74.5 PiB")

    monkeypatch.setattr(Seq2Seq, "__init__", huge)
    code, _, err = run(capsys, "train", *TINY, "--out", str(tmp_path / "run"))
    assert_one_line_error(code, err, "out of memory", "--hidden")


# -- the options are the settings: derived, not copied ---------------------------------------
def test_every_setting_is_an_option_and_every_option_a_setting():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    dests = {a.dest for a in sub.choices["train"]._actions} - {"help"}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(cmd_train.TRAIN_FIELDS) <= dests
    assert set(cmd_train.TRAIN_FIELDS) | set(cmd_train._SHAPED) == fields
    shaped = {"task_option", "no_progress", "no_plots", "one_hot"}
    assert dests - fields - shaped == set(cmd_train.RUN_OPTIONS)


def test_choices_come_from_the_library_registries():
    from minis2s.cells import CELL_ALIASES, CELL_KINDS
    from minis2s.data import TASKS
    from minis2s.model import CONTEXTS
    from minis2s.ops.activations import ACTIVATIONS
    from minis2s.ops.attention import SCORERS
    from minis2s.optim import OPTIMIZERS

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    choices = {a.dest: list(a.choices) for a in sub.choices["train"]._actions if a.choices}
    assert choices["cell"] == [*CELL_KINDS, *CELL_ALIASES]
    assert choices["attention"] == list(SCORERS)
    assert choices["activation"] == list(ACTIVATIONS)
    assert choices["context"] == list(CONTEXTS)
    assert choices["optimizer"] == list(OPTIMIZERS)
    assert choices["task"] == list(TASKS)
    for command in ("train", "evaluate", "translate", "gradcheck"):
        backend_option = next(a for a in sub.choices[command]._actions if a.dest == "backend")
        assert list(backend_option.choices) == list(backend.BACKENDS)
        assert backend_option.default is None  # None: the environment variable, else numpy


@pytest.mark.parametrize("old, new", [("seed", "rnn"), ("rnn", "rnn"), ("gru", "gru")])
def test_cell_takes_its_kinds_and_the_old_name(capsys, no_training, old, new):
    code, _, _ = run(capsys, "train", "--cell", old, "--out", "x")
    assert code == 0 and no_training[-1].cell == new


# -- every option: what does a wrong value get? ----------------------------------------------
WRONG_VALUES = [
    # option, value, what the one line must say
    ("--task", "nope", ["--task", "invalid choice: 'nope'"]),
    ("--tokens", "bytes", ["--tokens", "invalid choice"]),
    ("--references", "some", ["--references", "invalid choice"]),
    ("--train-size", "0", ["--train-size", "positive integer"]),
    ("--train-size", "ten", ["--train-size", "positive integer", "'ten'"]),
    ("--task-option", "valid", ["--task-option", "KEY=VALUE"]),
    ("--task-option", "=3", ["--task-option", "KEY=VALUE"]),
    ("--task-option", "colour=3", ["colour", "options are"]),
    ("--task-option", "valid=abc", ["valid"]),
    ("--task-option", "valid=-1", ["valid"]),
    ("--task-option", "min_len=0", ["min_len"]),
    ("--task-option", "alphabet=[1,2]", ["alphabet"]),
    ("--task-option", "max_len=1000000", ["max_len"]),      # bounded: no endless generation
    ("--task-option", "train=abc", ["train"]),
    ("--data-seed", "-1", ["--data-seed", "integer >= 0"]),
    ("--cell", "elman", ["--cell", "invalid choice"]),
    ("--layers", "0", ["--layers", "positive integer"]),
    ("--hidden", "1.5", ["--hidden", "positive integer"]),
    ("--embedding", "-3", ["--embedding", "positive integer"]),
    ("--vectors", "nope.txt", ["cannot read the vectors file nope.txt", "No such file"]),
    ("--vectors-vocabulary", "-1", ["--vectors-vocabulary", "integer >= 0"]),
    ("--vectors-vocabulary", "many", ["--vectors-vocabulary", "integer >= 0"]),
    ("--context", "global", ["--context", "invalid choice"]),
    ("--attention", "cos", ["--attention", "invalid choice"]),
    ("--dropout", "1.5", ["dropout", "[0, 1)"]),
    ("--dropout", "-0.1", ["dropout", "[0, 1)"]),
    ("--activation", "gelu", ["--activation", "invalid choice"]),
    ("--teacher-forcing", "2", ["teacher_forcing", "[0.0, 1.0]"]),
    ("--label-smoothing", "1", ["label_smoothing", "[0.0, 1.0)"]),
    ("--label-smoothing", "-0.1", ["label_smoothing", "[0.0, 1.0)"]),
    ("--label-smoothing", "some", ["--label-smoothing", "expected a number"]),
    ("--average", "1", ["average", "[0.0, 1.0)"]),
    ("--average", "-0.5", ["average", "[0.0, 1.0)"]),
    ("--average", "half", ["--average", "expected a number"]),
    ("--optimizer", "lbfgs", ["--optimizer", "invalid choice"]),
    ("--lr", "0", ["lr", "(0.0, inf]"]),
    ("--lr", "-1", ["lr"]),
    ("--lr", "fast", ["--lr", "expected a number"]),
    ("--lr", "inf", ["--lr", "finite"]),
    ("--schedule", "cosine", ["--schedule", "invalid choice"]),
    ("--decay", "0", ["decay", "(0.0, 1.0]"]),
    ("--decay", "1.5", ["decay"]),
    ("--warmup", "-1", ["--warmup", "integer >= 0"]),
    ("--clip", "-1", ["clip"]),
    ("--clip", "nan", ["--clip", "finite"]),
    ("--batch-size", "0", ["--batch-size", "positive integer"]),
    ("--epochs", "0", ["--epochs", "positive integer"]),
    ("--seed", "-2", ["--seed", "integer >= 0"]),
    ("--metric", "accuracy", ["unknown metric 'accuracy'", "exact_match"]),
    ("--patience", "-1", ["--patience", "integer >= 0"]),
    ("--valid-beam", "0", ["--valid-beam", "positive integer"]),
    ("--beam", "0", ["--beam", "positive integer"]),
    ("--max-len", "0", ["--max-len", "positive integer"]),
    ("--time-budget", "0", ["time_budget"]),
    ("--time-budget", "-5", ["time_budget"]),
    ("--examples", "-1", ["--examples", "integer >= 0"]),
    ("--preset", "paper", ["--preset", "invalid choice"]),
    ("--backend", "tpu", ["--backend", "invalid choice"]),
    ("--threads", "-1", ["--threads", "integer >= 0"]),
]


@pytest.mark.parametrize("option, value, fragments", WRONG_VALUES,
                         ids=[f"{o}={v}" for o, v, _ in WRONG_VALUES])
def test_every_train_option_refuses_a_wrong_value_in_one_line(
        tmp_path, capsys, monkeypatch, option, value, fragments):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--task", "reverse", "--train-size", "60", "--task-option", "valid=8",
            "--task-option", "test=8", "--epochs", "1", "--no-plots", "--no-progress"]
    if option == "--task-option" and value.startswith("valid="):
        argv = [a for a in argv if a != "valid=8"]
        argv.remove("--task-option")
    code, _, err = run(capsys, *argv, option, value)
    assert_one_line_error(code, err, *fragments)
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_every_train_option_with_a_value_is_in_the_table():
    """A new option must say what its wrong values get (add it to WRONG_VALUES)."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    valued = {a.option_strings[0] for a in sub.choices["train"]._actions
              if a.option_strings and a.nargs != 0 and a.dest != "help"}
    untested = valued - {"--data", "--out"} - {o for o, _, _ in WRONG_VALUES}
    assert not untested, f"options without a wrong-value test: {sorted(untested)}"


@pytest.mark.parametrize("argv, fragments", [
    (["--data", "DIR"], ["data file DIR:", "Is a directory"]),  # a directory, not a file
    (["--data", "DIR/nope.tsv"], ["data file DIR/nope.tsv: No such file"]),
    (["--out", "FILE"], ["is a file, not a directory"]),
    (["--resume", "--out", "DIR/none"], ["nothing to resume"]),
    (["--embedding", "8", "--one-hot"], ["not allowed with"]),
    (["--vectors", "FILE", "--one-hot"], ["one-hot", "no embedding"]),
    (["--vectors", "FILE"], ["line 1: expected the header 'count dim'"]),
    (["--freeze-embedding"], ["freeze_embedding", "--vectors FILE"]),
    (["--vectors-vocabulary", "5"], ["vectors_vocabulary=5", "--vectors FILE"]),
    (["--vectors", "FILE", "--vectors-vocabulary", "5"],
     ["line 1: expected the header 'count dim'"]),
    (["--context", "attention", "--attention", "dot", "--bidirectional"], ["dot attention"]),
])
def test_train_refuses_paths_and_combinations_in_one_line(tmp_path, capsys, argv, fragments):
    (tmp_path / "FILE").write_text("x")
    argv = [a.replace("DIR", str(tmp_path)).replace("FILE", str(tmp_path / "FILE"))
            for a in argv]
    fragments = [f.replace("DIR", str(tmp_path)) for f in fragments]
    code, _, err = run(capsys, "train", "--epochs", "1", "--no-plots", *argv, "--no-progress")
    assert_one_line_error(code, err, *fragments)


@pytest.mark.parametrize("argv, fragments", [
    (["evaluate", "RUN", "--beam", "0"], ["--beam", "positive integer"]),
    (["evaluate", "RUN", "--split", "train"], ["--split", "invalid choice"]),
    (["evaluate", "RUN", "--references", "best"], ["--references", "invalid choice"]),
    (["evaluate", "RUN", "--data", "DIR/nope.tsv"], ["nope.tsv"]),
    (["evaluate", "RUN", "--data", "BAD"], ["bad.tsv", "line 1"]),
    (["evaluate", "DIR/none"], ["none", "no such file"]),
    (["evaluate", "RUN", "--backend", "tpu"], ["--backend", "invalid choice"]),
    (["translate", "RUN", "--beam", "-1"], ["--beam", "positive integer"]),
    (["translate", "DIR"], ["holds neither"]),
    (["translate", "RUN", "x", "--backend", "gpu"], ["--backend", "invalid choice"]),
    (["gradcheck", "--seed", "-1"], ["--seed", "integer >= 0"]),
    (["gradcheck", "--seed", "x"], ["--seed", "integer"]),
    (["gradcheck", "--only", "frobnicator"], ["no piece", "frobnicator", "linear"]),
    (["gradcheck", "--backend", "tpu"], ["--backend", "invalid choice"]),
    (["frobnicate"], ["invalid choice"]),
])
def test_the_other_commands_refuse_wrong_values_in_one_line(tmp_path, capsys, argv, fragments,
                                                            tiny_run):
    (tmp_path / "bad.tsv").write_text("no tab here\n")
    argv = [a.replace("RUN", str(tiny_run)).replace("DIR", str(tmp_path))
            .replace("BAD", str(tmp_path / "bad.tsv")) for a in argv]
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, *fragments)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_errors") / "run"
    assert cli.main(["train", *TINY, "--out", str(out)]) == 0
    return out


def test_numeric_options_never_crash(capsys, monkeypatch, tmp_path, no_training):
    """Property: whatever text a numeric option gets, the answer is a configuration or one
    line and exit 2 -- never a traceback."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    monkeypatch.chdir(tmp_path)
    options = ["--train-size", "--data-seed", "--layers", "--hidden", "--embedding",
               "--dropout", "--teacher-forcing", "--label-smoothing", "--average", "--lr",
               "--decay",
               "--warmup", "--clip",
               "--batch-size", "--epochs", "--seed", "--patience", "--valid-beam", "--beam",
               "--max-len", "--time-budget", "--examples", "--threads"]
    numbers = st.one_of(st.integers(-10**6, 10**6).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.text(max_size=8))
    tried = []

    @hypothesis.settings(max_examples=300, deadline=None, derandomize=True)
    @hypothesis.given(option=st.sampled_from(options), value=numbers)
    def check(option, value):
        tried.append((option, value))
        code, _, err = run(capsys, "train", f"{option}={value}")
        assert code in (0, 2), err
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err

    check()
    assert len(tried) >= 300


# -- MINIS2S_BACKEND: every command honours it, or refuses clearly (issue 15, item 6) ------
def test_gradcheck_honours_the_environment_variable(capsys, monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "devicesim")
    code, stdout, _ = run(capsys, "gradcheck", "--only", "linear")
    assert code == 0 and "backend devicesim" in stdout
    code, stdout, _ = run(capsys, "gradcheck", "--only", "linear", "--backend", "numpy")
    assert code == 0 and "backend numpy" in stdout  # the option wins over the variable


def test_the_command_leaves_the_backend_as_it_found_it(capsys, monkeypatch):
    before = backend.backend_name()
    monkeypatch.setenv(backend.ENV_VAR, "devicesim")
    assert run(capsys, "gradcheck", "--only", "linear")[0] == 0
    assert backend.backend_name() == before


@pytest.mark.parametrize("command", [["gradcheck", "--only", "linear"], ["train", *TINY],
                                     ["evaluate", "RUN"], ["translate", "RUN", "abc"]])
def test_an_unavailable_backend_in_the_variable_is_refused(capsys, monkeypatch, command,
                                                           tmp_path):
    try:
        with backend.use_backend("cupy"):
            pytest.skip("a GPU is present: cupy is not refused here")
    except backend.BackendUnavailableError:
        pass
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(backend.ENV_VAR, "cupy")
    code, _, err = run(capsys, *[str(tmp_path / "run") if a == "RUN" else a for a in command])
    assert_one_line_error(code, err, "cupy")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", [["gradcheck"], ["train", *TINY], ["translate", "x", "y"]])
def test_an_unknown_backend_in_the_variable_is_refused(capsys, monkeypatch, command, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(backend.ENV_VAR, "tpu")
    code, _, err = run(capsys, *command)
    assert_one_line_error(code, err, "MINIS2S_BACKEND='tpu'", "numpy, cupy, devicesim")


def test_train_and_translate_run_on_the_variables_backend(tmp_path, capsys, monkeypatch):
    import json

    monkeypatch.setenv(backend.ENV_VAR, "devicesim")
    out = tmp_path / "run"
    code, stdout, _ = run(capsys, "train", *TINY, "--out", str(out))
    assert code == 0 and "backend devicesim" in stdout
    assert json.loads((out / "metrics.json").read_text())["backend"] == "devicesim"
    code, stdout, _ = run(capsys, "translate", str(out), "abc")
    assert code == 0 and len(stdout.splitlines()) == 1


def test_bench_refuses_another_backend_in_the_variable(capsys, monkeypatch):
    monkeypatch.setenv(backend.ENV_VAR, "cupy")
    code, _, err = run(capsys, "bench", "--hidden", "8")
    assert_one_line_error(code, err, "bench", "MINIS2S_BACKEND='cupy'")


# -- a new sub-command is one module and one registration ---------------------------------
def test_a_new_sub_command_needs_only_its_command_record(capsys, monkeypatch):
    """What ``minis2s/cli/cmd_NAME.py`` defines, registered as COMMAND_MODULES would do;
    its bad input and its bugs are handled like every other command's."""
    from minis2s.cli.common import Command, CommandError, positive_int

    def add_parser(sub):
        p = sub.add_parser("hello", help="say hello")
        p.add_argument("--times", type=positive_int, default=1, help="how often")
        p.add_argument("--fail", choices=["input", "bug"], help="fail on purpose")
        return p

    def run_hello(args):
        if args.fail == "input":
            raise CommandError("no one to greet")
        if args.fail == "bug":
            raise KeyError("greeting")
        print("hello " * args.times)
        return 0

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, Command("hello", add_parser,
                                                                 run_hello)))
    code, stdout, _ = run(capsys, "hello", "--times", "2")
    assert code == 0 and stdout == "hello hello \n"
    assert_one_line_error(*run(capsys, "hello", "--times", "0")[::2], "--times")
    assert_one_line_error(*run(capsys, "hello", "--fail", "input")[::2], "no one to greet")
    code, _, err = run(capsys, "hello", "--fail", "bug")
    assert code == 70 and "KeyError: 'greeting'" in err and "bug in minis2s" in err
