"""The seq2seq model and its decoders: loss normalisation, the two decoder paths, decoding
invariances, memorisation in every context mode, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

from minis2s import backend
from minis2s.checks.model import SRC_VOCAB, TGT_VOCAB, toy_batch
from minis2s.decode import beam_decode, greedy_decode
from minis2s.model import CONTEXTS, CheckedBatch, ModelConfig, Seq2Seq
from minis2s.optim import make_optimizer

READINGS = [
    {"context": "aligned"},
    {"context": "final"},
    {"context": "attention", "attention": "additive"},
    {"context": "attention", "attention": "dot"},
    {"context": "attention", "attention": "general"},
]
READING_IDS = ["aligned", "final", "additive", "dot", "general"]


def _model(rng, dtype=np.float64, **settings):
    config = ModelConfig(SRC_VOCAB, TGT_VOCAB, **{"hidden": 5, "embedding": 4, **settings})
    return Seq2Seq(config, rng, dtype=dtype)


def _column(a, i):
    """Row ``i`` of a (T, N) batch, alone, with its padding cut off."""
    col = a[:, i]
    return col[: max(1, int((col != 0).sum()))][:, None]


@pytest.mark.parametrize("settings", READINGS, ids=READING_IDS)
def test_loss_is_token_weighted_mean_of_sentence_losses(settings, xp, rng):
    model = _model(rng, cell="gru", **settings)
    src, tgt_in, tgt_out = toy_batch(settings["context"] == "aligned", rng)
    batch_loss = backend.to_float(model.loss(src, tgt_in, tgt_out))
    total, tokens = 0.0, 0
    for i in range(src.shape[1]):
        n_tok = int((tgt_out[:, i] != 0).sum())
        loss_i = backend.to_float(
            model.loss(_column(src, i), _column(tgt_in, i)[:n_tok], _column(tgt_out, i)))
        total += loss_i * n_tok
        tokens += n_tok
    assert batch_loss == pytest.approx(total / tokens, rel=1e-12)


@pytest.mark.parametrize("context", ["aligned", "final"])
def test_sequence_path_equals_step_path(context, xp, rng):
    """With every decoder input known, the decoder runs as one sequence; the step loop
    (used for attention and scheduled sampling) must give the same loss and gradients."""
    model = _model(rng, cell="lstm", layers=2, context=context)
    src, tgt_in, tgt_out = toy_batch(context == "aligned", rng)
    loss_seq, grads_seq, _ = model.loss_and_grads(src, tgt_in, tgt_out, 1.0)
    # teacher forcing 1 - 1e-12 takes the step path but always feeds the reference
    loss_step, grads_step, _ = model.loss_and_grads(
        src, tgt_in, tgt_out, 1.0 - 1e-12, rng=np.random.default_rng(0))
    assert backend.to_float(loss_seq) == pytest.approx(backend.to_float(loss_step), rel=1e-12)
    assert set(grads_seq) == set(grads_step) == set(model.params)
    for k in grads_seq:
        np.testing.assert_allclose(backend.to_host(grads_seq[k]), backend.to_host(grads_step[k]),
                                   rtol=1e-9, atol=1e-12, err_msg=k)


def test_attention_weights_exposed_and_zero_on_padding(xp, rng):
    model = _model(rng, cell="lstm", context="attention")
    src, tgt_in, tgt_out = toy_batch(False, rng)
    _, grads, info = model.loss_and_grads(src, tgt_in, tgt_out)
    att = info.attention                                    # (Tt, N, Ts)
    assert att.shape == (tgt_in.shape[0], src.shape[1], src.shape[0])
    np.testing.assert_allclose(att.sum(axis=2), 1.0, rtol=1e-12)
    pad = (src == 0).T[None].repeat(att.shape[0], axis=0)
    assert np.all(att[pad] == 0.0)
    assert info.enc_grad_norms.shape == (src.shape[0],)
    assert info.num_tokens == int((tgt_out != 0).sum())


def test_final_context_reads_last_real_state_not_padding(xp, rng):
    """Extra padding at the end of a source must not change anything."""
    model = _model(rng, cell="gru", context="final")
    src, tgt_in, tgt_out = toy_batch(False, rng)
    padded = np.concatenate([src, np.zeros((3, src.shape[1]), dtype=src.dtype)])
    a = backend.to_float(model.loss(src, tgt_in, tgt_out))
    b = backend.to_float(model.loss(padded, tgt_in, tgt_out))
    assert a == pytest.approx(b, rel=1e-13)


# --- decoding ------------------------------------------------------------------------------

def _mixed_batch(rng, n=5, aligned=False):
    lengths = rng.integers(1, 6, n)
    src = np.zeros((lengths.max(), n), dtype=np.int64)
    for i, length in enumerate(lengths):
        src[:length, i] = rng.integers(3, SRC_VOCAB, length)
    return src


@pytest.mark.parametrize("settings", READINGS, ids=READING_IDS)
def test_beam_of_one_is_greedy(settings, xp, rng):
    model = _model(rng, cell="lstm", **settings)
    src = _mixed_batch(rng)
    greedy = greedy_decode(model, src, max_len=7)
    beam = beam_decode(model, src, beam_size=1, max_len=7)
    for g, (b,) in zip(greedy, beam):
        assert g.tokens == b.tokens
        assert g.score == pytest.approx(b.score, rel=1e-12)


@pytest.mark.parametrize("settings", READINGS, ids=READING_IDS)
def test_sentence_alone_equals_sentence_in_batch(settings, xp, rng):
    model = _model(rng, cell="gru", bidirectional=settings.get("attention") != "dot", **settings)
    src = _mixed_batch(rng)
    greedy = greedy_decode(model, src)
    beam = beam_decode(model, src, beam_size=3, n_best=2)
    for i in range(src.shape[1]):
        alone = _column(src, i)
        (g,) = greedy_decode(model, alone)
        (b,) = beam_decode(model, alone, beam_size=3, n_best=2)
        assert g.tokens == greedy[i].tokens
        assert g.score == pytest.approx(greedy[i].score, rel=1e-10)
        assert [h.tokens for h in b] == [h.tokens for h in beam[i]]
        np.testing.assert_allclose([h.score for h in b], [h.score for h in beam[i]], rtol=1e-10)


def test_decoding_bad_input(rng):
    model = _model(rng, context="attention")
    src = _mixed_batch(rng)
    with pytest.raises(ValueError, match="beam_size: expected an integer >= 1, got 0"):
        beam_decode(model, src, beam_size=0)
    with pytest.raises(ValueError, match="max_len: expected a positive integer, got 0"):
        greedy_decode(model, src, max_len=0)
    with pytest.raises(ValueError, match="n_best"):
        beam_decode(model, src, beam_size=2, n_best=3)


# --- bad input -----------------------------------------------------------------------------

def test_bad_batches_are_refused_clearly(rng):
    model = _model(rng, context="aligned")
    src, tgt_in, tgt_out = toy_batch(True, rng)
    with pytest.raises(ValueError, match="empty sequence.*rows \\[1\\]"):
        bad = src.copy()
        bad[:, 1] = 0
        model.loss(bad, tgt_in, tgt_out)
    with pytest.raises(ValueError, match="equal length; rows \\[0\\]"):
        model.loss(src[:3], tgt_in, tgt_out)       # row 0 source cut from 4 to 3 tokens
    n = 12  # many bad rows: the first five are named, the rest counted
    wide = [np.tile(a, (1, n // a.shape[1] + 1))[:, :n] for a in (src, tgt_in, tgt_out)]
    with pytest.raises(ValueError, match=r"rows \[0, 1, 2, 3, 4\] \(and \d+ more\) have "
                                         r"source lengths \[\d+, \d+, \d+, \d+, \d+\] and"):
        model.loss(wide[0][:1], wide[1], wide[2])
    with pytest.raises(ValueError, match="token ids must lie in \\[0, 8\\).*\\[8\\]"):
        bad = src.copy()
        bad[0, 0] = SRC_VOCAB
        model.loss(bad, tgt_in, tgt_out)
    with pytest.raises(ValueError, match="tgt_out: token ids must lie in \\[0, 7\\).*\\[-1\\]"):
        bad = tgt_out.copy()
        bad[0, 0] = -1
        model.loss(src, tgt_in, bad)
    with pytest.raises(TypeError, match="integer token ids, got dtype float64"):
        model.loss(src.astype(float), tgt_in, tgt_out)
    with pytest.raises(ValueError, match="batch sizes differ"):
        model.loss(src[:, :2], tgt_in, tgt_out)
    with pytest.raises(ValueError, match="padding .* in the middle"):
        bad = src.copy()
        bad[0, 0] = 0
        model.loss(bad, tgt_in, tgt_out)


def test_bad_configs_are_refused_clearly():
    with pytest.raises(ValueError, match="context: expected one of"):
        ModelConfig(10, 10, context="global")
    with pytest.raises(ValueError, match="cell: expected one of"):
        ModelConfig(10, 10, cell="transformer")
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(10, 10, dropout=1.0)
    with pytest.raises(ValueError, match="dot attention"):
        ModelConfig(10, 10, attention="dot", bidirectional=True)
    with pytest.raises(ValueError, match="unknown settings \\['colour'\\]"):
        ModelConfig.from_dict({"src_vocab": 10, "tgt_vocab": 10, "colour": "red"})
    config = ModelConfig(10, 12, cell="gru", layers=2)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="embedding: expected a positive integer or None"):
        ModelConfig(10, 10, embedding=True)                  # not a size of 1


def test_the_old_cell_name_is_read_as_rnn():
    old = ModelConfig(10, 12, cell="seed")
    assert old.cell == "rnn" and old == ModelConfig(10, 12, cell="rnn")
    assert ModelConfig.from_dict({**old.to_dict(), "cell": "seed"}) == old


# --- learning ------------------------------------------------------------------------------

def _cipher_pairs(rng, n=32):
    """Random strings and their letter-by-letter substitution: learnable by every reading."""
    table = rng.permutation(np.arange(3, TGT_VOCAB))
    pairs = set()
    while len(pairs) < n:
        length = int(rng.integers(2, 5))
        pairs.add(tuple(rng.integers(3, TGT_VOCAB, length)))
    src = [list(p) for p in sorted(pairs)]
    tgt = [[int(table[s - 3]) for s in p] for p in src]
    return src, tgt


def _pad(seqs, bos=False, eos=False):
    seqs = [([1] if bos else []) + list(s) + ([2] if eos else []) for s in seqs]
    out = np.zeros((max(map(len, seqs)), len(seqs)), dtype=np.int64)
    for i, s in enumerate(seqs):
        out[: len(s), i] = s
    return out


def _train(model, src, tgt, steps, lr=0.02):
    opt = make_optimizer("adam", model.params, lr=lr)
    s, ti, to = _pad(src), _pad(tgt, bos=True), _pad(tgt, eos=True)
    for _ in range(steps):
        _, grads, _ = model.loss_and_grads(s, ti, to)
        opt.step(grads)


@pytest.mark.parametrize("settings", READINGS, ids=READING_IDS)
def test_memorises_32_pairs(settings, xp):
    if backend.backend_name() == "devicesim" and settings.get("attention") != "additive":
        pytest.skip("on the simulated device one reading (additive attention) is enough")
    rng = np.random.default_rng(3)
    src, tgt = _cipher_pairs(rng)
    config = ModelConfig(TGT_VOCAB, TGT_VOCAB, cell="gru", hidden=32, embedding=16, **settings)
    model = Seq2Seq(config, np.random.default_rng(0), dtype=np.float32)
    _train(model, src, tgt, steps=150)
    hyps = greedy_decode(model, _pad(src))
    exact = np.mean([h.tokens == t for h, t in zip(hyps, tgt)])
    assert exact == 1.0, f"{settings}: exact match {exact:.2f} after 150 steps"


def test_beam_scores_at_least_greedy_on_trained_model():
    rng = np.random.default_rng(5)
    src, tgt = _cipher_pairs(rng, n=40)
    config = ModelConfig(TGT_VOCAB, TGT_VOCAB, cell="lstm", hidden=16, embedding=8)
    model = Seq2Seq(config, np.random.default_rng(1), dtype=np.float64)
    _train(model, src[:30], tgt[:30], steps=40)          # half-trained: decisions are not trivial
    test = _pad(src[30:])
    greedy = greedy_decode(model, test)
    beam = beam_decode(model, test, beam_size=5)
    g_mean = np.mean([h.score for h in greedy])
    b_mean = np.mean([h[0].score for h in beam])
    assert b_mean >= g_mean - 1e-12


def test_set_params_loads_in_place_so_an_optimizer_keeps_tracking(xp, rng):
    model = _model(rng, cell="gru")
    opt = make_optimizer("sgd", model.params, lr=0.1)
    loaded = {k: np.full(v.shape, 0.5) for k, v in model.host_params().items()}
    model.set_params(loaded)
    assert all(opt.params[k] is model.params[k] for k in model.params)
    np.testing.assert_array_equal(backend.to_host(model.params["out.b"]), 0.5)
    with pytest.raises(ValueError, match="parameter 'out.b' expected shape \\(7,\\), got \\(3,\\)"):
        model.set_params({**loaded, "out.b": np.zeros(3)})
    with pytest.raises(ValueError, match="missing parameters \\['out.b'\\]"):
        model.set_params({k: v for k, v in loaded.items() if k != "out.b"})


class _TreeLM:
    """A stand-in model whose next-token probabilities are a fixed table over prefixes:
    just enough of Seq2Seq's interface for the decoders (ids: 0 pad, 1 <s>, 2 </s>, 3 A,
    4 B). The state of a row is the id of its prefix in ``self.prefixes``."""

    TABLE = {(): {3: 0.60, 2: 0.35, 4: 0.05},
             (3,): {3: 0.90, 2: 0.05, 4: 0.05},
             (3, 3): {2: 0.95, 3: 0.03, 4: 0.02},
             (4,): {2: 0.90, 3: 0.05, 4: 0.05}}

    config = None
    reading = CONTEXTS["attention"](None)

    class _Memory:
        def __init__(self, rows):
            self.state0 = (backend.to_device(np.zeros((1, rows, 1))),)

        def select(self, rows):
            return _TreeLM._Memory(len(rows))

    def __init__(self):
        self.prefixes = [()]

    def check_batch(self, src):
        return CheckedBatch(src, np.array([src.shape[0]] * src.shape[1]), None, None, None,
                            None, 0)

    def encode(self, batch):
        return self._Memory(batch.src.shape[1]), None

    def decode_step(self, memory, y, state, t):
        ids = backend.to_host(state[0]).reshape(-1).astype(int)
        new = []
        for row, prev in zip(ids, y):
            prefix = self.prefixes[row] + (() if t == 0 else (int(prev),))
            if prefix not in self.prefixes:
                self.prefixes.append(prefix)
            new.append(self.prefixes.index(prefix))
        h = backend.to_device(np.array(new, dtype=float)[:, None])
        return h, (h[None],), None, None

    def output_logits(self, h):
        logits = np.full((h.shape[0], 5), -30.0)
        for r, pid in enumerate(backend.to_host(h).reshape(-1).astype(int)):
            for v, p in self.TABLE.get(self.prefixes[pid], {2: 1.0}).items():
                logits[r, v] = np.log(p)
        return backend.to_device(logits)


def test_beam_keeps_the_likely_prefix_when_unlikely_ones_finish_first(xp):
    """Regression (found on g2p): a beam once stopped as soon as k hypotheses had ended,
    here "" (p .35) and "B" (p .045), dropping "A A" (p .513) that was still growing."""
    src = np.full((1, 1), 5)
    (greedy,) = greedy_decode(_TreeLM(), src, max_len=5, alpha=0.0)
    assert greedy.tokens == [3, 3] and greedy.log_prob == pytest.approx(np.log(.6 * .9 * .95))
    for k in (1, 2, 3):
        (best,) = beam_decode(_TreeLM(), src, beam_size=k, max_len=5, alpha=0.0)[0]
        assert best.tokens == [3, 3], f"beam {k} returned {best.tokens}"
    hyps = beam_decode(_TreeLM(), src, beam_size=3, max_len=5, alpha=0.0, n_best=3)[0]
    assert [h.tokens for h in hyps] == [[3, 3], [], [4]]


def test_dropout_with_one_layer_warns_that_it_does_nothing():
    with pytest.warns(UserWarning, match="dropout 0.3 acts between stacked layers"):
        ModelConfig(10, 10, layers=1, dropout=0.3)
