"""``minis2s.threads.warm_blas``: one float32 product on one BLAS thread, once per process,
the thread limit put back, and decoding on NumPy asks for it (why: its docstring and
``benchmarks/bench_blas_warmup.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend, threads
from minis2s.decode import greedy_decode
from minis2s.model import ModelConfig, Seq2Seq


def test_runs_once_and_puts_the_thread_limit_back(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(threads, "_warmed", False)
    products = []
    real_matmul = np.ndarray.__matmul__

    class Spy(np.ndarray):
        def __matmul__(self, other):
            limits = {i["internal_api"]: i["num_threads"]
                      for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
            products.append((self.shape, self.dtype, limits))
            return real_matmul(self, other)

    real_ones = np.ones
    monkeypatch.setattr(np, "ones", lambda *a, **k: real_ones(*a, **k).view(Spy))
    before = threadpoolctl.threadpool_info()
    assert threads.warm_blas() is True
    assert threads.warm_blas() is False                   # once per process
    assert threadpoolctl.threadpool_info() == before      # the limit is put back
    assert len(products) == 1
    shape, dtype, limits = products[0]
    assert shape == (threads.WARM_SIZE, threads.WARM_SIZE) and dtype == np.float32
    assert set(limits.values()) <= {1}                    # on one thread


def test_decoding_on_numpy_warms_and_on_a_device_does_not(monkeypatch):
    calls = []
    monkeypatch.setattr("minis2s.model.fast_decoder.warm_blas", lambda: calls.append(1))
    config = ModelConfig(cell="lstm", hidden=8, embedding=4, src_vocab=9, tgt_vocab=7)
    src = np.array([[3, 4], [5, 0]])
    for name, want in (("numpy", 1), ("devicesim", 1)):     # calls so far: none on a device
        with backend.use_backend(name):
            greedy_decode(Seq2Seq(config, np.random.default_rng(0)), src, max_len=3)
        assert len(calls) == want
