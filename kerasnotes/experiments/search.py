"""The tour's keras-tuner step: a small search over the notes' choices on the digits.

Not a claim of the notes but what a practitioner does with them: a
``NotesHyperModel`` search (optimizer and its β/ρ/momentum, learning rate,
decay, batch size, normalization, depth, width) with
``kerasnotes.tuning.search_digits``, the small version of
``examples/07_tuner_search.py``. Every trial is a TensorBoard run with its
hyperparameters for the HParams dashboard; the plot ranks the trials.

```
maximise  val_accuracy(best epoch)  over  NotesHyperModel's space     (keras-tuner's objective)
quick: random, 3 trials × 2 epochs on 600 samples;  default: random, 5 × 6;  full: Bayesian, 15 × 15
files: <log_dir>/search/trial_<id>/execution0 (runs),  <log_dir>/search/search_trials.png
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import search
    >>> result = search.run("quick", tempfile.mkdtemp())  # doctest: +SKIP
    >>> result.claim, result.status  # doctest: +SKIP
    ('search', 'searched')
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnotes.experiments import plotting
from kerasnotes.experiments.claim import Claim, Context, Judgement

#: The step's id in the tour (``kerasnotes tour --only search``).
STEP = "search"
TITLE = "a keras-tuner search over the notes' choices"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode searches.

    Args:
        tuner: keras-tuner's algorithm, "random" or "bayesian".
        trials: trials to run.
        epochs: epochs per trial.
        subset: training samples used (None: all 1,437).
    """

    tuner: str
    trials: int
    epochs: int
    subset: int | None


SIZES = {
    "quick": Sizes("random", 3, 2, subset=600),
    "default": Sizes("random", 4, 5, subset=None),
    "full": Sizes("bayesian", 15, 15, subset=None),
}


class _TrialProgress(keras.callbacks.Callback):
    """Names the trial in training on the tour's progress display.

    keras-tuner deep-copies the search's callbacks for every trial; the counter
    lives in a closure, which a deep copy shares, so trials are numbered in order.
    """

    def __init__(self, announce: Callable[[], None]) -> None:
        super().__init__()
        self.announce = announce

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.announce()


def _announcer(progress: Callable[[str], None] | None, total: int) -> Callable[[], None]:
    started = [0]

    def announce() -> None:
        started[0] += 1
        if progress is not None:
            progress(f"trial {started[0]}/{total}")

    return announce


def _clear_old_runs(root: Path) -> None:
    """Remove this step's earlier event files, so a rerun draws each trial's curve once."""
    for old in root.rglob("events.out.tfevents.*"):
        old.unlink()


def describe(values: dict[str, Any]) -> str:
    """A trial's active hyperparameters as ``name=value`` pairs, floats to 3 significant digits.

    Args:
        values: hyperparameter name -> value.

    Example:
        >>> describe({"optimizer": "adam", "learning_rate": 0.0012345, "depth": 2})
        'optimizer=adam, learning_rate=0.00123, depth=2'
    """
    return ", ".join(
        f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in values.items()
    )


class Search(Claim):
    """Search ``NotesHyperModel`` on the digits and report the best trial.

    Trial runs go to ``<log_dir>/search/trial_<id>/``, the plot to ``<log_dir>/search/``;
    ``seed`` seeds the data split, the tuner and the weights; ``progress`` is called with
    "trial k/n" as each trial starts.
    """

    claim, title, sizes = STEP, TITLE, SIZES
    quick_is_smoke_test = False
    status_label = "searched"

    def experiment(self, context: Context) -> Any:
        """keras-tuner's search, its trials' runs added to the step's runs."""
        from kerasnotes.tuning import search_digits

        sizes, files = context.sizes, context.files
        _clear_old_runs(files.root)
        # keras-tuner's own project (oracle state, checkpoints) is scratch: only the
        # TensorBoard runs and the plot belong in the log directory.
        project = tempfile.mkdtemp(prefix="kerasnotes-tour-search-")
        try:
            found = search_digits(
                max_trials=sizes.trials,
                epochs=sizes.epochs,
                log_dir=files.root,
                tuner=sizes.tuner,
                directory=project,
                subset=sizes.subset,
                seed=context.seed,
                callbacks=[_TrialProgress(_announcer(context.progress, sizes.trials))],
            )
        finally:
            shutil.rmtree(project, ignore_errors=True)
        runs = sorted(path for path in files.root.glob("trial_*/execution*") if path.is_dir())
        files.runs.extend(runs)
        return found

    def judge(self, context: Context, found: Any) -> Judgement:
        sizes = context.sizes
        scored = {
            trial_id: trial
            for trial_id, trial in found.trials.items()
            if trial["score"] is not None and np.isfinite(trial["score"])
        }
        scores = [trial["score"] for trial in scored.values()]
        best = found.best_hyperparameters
        samples = "all 1,437" if sizes.subset is None else f"{sizes.subset}"
        if scores:
            figure = (
                f"best val acc {found.val_accuracy:.3f} of {len(scores)} trials "
                f"({best.get('optimizer', '?')}, {best.get('normalization', '?')} norm)"
            )
            verdict = (
                f"search: a {sizes.tuner} search of {sizes.trials} trials × {sizes.epochs} epochs "
                f"over NotesHyperModel's space on {samples} training digits reached validation "
                f"accuracy {found.val_accuracy:.4f} (trials ranged {min(scores):.4f}–"
                f"{max(scores):.4f}) with {describe(best)} (criterion: keras-tuner's objective, "
                "the best epoch's validation accuracy)"
            )
        else:
            figure = "no trial completed"
            verdict = f"search: none of the {sizes.trials} trials produced a validation accuracy"
        plot = _plot(scored, context.files.plot_path("search_trials"), sizes)
        return Judgement(
            figure=figure,
            verdict=verdict,
            reproduced=None,
            plot=plot,
            numbers={
                "best_val_accuracy": float(found.val_accuracy),
                "worst_val_accuracy": float(min(scores)) if scores else float("nan"),
                "trials": float(len(found.trials)),
                "completed": float(len(scores)),
            },
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = Search().run


def _plot(trials: dict[str, dict[str, Any]], path: Path, sizes: Sizes) -> Path:
    figure, (axes,) = plotting.new_figure(1, f"search: {TITLE}", height=0.5 * len(trials) + 2)
    ranked = sorted(trials.items(), key=lambda item: item[1]["score"])
    labels = []
    for trial_id, trial in ranked:
        values = trial["hyperparameters"]
        rate = values.get("learning_rate")
        rate_text = f", α={rate:.2g}" if isinstance(rate, float) else ""
        labels.append(
            f"{trial_id}: {values.get('optimizer', '?')}{rate_text}, "
            f"{values.get('normalization', '?')}"
        )
    positions = np.arange(len(ranked))
    bars = axes.barh(positions, [trial["score"] for _, trial in ranked], color="tab:blue")
    axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    axes.set_yticks(positions, labels, fontsize=7)
    axes.set_xlim(0.0, 1.0)
    axes.set_xlabel(f"best validation accuracy in {sizes.epochs} epochs")
    return plotting.save(figure, path)
