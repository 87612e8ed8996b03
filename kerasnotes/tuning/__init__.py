"""keras-tuner searches over the notes' choices, logged for TensorBoard's HParams dashboard.

``NotesHyperModel`` is a ``keras_tuner.HyperModel`` whose search space is what
the notes teach: the optimizer (plain SGD, heavy-ball momentum, the notes' EMA
momentum, Adagrad, RMSprop, Adam) with its own conditional hyperparameters, a
learning-rate decay (none, exponential, step), the mini-batch size, a
normalization layer (none, batch, layer, group) and the depth and width of an
MLP. Every model it builds uses kerasnotes components only.

Each trial can log to its own TensorBoard run (``<log_dir>/trial_<id>/execution<k>``)
through ``kerasnotes.summary.Writer``, with the trial's hyperparameters written
as the HParams plugin's own protos, so the HParams dashboard shows the search on
every backend, without TensorFlow.

The package's modules: ``hypermodel`` (``NotesHyperModel``), ``space`` (its
choices and hyperparameter declarations), ``search`` (``search_digits``,
``SearchResult``), ``_checks`` (argument validation); the HParams records are
``kerasnotes.summary.hparams``, the trial runs
``kerasnotes.callbacks.trial_logger``. Every name below stays importable from
``kerasnotes.tuning``.

The same search scales past one machine with keras-tuner's chief/worker mode:
start one process with ``KERASTUNER_TUNER_ID=chief`` and any number with
``KERASTUNER_TUNER_ID=tuner<i>``, all with ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` pointing at the chief (see ``examples/07_tuner_search.py``).

Example:
    >>> import keras_tuner as kt
    >>> from kerasnotes.tuning import NotesHyperModel
    >>> hypermodel = NotesHyperModel((64,), 10, optimizers=("adam", "sgd"), depth=1)
    >>> model = hypermodel.build(kt.HyperParameters())
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

# Importable from here as before the split (not in __all__, as before).
from kerasnotes.callbacks.trial_logger import INTERRUPTED_DIR as INTERRUPTED_DIR
from kerasnotes.callbacks.trial_logger import (
    set_aside_earlier_events as set_aside_earlier_events,
)
from kerasnotes.summary.hparams import (
    hparams_experiment_summary,
    hparams_session_end_summary,
    hparams_session_start_summary,
)
from kerasnotes.tuning.hypermodel import NotesHyperModel
from kerasnotes.tuning.search import SearchResult, search_digits
from kerasnotes.tuning.space import DECAYS, NORMALIZATIONS, OPTIMIZERS

__all__ = [
    "DECAYS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "NotesHyperModel",
    "SearchResult",
    "hparams_experiment_summary",
    "hparams_session_end_summary",
    "hparams_session_start_summary",
    "search_digits",
]
