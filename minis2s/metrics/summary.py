"""Every metric at once, for the training loop and ``minis2s evaluate``."""

from __future__ import annotations

from typing import Any

from minis2s.metrics.accuracy import _exact_match, _token_accuracy
from minis2s.metrics.bleu import _bleu
from minis2s.metrics.corpus import check_corpus
from minis2s.metrics.edit import _error_rate
from minis2s.metrics.prf import _prf


def compute_all(hyps: Any, refs: Any = None, *, refs_per_output: Any = None) -> dict[str, float]:
    """Every metric of :mod:`minis2s.metrics` on one corpus (checked once)::

        {"token_accuracy", "exact_match", "precision", "recall", "f1"   (micro, bag),
         "macro_f1" (bag), "bleu" (4-gram, 'exp' smoothing), "error_rate",
         "sequence_error_rate"}

    References come as ``refs`` (one per hypothesis) or ``refs_per_output``
    (a list per hypothesis, first listed first); the same keys either way, and a
    list of one reference gives exactly the numbers of ``refs``. With several:
    exact match / sequence error rate count a hypothesis right if it equals any
    reference, the error rate uses the closest reference, BLEU clips by and
    measures length against all of them (as sacreBLEU), and token accuracy,
    precision, recall and F1 use the first.
    :func:`~minis2s.metrics.corpus.count_references` says how many references that was.

    For grapheme-to-phoneme, report ``error_rate`` as PER and
    ``sequence_error_rate`` as WER; for sentence tasks ``error_rate`` on word
    tokens is the WER.
    """
    c = check_corpus(hyps, refs, refs_per_output)
    first = c.first
    micro = _prf(c.hyps, first, "micro", "bag")
    em = _exact_match(c)
    return {
        "token_accuracy": _token_accuracy(c.hyps, first),
        "exact_match": em,
        "precision": micro.precision,
        "recall": micro.recall,
        "f1": micro.f1,
        "macro_f1": _prf(c.hyps, first, "macro", "bag").f1,
        "bleu": _bleu(c.hyps, c.refs, 4, "exp", None).score,
        "error_rate": _error_rate(c),
        "sequence_error_rate": 1.0 - em,
    }
