"""The teaching notebooks: each one executes, and each is committed in reviewable form.

Every notebook in ``notebooks/`` is run top to bottom in a fresh ``python3`` kernel
with ``MINIS2S_SMALL=1`` (the notebooks shrink their data and training steps), in a
temporary working directory, with a per-cell timeout. A run passes when no cell
raises, something was plotted, and nothing was written to stderr: the docs build
executes the same notebooks and turns stderr output into a warning, which ``-W``
makes an error.

The committed files are checked too: outputs stripped, kernelspec ``python3``, the
numbered list complete, and the shape of a lesson (a title, the ``SMALL`` switch in the
first code cell, exercises at the end).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from minis2s.course.editions import WITHHELD_LESSON

nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the dev extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient comes with the dev extra")

pytestmark = pytest.mark.notebooks

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

#: The lessons, in order. A notebook added, removed or renamed must be listed here.
LESSONS = (
    "01_encoder_recurrence",
    "02_backprop_through_time",
    "03_lstm_gru",
    "04_decoder_and_context",
    "05_training_optimizers",
    "06_attention_heatmaps",
    "07_decoding_greedy_vs_beam",
    "08_gpu_cupy",
    "09_whole_model_backward",
    "10_pretrained_word_vectors",
)

#: Seconds one cell may run (small settings take a few seconds per notebook in all).
CELL_TIMEOUT = 240

SMALL_SWITCH = 'SMALL = bool(os.environ.get("CI") or os.environ.get("MINIS2S_SMALL"))'


def _read(name: str):
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def test_the_numbered_list_is_complete():
    found = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert found == sorted(LESSONS), (
        f"notebooks/ holds {found}, expected exactly the lessons {list(LESSONS)}"
    )
    numbers = [int(name.split("_", 1)[0]) for name in LESSONS]
    assert numbers == list(range(1, len(LESSONS) + 1)), f"lesson numbers {numbers} have gaps"


@pytest.mark.parametrize("name", LESSONS)
def test_committed_with_outputs_stripped(name):
    nb = _read(name)
    nbformat.validate(nb)
    spec = nb.metadata.get("kernelspec", {})
    assert spec.get("name") == "python3", f"{name}: kernelspec {spec!r}, expected python3"
    assert spec.get("language") == "python", f"{name}: kernelspec {spec!r}"
    assert "jupytext" not in nb.metadata, f"{name}: jupytext pairing metadata left in"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name}: no code cell"
    for k, cell in enumerate(code):
        assert cell.outputs == [], f"{name}: code cell {k} has outputs (strip them)"
        assert cell.execution_count is None, f"{name}: code cell {k} has an execution count"


SELF_CHECK = "# Self-check"


@pytest.mark.parametrize("name", LESSONS)
def test_has_the_shape_of_a_lesson(name):
    nb = _read(name)
    number = int(name.split("_", 1)[0])
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    titles = [line for text in markdown for line in text.splitlines() if line.startswith("# ")]
    assert titles == [titles[0]] and titles[0].startswith(f"# Lesson {number}:"), (
        f"{name}: expected one title '# Lesson {number}: ...', got {titles}"
    )
    assert SMALL_SWITCH in code[0], f"{name}: the first code cell must set {SMALL_SWITCH}"
    # the exercises come last, followed only by their self-check cells (if any)
    tail = list(nb.cells)
    while tail and tail[-1].cell_type == "code" and tail[-1].source.startswith(SELF_CHECK):
        tail.pop()
    assert tail and tail[-1].cell_type == "markdown" and "## Exercises" in tail[-1].source, (
        f"{name}: the last cell must be the exercises (or their '{SELF_CHECK}' cells)"
    )
    exercises = re.findall(r"^\d+\. ", tail[-1].source, flags=re.MULTILINE)
    assert 2 <= len(exercises) <= 4, f"{name}: {len(exercises)} exercises, expected 2 to 4"
    rated = re.findall(r"^\d+\. \*\((easy|medium|harder)[^)]*min[^)]*\)\*", tail[-1].source,
                       flags=re.MULTILINE)
    assert len(rated) == len(exercises), (
        f"{name}: every exercise starts with its difficulty and time, e.g. '1. *(easy, 10 min)*'"
    )
    checks = [c for c in nb.cells[len(tail):]]
    for cell in checks:   # a self-check names its exercise and says what to fill in
        assert re.match(rf"{SELF_CHECK}, exercise \d+:", cell.source), (
            f"{name}: a self-check cell starts '{SELF_CHECK}, exercise N: ...'"
        )


def execute_small(nb, name: str, tmp_path: Path, monkeypatch) -> None:
    """Run notebook ``nb`` top to bottom at small settings in ``tmp_path`` and check what
    every lesson must show: no stderr, at least one plot, the small-settings line. Shared
    by the lessons and the course's assignment notebooks."""
    # the kernel inherits this environment
    monkeypatch.setenv("MINIS2S_SMALL", "1")
    # Two test workers share two cores: a multithreaded BLAS in each would oversubscribe
    # them and run many times slower, so the kernel's BLAS gets one thread.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()                       # raises CellExecutionError naming the failing cell
    print(f"{name}: {time.perf_counter() - start:.1f} s at small settings")

    images, stderr = 0, []
    for k, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                stderr.append(f"cell {k}: {out.get('text', '')[:300]}")
            if "image/png" in out.get("data", {}):
                images += 1
    assert not stderr, f"{name} wrote to stderr (the docs build would fail): {stderr}"
    # a lesson withheld in a course's student edition keeps no plot (minis2s.course)
    withheld = WITHHELD_LESSON in nb.cells[0].source
    assert images >= 1 or withheld, f"{name}: no plot was drawn"
    first = next(c for c in nb.cells if c.cell_type == "code")
    printed = "".join(o.get("text", "") for o in first.outputs)
    assert "settings: small" in printed, f"{name} did not run at small settings: {printed!r}"


@pytest.mark.parametrize("name", LESSONS)
def test_executes_at_small_settings(name, tmp_path, monkeypatch):
    execute_small(_read(name), name, tmp_path, monkeypatch)
