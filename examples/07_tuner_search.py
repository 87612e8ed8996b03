# %% [markdown]
# # Searching the notes' choices with keras-tuner
#
# Every chapter of the notes adds a choice: the optimizer (F1-F5), a learning-rate
# decay (F6, F7), the batch size, a normalization (F11, F12), the depth and width.
# `kerasnotes.tuning.NotesHyperModel` turns them into one keras-tuner search space,
# built from kerasnotes components, and logs every trial for TensorBoard's HParams
# dashboard. Here we look at the space, search it on the digits, and ask whether the
# winner really is better than the runner-up.
#
# Run it as a script (`python examples/07_tuner_search.py`, `--quick` for a smoke run)
# or open it as a notebook (Jupytext percent format).

# %%
import os
import sys
import tempfile

import keras
import keras_tuner
import numpy as np

import kerasnotes as kn
from kerasnotes.tuning import NotesHyperModel, search_digits

QUICK = "--quick" in sys.argv or os.environ.get("KERASNOTES_EXAMPLES_QUICK") == "1"
OUT = os.environ.get("KERASNOTES_EXAMPLES_LOGDIR") or tempfile.mkdtemp(prefix="kerasnotes-07-")
TUNER_DIR = os.environ.get("KERASNOTES_TUNER_DIR")  # keras-tuner's project root; None: a temp dir
TRIALS, EPOCHS, SUBSET = (3, 2, 600) if QUICK else (12, 10, None)

# %% [markdown]
# ## The search space
#
# Building a model from empty `HyperParameters` registers the space with each
# hyperparameter's default. Some exist only under a choice: `momentum` for the two
# momentum optimizers, `rho` for RMSprop, `decay_rate` for the exponential decay.
# Arguments of `NotesHyperModel` fix a hyperparameter (one value) or narrow it.

# %%
hp = keras_tuner.HyperParameters()
NotesHyperModel((64,), 10).build(hp)
for entry in hp.space:
    if hasattr(entry, "min_value"):  # Int and Float: a range and how it is sampled
        allowed = f"{entry.min_value:g} to {entry.max_value:g} ({entry.sampling or 'linear'})"
    else:
        allowed = entry.values
    only = "".join(f", only if {parent.name} in {parent.values}" for parent in entry.conditions)
    print(f"{entry.name:>14}: {type(entry).__name__:<6} {allowed}{only}")
narrow = NotesHyperModel((64,), 10, optimizers=("sgd", "adam"), normalizations="batch")
hp = keras_tuner.HyperParameters()
narrow.build(hp)
print(f"narrowed: optimizer in {hp.space[0].values}; hyperparameters: {sorted(hp.values)}")

# %% [markdown]
# ## A random search
#
# `search_digits` trains each trial on 80% of the digits and scores its best epoch's
# validation accuracy. Each trial is a TensorBoard run `<OUT>/trial_<id>/execution0`;
# `kerasnotes board --logdir <OUT>` shows them side by side in the HParams dashboard.
#
# Beyond one machine: run this same file once with `KERASTUNER_TUNER_ID=chief` and
# once per worker with `KERASTUNER_TUNER_ID=tuner0`, `tuner1`, ..., every process with
# `KERASTUNER_ORACLE_IP` / `KERASTUNER_ORACLE_PORT` of the chief and the same shared
# `KERASNOTES_TUNER_DIR` (keras-tuner's chief/worker mode). The chief serves the
# oracle and returns when every trial is done; each worker reports its own trials.

# %%
result = search_digits(
    TRIALS, EPOCHS, OUT, tuner="random", directory=TUNER_DIR, subset=SUBSET, seed=0
)  # the third argument: the TensorBoard root of the trials' runs
ranked = sorted(result.trials.items(), key=lambda item: -(item[1]["score"] or 0.0))
for trial_id, trial in ranked:
    shown = {
        k: f"{v:.3g}" if isinstance(v, float) else v for k, v in trial["hyperparameters"].items()
    }
    print(
        f"trial {trial_id}: {trial['status']:<9} val_accuracy {trial['score'] or np.nan:.4f} {shown}"
    )
print(f"{len(ranked)} trials in {result.seconds:.0f} s; TensorBoard runs in {OUT}")

# %% [markdown]
# ## Is the winner really better?
#
# A search ranks single runs, and one run's accuracy moves with its seed. We retrain
# the best configuration with three seeds: if the gap between the best two trials is
# smaller than twice that spread's standard error, the search has not decided between
# them. (A worker of a distributed search skips this: the chief holds the ranking.)

# %%
if result.best_hyperparameters:
    (x_train, y_train), (x_val, y_val) = kn.datasets.load_digits(validation_fraction=0.2)
    x_train, y_train = x_train[:SUBSET], y_train[:SUBSET]
    best = keras_tuner.HyperParameters()
    for name, value in result.best_hyperparameters.items():
        best.Fixed(name, value)
    hypermodel, scores = NotesHyperModel((64,), 10), []
    for seed in (1, 2, 3):
        keras.utils.set_random_seed(seed)
        model = hypermodel.build(best)
        history = hypermodel.fit(
            best, model, x_train, y_train, validation_data=(x_val, y_val), epochs=EPOCHS, verbose=0
        )
        scores.append(max(history.history["val_accuracy"]))
    stderr = np.std(scores, ddof=1) / np.sqrt(len(scores))
    gap = ranked[0][1]["score"] - (ranked[1][1]["score"] if len(ranked) > 1 else np.nan)
    decided = "decided" if gap > 2 * stderr else "not decided (within the seed spread)"
    print(f"best configuration over seeds 1-3: {np.mean(scores):.4f} ± {stderr:.4f} (SE); "
          f"gap to the runner-up {gap:.4f}: {decided}")  # fmt: skip
