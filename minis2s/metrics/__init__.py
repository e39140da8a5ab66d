"""Evaluation metrics on token sequences: accuracy, exact match, F1, BLEU, edit-distance rates.

Every metric takes a corpus of hypotheses and their references,

    hyps = [h_1, ..., h_N]      refs = [r_1, ..., r_N]

each ``h_i``/``r_i`` a sequence of hashable tokens (a list or tuple of strings or
ints, or a 1-D NumPy array of ids). This is host data: decode on the device,
move ids to the host with ``backend.to_host``, strip padding and the end token,
then measure. ``|s|`` below is the length of ``s``.

A sentence must not be a ``str``: ``"cat"`` could mean three characters or one
word. Pass ``list("cat")`` for characters or ``"the cat".split()`` for words.

Several references per hypothesis
---------------------------------
A source may have several right answers (a word's pronunciations, a sentence's
translations). Pass them explicitly as ``refs_per_output=[[r_11, r_12, ...], ...]``
(a non-empty list per hypothesis, the first-listed first) instead of ``refs``;
every metric takes either, never both. Then

* exact match and the sequence error rate: right if equal to **any** reference;
* the error rate (PER, CER, WER of sentences): against the **closest** reference
  (fewest edits, ties to the first listed), whose length is counted;
* BLEU: clipped by the most occurrences in any one reference, brevity against the
  reference length nearest the hypothesis -- exactly as sacreBLEU;
* token accuracy, precision, recall and F1: against the **first** reference
  (position-wise and per-type counts have no standard multi-reference form).

A list of one reference gives exactly the numbers of ``refs``.
:func:`~minis2s.metrics.corpus.count_references` counts what was scored against,
for a report; :func:`~minis2s.data.pairs.group_references` turns
``(source, target)`` pairs into the per-source reference lists.

Which numbers a task reports
----------------------------
* grapheme-to-phoneme: **PER** (phoneme error rate) is
  :func:`~minis2s.metrics.edit.error_rate` on the phoneme sequences; **WER** (word
  error rate) is :func:`~minis2s.metrics.accuracy.sequence_error_rate`, the share
  of words whose pronunciation has any error.
* sentence tasks (translation-like): **WER** is the error rate on word tokens,
  **CER** the error rate on characters; BLEU is
  :func:`~minis2s.metrics.bleu.corpus_bleu`.

All rates and scores are fractions in [0, 1] (BLEU too: multiply by 100 for the
usual scale), except the error rate, which exceeds 1 when the hypotheses insert
more tokens than the references hold. Every number is the same to the last bit
in every process (no set or hash order enters a sum).

Modules: :mod:`~minis2s.metrics.corpus` (the input checks and reference counts),
:mod:`~minis2s.metrics.accuracy`, :mod:`~minis2s.metrics.prf`,
:mod:`~minis2s.metrics.bleu`, :mod:`~minis2s.metrics.edit`,
:mod:`~minis2s.metrics.summary` (:func:`~minis2s.metrics.summary.compute_all`).
"""

from minis2s.metrics.accuracy import exact_match, sequence_error_rate, token_accuracy
from minis2s.metrics.bleu import SMOOTHING, BleuComponents, bleu_components, corpus_bleu
from minis2s.metrics.corpus import ReferenceCount, Tokens, count_references
from minis2s.metrics.edit import closest_reference, edit_distance, error_rate
from minis2s.metrics.prf import PRF, f1_score, precision_recall_f1
from minis2s.metrics.summary import compute_all

__all__ = [
    "PRF",
    "SMOOTHING",
    "BleuComponents",
    "ReferenceCount",
    "Tokens",
    "bleu_components",
    "closest_reference",
    "compute_all",
    "corpus_bleu",
    "count_references",
    "edit_distance",
    "error_rate",
    "exact_match",
    "f1_score",
    "precision_recall_f1",
    "sequence_error_rate",
    "token_accuracy",
]
