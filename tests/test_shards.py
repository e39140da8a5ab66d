"""Batch shards (minis2s.shards): splitting, the thread runner, and sharded stacks.

The plain stack (minis2s.cells.stack) knows nothing of shards: ``shards.stack_forward``
wraps it.

A sharded stack must compute what the unsharded one computes: the same outputs,
final states and input gradients row for row, and weight gradients that are the
sums of the shards'. The gradient checks of sharded stacks are in the registry
(``minis2s/checks/stack.py``, names ending ``.2shards.dropout``).
"""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s import backend, bench, shards
from minis2s.cells import gru, lstm, stack
from minis2s.cells.stack import StackCache, StackConfig, get_cell, init_stack
from minis2s.shards import ShardedStackCache, stack_backward, stack_forward

KINDS = ("rnn", "lstm", "gru")


# --- splitting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, k, expected",
    [
        (10, 3, [(0, 4), (4, 7), (7, 10)]),
        (8, 2, [(0, 4), (4, 8)]),
        (5, 1, [(0, 5)]),
        (2, 5, [(0, 1), (1, 2)]),  # never an empty shard
        (7, 7, [(i, i + 1) for i in range(7)]),
    ],
)
def test_row_bounds(n, k, expected):
    assert shards.row_bounds(n, k) == expected


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_check_shards_refuses(bad):
    with pytest.raises(ValueError, match=r"where: expected shards to be an int >= 1, got"):
        shards.check_shards(bad, "where")


def test_default_shards_is_one_off_the_cpu():
    with backend.use_backend("numpy"):
        assert shards.default_shards() == shards.cpu_cores() >= 1
    with backend.use_backend("devicesim"):
        assert shards.default_shards() == 1


# --- the runner -----------------------------------------------------------------------


def test_run_returns_results_in_job_order_on_several_threads():
    seen = set()

    def job(i):
        seen.add(threading.get_ident())
        return i * i

    assert shards.run(job, [(i,) for i in range(4)]) == [0, 1, 4, 9]
    assert threading.get_ident() in seen  # job 0 runs on the caller's thread


@pytest.mark.parametrize("failing", [0, 2])
def test_run_raises_the_first_error_after_every_job_finished(failing):
    finished = []

    def job(i):
        if i == failing:
            raise KeyError(f"job {i}")
        finished.append(i)
        return i

    with pytest.raises(KeyError, match=f"job {failing}"):
        shards.run(job, [(i,) for i in range(3)])
    assert sorted(finished) == [i for i in range(3) if i != failing]


