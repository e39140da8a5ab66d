"""The shared input checks: what they accept, and that their messages name expected vs got."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import to_dev

from minis2s import backend
from minis2s.ops import validate


def test_check_float_accepts_float_and_refuses_int_list_and_wrong_ndim(xp):
    validate.check_float(to_dev(np.zeros((2, 3))), "W", ndim=2)
    with pytest.raises(TypeError, match="W: expected a floating-point array, got dtype int64"):
        validate.check_float(to_dev(np.zeros((2, 3)), dtype=np.int64), "W")
    with pytest.raises(TypeError, match="x: expected an array, got list"):
        validate.check_float([1.0, 2.0], "x")
    with pytest.raises(ValueError, match=r"W: expected a 2-d array, got 3-d with shape \(1, 2, 3"):
        validate.check_float(to_dev(np.zeros((1, 2, 3))), "W", ndim=2)


def test_host_array_on_a_device_backend_is_refused_with_the_fix():
    with backend.use_backend("devicesim"):
        with pytest.raises(TypeError, match="active backend 'devicesim'.*to_device"):
            validate.check_float(np.zeros(3), "x")


def test_check_shape_message_names_expected_and_got(xp):
    x = to_dev(np.zeros((5, 2, 4)))
    validate.check_shape(x, (None, 2, 4), "x")
    with pytest.raises(
        ValueError, match=r"x: expected shape \(T, N, D\) = \(\*, 3, 4\), got \(5, 2, 4\)"
    ):
        validate.check_shape(x, (None, 3, 4), "x", names=("T", "N", "D"))
    with pytest.raises(ValueError, match=r"b: expected shape \(4,\), got \(5, 2, 4\)"):
        validate.check_shape(x, (4,), "b")


def test_check_same_dtype_lists_every_dtype(xp):
    a, b = to_dev(np.zeros(2), np.float32), to_dev(np.zeros(2), np.float64)
    validate.check_same_dtype({"a": a, "skip": None}, "piece")
    with pytest.raises(TypeError, match="piece: .*one dtype, got a: float32, b: float64"):
        validate.check_same_dtype({"a": a, "b": b}, "piece")


def test_check_token_ids_dtype_range_and_masked_padding(xp):
    ids = to_dev(np.array([[0, 3], [2, 1]]), np.int64)
    host = validate.check_token_ids(ids, 4, "ids")
    assert isinstance(host, np.ndarray) and host.tolist() == [[0, 3], [2, 1]]
    with pytest.raises(TypeError, match="ids: expected an integer dtype for token ids, got float"):
        validate.check_token_ids(to_dev(np.zeros((2, 2))), 4, "ids")
    with pytest.raises(ValueError,
                       match=r"ids: expected token ids in \[0, 3\).*got 3 at index \(0, 1\)"):
        validate.check_token_ids(ids, 3, "ids")
    neg = np.array([[0, -100], [2, 1]])
    with pytest.raises(ValueError, match=r"got -100 at index \(0, 1\)"):
        validate.check_token_ids(neg, 4, "ids")
    # where the mask says padding, any integer is allowed
    validate.check_token_ids(neg, 4, "ids", mask=np.array([[True, False], [True, True]]))


def test_check_mask_values_shape_and_kind(xp):
    m = validate.check_mask(to_dev(np.array([[1.0, 0.0], [1.0, 1.0]])), (2, 2))
    assert m.dtype == np.bool_ and m.tolist() == [[True, False], [True, True]]
    with pytest.raises(ValueError, match="mask: expected only 0 and 1, got the value 2"):
        validate.check_mask(np.array([[1, 2], [0, 1]]), (2, 2))
    with pytest.raises(ValueError, match=r"mask: expected shape \(3, 2\), got \(2, 2\)"):
        validate.check_mask(np.ones((2, 2)), (3, 2))
    with pytest.raises(TypeError, match="mask: expected a 0/1 or bool array, got list"):
        validate.check_mask([[1, 0]], (1, 2))


def test_check_positive_int():
    assert validate.check_positive_int(np.int64(3), "V") == 3
    with pytest.raises(TypeError, match="V: expected a positive integer, got bool True"):
        validate.check_positive_int(True, "V")
    with pytest.raises(TypeError, match="got float 2.0"):
        validate.check_positive_int(2.0, "V")
    with pytest.raises(ValueError, match="V: expected a positive integer, got 0"):
        validate.check_positive_int(0, "V")


def test_check_generator():
    rng = np.random.default_rng(0)
    assert validate.check_generator(rng, "f") is rng
    for bad, name in ((None, "NoneType"), (0, "int"), (np.random.RandomState(0), "RandomState")):
        with pytest.raises(TypeError, match=r"f: expected a numpy.random.Generator "
                                            rf"\(np.random.default_rng\(seed\)\), got {name}"):
            validate.check_generator(bad, "f")


def test_check_float_dtype():
    assert validate.check_float_dtype("float32", "f") == np.float32
    assert validate.check_float_dtype(np.float64, "f") == np.float64
    with pytest.raises(TypeError, match="f: expected a floating-point dtype, got int64"):
        validate.check_float_dtype(np.int64, "f")
