"""The run directory: what a run may write into, what --overwrite replaces, leftovers of a
killed save, and which checkpoint a directory stands for."""

from __future__ import annotations

import json

import pytest

from minis2s import checkpoint
from minis2s.train import InputError, TrainConfig, rundir, train

TINY = dict(task="reverse", train_size=60, task_options={"valid": 8, "test": 8,
                                                         "min_len": 3, "max_len": 4},
            cell="gru", hidden=8, embedding=4, batch_size=32, epochs=1, lr=0.01,
            patience=None, progress=False, plots=False, examples=1)


def tiny(out, **changes) -> TrainConfig:
    return TrainConfig(**{**TINY, "out": str(out), **changes})


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# -- issue 15, item 1: nothing of a run, and nothing foreign, is ever overwritten silently --
@pytest.mark.parametrize("present", [
    [rundir.BEST, rundir.METRICS],          # a best model copied somewhere to share it
    [rundir.METRICS], [rundir.LOG], [rundir.HISTORY_PNG],
    ["notes.txt"], ["data.tsv", rundir.BEST],
])
def test_a_new_run_refuses_a_directory_that_holds_anything(tmp_path, present):
    out = tmp_path / "run"
    out.mkdir()
    for name in present:
        (out / name).write_bytes(b"precious " + name.encode())
    before = _snapshot(out)
    with pytest.raises(InputError) as err:
        train(tiny(out), echo=None)
    message = str(err.value)
    assert str(out) in message and "--overwrite" in message
    for name in present:
        assert name in message
    assert _snapshot(out) == before  # nothing replaced, nothing added


def test_a_directory_of_a_run_is_refused_as_a_run(tmp_path):
    out = tmp_path / "run"
    train(tiny(out), echo=None)
    with pytest.raises(InputError, match=r"already holds a training run .*--resume"):
        train(tiny(out), echo=None)


def test_overwrite_says_what_it_replaces_and_keeps_other_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in (rundir.BEST, rundir.METRICS, rundir.HISTORY_PNG):
        (out / name).write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    messages: list[str] = []
    train(tiny(out), overwrite=True, echo=messages.append)
    said = [m for m in messages if m.startswith("--overwrite")]
    assert said == [f"--overwrite: replacing the earlier run in {out} (deleted "
                    f"{rundir.BEST}, {rundir.HISTORY_PNG}, {rundir.METRICS}); kept, not "
                    "written by minis2s: notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / rundir.HISTORY_PNG).exists()  # plots=False: the old plot is gone
    assert json.loads((out / rundir.METRICS).read_text())["status"] == "completed"
    assert checkpoint.load_checkpoint(out / rundir.BEST)["kind"] == rundir.RUN_KIND


def test_refusal_comes_before_any_work(tmp_path, monkeypatch):
    """The directory is checked before the data is made: a refused run costs nothing."""
    import minis2s.train.loop

    out = tmp_path / "run"
    out.mkdir()
    (out / rundir.METRICS).write_text("{}")
    monkeypatch.setattr(minis2s.train.loop, "prepare_data",
                        lambda config: pytest.fail("data prepared before the refusal"))
    with pytest.raises(InputError):
        train(tiny(out), echo=None)


def test_a_file_is_not_a_run_directory(tmp_path):
    path = tmp_path / "run"
    path.write_text("x")
    with pytest.raises(InputError, match="is a file, not a directory"):
        train(tiny(path), echo=None)
    with pytest.raises(InputError, match="is a file, not a directory"):
        train(tiny(path), overwrite=True, echo=None)


# -- issue 15, item 5: the temporary files of a killed save are cleaned up ---------------
def _leftover(out, name):
    path = out / f".{name}.k1ll3d99.tmp"
    path.write_bytes(b"PK\x03\x04 half an archive")
    return path


def test_leftovers_of_a_killed_save_go_at_the_next_resume(tmp_path):
    out = tmp_path / "run"
    train(tiny(out), echo=None)
    left = [_leftover(out, rundir.LAST), _leftover(out, rundir.BEST), _leftover(out, rundir.LOG)]
    train(tiny(out, epochs=2), resume=True, echo=None)
    assert not any(p.exists() for p in left)
    assert not list(out.glob(".*.tmp"))


def test_leftovers_alone_do_not_block_a_new_run_and_are_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    left = _leftover(out, rundir.LAST)
    assert rundir.RunDir(out).is_free()
    train(tiny(out), echo=None)
    assert not left.exists() and (out / rundir.LAST).exists()


def test_a_foreign_temporary_file_is_not_a_leftover(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".notes.txt.abc.tmp").write_text("someone else's")
    assert not rundir.RunDir(out).is_free()


# -- the rest of the directory's knowledge --------------------------------------------------
def test_fresh_run_dir_skips_every_taken_directory(tmp_path):
    base = tmp_path / "runs" / "dates"
    assert rundir.fresh_run_dir(base) == base
    base.mkdir(parents=True)
    assert rundir.fresh_run_dir(base) == base  # empty: free
    (base / "notes.txt").write_text("x")
    (tmp_path / "runs" / "dates-2").mkdir()
    (tmp_path / "runs" / "dates-2" / rundir.METRICS).write_text("{}")
    assert rundir.fresh_run_dir(base) == tmp_path / "runs" / "dates-3"


def test_resolve_takes_best_then_last(tmp_path):
    checkpoint.save_checkpoint(tmp_path / rundir.LAST, {"which": "last"})
    assert rundir.resolve(tmp_path) == tmp_path / rundir.LAST
    checkpoint.save_checkpoint(tmp_path / rundir.BEST, {"which": "best"})
    assert rundir.resolve(tmp_path) == tmp_path / rundir.BEST
    assert rundir.resolve(tmp_path / rundir.LAST) == tmp_path / rundir.LAST
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(checkpoint.CheckpointError, match="empty_run holds neither"):
        rundir.resolve(tmp_path / "empty_run")
    with pytest.raises(checkpoint.CheckpointError, match="nope.npz: no such file"):
        rundir.resolve(tmp_path / "nope.npz")


def test_every_file_a_run_writes_is_named_here(tmp_path):
    out = tmp_path / "run"
    train(tiny(out, plots=True, context="attention"), echo=None)
    assert sorted(p.name for p in out.iterdir()) == sorted(rundir.RUN_FILES)
