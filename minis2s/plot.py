"""Pictures of a training run: learning curves, attention maps, gradient norms over time.

Every function builds a :class:`matplotlib.figure.Figure` directly -- no ``pyplot``,
so no global state is touched, no window ever opens, and the library works on a
machine without a display (the PNG is rendered by the Agg canvas). Each function
returns the figure (a notebook shows it) and, given ``path``, also saves it as PNG.

* :func:`plot_history` -- training and validation loss per epoch, and the
  validation metrics (computed by decoding) per epoch.
* :func:`plot_attention` -- for a few validation sentences, the attention weights
  ``alpha[t, j]``: output token ``t`` (rows, top to bottom) against source token
  ``j`` (columns). A clean diagonal-ish band means the model learned where to look.
* :func:`plot_grad_norms` -- the norm of the gradient reaching each source position
  ``j`` of one batch (e.g. ``||dL/dx_j||`` at the encoder's input), on a log scale:
  with the plain ``rnn`` recurrence and no attention, the gradient reaching early
  positions shrinks geometrically (vanishing gradients); LSTM/GRU and attention
  keep it flatter.

All inputs are host data (lists, NumPy arrays); nothing here touches the backend.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from minis2s.atomic import atomic_write


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # render with Agg, whatever pyplot's backend is
    return fig


def _save(fig: Figure, path: str | os.PathLike | None) -> None:
    """Save ``fig`` as a PNG at ``path`` (atomically: a plot is whole or absent)."""
    if path is not None:
        atomic_write(path, lambda f: fig.savefig(f, format="png"))


def _shown(token: str) -> str:
    """A token as a tick label: blanks made visible."""
    return {" ": "\u2423", "": "\u2205", "\t": "\u21e5"}.get(token, token)


def _joined(tokens: Sequence[str]) -> str:
    """Tokens as one string: characters joined directly, longer tokens by spaces."""
    text = ("" if all(len(t) == 1 for t in tokens) else " ").join(tokens)
    return text if len(text) <= 40 else text[:39] + "\u2026"


#: the validation metrics drawn by default (the others repeat them: recall ~ precision ~ f1,
#: sequence_error_rate = 1 - exact_match)
HISTORY_METRICS = ("exact_match", "token_accuracy", "f1", "bleu", "error_rate")


def plot_history(history: Sequence[Mapping[str, Any]],
                 path: str | os.PathLike | None = None,
                 metrics: Sequence[str] | None = HISTORY_METRICS) -> Figure:
    """Loss and validation metrics per epoch, from the training log.

    ``history`` is the list of epoch records of ``log.jsonl``: each a dict with
    ``"epoch"``, ``"train_loss"``, optionally ``"valid_loss"``, and ``"valid"``, a dict
    ``{metric name: value}``. ``metrics`` names the validation metrics to draw (those
    present in the log; ``None``: all of them). Metrics whose values exceed 1 (e.g. BLEU
    in 0-100) are divided by 100 so that every curve shares the 0-1 axis; the legend
    says so.
    """
    if not history:
        raise ValueError("plot_history: the history is empty (no epoch finished)")
    epochs = [int(r["epoch"]) for r in history]
    fig = _new_figure(10, 4)
    ax_loss, ax_metric = fig.subplots(1, 2)

    for key, label in (("train_loss", "training (teacher forcing)"),
                       ("valid_loss", "validation (teacher forcing)")):
        pairs = [(e, r[key]) for e, r in zip(epochs, history) if r.get(key) is not None]
        if pairs:
            ax_loss.plot(*zip(*pairs), marker="o", markersize=3, label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy per target token")
    ax_loss.set_yscale("log")
    ax_loss.set_title("Loss")
    ax_loss.grid(True, which="both", alpha=0.3)
    ax_loss.legend()

    names: list[str] = []
    for r in history:
        names.extend(k for k in r.get("valid", {}) if k not in names)
    if metrics is not None:
        names = [m for m in metrics if m in names] or names
    for name in names:
        pairs = [(e, r["valid"][name]) for e, r in zip(epochs, history)
                 if r.get("valid", {}).get(name) is not None]
        if not pairs:
            continue
        xs, ys = zip(*pairs)
        scale = 100.0 if max(ys) > 1.0 else 1.0
        ax_metric.plot(xs, np.asarray(ys) / scale, marker="o", markersize=3,
                       label=name if scale == 1.0 else f"{name} / 100")
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylim(-0.02, 1.02)
    ax_metric.set_title("Validation metrics (greedy decoding)")
    ax_metric.grid(True, alpha=0.3)
    if names:
        ax_metric.legend(fontsize="small")
    for ax in (ax_loss, ax_metric):
        ax.xaxis.get_major_locator().set_params(integer=True)
    _save(fig, path)
    return fig


def plot_attention(examples: Sequence[tuple[Sequence[str], Sequence[str], np.ndarray]],
                   path: str | os.PathLike | None = None, max_examples: int = 4,
                   references: Sequence[Sequence[str]] | None = None) -> Figure:
    """Attention heatmaps for a few sentences.

    ``examples``: tuples ``(source_tokens, output_tokens, weights)`` with
    ``weights`` of shape ``(len(output_tokens) + 1, len(source_tokens))`` -- one row
    per decoder step, the last row being the step that produced the end token
    (``</s>``), one column per source token; each row sums to 1. An output cut at the
    length limit has no end step: its weights have ``len(output_tokens)`` rows.

    ``references``: the expected output of each example, or ``None``. When given, a
    title says whether the output is right, and names the expected output when it is
    not (a heatmap of a wrong output is still worth reading, but never unmarked).
    """
    examples = list(examples)[:max_examples]
    if not examples:
        raise ValueError("plot_attention: no example given")
    if references is not None:
        references = list(references)
        if len(references) < len(examples):
            raise ValueError(f"plot_attention: {len(examples)} examples but "
                             f"{len(references)} references; give one per example")
    for k, (src, out, w) in enumerate(examples):
        w = np.asarray(w)
        if w.ndim != 2 or w.shape[1] != len(src) or w.shape[0] not in (len(out), len(out) + 1):
            raise ValueError(f"plot_attention: example {k} has weights of shape {w.shape}, "
                             f"expected (len(output)+1, len(source)) = "
                             f"({len(out) + 1}, {len(src)})")
    cols = min(2, len(examples))
    rows = math.ceil(len(examples) / cols)
    widest = max(len(src) for src, _, _ in examples)
    tallest = max(np.shape(w)[0] for _, _, w in examples)
    fig = _new_figure(cols * (1.5 + 0.22 * widest), rows * (1.2 + 0.22 * tallest))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    image = None
    for k, (ax, (src, out, w)) in enumerate(zip(axes, examples)):
        image = ax.imshow(np.asarray(w, dtype=float), cmap="viridis", vmin=0.0, vmax=1.0,
                          aspect="equal", interpolation="nearest")
        ax.set_xticks(range(len(src)), [_shown(t) for t in src], fontsize=8)
        ends = ["</s>"] if np.shape(w)[0] == len(out) + 1 else []  # no end step if cut
        ax.set_yticks(range(len(out) + len(ends)), [_shown(t) for t in out] + ends, fontsize=8)
        ax.tick_params(axis="x", labelrotation=90 if max(map(len, src), default=1) > 1 else 0)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        title = f"{_joined(src)} \u2192 {_joined(out)}"
        if references is None:
            ax.set_title(title, fontsize=9)
        elif list(out) == list(references[k]):
            ax.set_title(f"{title}  (right)", fontsize=9)
        else:
            ax.set_title(f"{title}\nwrong: expected {_joined(references[k])}", fontsize=9,
                         color="tab:red")
    for ax in axes[len(examples):]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=list(axes[: len(examples)]), shrink=0.8, label="attention weight")
    fig.suptitle("Where the decoder looks (validation examples)")
    _save(fig, path)
    return fig


def plot_grad_norms(norms: Mapping[str, np.ndarray] | np.ndarray,
                    path: str | os.PathLike | None = None,
                    ylabel: str = "gradient norm at source position j") -> Figure:
    """Gradient norm per source position ``j`` for one batch.

    ``norms``: an array of shape ``(Ts,)``, or a dict ``{label: (Ts,) array}`` to compare
    curves (e.g. before and after training) -- e.g. the model's
    ``info.enc_grad_norms``, ``||dL/dx_j||`` at the encoder's input. Plotted on a log
    scale, so geometric decay (vanishing gradients) shows as a straight line.
    ``ylabel`` names the quantity.
    """
    if not isinstance(norms, Mapping):
        norms = {"||dL/dh_j||": norms}
    if not norms:
        raise ValueError("plot_grad_norms: no curve given")
    fig = _new_figure(7, 4)
    ax = fig.subplots()
    for label, values in norms.items():
        values = np.asarray(values, dtype=float)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"plot_grad_norms: curve {label!r} should have shape (Ts,), "
                             f"got {values.shape}")
        positive = np.where(values > 0, values, np.nan)  # log scale: zeros are not drawn
        ax.plot(np.arange(1, values.size + 1), positive, marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("source position j")
    ax.set_ylabel(ylabel)
    ax.set_title("Gradient reaching each encoder step (one batch)")
    ax.grid(True, which="both", alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    _save(fig, path)
    return fig
