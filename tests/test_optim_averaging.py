"""Weight averaging (``--average``): the formula on golden sequences, its state, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s.optim.averaging import WeightAverage


def _run(iterates, decay):
    params = {"w": to_dev(np.array(iterates[0], dtype=float))}
    avg = WeightAverage(params, decay)
    for x in iterates:
        params["w"][...] = to_dev(np.array(x, dtype=float))
        avg.update(params)
    return avg


def test_golden_by_hand(xp):
    # d = 0.5: a1 = 0.5 p1, a2 = 0.5 a1 + 0.5 p2; p_avg = a2 / (1 - 0.25)
    # = (0.25 p1 + 0.5 p2) / 0.75 = p1 / 3 + 2 p2 / 3
    avg = _run([[1.0, 2.0], [3.0, 4.0]], 0.5)
    np.testing.assert_allclose(host(avg.averaged()["w"]), [7 / 3, 10 / 3], rtol=1e-15)
    assert avg.t == 2


def test_weighted_mean_of_the_iterates(xp):
    """p_avg = sum_i w_i p_i, w_i = (1 - d) d^(t-i) / (1 - d^t), for any sequence."""
    rng = np.random.default_rng(0)
    iterates = rng.standard_normal((7, 3, 2))
    for decay in (0.0, 0.3, 0.9, 0.999):
        avg = _run(list(iterates), decay)
        t = len(iterates)
        weights = np.array([(1 - decay) * decay ** (t - i) for i in range(1, t + 1)])
        expected = np.tensordot(weights / (1 - decay ** t), iterates, axes=1)
        np.testing.assert_allclose(host(avg.averaged()["w"]), expected, rtol=1e-12)


def test_decay_zero_is_the_last_iterate_and_a_constant_averages_to_itself(xp):
    np.testing.assert_array_equal(host(_run([[1.0], [5.0]], 0.0).averaged()["w"]), [5.0])
    frozen = _run([[0.25, -3.0]] * 50, 0.99)
    np.testing.assert_allclose(host(frozen.averaged()["w"]), [0.25, -3.0], rtol=1e-13)


def test_averaged_arrays_are_new(xp):
    avg = _run([[1.0], [2.0]], 0.5)
    out = avg.averaged()
    out["w"][...] = 100.0
    assert host(avg.averaged()["w"])[0] != 100.0


def test_state_dict_round_trip_continues_exactly(xp):
    rng = np.random.default_rng(1)
    seq = list(rng.standard_normal((6, 4)))
    straight = _run(seq, 0.8)
    first = _run(seq[:3], 0.8)
    state = first.state_dict()
    assert state["step"] == 3 and state["decay"] == 0.8 and isinstance(state["avg.w"], np.ndarray)
    params = {"w": to_dev(np.zeros(4))}
    second = WeightAverage(params, 0.8)
    second.load_state_dict({k: np.asarray(v) for k, v in state.items()})  # as an .npz gives
    for x in seq[3:]:
        params["w"][...] = to_dev(x)
        second.update(params)
    np.testing.assert_array_equal(host(second.averaged()["w"]), host(straight.averaged()["w"]))


@pytest.mark.parametrize("decay", [1.0, -0.1, float("nan"), "0.9", True, None])
def test_bad_decay(xp, decay):
    with pytest.raises(ValueError, match=r"weight average decay: expected a number in \[0, 1\)"):
        WeightAverage({"w": to_dev(np.zeros(2))}, decay)


def test_bad_use_and_bad_state(xp):
    avg = WeightAverage({"w": to_dev(np.zeros(2))}, 0.9)
    with pytest.raises(ValueError, match="no step has been averaged yet"):
        avg.averaged()
    good = _run([[1.0, 2.0]], 0.9).state_dict()
    with pytest.raises(ValueError, match=r"expected keys \['avg.w', 'decay', 'step'\], got"):
        avg.load_state_dict({"step": 1, "decay": 0.9})
    with pytest.raises(ValueError, match="expected keys"):
        avg.load_state_dict([1, 2])
    with pytest.raises(ValueError, match="do not fit decay 0.9"):
        avg.load_state_dict({**good, "decay": 0.5})
    with pytest.raises(ValueError, match=r"avg.w has shape \(3,\), expected \(2,\)"):
        avg.load_state_dict({**good, "avg.w": np.zeros(3)})
    assert avg.t == 0   # nothing changed by the failed loads


def test_weighted_mean_property(xp):
    """Any decay and any sequence of iterates: the weighted mean, and inside their range."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
    @hypothesis.given(decay=st.floats(0.0, 0.9999), steps=st.integers(1, 30),
                      seed=st.integers(0, 2**16))
    def check(decay, steps, seed):
        iterates = np.random.default_rng(seed).standard_normal((steps, 3)) * 10
        got = host(_run(list(iterates), decay).averaged()["w"])
        w = np.array([(1 - decay) * decay ** (steps - i) for i in range(1, steps + 1)])
        np.testing.assert_allclose(got, w @ iterates / w.sum(), rtol=1e-9, atol=1e-9)
        assert np.all(got <= iterates.max(axis=0) + 1e-9)
        assert np.all(got >= iterates.min(axis=0) - 1e-9)

    check()


def test_swapped_in_holds_the_average_then_restores_bit_for_bit(xp):
    avg = _run([[1.0, 2.0], [3.0, 4.0]], 0.5)
    params = {"w": to_dev(np.array([0.1, 0.2]))}
    held = params["w"]
    with pytest.raises(RuntimeError):
        with avg.swapped_in(params):
            assert params["w"] is held        # the same array, written in place
            np.testing.assert_allclose(host(params["w"]), [7 / 3, 10 / 3], rtol=1e-15)
            raise RuntimeError                # restored even when the block fails
    assert params["w"] is held
    np.testing.assert_array_equal(host(params["w"]), [0.1, 0.2])
