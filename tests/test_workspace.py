"""The workspace pool: a block is handed out again only once nothing refers to it.

The property that matters is that reuse never changes a result someone still holds:
the outputs of one fast forward stay as they were while later calls run. The rest
pins the policy (reuse in a training loop, best fit, the size window, the bound, the
lock) so that a change to it is seen.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from minis2s import backend
from minis2s.cells import lstm
from minis2s.cells._workspace import POOL, BlockPool, workspace


def _lstm(seed: int, T: int = 5, N: int = 64, D: int = 48, H: int = 64):
    rng = np.random.default_rng(seed)
    params = lstm.init_params(rng, D, H)
    x = rng.standard_normal((T, N, D)).astype(np.float32)
    return x, params


def test_outputs_kept_by_the_caller_are_not_overwritten_by_later_calls():
    backend.set_backend("numpy")
    x, params = _lstm(0)
    hs, (h, c), cache = lstm.sequence_forward(x, None, params)
    kept = [hs.copy(), h.copy(), c.copy(), cache.gates.copy()]
    dx, _, grads = lstm.sequence_backward(np.ones_like(hs), None, cache)
    kept_back = [dx.copy(), grads["W_hh"].copy()]
    for seed in (1, 2, 3):             # the same shapes: the pool would reuse a free block
        x2, p2 = _lstm(seed)
        hs2, _, cache2 = lstm.sequence_forward(x2, None, p2)
        lstm.sequence_backward(np.ones_like(hs2), None, cache2)
        del hs2, cache2
    for a, b in zip([hs, h, c, cache.gates], kept):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dx, kept_back[0])
    np.testing.assert_array_equal(grads["W_hh"], kept_back[1])


def test_a_training_loop_uses_the_same_blocks_every_step():
    backend.set_backend("numpy")
    x, params = _lstm(0)
    seen = []
    for _ in range(4):
        hs, _, cache = lstm.sequence_forward(x, None, params)
        dx, _, grads = lstm.sequence_backward(np.ones_like(hs), None, cache)
        seen.append((cache.gates.__array_interface__["data"][0],
                     dx.__array_interface__["data"][0]))
        del hs, cache, dx, grads
    assert len(set(seen)) == 1, seen


def test_a_block_in_use_is_never_handed_out():
    pool = BlockPool(min_bytes=0)
    a = pool.take(100, np.float32)
    b = pool.take(100, np.float32)
    assert not np.shares_memory(a, b)
    view = a[10:20].reshape(2, 5)     # a view of a view still holds the block
    del a
    c = pool.take(100, np.float32)
    assert not np.shares_memory(view, c)
    del view
    d = pool.take(100, np.float32)    # now the first block is free again
    assert len(pool._blocks) == 3 and np.shares_memory(d, pool._blocks[-1])


def test_best_fit_within_twice_the_request():
    pool = BlockPool(min_bytes=0)
    big, small = pool.take(400, np.float64), pool.take(120, np.float64)
    big_id, small_id = id(big.base), id(small.base)
    del big, small
    assert id(pool.take(100, np.float64).base) == small_id      # the smaller block that fits
    assert id(pool.take(210, np.float64).base) == big_id        # 400 <= 2 * 210
    n = len(pool._blocks)
    pool.take(150, np.float64)     # 400 > 2 * 150 and 120 < 150: no free block fits
    assert len(pool._blocks) == n + 1
    n = len(pool._blocks)
    pool.take(100, np.float32)     # another dtype never shares
    assert len(pool._blocks) == n + 1


def test_the_pool_is_bounded_and_drops_the_least_recently_used_free_block():
    pool = BlockPool(max_blocks=3, min_bytes=0)
    held = pool.take(10, np.float32)
    first_free, second_free = pool.take(20, np.float32), pool.take(30, np.float32)
    ids = [id(b.base) for b in (held, first_free, second_free)]
    del first_free, second_free
    pool.take(40, np.float32)      # a fourth block: the oldest free one goes
    kept = [id(b) for b in pool._blocks]
    assert len(kept) == 3 and ids[0] in kept and ids[1] not in kept and ids[2] in kept
    pool.clear()
    assert pool.nbytes() == 0
    held[:] = 1                    # a view outlives the pool
    assert held.sum() == 10


def test_small_requests_and_other_backends_bypass_the_pool():
    pool = BlockPool(min_bytes=1024)
    pool.take(10, np.float32)
    assert pool.nbytes() == 0
    before = POOL.nbytes()
    with backend.use_backend("devicesim"):
        arrays = workspace(np.float64, (256, 64), (3, 7))
        assert not backend.is_host_array(arrays[0])
        assert [a.shape for a in arrays] == [(256, 64), (3, 7)]
    assert POOL.nbytes() == before


def test_threads_never_share_a_block_in_use():
    pool = BlockPool(max_blocks=64, min_bytes=0)
    start = threading.Barrier(8)
    errors: list = []

    def worker(mark: int) -> None:
        start.wait()
        for _ in range(200):
            block = pool.take(1000, np.float32)
            block[:] = mark
            time.sleep(0)                 # let the other threads take theirs
            if not (block == mark).all():
                errors.append(mark)
            del block

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and 1 <= len(pool._blocks) <= 8


@pytest.mark.parametrize("shapes", [((3, 4), (5,), (2, 2, 2)), ((0, 4), (7,))])
def test_workspace_views_are_disjoint_and_shaped(shapes):
    backend.set_backend("numpy")
    views = workspace(np.float32, *shapes)
    assert [v.shape for v in views] == list(shapes)
    for k, v in enumerate(views):
        v[...] = k
    for k, v in enumerate(views):
        assert (v == k).all()


def test_drop_free_gives_back_the_free_blocks_and_keeps_those_in_use():
    pool = BlockPool(min_bytes=0)
    held = pool.take(100, np.float32)
    pool.take(200, np.float32)            # dropped at once: free
    pool.drop_free()
    assert len(pool._blocks) == 1 and np.shares_memory(held, pool._blocks[0])
    del held
    pool.drop_free()
    assert pool._blocks == [] and pool.nbytes() == 0


def test_the_encoder_for_decoding_leaves_no_free_block_behind():
    """Decoding needs other sizes than the encoder's layers: their blocks go back."""
    from minis2s.model import ModelConfig, Seq2Seq

    backend.set_backend("numpy")
    config = ModelConfig(cell="lstm", hidden=64, embedding=16, layers=2, src_vocab=9,
                         tgt_vocab=7)
    model = Seq2Seq(config, np.random.default_rng(0))
    src = np.random.default_rng(1).integers(1, 9, size=(30, 64))
    memory = model.encode_memory(model.check_batch(src))
    free = [k for k in range(len(POOL._blocks)) if POOL._free(k)]
    assert free == [] and memory.values.shape == (30, 64, 64)
