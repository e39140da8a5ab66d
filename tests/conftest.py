"""Shared fixtures: the numeric suite runs once per array backend.

A test that asks for the ``xp`` fixture runs on the default backend
(``MINIS2S_BACKEND``, numpy if unset) *and* on ``devicesim``, the simulated
device whose arrays refuse silent mixing with NumPy -- so a forgotten
``to_device``/``to_host`` fails a test on a machine without a GPU. With
``MINIS2S_BACKEND=cupy`` the same tests run on the GPU instead.
"""

from __future__ import annotations

import os

# The tests use small matrices; one BLAS thread per process keeps `pytest -n 2` (and the
# notebook kernels and docs build it starts, which inherit this) from oversubscribing the
# cores: OpenBLAS threads spin-wait and two pools fighting make steps 10-30x slower.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minis2s import backend  # noqa: E402


def _backends() -> list[str]:
    default = os.environ.get(backend.ENV_VAR, "numpy") or "numpy"
    return [default] if default != "numpy" else ["numpy", "devicesim"]


@pytest.fixture(params=_backends())
def xp(request):
    """The array module of each backend in turn (restored afterwards)."""
    with backend.use_backend(request.param) as module:
        yield module


@pytest.fixture
def rng():
    """A seeded generator: every test is reproducible."""
    return np.random.default_rng(1234)


def to_dev(a, dtype=np.float64):
    """Host array -> active backend (a helper for tests)."""
    return backend.to_device(np.asarray(a), dtype=dtype)


def host(a):
    return backend.to_host(a)


def run_cli(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``minis2s argv`` run in this process (argparse's
    usage errors and ``--help`` exit through SystemExit; its code is the status)."""
    from minis2s import cli

    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    """A refusal: exit status 2 and one line on stderr, no traceback, holding ``fragments``."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
