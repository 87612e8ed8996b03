# %% [markdown]
# # Classification losses: cross-entropy versus squared error
#
# Chapter 5 of the notes. A classifier's outputs go through a sigmoid (two classes) or
# a softmax (F10) and are scored with cross-entropy (F8, F9). Claim **C8**: for
# classification, cross-entropy trains faster than the mean squared error on the same
# softmax outputs. The reason is in the gradient with respect to the logits z, and we
# compute it before we train.
#
# Run it as a script (`python examples/05_classification_losses.py`, `--quick` for a
# smoke run) or open it as a notebook (Jupytext percent format).

# %%
import os
import sys
import tempfile

import keras
import numpy as np

import kerasnotes as kn

QUICK = "--quick" in sys.argv or os.environ.get("KERASNOTES_EXAMPLES_QUICK") == "1"
OUT = os.environ.get("KERASNOTES_EXAMPLES_LOGDIR") or tempfile.mkdtemp(prefix="kerasnotes-05-")
EPOCHS, SEEDS = (3, (0, 1)) if QUICK else (40, (0, 1, 2))
TARGET = 0.9  # validation accuracy that counts as "trained"

# %% [markdown]
# ## Binary cross-entropy is the formula (F8)
#
# L = −1/N Σ [y log ŷ + (1 − y) log(1 − ŷ)] with ŷ = σ(z). We fit a logistic regression
# on scikit-learn's breast-cancer set and recompute its loss from the predictions.

# %%
(x_train, y_train), (x_val, y_val) = kn.datasets.load_breast_cancer()
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1, activation="sigmoid")])
model.compile(kn.optimizers.Adam(0.01), kn.losses.BinaryCrossentropy(), metrics=["accuracy"])
model.fit(x_train, y_train, epochs=EPOCHS, verbose=0)
p = keras.ops.convert_to_numpy(model(x_val)).ravel().astype("float64")
by_hand = -np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p))
loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
print(f"breast cancer: BCE numpy {by_hand:.5f}, kerasnotes {loss:.5f}; accuracy {accuracy:.1%}")

# %% [markdown]
# ## Why cross-entropy learns faster: the gradient at a confident mistake
#
# With p = softmax(z) and one-hot y, cross-entropy's gradient is ∂L/∂z = p − y: as large
# as the mistake. Squared error adds the softmax's Jacobian, diag(p) − ppᵀ, which is
# almost zero when p is saturated: ∂L/∂z = (diag(p) − ppᵀ)·2(p − y)/C. A model that is
# confidently wrong barely learns from MSE.

# %%
for scale in (1.0, 5.0, 10.0):
    z = scale * np.array([1.0, 0.0, 0.0])  # confident in class 0; the truth is class 1
    y = np.array([0.0, 1.0, 0.0])
    p = np.exp(z) / np.exp(z).sum()
    grad_ce = p - y
    grad_mse = (np.diag(p) - np.outer(p, p)) @ (2 * (p - y) / len(p))
    print(f"logit gap {scale:>4}: |dL/dz| cross-entropy {np.linalg.norm(grad_ce):.3f}, "
          f"MSE {np.linalg.norm(grad_mse):.5f}")  # fmt: skip

# %% [markdown]
# ## C8: epochs to 90% on the digits
#
# Same MLP, same seed, same SGD; only the loss differs. Both see softmax probabilities
# (the last layer's activation). We count epochs until the validation accuracy first
# reaches 90%, for several seeds; cross-entropy "wins" a seed if it gets there first
# (a run that never gets there counts as EPOCHS + 1). Each run's validation accuracy
# goes to TensorBoard: `tensorboard --logdir <OUT>`.

# %%
(x_train, y_train), (x_val, y_val) = kn.datasets.load_digits()
onehot_train, onehot_val = np.eye(10)[y_train], np.eye(10)[y_val]
epochs_to_target = {"cross-entropy": [], "mse": []}
for seed in SEEDS:
    for name, loss in (
        ("cross-entropy", kn.losses.CategoricalCrossentropy()),
        ("mse", keras.losses.MeanSquaredError()),
    ):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        model.compile(kn.optimizers.SGD(0.1), loss, metrics=["categorical_accuracy"])
        history = model.fit(
            x_train, onehot_train, epochs=EPOCHS, batch_size=32,
            validation_data=(x_val, onehot_val), verbose=0,
        )  # fmt: skip
        curve = np.array(history.history["val_categorical_accuracy"])
        writer = kn.summary.Writer(os.path.join(OUT, f"{name}_seed{seed}"))
        for epoch, value in enumerate(curve):
            writer.scalar("val_accuracy", value, epoch)
        writer.close()
        reached = np.flatnonzero(curve >= TARGET)
        epochs_to_target[name].append(reached[0] + 1 if reached.size else EPOCHS + 1)

ce, mse = (np.array(epochs_to_target[name]) for name in ("cross-entropy", "mse"))
print(f"epochs to {TARGET:.0%}: cross-entropy {ce.tolist()}, MSE {mse.tolist()} "
      f"(seeds {list(SEEDS)}; {EPOCHS + 1} = not reached in {EPOCHS})")  # fmt: skip
wins = int(np.sum(ce < mse))
verdict = "reproduced" if wins == len(SEEDS) else "not in every seed"
print(f"cross-entropy first in {wins} of {len(SEEDS)} seeds: C8 {verdict}")
