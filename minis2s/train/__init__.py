"""Training: epochs of batches, validation by decoding, early stopping, checkpoints.

One call does a whole run::

    from minis2s.train import TrainConfig, train
    result = train(TrainConfig(task="dates", epochs=10, out="runs/dates"))
    print(result.test_metrics["exact_match"])

What happens, in order, and the room where each piece lives:

1. **Settings** (:mod:`~minis2s.train.config`): :class:`TrainConfig` -- the model's
   settings inherited from :class:`minis2s.model.ModelSettings`, plus data,
   optimisation, validation and running -- checked when it is made; presets; what may
   change on resume.
2. **Data** (:mod:`~minis2s.train.prepare`): a built-in task (generated from
   ``data_seed``, fixed splits) or the user's TSV file, cut by the task's tokenizer;
   the two vocabularies are built from the training split, and the model
   configuration follows from the settings and the vocabulary sizes.
3. **The run directory** (:mod:`~minis2s.train.rundir`): every file a run writes,
   what each holds and when; a new run never writes into a directory holding
   anything without ``overwrite``.
4. **Epochs** (:mod:`~minis2s.train.loop`): :class:`~minis2s.model.Seq2Seq`
   initialised from ``seed`` on the host and moved to the active backend, its source
   embedding seeded from pretrained word vectors with ``vectors``
   (:mod:`~minis2s.train.pretrained`, which also keeps those rows fixed with
   ``freeze_embedding``); the
   optimizer and learning-rate schedule by name; the training pairs shuffled and
   bucketed by a generator seeded with ``(seed, epoch)``, so epoch ``e`` sees the same
   batches whether or not the run was interrupted before it. A NaN loss stops the run
   (:class:`TrainingDivergedError`) with the checkpoints untouched.
5. **Validation** after each epoch (:mod:`~minis2s.train.evaluation`), by *decoding*
   (greedy, or beam search with ``valid_beam``): the model's own outputs are compared
   with the references by :func:`minis2s.metrics.compute_all` -- teacher-forced
   accuracy would flatter it. The validation loss (teacher forcing) is logged beside
   it. Early stopping after ``patience`` epochs without improvement of ``metric``, or
   when ``time_budget`` seconds would be exceeded.
6. **The end** (:mod:`~minis2s.train.report`): the best checkpoint is evaluated on the
   test split (beam ``beam``), ``metrics.json`` is written with example translations,
   and the plots are drawn.
7. **Afterwards** (:mod:`~minis2s.train.loading`): :func:`load_trained` restores a
   model from its run directory for evaluation and translation; :func:`load_ensemble`
   several, decoded as one.

Resuming (``resume=True``) continues from ``out/checkpoint.last.npz`` -- parameters,
optimizer state, epoch *and position inside the epoch*, the training generator's
state, the log and the early-stopping counters -- so the losses that follow are
exactly those of a run never interrupted. Ctrl-C stops at the next batch boundary,
saves that position, and says how to resume (a second Ctrl-C stops at once)
(:mod:`~minis2s.train.runtime`: Ctrl-C, BLAS threads, the progress bar, and a
standard output that closes under the run, which stops the printing, not the run).

Numbers stay on the device; they come to the host only where they are logged
(the loss and gradient norm of each step, for the NaN check and the progress bar)
and where text is made (decoded ids).
"""

from minis2s.train.config import (
    LOWER_IS_BETTER,
    PRESETS,
    RESUMABLE_CHANGES,
    SCHEDULE_NAMES,
    TOKEN_KINDS,
    TrainConfig,
    check_settings,
    config_differences,
    config_from_preset,
    metric_names,
)
from minis2s.train.errors import InputError, TrainingDivergedError
from minis2s.train.evaluation import attention_examples, decode_sources, evaluate_pairs, mean_loss
from minis2s.train.loading import TrainedModel, Translation, load_ensemble, load_trained
from minis2s.train.loop import TrainResult, train
from minis2s.train.prepare import DataBundle, model_config_for, prepare_data
from minis2s.train.pretrained import FrozenRows, InitialModel, initial_model
from minis2s.train.runtime import blas_threads, run_threads

__all__ = [
    "LOWER_IS_BETTER", "PRESETS", "RESUMABLE_CHANGES", "SCHEDULE_NAMES", "TOKEN_KINDS",
    "DataBundle", "FrozenRows", "InitialModel", "InputError", "TrainConfig", "TrainResult",
    "TrainedModel", "TrainingDivergedError", "Translation", "attention_examples",
    "blas_threads", "check_settings", "config_differences", "config_from_preset",
    "decode_sources", "evaluate_pairs", "initial_model", "load_ensemble", "load_trained",
    "mean_loss", "metric_names", "model_config_for", "prepare_data", "run_threads", "train",
]
