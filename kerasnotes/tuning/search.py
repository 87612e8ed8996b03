"""``search_digits``: a keras-tuner search of ``NotesHyperModel`` on scikit-learn's digits.

Random search, Bayesian optimisation or Hyperband over the hypermodel's space,
scored on a 20% validation split; the result carries the best trial's values,
its validation accuracy and a table of every trial. The same function is one
process of keras-tuner's chief/worker mode when its environment variables are set.

Example:
    >>> from kerasnotes.tuning.search import SearchResult
    >>> SearchResult({"optimizer": "adam"}, 0.9, {}, "/tmp/project", 1.0).val_accuracy
    0.9
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import keras_tuner
import numpy as np

from kerasnotes import _compat, _validation
from kerasnotes._deprecation import renamed_log_dir
from kerasnotes.summary.hparams import loggable
from kerasnotes.tuning.hypermodel import NotesHyperModel

__all__ = ["SearchResult", "search_digits"]

_TUNERS = ("random", "bayesian", "hyperband")


@dataclass
class SearchResult:
    """What a search found: the best trial's values and validation accuracy, and every trial.

    Args:
        best_hyperparameters: the best trial's active hyperparameter values.
        val_accuracy: the best trial's objective (best epoch's validation accuracy).
        trials: trial id -> {"status", "score", "hyperparameters"} for every trial.
        directory: the keras-tuner project's directory (checkpoints, oracle state).
        seconds: wall time of the search.
        tuner: the keras-tuner tuner, for ``get_best_models`` and the like.
    """

    best_hyperparameters: dict[str, Any]
    val_accuracy: float
    trials: dict[str, dict[str, Any]]
    directory: str
    seconds: float
    tuner: Any = field(default=None, repr=False)


def _trials_table(oracle) -> dict[str, dict[str, Any]]:
    return {
        trial_id: {
            "status": str(trial.status),
            "score": None if trial.score is None else float(trial.score),
            "hyperparameters": loggable(trial.hyperparameters.values),
        }
        for trial_id, trial in oracle.trials.items()
    }


def _distributed_role() -> tuple[bool, bool]:
    """``(has_chief, is_chief)`` of this process in keras-tuner's chief/worker mode.

    Read from ``KERASTUNER_TUNER_ID`` and ``KERASTUNER_ORACLE_*`` by keras-tuner's
    own helpers, which it exports only under ``keras_tuner.src`` (its private tree;
    ``kerasnotes._compat`` holds that import with every other private name).
    """
    from kerasnotes._compat import keras_tuner_distribute as dist_utils

    return bool(dist_utils.has_chief_oracle()), bool(dist_utils.is_chief_oracle())


def search_digits(
    max_trials: int = 12,
    epochs: int = 12,
    log_dir: str | os.PathLike | None = None,
    quick: bool = False,
    *,
    logdir: str | os.PathLike | None = None,
    tuner: str = "bayesian",
    directory: str | os.PathLike | None = None,
    project_name: str = "digits",
    subset: int | None = None,
    seed: int = 0,
    overwrite: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
    **hypermodel_kwargs: Any,
) -> SearchResult:
    """Search ``NotesHyperModel`` on scikit-learn's digits and return the best configuration.

    ```
    maximise  val_accuracy(best epoch)  over  NotesHyperModel's space
    ```

    Trains on 80% of the 1,797 digits and scores on the other 20%. Under
    keras-tuner's chief/worker environment variables this function is one
    process of a distributed search: the chief serves the oracle and returns
    when every trial is done; workers run trials (their ``trials`` then hold
    only their own, with scores from their histories).

    Args:
        max_trials: trials to run (Hyperband: its budget comes from ``epochs``).
        epochs: epochs per trial (Hyperband: ``max_epochs``).
        log_dir: TensorBoard root for the trials' runs, or None (as
            ``keras.callbacks.TensorBoard``'s ``log_dir``).
        logdir: the deprecated spelling of ``log_dir``, still accepted for one
            release with a ``DeprecationWarning``.
        quick: a smoke-test budget: 3 trials of 2 epochs on 600 training samples.
        tuner: ``"random"``, ``"bayesian"`` or ``"hyperband"``.
        directory: keras-tuner's project root; a new temporary directory when None.
        project_name: keras-tuner's project name.
        subset: train on only this many training samples (None: all).
        seed: seed of the tuner and of Keras.
        overwrite: start the project afresh (False resumes). Always False in a
            distributed search: removing the shared project would race the other processes.
        callbacks: Keras callbacks for every trial (keras-tuner deep-copies them).
        verbose: keras-tuner and Keras verbosity.
        **hypermodel_kwargs: ``NotesHyperModel`` arguments narrowing the space.

    Example:
        >>> result = search_digits(quick=True, tuner="random")  # doctest: +SKIP
        >>> 0.0 <= result.val_accuracy <= 1.0  # doctest: +SKIP
        True
    """
    from kerasnotes import datasets

    if tuner not in _TUNERS:
        raise ValueError(_validation.message("tuner", tuner, f"one of {list(_TUNERS)}"))
    # ValueError also for a wrong type: the released behaviour, kept for callers that catch it.
    for name, value in (("max_trials", max_trials), ("epochs", epochs)):
        _validation.integer(name, value, minimum=1, wrong_type=ValueError)
    if subset is not None and (not _validation.is_integer(subset) or subset < 1):
        raise ValueError(_validation.message("subset", subset, "None or an integer >= 1"))
    if quick:
        max_trials, epochs, subset = min(max_trials, 3), min(epochs, 2), subset or 600
    has_chief, is_chief = _distributed_role()
    if has_chief:
        overwrite = False
    (x_train, y_train), (x_val, y_val) = datasets.load_digits(validation_fraction=0.2, seed=seed)
    if subset is not None:
        x_train, y_train = x_train[:subset], y_train[:subset]
    log_dir = renamed_log_dir(log_dir, logdir, default=None, caller="search_digits")
    hypermodel_kwargs.setdefault("log_dir", None if log_dir is None else os.fspath(log_dir))
    hypermodel = NotesHyperModel(x_train.shape[1:], 10, **hypermodel_kwargs)
    directory = (
        tempfile.mkdtemp(prefix="kerasnotes-tuner-") if directory is None else os.fspath(directory)
    )
    _compat.set_random_seed(seed)
    common = dict(
        objective=keras_tuner.Objective("val_accuracy", direction="max"),
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
    )
    if tuner == "random":
        search = keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    elif tuner == "bayesian":
        search = keras_tuner.BayesianOptimization(
            hypermodel, max_trials=max_trials, num_initial_points=min(3, max_trials), **common
        )
    else:
        search = keras_tuner.Hyperband(
            hypermodel, max_epochs=max(epochs, 2), factor=3, hyperband_iterations=1, **common
        )
    start = time.perf_counter()
    search.search(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        callbacks=list(callbacks),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    if has_chief and not is_chief:
        # A worker: the chief may be gone already, so report what this process measured.
        trials = {
            trial_id: {
                "status": "COMPLETED",
                # keras-tuner's objective: each execution's best epoch, averaged.
                "score": float(np.mean([max(h.get("val_accuracy", [math.nan])) for h in runs])),
                "hyperparameters": {},
            }
            for trial_id, runs in hypermodel.histories.items()
        }
        best_id = max(trials, key=lambda t: trials[t]["score"]) if trials else None
        return SearchResult(
            best_hyperparameters={},
            val_accuracy=trials[best_id]["score"] if best_id else math.nan,
            trials=trials,
            directory=directory,
            seconds=seconds,
            tuner=search,
        )
    best = search.oracle.get_best_trials(1)
    return SearchResult(
        best_hyperparameters=loggable(best[0].hyperparameters.values) if best else {},
        val_accuracy=float(best[0].score) if best and best[0].score is not None else math.nan,
        trials=_trials_table(search.oracle),
        directory=directory,
        seconds=seconds,
        tuner=search,
    )
