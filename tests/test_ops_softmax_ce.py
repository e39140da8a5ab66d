"""Masked softmax cross-entropy: golden values, padding that cannot leak, stability."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import host, to_dev

from minis2s import backend
from minis2s.ops import softmax_cross_entropy_backward, softmax_cross_entropy_forward

T, N, V = 4, 3, 5
MASK = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)   # lengths 3, 2, 0


def _inputs():
    logits = np.sin(np.linspace(0.0, 20.0, T * N * V)).reshape(T, N, V) * 3.0
    targets = np.array([[1, 4, 0], [0, 2, 0], [3, 0, 0], [2, 1, 0]])
    return logits, targets


def _naive(logits, targets, mask, eps=0.0):
    """The definition, one token at a time in plain Python: the cross-entropy of the target
    distribution ``q = (1 - eps) onehot(y) + eps / V`` and the softmax, and ``p - q``."""
    total, count, grads = 0.0, 0, np.zeros_like(logits)
    for t in range(logits.shape[0]):
        for n in range(logits.shape[1]):
            if not mask[t, n]:
                continue
            z = logits[t, n]
            log_norm = math.log(sum(math.exp(v) for v in z))
            q = [eps / len(z) + (1.0 - eps) * (v == targets[t, n]) for v in range(len(z))]
            total += sum(-qv * (zv - log_norm) for qv, zv in zip(q, z))
            count += 1
            grads[t, n] = [math.exp(v - log_norm) - qv for v, qv in zip(z, q)]
    return total / count, grads / count


def test_loss_and_gradient_golden(xp):
    logits, targets = _inputs()
    loss, cache = softmax_cross_entropy_forward(to_dev(logits), targets, to_dev(MASK, np.int64))
    expected_loss, expected_grad = _naive(logits, targets, MASK)
    assert isinstance(loss, xp.ndarray) and loss.shape == ()
    np.testing.assert_allclose(backend.to_float(loss), expected_loss, rtol=1e-13)
    assert cache.count == 5
    dlogits = softmax_cross_entropy_backward(1.0, cache)
    np.testing.assert_allclose(host(dlogits), expected_grad, rtol=1e-12, atol=1e-15)
    # dloss scales the gradient; a 0-d array works as well as a float
    d2 = softmax_cross_entropy_backward(to_dev(np.array(2.5)), cache)
    np.testing.assert_allclose(host(d2), 2.5 * expected_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_label_smoothing_golden(xp, eps):
    logits, targets = _inputs()
    loss, cache = softmax_cross_entropy_forward(to_dev(logits), targets, MASK, smoothing=eps)
    expected_loss, expected_grad = _naive(logits, targets, MASK, eps)
    np.testing.assert_allclose(backend.to_float(loss), expected_loss, rtol=1e-13)
    dlogits = host(softmax_cross_entropy_backward(1.0, cache))
    np.testing.assert_allclose(dlogits, expected_grad, rtol=1e-12, atol=1e-15)
    assert np.all(dlogits[~MASK] == 0.0)
    plain, _ = softmax_cross_entropy_forward(to_dev(logits), targets, MASK)
    assert backend.to_float(loss) != backend.to_float(plain)
    # q sums to 1, so every real row of p - q sums to 0
    np.testing.assert_allclose(dlogits.sum(axis=-1), 0.0, atol=1e-15)


def test_label_smoothing_minimum_is_the_entropy_of_q(xp):
    """The smoothed loss is smallest, at H(q), where p = q: logits log q."""
    eps, targets = 0.2, np.array([[1, 4, 0]])
    q = np.full((1, 3, V), eps / V)
    q[0, np.arange(3), targets[0]] += 1.0 - eps
    loss, cache = softmax_cross_entropy_forward(to_dev(np.log(q)), targets, smoothing=eps)
    np.testing.assert_allclose(backend.to_float(loss), -(q[0, 0] * np.log(q[0, 0])).sum(),
                               rtol=1e-13)
    np.testing.assert_allclose(host(softmax_cross_entropy_backward(1.0, cache)), 0.0,
                               atol=1e-15)


@pytest.mark.parametrize("bad, error, what", [
    (-0.1, ValueError, "-0.1"), (1.0, ValueError, "1.0"), (float("nan"), ValueError, "nan"),
    ("0.1", TypeError, "str"), (True, TypeError, "bool"), (None, TypeError, "NoneType")])
def test_label_smoothing_validation(xp, bad, error, what):
    logits, targets = _inputs()
    with pytest.raises(error, match=r"softmax_ce smoothing: expected a number in \[0, 1\), "
                                    rf"got {what}"):
        softmax_cross_entropy_forward(to_dev(logits), targets, MASK, smoothing=bad)


def test_per_token_losses_are_exposed_and_zero_at_padding(xp):
    logits, targets = _inputs()
    _, cache = softmax_cross_entropy_forward(to_dev(logits), targets, MASK)
    tl = host(cache.token_losses)
    z = logits[1, 0]
    np.testing.assert_allclose(tl[1, 0], math.log(np.exp(z).sum()) - z[0], rtol=1e-13)
    assert np.all(tl[~MASK] == 0.0) and np.all(tl[MASK] > 0.0)


def test_no_mask_means_every_token_counts(xp):
    logits, targets = _inputs()
    loss, _ = softmax_cross_entropy_forward(to_dev(logits), targets)
    expected, _ = _naive(logits, targets, np.ones((T, N), dtype=bool))
    np.testing.assert_allclose(backend.to_float(loss), expected, rtol=1e-13)


def test_padding_contributes_nothing_and_gets_exactly_zero_gradient(xp):
    logits, targets = _inputs()
    loss1, c1 = softmax_cross_entropy_forward(to_dev(logits), targets, MASK)
    g1 = host(softmax_cross_entropy_backward(1.0, c1))
    changed = logits.copy()
    changed[~MASK] = np.random.default_rng(0).standard_normal((int((~MASK).sum()), V)) * 1e3
    changed[3, 0, 2] = np.nan                       # even a NaN at padding cannot leak
    changed_targets = targets.copy()
    changed_targets[~MASK] = -100                   # padded targets may be anything
    loss2, c2 = softmax_cross_entropy_forward(to_dev(changed), changed_targets, MASK)
    g2 = host(softmax_cross_entropy_backward(1.0, c2))
    assert backend.to_float(loss1) == backend.to_float(loss2)
    np.testing.assert_array_equal(g1, g2)
    assert np.all(g2[3] == 0.0)                     # a step that is padding everywhere
    assert np.all(g2[:, 2] == 0.0)                  # a sequence that is padding throughout


def test_batch_loss_is_the_token_weighted_mean_of_sentence_losses(xp):
    logits, targets = _inputs()
    batch, _ = softmax_cross_entropy_forward(to_dev(logits), targets, MASK)
    lengths = MASK.sum(axis=0)                      # 3, 2, 0
    weighted, tokens = 0.0, 0
    for n in range(N):
        L = int(lengths[n])
        if L == 0:
            continue                                # an empty sentence has no loss of its own
        one, _ = softmax_cross_entropy_forward(     # the sentence alone, unpadded
            to_dev(logits[:L, n:n + 1]), targets[:L, n:n + 1], np.ones((L, 1)))
        weighted += L * backend.to_float(one)
        tokens += L
    np.testing.assert_allclose(backend.to_float(batch), weighted / tokens, rtol=1e-13)
    # the per-sentence mean of means would be different here (lengths 3 and 2)


def test_huge_logits_give_a_finite_loss_and_gradient(xp):
    logits, targets = _inputs()
    big = logits * 1e4 / np.abs(logits).max()       # up to 1e4: exp would overflow
    loss, cache = softmax_cross_entropy_forward(to_dev(big), targets, MASK)
    g = host(softmax_cross_entropy_backward(1.0, cache))
    assert np.isfinite(backend.to_float(loss)) and np.all(np.isfinite(g))
    # adding a constant to every logit of a row changes nothing (log-sum-exp invariance)
    shifted, _ = softmax_cross_entropy_forward(to_dev(big + 5e3), targets, MASK)
    np.testing.assert_allclose(backend.to_float(shifted), backend.to_float(loss), rtol=1e-12)


def test_float32_stays_float32(xp):
    logits, targets = _inputs()
    loss, cache = softmax_cross_entropy_forward(to_dev(logits, np.float32), targets, MASK)
    assert loss.dtype == np.float32
    assert softmax_cross_entropy_backward(1.0, cache).dtype == np.float32


def test_validation(xp):
    logits, targets = _inputs()
    z = to_dev(logits)
    with pytest.raises(ValueError, match="no real token"):
        softmax_cross_entropy_forward(z, targets, np.zeros((T, N)))
    bad = targets.copy()
    bad[0, 0] = V                                   # out of range at a real token
    with pytest.raises(ValueError, match=r"softmax_ce targets: expected token ids in \[0, 5\)"):
        softmax_cross_entropy_forward(z, bad, MASK)
    with pytest.raises(TypeError, match="softmax_ce targets: expected an integer dtype"):
        softmax_cross_entropy_forward(z, targets.astype(float), MASK)
    with pytest.raises(ValueError, match=r"softmax_ce targets: expected shape \(T, N\) = \(4, 3\)"):
        softmax_cross_entropy_forward(z, targets[:3], MASK)
    with pytest.raises(ValueError, match=r"softmax_ce mask: expected shape \(4, 3\), got \(3, 4\)"):
        softmax_cross_entropy_forward(z, targets, MASK.T)
    with pytest.raises(ValueError, match=r"logits \(T, N, V\): expected a 3-d array"):
        softmax_cross_entropy_forward(to_dev(logits[0]), targets, MASK)
    _, cache = softmax_cross_entropy_forward(z, targets, MASK)
    with pytest.raises(ValueError, match="dloss: expected a scalar or 0-d array, got shape"):
        softmax_cross_entropy_backward(to_dev(np.ones(2)), cache)


def test_label_smoothing_property(xp):
    """For any logits, targets, mask and eps: the smoothed loss is (1 - eps) times the plain
    loss plus eps times the mean over real tokens of -1/V sum_v log p_v, and every real
    row of the gradient sums to 0 (q and p both sum to 1)."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    from minis2s.ops.softmax_ce import log_softmax

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True)
    @hypothesis.given(t=st.integers(1, 4), n=st.integers(1, 3), v=st.integers(2, 6),
                      eps=st.floats(0.0, 0.999), scale=st.floats(0.01, 30.0),
                      seed=st.integers(0, 2**16))
    def check(t, n, v, eps, scale, seed):
        rng = np.random.default_rng(seed)
        logits = rng.standard_normal((t, n, v)) * scale
        targets = rng.integers(0, v, size=(t, n))
        mask = rng.random((t, n)) < 0.7
        mask[0, 0] = True
        z = to_dev(logits)
        smoothed, cache = softmax_cross_entropy_forward(z, targets, mask, smoothing=eps)
        plain, _ = softmax_cross_entropy_forward(z, targets, mask)
        uniform = -host(log_softmax(z)).mean(axis=-1)[mask].mean()
        expected = (1 - eps) * backend.to_float(plain) + eps * uniform
        assert backend.to_float(smoothed) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        grad = host(softmax_cross_entropy_backward(1.0, cache))
        np.testing.assert_allclose(grad.sum(axis=-1), 0.0, atol=1e-12)
        assert np.all(grad[~mask] == 0.0)

    check()