def test_a_blas_library_loaded_after_the_first_run_is_held_too():
    """The first run caches threadpoolctl's view of the loaded BLAS libraries; one that an
    import loads later (scipy's own OpenBLAS) must be held to one thread as well. In a
    fresh process, so that scipy is not loaded yet."""
    pytest.importorskip("threadpoolctl")
    pytest.importorskip("scipy")
    code = """if True:
        import threadpoolctl
        from minis2s import shards
        def blas():
            return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                    if i["user_api"] == "blas"]
        with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
            shards.run(blas, [(), ()])
            import scipy.linalg  # noqa: F401  (a second OpenBLAS)
            with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
                assert len(blas()) == 2, blas()
                assert shards.run(blas, [(), ()]) == [[1, 1], [1, 1]], shards.run(blas, [()])
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_run_holds_blas_to_one_thread_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    with backend.use_backend("numpy"), threadpoolctl.threadpool_limits(limits=2,
                                                                          user_api="blas"):
        before = blas_threads()
        inside = shards.run(lambda: blas_threads(), [(), ()])
        assert inside == [[1] * len(before)] * 2
        assert blas_threads() == before


def test_sum_grads_adds_every_shard_and_leaves_them_unchanged(xp):
    parts = [{"W": to_dev([1.0, 2.0])}, {"W": to_dev([10.0, 20.0])}, {"W": to_dev([100.0, 0.0])}]
    total = shards.sum_grads(parts)
    np.testing.assert_array_equal(host(total["W"]), [111.0, 22.0])
    np.testing.assert_array_equal(host(parts[0]["W"]), [1.0, 2.0])


# --- sharded stacks equal unsharded ones ----------------------------------------------


def _setup(kind, rng, T=5, N=5, D=3, H=4, bidirectional=True, dropout=0.3):
    config = StackConfig(kind, D, H, num_layers=2, bidirectional=bidirectional,
                         dropout=dropout)
    params = {k: to_dev(v) for k, v in init_stack(rng, config, np.float64).items()}
    x = to_dev(rng.standard_normal((T, N, D)))
    rows = 2 * config.directions
    state0 = tuple(to_dev(rng.standard_normal((rows, N, H)))
                   for _ in get_cell(kind).STATE_NAMES)
    lengths = np.array([5, 2, 4, 1, 3])[:N]
    mask = to_dev((np.arange(T)[:, None] < lengths[None, :]).astype(np.float64))
    dhs = to_dev(rng.standard_normal((T, N, config.directions * H)))
    dstate = tuple(to_dev(rng.standard_normal((rows, N, H))) for _ in state0)
    return config, params, x, state0, mask, dhs, dstate


def _run(config, params, x, state0, mask, dhs, dstate, k):
    hs, state_T, cache = stack_forward(x, params, config, state0, mask=mask, train=True,
                                       rng=np.random.default_rng(3), shards=k)
    dx, dstate0, grads = stack_backward(dhs, dstate, cache)
    return hs, state_T, dx, dstate0, grads, cache


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [2, 3, 9])
def test_sharded_stack_equals_unsharded(xp, rng, kind, k):
    setup = _setup(kind, rng)
    ref = _run(*setup, k=1)
    got = _run(*setup, k=k)
    assert isinstance(ref[-1], StackCache)
    assert isinstance(got[-1], ShardedStackCache)
    assert len(got[-1].parts) == min(k, 5)
    for a, b in zip(ref[:2] + ref[2:4], got[:2] + got[2:4]):  # hs, state_T, dx, dstate0
        a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
        for u, v in zip(a, b):
            np.testing.assert_allclose(host(v), host(u), rtol=1e-12, atol=1e-14)
    assert set(got[4]) == set(ref[4])
    for name in ref[4]:
        np.testing.assert_allclose(host(got[4][name]), host(ref[4][name]),
                                   rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_sharded_stack_without_states_or_output_gradient(xp, rng, kind):
    config, params, x, _, mask, dhs, dstate = _setup(kind, rng, bidirectional=False,
                                                     dropout=0.0)
    outs = []
    for k in (1, 2):
        hs, state_T, cache = stack_forward(x, params, config, None, mask=mask, shards=k)
        # no gradient into the outputs, only into the first state tensor
        partial = (dstate[0],) + (None,) * (len(dstate) - 1)
        dx, dstate0, grads = stack_backward(None, partial, cache)
        outs.append((hs, dx, grads))
    (hs1, dx1, g1), (hs2, dx2, g2) = outs
    np.testing.assert_allclose(host(hs2), host(hs1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(host(dx2), host(dx1), rtol=1e-12, atol=1e-14)
    for name in g1:
        np.testing.assert_allclose(host(g2[name]), host(g1[name]), rtol=1e-12, atol=1e-14)


def test_sharded_stack_refuses_bad_shards_and_bad_gradients(xp, rng):
    config, params, x, state0, mask, dhs, dstate = _setup("lstm", rng, dropout=0.0)
    with pytest.raises(ValueError, match="stack_forward: expected shards to be an int >= 1, "
                                         "got 0"):
        stack_forward(x, params, config, state0, shards=0)
    _, _, cache = stack_forward(x, params, config, state0, shards=2)
    with pytest.raises(ValueError, match=r"stack_backward dhs: expected shape \(T, N, "
                                         r"dirs\*H\) = \(5, 5, 8\), got \(5, 4, 8\)"):
        stack_backward(dhs[:, :4], dstate, cache)


def test_one_shard_is_the_plain_stack_which_knows_nothing_of_shards(xp, rng):
    config, params, x, state0, mask, dhs, dstate = _setup("gru", rng)
    kw = dict(mask=mask, train=True)
    a = stack_forward(x, params, config, state0, rng=np.random.default_rng(3), **kw)
    b = stack.stack_forward(x, params, config, state0, rng=np.random.default_rng(3), **kw)
    np.testing.assert_array_equal(host(a[0]), host(b[0]))
    assert type(a[2]) is type(b[2]) is StackCache
    da, db = stack_backward(dhs, dstate, a[2]), stack.stack_backward(dhs, dstate, b[2])
    np.testing.assert_array_equal(host(da[0]), host(db[0]))
    with pytest.raises(TypeError, match="shards"):
        stack.stack_forward(x, params, config, state0, shards=2)
    assert not hasattr(stack, "ShardedStackCache") and "shards" not in vars(stack)


# --- zero initial states: the skipped product -----------------------------------------


@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("cell", [lstm, gru], ids=["lstm", "gru"])
def test_no_initial_state_equals_explicit_zeros(xp, rng, cell, T):
    N, D, H = 3, 3, 5
    params = {k: to_dev(v) for k, v in cell.init_params(rng, D, H, np.float64).items()}
    x = to_dev(rng.standard_normal((T, N, D)))
    dhs = to_dev(rng.standard_normal((T, N, H)))
    zeros = tuple(to_dev(np.zeros((N, H))) for _ in cell.STATE_NAMES)
    hs0, _, c0 = cell.sequence_forward(x, None, params)
    hsz, _, cz = cell.sequence_forward(x, zeros, params)
    assert c0.zero_h0 and not cz.zero_h0
    np.testing.assert_allclose(host(hs0), host(hsz), rtol=1e-14, atol=1e-15)
    dx0, ds0, g0 = cell.sequence_backward(dhs, None, c0)
    dxz, dsz, gz = cell.sequence_backward(dhs, None, cz)
    np.testing.assert_allclose(host(dx0), host(dxz), rtol=1e-12, atol=1e-14)
    for a, b in zip(ds0, dsz):
        np.testing.assert_allclose(host(a), host(b), rtol=1e-12, atol=1e-14)
    for name in g0:
        np.testing.assert_allclose(host(g0[name]), host(gz[name]), rtol=1e-12, atol=1e-14,
                                   err_msg=name)


# --- the benchmark's sharded sides run ------------------------------------------------


def test_bench_sides_run_sharded():
    with backend.use_backend("numpy"):
        bench._minis2s_setup(3, 4, 3, 2, 0, shards=2)()
        bench._gemm_setup(3, 4, 3, 2, 0, shards=2)()


def test_bench_command_with_shards(capsys):
    assert bench.main(["--hidden", "4", "--T", "2", "--N", "4", "--D", "3", "--rounds", "1",
                       "--per-round", "1", "--warmup", "0", "--settle", "0", "--no-torch",
                       "--shards", "2"]) == 0
    assert "the batch in 2 shards, one thread each" in capsys.readouterr().out
