"""The backend switch: choosing, restoring, refusing, transferring."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from minis2s import backend, devicesim


def test_default_is_numpy_and_context_manager_restores(monkeypatch):
    monkeypatch.delenv(backend.ENV_VAR, raising=False)
    with backend.use_backend("numpy"):
        assert backend.get_xp() is np
        with backend.use_backend("devicesim") as xp:
            assert backend.backend_name() == "devicesim"
            assert xp is devicesim.module
        assert backend.get_xp() is np


def test_env_variable_selects_backend(monkeypatch):
    saved = dict(backend._state)
    try:
        backend._state.update(name=None, xp=None)
        monkeypatch.setenv(backend.ENV_VAR, "devicesim")
        assert backend.backend_name() == "devicesim"
    finally:
        backend._state.update(saved)


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="unknown backend 'jax'.*numpy, cupy, devicesim"):
        backend.set_backend("jax")


@pytest.mark.skipif(
    importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here"
)
def test_cupy_without_cupy_is_refused_and_nothing_switches():
    with backend.use_backend("devicesim"):
        with pytest.raises(backend.BackendUnavailableError, match="not installed.*\\[gpu\\]"):
            backend.set_backend("cupy")
        assert backend.backend_name() == "devicesim"


def test_cupy_without_gpu_is_refused(monkeypatch):
    class FakeCuda:
        @staticmethod
        def is_available():
            return False

    class FakeCupy:
        cuda = FakeCuda

    monkeypatch.setattr(backend.importlib, "import_module",
                        lambda name: FakeCupy if name == "cupy" else importlib.import_module(name))
    with backend.use_backend("numpy"):
        with pytest.raises(backend.BackendUnavailableError, match="no GPU is visible"):
            backend.set_backend("cupy")
        assert backend.backend_name() == "numpy"


def test_round_trip_transfers(xp):
    host = np.arange(6.0).reshape(2, 3)
    dev = backend.to_device(host, dtype=np.float32)
    assert isinstance(dev, xp.ndarray) and dev.dtype == np.float32
    back = backend.to_host(dev)
    assert isinstance(back, np.ndarray)
    np.testing.assert_array_equal(back, host.astype(np.float32))
    assert backend.to_float(xp.sum(dev)) == 15.0


def test_devicesim_refuses_silent_mixing():
    with backend.use_backend("devicesim") as xp:
        dev = backend.to_device(np.ones((2, 3)))
        with pytest.raises(TypeError, match="implicit conversion"):
            np.asarray(dev)
        with pytest.raises(TypeError, match="mixed with a host"):
            _ = dev + np.ones(3)
        with pytest.raises(TypeError, match="mixed with a host"):
            _ = np.ones(3) * dev
        with pytest.raises(TypeError, match="mixed with a host"):
            xp.tanh(np.ones(3))
        with pytest.raises(TypeError, match="as an index"):
            _ = dev[np.array([0, 1])]
        host = np.zeros((2, 3))
        with pytest.raises(TypeError, match="implicit conversion"):
            host[:] = dev
        # reductions stay on the device, as CuPy's do
        assert isinstance(xp.sum(dev), xp.ndarray)


def test_forgotten_transfer_is_caught():
    """The kind of bug devicesim exists for: a host array where a device array belongs."""

    def buggy_scale(x):
        return x * np.full(x.shape, 2.0)  # should have been xp.full

    with backend.use_backend("numpy"):
        buggy_scale(backend.to_device(np.ones(3)))  # silently fine on the CPU
    with backend.use_backend("devicesim"):
        with pytest.raises(TypeError):
            buggy_scale(backend.to_device(np.ones(3)))


def test_scatter_add_accumulates_repeated_indices(xp):
    target = backend.to_device(np.zeros((3, 2)))
    idx = backend.to_device(np.array([0, 2, 0, 0]))
    vals = backend.to_device(np.ones((4, 2)))
    backend.scatter_add(target, idx, vals)
    np.testing.assert_array_equal(backend.to_host(target), [[3, 3], [0, 0], [1, 1]])
