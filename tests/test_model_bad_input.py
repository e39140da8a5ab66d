"""What does a wrong value get? Every public entry point of ``minis2s.model`` and
``minis2s.decode``, fed wrong input drawn by hypothesis (wrong dtypes, float ids, negative
ids, ids >= vocabulary, wrong ndim, empty batches, mismatched batch sizes, padding in the
middle, wrong settings, wrong rng types, beam_size 0, NaN ...), must answer with a
``TypeError``/``ValueError`` raised by minis2s itself, one line that names the argument --
never a raw NumPy ``IndexError``/``KeyError``, a crash deep inside, or a NaN result.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis comes with the dev extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from minis2s.checks.model import SRC_VOCAB, TGT_VOCAB, toy_batch  # noqa: E402
from minis2s.decode import beam_decode, greedy_decode, length_penalty  # noqa: E402
from minis2s.model import Ensemble, ModelConfig, Seq2Seq  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# One small model per reading, and a valid batch for each (aligned: equal lengths).
MODELS = {
    context: Seq2Seq(ModelConfig(SRC_VOCAB, TGT_VOCAB, hidden=3, embedding=2, context=context),
                     np.random.default_rng(0), dtype=np.float64)
    for context in ("aligned", "final", "attention")
}
BATCHES = {context: toy_batch(context == "aligned", np.random.default_rng(1))
           for context in MODELS}


def _refused(call, *names):
    """``call()`` raises TypeError/ValueError from minis2s code, naming one of ``names``."""
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    message = str(info.value)
    assert any(name in message for name in names), f"{names} not named in: {message}"
    assert "\n" not in message and len(message) < 600, message
    where = info.traceback[-1].path
    assert "minis2s" in str(where) and "numpy" not in str(where), (
        f"raised at {where}, not by minis2s' own checks: {info.value!r}")
    return message


# --- wrong token-id arrays -----------------------------------------------------------------

def _bad_ids(draw, ids: np.ndarray, vocab: int):
    """A wrong version of the valid ``(T, N)`` ids ``ids``."""
    t, n = ids.shape
    lengths = (ids != 0).sum(axis=0)
    how = draw(st.sampled_from([
        "float", "float16", "bool", "str", "object", "complex", "1d", "3d", "0d", "empty T",
        "empty N", "negative", "too large", "huge", "pad in middle", "all padding", "None",
        "ragged list", "dict", "string", "float list", "scalar"]))
    col = draw(st.integers(0, n - 1))
    bad = ids.copy()
    if how == "float":
        return bad.astype(np.float64)
    if how == "float16":
        return bad.astype(np.float16)
    if how == "bool":
        return bad.astype(bool)
    if how == "str":
        return bad.astype(str)
    if how == "object":
        return bad.astype(object)
    if how == "complex":
        return bad.astype(complex)
    if how == "1d":
        return bad[:, col]
    if how == "3d":
        return bad[..., None]
    if how == "0d":
        return np.array(bad[0, col])
    if how == "empty T":
        return bad[:0]
    if how == "empty N":
        return bad[:, :0]
    if how == "negative":
        bad[draw(st.integers(0, t - 1)), col] = draw(st.integers(-10**6, -1))
        return bad
    if how == "too large":
        bad[draw(st.integers(0, lengths[col] - 1)), col] = draw(st.integers(vocab, 10**9))
        return bad
    if how == "huge":
        return bad.astype(np.uint64) + np.uint64(2**63)
    if how == "pad in middle":
        if lengths[col] < 2:
            return bad[:, :0]
        bad[draw(st.integers(0, lengths[col] - 2)), col] = 0
        return bad
    if how == "all padding":
        bad[:, col] = 0
        return bad
    if how == "None":
        return None
    if how == "ragged list":
        return [list(map(int, bad[:, 0])), [1]]
    if how == "dict":
        return {"ids": bad}
    if how == "string":
        return "3 4 5"
    if how == "float list":
        return bad.astype(float).tolist()
    return 3


@st.composite
def bad_batch(draw):
    """``(context, (src, tgt_in, tgt_out) with one of them wrong, names to expect)``."""
    context = draw(st.sampled_from(sorted(MODELS)))
    batch = list(BATCHES[context])
    which = draw(st.integers(0, 2))
    vocab = SRC_VOCAB if which == 0 else TGT_VOCAB
    batch[which] = _bad_ids(draw, batch[which], vocab)
    names = (("src", "tgt") if which == 0 else ("tgt_in", "tgt_out", "tgt", "src and tgt"))
    return context, tuple(batch), names


@SETTINGS
@given(bad_batch())
def test_wrong_ids_are_refused_by_loss_and_gradients(case):
    context, (src, tgt_in, tgt_out), names = case
    model = MODELS[context]
    _refused(lambda: model.loss(src, tgt_in, tgt_out), *names)
    _refused(lambda: model.loss_and_grads(src, tgt_in, tgt_out), *names)


@st.composite
def bad_source(draw):
    context = draw(st.sampled_from(sorted(MODELS)))
    return context, _bad_ids(draw, BATCHES[context][0], SRC_VOCAB)


@SETTINGS
@given(bad_source())
def test_wrong_sources_are_refused_by_decoding(case):
    context, src = case
    model = MODELS[context]
    _refused(lambda: greedy_decode(model, src), "src")
    _refused(lambda: beam_decode(model, src, beam_size=2), "src")


@SETTINGS
@given(bad_source())
def test_wrong_sources_are_refused_by_an_ensemble(case):
    """Each member checks the ids: an ensemble refuses what its models refuse."""
    context, src = case
    ensemble = Ensemble([MODELS[context], MODELS[context]])
    _refused(lambda: greedy_decode(ensemble, src), "src")
    _refused(lambda: beam_decode(ensemble, src, beam_size=2), "src")


@SETTINGS
@given(st.sampled_from(sorted(MODELS)), st.integers(1, 4), st.sampled_from(["src", "tgt"]))
def test_mismatched_batch_sizes_and_shapes(context, cut, side):
    src, tgt_in, tgt_out = BATCHES[context]
    if side == "src":
        src = np.concatenate([src] * (cut + 1), axis=1)
        _refused(lambda: MODELS[context].loss(src, tgt_in, tgt_out), "batch sizes differ")
    else:
        _refused(lambda: MODELS[context].loss(src, tgt_in[:, :1], tgt_out),
                 "tgt_in and tgt_out")
        _refused(lambda: MODELS[context].loss(src, tgt_in, None), "tgt_out")


def test_target_padding_that_disagrees(rng):
    src, tgt_in, tgt_out = BATCHES["final"]
    bad = tgt_in.copy()
    bad[1:, 0] = 0                                   # tgt_in cut short, tgt_out not
    message = _refused(lambda: MODELS["final"].loss(src, bad, tgt_out), "tgt_in and tgt_out")
    assert "padding at the same positions" in message


# --- wrong arguments of forward ------------------------------------------------------------

BAD_RATIOS = [-0.1, 1.5, math.nan, math.inf, -math.inf, "1", None, True, [1.0], 1 + 0j]
BAD_RNGS = [7, "seed", np.random.RandomState(0), object(), [1, 2]]


@SETTINGS
@given(st.sampled_from(sorted(MODELS)), st.sampled_from(BAD_RATIOS))
def test_wrong_teacher_forcing(context, ratio):
    src, tgt_in, tgt_out = BATCHES[context]
    _refused(lambda: MODELS[context].forward(src, tgt_in, tgt_out, ratio,
                                             np.random.default_rng(0)), "teacher_forcing")


@SETTINGS
@given(st.sampled_from(sorted(MODELS)), st.sampled_from(BAD_RNGS + [None]),
       st.sampled_from([0.0, 0.5, 1.0]))
def test_wrong_rng(context, rng, ratio):
    src, tgt_in, tgt_out = BATCHES[context]
    if rng is None and ratio == 1.0:
        return                                       # needs no rng: valid
    _refused(lambda: MODELS[context].loss_and_grads(src, tgt_in, tgt_out, ratio, rng), "rng")


@pytest.mark.parametrize("train", ["yes", 1, None, 0.0])
def test_wrong_train_flag(train):
    src, tgt_in, tgt_out = BATCHES["final"]
    _refused(lambda: MODELS["final"].forward(src, tgt_in, tgt_out, train=train), "train")


@pytest.mark.parametrize("cache", [None, (), {"loss": 1.0}, "cache"])
def test_backward_of_something_else(cache):
    _refused(lambda: MODELS["final"].backward(cache), "backward")


@pytest.mark.parametrize("batch", [None, BATCHES["final"][0], BATCHES["final"]])
def test_encode_of_something_else(batch):
    _refused(lambda: MODELS["final"].encode(batch), "encode")


# --- wrong settings ------------------------------------------------------------------------

JUNK = [None, "x", "", -1, 0, 1.5, 2.0, True, False, [1], {}, math.nan, math.inf, "64",
        np.float64(3.0), 1 + 2j]
VALID = {
    "cell": lambda v: v in ("seed", "rnn", "lstm", "gru"),
    "layers": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "hidden": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    "embedding": lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)
                                         and v >= 1),
    "bidirectional": lambda v: isinstance(v, bool),
    "context": lambda v: v in ("aligned", "final", "attention"),
    "attention": lambda v: v in ("additive", "dot", "general"),
    "dropout": lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)
                          and 0 <= v < 1),
    "activation": lambda v: v in ("tanh", "relu", "sigmoid", "identity"),
    "src_vocab": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 4,
    "tgt_vocab": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 4,
}
SPECIFIC = {"cell": ["transformer", "LSTM"], "context": ["global", "Attention"],
            "attention": ["cos", "mlp"], "activation": ["gelu"], "dropout": [1.0, -0.5],
            "src_vocab": [3, 1], "tgt_vocab": [2], "embedding": [-3]}


@st.composite
def bad_setting(draw):
    name = draw(st.sampled_from(sorted(VALID)))
    value = draw(st.sampled_from(JUNK + SPECIFIC.get(name, [])).filter(
        lambda v: not _valid(name, v)))
    return name, value


def _valid(name, value):
    try:
        return bool(VALID[name](value))
    except TypeError:                                # e.g. [1] in a tuple of names
        return False


@SETTINGS
@given(bad_setting())
def test_wrong_settings_are_refused(case):
    name, value = case
    kwargs = {"src_vocab": 10, "tgt_vocab": 10, name: value}
    _refused(lambda: ModelConfig(**kwargs), name, "vocabularies", "scorer")


def test_embedding_true_is_not_size_one():
    _refused(lambda: ModelConfig(10, 10, embedding=True), "embedding")


@pytest.mark.parametrize("config, rng, dtype, name", [
    ({"src_vocab": 8}, np.random.default_rng(0), np.float64, "ModelConfig"),
    (None, np.random.default_rng(0), np.float64, "ModelConfig"),
    ("config", np.random.default_rng(0), np.float64, "ModelConfig"),
    (ModelConfig(8, 8), 0, np.float64, "Generator"),
    (ModelConfig(8, 8), np.random.RandomState(0), np.float64, "Generator"),
    (ModelConfig(8, 8), np.random.default_rng(0), np.int32, "floating-point dtype"),
    (ModelConfig(8, 8), np.random.default_rng(0), "banana", "floating-point dtype"),
    (ModelConfig(8, 8), np.random.default_rng(0), complex, "floating-point dtype"),
])
def test_wrong_model_construction(config, rng, dtype, name):
    _refused(lambda: Seq2Seq(config, rng, dtype=dtype), name)


@pytest.mark.parametrize("params, name", [
    (None, "dict"),
    ([("out.b", np.zeros(7))], "dict"),
    ("params", "dict"),
])
def test_wrong_set_params_container(params, name):
    _refused(lambda: MODELS["final"].set_params(params), name)


@SETTINGS
@given(st.sampled_from(["missing", "extra", "shape", "list", "str", "none", "object"]),
       st.sampled_from(sorted(MODELS["attention"].params)))
def test_wrong_set_params_entries(how, name):
    model = MODELS["attention"]
    params = model.host_params()
    if how == "missing":
        del params[name]
    elif how == "extra":
        params[name + ".extra"] = params[name]
    elif how == "shape":
        params[name] = np.zeros(params[name].shape + (1,))
    elif how == "list":
        params[name] = params[name].tolist()
    elif how == "str":
        params[name] = params[name].astype(str)
    elif how == "none":
        params[name] = None
    else:
        params[name] = params[name].astype(object)
    _refused(lambda: model.set_params(params), "set_params")
    after = model.host_params()
    assert all(np.isfinite(v).all() for v in after.values())


# --- wrong decoding settings ---------------------------------------------------------------

BAD_COUNTS = [0, -1, 2.5, 2.0, "3", True, None, math.nan, [2]]
BAD_ALPHAS = [math.nan, math.inf, -math.inf, -0.5, "0.6", None, True, [0.6], 1j]
BAD_MAX_LEN = [0, -5, 2.5, "7", True, math.nan, [3]]   # None: the default limit


@SETTINGS
@given(st.sampled_from(sorted(MODELS)),
       st.sampled_from(["beam_size", "n_best", "alpha", "max_len"]), st.data())
def test_wrong_search_settings(context, name, data):
    model, src = MODELS[context], BATCHES[context][0]
    pool = {"beam_size": BAD_COUNTS, "n_best": BAD_COUNTS + [3], "alpha": BAD_ALPHAS,
            "max_len": BAD_MAX_LEN}[name]
    value = data.draw(st.sampled_from(pool))
    kwargs = {"beam_size": 2, name: value}
    _refused(lambda: beam_decode(model, src, **kwargs), name)
    if name in ("alpha", "max_len"):
        _refused(lambda: greedy_decode(model, src, **{name: value}), name)


@pytest.mark.parametrize("length, alpha", [(-1, 0.6), (2.5, 0.6), (3, math.nan), (3, -1.0),
                                           ("3", 0.6), (3, "0.6")])
def test_wrong_length_penalty(length, alpha):
    _refused(lambda: length_penalty(length, alpha), "length", "alpha")


def test_not_a_model():
    for thing in (None, {}, "model", MODELS["final"].config):
        _refused(lambda thing=thing: greedy_decode(thing, BATCHES["final"][0]), "model")
        _refused(lambda thing=thing: beam_decode(thing, BATCHES["final"][0]), "model")
