"""Plots: PNGs are written without pyplot, and they draw the numbers they were given."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from minis2s import plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

HISTORY = [
    {"epoch": 1, "train_loss": 2.0, "valid_loss": 1.8,
     "valid": {"exact_match": 0.1, "token_accuracy": 0.4, "bleu": 20.0}},
    {"epoch": 2, "train_loss": 1.0, "valid_loss": 0.9,
     "valid": {"exact_match": 0.5, "token_accuracy": 0.8, "bleu": 60.0}},
    {"epoch": 3, "train_loss": 0.3, "valid_loss": 0.4,
     "valid": {"exact_match": 0.9, "token_accuracy": 0.97, "bleu": 90.0}},
]


def _is_png(path):
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 5000


def test_history_plot_draws_the_log(tmp_path):
    fig = plot.plot_history(HISTORY, tmp_path / "h.png")
    assert _is_png(tmp_path / "h.png")
    ax_loss, ax_metric = fig.axes[:2]
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), [2.0, 1.0, 0.3])
    np.testing.assert_allclose(ax_loss.lines[1].get_ydata(), [1.8, 0.9, 0.4])
    curves = {line.get_label(): line.get_ydata() for line in ax_metric.lines}
    np.testing.assert_allclose(curves["exact_match"], [0.1, 0.5, 0.9])
    np.testing.assert_allclose(curves["bleu / 100"], [0.2, 0.6, 0.9])  # rescaled, labelled


def test_history_plot_draws_the_chosen_metrics():
    records = [{"epoch": 1, "train_loss": 1.0,
                "valid": {"exact_match": 0.5, "recall": 0.6, "sequence_error_rate": 0.5}}]
    labels = [line.get_label() for line in plot.plot_history(records).axes[1].lines]
    assert labels == ["exact_match"]  # recall and 1 - exact_match left out by default
    labels = [line.get_label() for line in plot.plot_history(records, metrics=None).axes[1].lines]
    assert labels == ["exact_match", "recall", "sequence_error_rate"]


def test_history_without_validation_loss(tmp_path):
    records = [{"epoch": 1, "train_loss": 1.0, "valid": {}}]
    fig = plot.plot_history(records, tmp_path / "h.png")
    assert len(fig.axes[0].lines) == 1 and _is_png(tmp_path / "h.png")


def test_attention_plot(tmp_path):
    src = list("12/03/2001")
    out = list("2001-03-12")
    w = np.full((len(out) + 1, len(src)), 0.01)
    w[np.arange(len(out) + 1), np.minimum(np.arange(len(out) + 1), len(src) - 1)] = 1.0
    w /= w.sum(axis=1, keepdims=True)
    examples = [(src, out, w), (list("ab c"), list("x"), np.full((2, 4), 0.25))]
    fig = plot.plot_attention(examples, tmp_path / "a.png")
    assert _is_png(tmp_path / "a.png")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), w)
    assert [t.get_text() for t in ax.get_yticklabels()] == out + ["</s>"]
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["a", "b", "\u2423", "c"]


def test_attention_plot_of_an_output_cut_at_the_length_limit():
    fig = plot.plot_attention([(list("ab"), list("xyz"), np.full((3, 2), 0.5))])
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["x", "y", "z"]


def test_attention_plot_marks_a_wrong_output_with_the_expected_one():
    w = np.full((3, 2), 0.5)
    fig = plot.plot_attention([(list("ab"), list("xy"), w), (list("ab"), list("xz"), w)],
                              references=[list("xy"), list("xy")])
    right, wrong = (ax.get_title() for ax in fig.axes[:2])
    assert right.endswith("(right)") and "wrong" not in right
    assert wrong.endswith("wrong: expected xy")
    with pytest.raises(ValueError, match="2 examples but 1 references"):
        plot.plot_attention([(list("ab"), list("xy"), w)] * 2, references=[list("xy")])


def test_attention_plot_checks_shapes():
    with pytest.raises(ValueError, match=r"example 0 has weights of shape \(4, 2\).*\(3, 2\)"):
        plot.plot_attention([(["a", "b"], ["x", "y"], np.ones((4, 2)))])
    with pytest.raises(ValueError, match="no example"):
        plot.plot_attention([])


def test_grad_norm_plot(tmp_path):
    decay = 0.5 ** np.arange(10)[::-1]
    fig = plot.plot_grad_norms({"seed": decay, "lstm": np.ones(10)}, tmp_path / "g.png")
    assert _is_png(tmp_path / "g.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), decay)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), np.arange(1, 11))
    with pytest.raises(ValueError, match=r"shape \(Ts,\)"):
        plot.plot_grad_norms(np.ones((2, 3)))


def test_history_plot_refuses_empty():
    with pytest.raises(ValueError, match="empty"):
        plot.plot_history([])


def test_no_pyplot_state():
    """Library plotting never opens pyplot figures (no windows, no leaked state)."""
    plot.plot_grad_norms(np.ones(3))
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []
