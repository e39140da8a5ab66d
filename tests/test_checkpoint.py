"""Checkpoints: exact round trip without pickle, atomic writes, and refusal of bad files."""

from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from minis2s import backend, checkpoint
from minis2s.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _payload():
    rng = np.random.default_rng(7)
    rng.standard_normal(3)  # move the state away from the seed's
    return {
        "params": {
            "enc.l0.W_ih": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
            "out.b": np.arange(5, dtype=np.float64) / 3.0,
        },
        "optimizer": {"t": 17, "m": {"out.b": np.full(5, 0.25)}, "lr": np.float32(1e-3)},
        "vocab": ["<pad>", "<s>", "</s>", "<unk>", "a", "é"],
        "rng_state": rng.bit_generator.state,  # 128-bit integers inside
        "epoch": 3,
        "best": None,
        "history": [{"loss": 1.5, "ok": True}, {"loss": float("nan"), "ok": False}],
        "ids": np.array([[1, 2], [3, 0]], dtype=np.int64),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }


def _assert_same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, np.generic):
        assert type(a) is type(b) and a == b
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b and type(a) is type(b)


def test_round_trip_is_exact(tmp_path):
    payload = _payload()
    path = save_checkpoint(tmp_path / "ck.npz", payload)
    loaded = load_checkpoint(path)
    _assert_same(payload, loaded)
    # the restored generator continues exactly where the saved one was
    g1, g2 = np.random.default_rng(), np.random.default_rng()
    g1.bit_generator.state = payload["rng_state"]
    g2.bit_generator.state = loaded["rng_state"]
    np.testing.assert_array_equal(g1.standard_normal(4), g2.standard_normal(4))


def test_file_holds_no_pickle(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", _payload())
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    assert "__meta__.npy" in names and "__sha256__.npy" in names
    with np.load(path, allow_pickle=False) as archive:  # would raise on any object array
        for name in archive.files:
            assert not archive[name].dtype.hasobject


def test_a_directory_is_not_a_checkpoint(tmp_path):
    """The format knows files; which file of a run directory to load is the run
    directory's business (minis2s.train.rundir.resolve, tested in test_rundir.py)."""
    save_checkpoint(tmp_path / "ck.npz", {"which": "last"})
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


def test_unsavable_values_are_refused(tmp_path, xp):
    with pytest.raises(TypeError, match="params.w"):
        save_checkpoint(tmp_path / "a.npz", {"params": {"w": object()}})
    with pytest.raises(TypeError, match="object arrays"):
        save_checkpoint(tmp_path / "a.npz", {"x": np.array([{}, 1], dtype=object)})
    with pytest.raises(TypeError, match="keys must be strings"):
        save_checkpoint(tmp_path / "a.npz", {"x": {1: 2}})
    if backend.backend_name() != "numpy":  # a device array must be moved to the host first
        with pytest.raises(TypeError, match="to_host"):
            save_checkpoint(tmp_path / "a.npz", {"w": backend.to_device(np.ones(2))})
    assert not any(tmp_path.iterdir())  # nothing written on refusal


def test_failed_write_leaves_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "ck.npz", {"epoch": 1, "w": np.ones(3)})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2, "w": np.zeros(3)})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]  # no temporary file left behind
    assert load_checkpoint(path)["epoch"] == 1


def test_overwrite_replaces(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", {"epoch": 1})
    save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path)["epoch"] == 2


# -- refusals, each naming the file ---------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.npz: no such file"):
        load_checkpoint(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9])
def test_truncated_file(tmp_path, keep):
    path = save_checkpoint(tmp_path / "ck.npz", _payload())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="ck.npz"):
        load_checkpoint(path)


def test_flipped_byte_is_detected(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", {"w": np.zeros(1000)})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored array
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="ck.npz"):
        load_checkpoint(path)


def test_edited_array_fails_the_checksum(tmp_path):
    """A well-formed archive whose array was changed after saving (zip CRCs all valid)."""
    path = save_checkpoint(tmp_path / "ck.npz", {"w": np.zeros(4)})
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    members["a0"] = members["a0"] + 1.0
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match="ck.npz is corrupted.*checksum"):
        load_checkpoint(path)


def test_edited_metadata_fails_the_checksum(tmp_path):
    path = save_checkpoint(tmp_path / "ck.npz", {"epoch": 1})
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    members["__meta__"] = np.array(str(members["__meta__"][()]).replace('"epoch": 1',
                                                                         '"epoch": 9'))
    np.savez(path, **members)
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(path)


@pytest.mark.parametrize("kind", ["empty", "text", "pickle", "npy", "npz", "wrong_tag",
                                  "newer", "object_array"])
def test_foreign_files_are_refused(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("epoch\tloss\n1\t0.5\n")
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"params": [1, 2, 3]}))
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.ones(3))
    elif kind == "npz":  # somebody else's archive
        np.savez(path, weights=np.ones(3))
    elif kind in ("wrong_tag", "newer"):
        meta = {"format": "other-tool", "version": 1, "data": {}}
        if kind == "newer":
            meta = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION + 1, "data": {}}
        text = json.dumps(meta)
        np.savez(path, __meta__=np.array(text),
                 __sha256__=np.array(checkpoint._digest(text, {})))
    elif kind == "object_array":
        np.savez(path, __meta__=np.array("{}"), __sha256__=np.array("x"),
                 a0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match=f"{kind}.npz") as info:
        load_checkpoint(path)
    message = str(info.value)
    expected = {"empty": "empty", "text": "not an .npz", "pickle": "not an .npz",
                "npy": "not an .npz", "npz": "not a minis2s checkpoint",
                "wrong_tag": "other-tool", "newer": "version",
                "object_array": "pickle"}[kind]
    assert expected in message


def test_written_file_follows_the_umask(tmp_path):
    """mkstemp makes private files; a checkpoint gets the usual permissions instead."""
    mask = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "ck.npz", {"epoch": 1})
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
