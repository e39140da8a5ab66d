"""The one atomic writer: whole or absent, never half-written; leftovers of a kill found."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from minis2s import atomic


def test_text_is_written_whole_and_replaces(tmp_path):
    path = atomic.atomic_write_text(tmp_path / "sub" / "log.jsonl", "a\n")
    assert path.read_text() == "a\n"
    atomic.atomic_write_text(path, "b\n")
    assert path.read_text() == "b\n" and sorted(os.listdir(path.parent)) == ["log.jsonl"]


def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic.atomic_write_text(tmp_path / "metrics.json", "old")

    def crash(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(path, crash)
    assert path.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["metrics.json"]


def test_permissions_follow_the_umask(tmp_path):
    mask = os.umask(0o022)
    try:
        path = atomic.atomic_write_text(tmp_path / "m.json", "{}")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_killed_write_leaves_a_leftover_that_is_found_and_removed(tmp_path):
    """SIGKILL in the middle of a write: the target is untouched, the temporary file
    stays -- and :func:`remove_leftovers` finds exactly it."""
    target = tmp_path / "checkpoint.last.npz"
    atomic.atomic_write_text(target, "previous")
    (tmp_path / "unrelated.tmp").write_text("not ours")
    code = ("import sys, time; from minis2s import atomic\n"
            "def slow(f):\n"
            "    f.write(b'partial'); f.flush(); print('writing', flush=True); time.sleep(60)\n"
            f"atomic.atomic_write({str(target)!r}, slow)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.05)
    left = atomic.leftovers(tmp_path, [target.name])
    assert len(left) == 1 and left[0].name.startswith(".checkpoint.last.npz.")
    assert target.read_text() == "previous"
    assert atomic.remove_leftovers(tmp_path, [target.name]) == left
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.last.npz", "unrelated.tmp"]
