"""What a run leaves at its end besides its checkpoints: example translations from the
test split, the summary in ``metrics.json``, and the plots -- with the gradient-norm
probe that ``grad_norms.png`` draws (taken before and after training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from minis2s import plot
from minis2s.data.pairs import group_references
from minis2s.train import rundir
from minis2s.train.evaluation import attention_examples


def pick_examples(data: Any, test: Any, k: int) -> list[tuple[str, str, str]]:
    """``k`` test sources spread across the split (not its head), as text:
    ``(source, output, first reference)``, with ``test`` the
    :class:`~minis2s.train.evaluation.Evaluation` of the test split."""
    tok = data.tokenizer
    n = len(test.groups)
    spread = np.linspace(0, n - 1, min(k, n))
    examples = []
    for i in sorted({int(round(j)) for j in spread}):
        (src, refs), h = test.groups[i], test.hypotheses[i]
        examples.append((tok.join_source(list(src)),
                         tok.join_target(data.tgt_vocab.decode(h.tokens)),
                         tok.join_target(list(refs[0]))))
    return examples


def grad_norm_probe(model: Any, data: Any) -> list[float]:
    """``||dL/dx_j||`` at the encoder's input, per source position ``j``, for a fixed
    batch (the 32 longest validation sources); ``[]`` when the model does not report it."""
    from minis2s.data import encode_pairs, make_batches

    pairs = sorted(data.valid, key=lambda p: -len(p[0]))[:32]
    src_ids, tgt_ids = encode_pairs(pairs, data.src_vocab, data.tgt_vocab)
    b = make_batches(src_ids, tgt_ids, len(pairs), rng=None, bucket=False)[0]
    _, _, info = model.loss_and_grads(b.src, b.tgt_in, b.tgt_out, train=False)
    if info.enc_grad_norms is None:
        return []
    return [float(v) for v in np.asarray(info.enc_grad_norms)]


def draw_plots(out: Path, history: list[dict[str, Any]], grad_probe: dict[str, list[float]],
               model: Any, data: Any, max_len: int | None) -> list[Path]:
    """Draw the run's PNGs into ``out`` (names in :mod:`minis2s.train.rundir`); returns
    the paths written."""
    written = []
    if history:
        plot.plot_history(history, out / rundir.HISTORY_PNG)
        written.append(out / rundir.HISTORY_PNG)
    # each curve relative to its largest value: the loss (hence every gradient) is
    # orders of magnitude smaller after training, and the *shape* is the lesson
    curves = {k: np.asarray(v) / max(max(v), 1e-30) for k, v in grad_probe.items() if v}
    if curves:
        plot.plot_grad_norms(curves, out / rundir.GRAD_NORMS_PNG,
                             ylabel="||dL/dx_j|| at the encoder input / its maximum")
        written.append(out / rundir.GRAD_NORMS_PNG)
    if model.config.context == "attention":
        groups = group_references(data.valid)[:4]      # a word's every pronunciation counts
        examples = attention_examples(model, [(src, refs[0]) for src, refs in groups],
                                      data.src_vocab, data.tgt_vocab, max_len=max_len)
        if examples:
            shown = [out_tokens if out_tokens in refs else refs[0]
                     for (_, out_tokens, _), (_, refs) in zip(examples, groups)]
            plot.plot_attention(examples, out / rundir.ATTENTION_PNG, references=shown)
            written.append(out / rundir.ATTENTION_PNG)
    return written
