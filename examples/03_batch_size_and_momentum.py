# %% [markdown]
# # Batch size and momentum
#
# Chapter 3 of the notes. Claim **C3**: full-batch gradient descent is stable but makes
# one update per pass over the data; SGD (batch 1) makes many noisy ones; mini-batches
# of 32-256 are the compromise. Claim **C4**: momentum accelerates progress along flat,
# consistent directions. The notes write momentum as an average of gradients (F2:
# v ← βv + (1−β)∇L, θ ← θ − αv), Keras as a heavy ball (F2k: v ← βv − α∇L, θ ← θ + v);
# `kerasnotes.optimizers.SGD` has both.
#
# Run it as a script (`python examples/03_batch_size_and_momentum.py`, `--quick` for a
# smoke run) or open it as a notebook (Jupytext percent format).

# %%
import os
import sys
import tempfile
import time

import keras
import numpy as np

import kerasnotes as kn

QUICK = "--quick" in sys.argv or os.environ.get("KERASNOTES_EXAMPLES_QUICK") == "1"
OUT = os.environ.get("KERASNOTES_EXAMPLES_LOGDIR") or tempfile.mkdtemp(prefix="kerasnotes-03-")
EPOCHS, BATCHES, SAMPLES = (3, (32, 256, 500), 500) if QUICK else (20, (1, 32, 256, 500), 500)
TARGET = 0.5  # training loss that counts as "arrived" (it starts near log(10) = 2.3)

(x_train, y_train), (x_val, y_val) = kn.datasets.load_digits()
x_train, y_train = x_train[:SAMPLES], y_train[:SAMPLES]

# %% [markdown]
# ## C3: the same model, four batch sizes
#
# Every run uses the same seed, model and learning rate; only the batch size changes
# (500 is the whole training set: batch gradient descent). We count *updates* and
# *passes over the data* until the full training loss is below the target. Small
# batches arrive in few passes but many updates; the full batch needs few updates per
# pass and so many passes. Wall time per pass is shown, not judged: it depends on the
# machine. Each run's curves go to TensorBoard: `tensorboard --logdir <OUT>`.

# %%
for batch_size in BATCHES:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    loss = kn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(kn.optimizers.SGD(0.05), loss, metrics=["accuracy"])
    # validation_data is the training set itself: "val_loss" is then the exact full-data
    # training loss at the end of each pass, free of the noise of single batches.
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train, batch_size=batch_size, epochs=EPOCHS,
        validation_data=(x_train, y_train), verbose=0,
    )  # fmt: skip
    per_pass = (time.perf_counter() - start) / EPOCHS
    losses = history.history["val_loss"]
    reached = np.flatnonzero(np.array(losses) < TARGET)
    updates_per_pass = -(-SAMPLES // batch_size)
    arrive = (
        f"{reached[0] + 1} passes = {(reached[0] + 1) * updates_per_pass} updates"
        if reached.size
        else f"not in {EPOCHS} passes"
    )
    val_accuracy = model.evaluate(x_val, y_val, verbose=0)[1]
    writer = kn.summary.Writer(os.path.join(OUT, f"batch_{batch_size}"))
    for epoch, value in enumerate(losses):
        writer.scalar("epoch_loss", value, epoch)
    writer.close()
    print(f"batch {batch_size:>3}: loss < {TARGET} after {arrive}; final loss {losses[-1]:.3f}, "
          f"val accuracy {val_accuracy:.1%}, {per_pass * 1e3:.0f} ms per pass")  # fmt: skip

# %% [markdown]
# ## C4: momentum on an ill-conditioned bowl
#
# L(w) = ½ wᵀAw with eigenvalues 1 and κ = 100 (F17): gradient descent must keep
# αλ_max < 2, so with α = 0.019 the flat direction (λ = 1) shrinks only by (1 − α) per
# step. Heavy-ball momentum (F2k) stays stable up to αλ_max < 2 + 2β and, along the flat
# direction, contracts by about √β per step instead. The notes' form (F2) with learning
# rate α/(1 − β) takes exactly the same steps: v there is the heavy ball's v / (−α(1 − β)).
# We count updates until L < 1e-3 (it starts at 50.5). The bowl is a one-batch
# regression, so we feed the same batch 400 times in one `fit` and read L = ½ wᵀAw
# from the weights after every update.

# %%
ALPHA, BETA, KAPPA, UPDATES = 0.019, 0.9, 100.0, 400


class BowlLossAfterEachUpdate(keras.callbacks.Callback):
    """Records L = ½ wᵀAw from the weights after every update."""

    def __init__(self, a):
        super().__init__()
        self.a, self.losses = a, []

    def on_train_batch_end(self, batch, logs=None):
        # Through self.model: on JAX it first copies the training state back into the
        # model's variables (a closure over `model` would read stale ones there).
        w = keras.ops.convert_to_numpy(self.model.weights[0]).ravel()
        self.losses.append(0.5 * w @ self.a @ w)


def losses_on_the_bowl(optimizer):
    """L = ½ wᵀAw after each of UPDATES full-batch updates of `optimizer`."""
    model, x, y, loss = kn.datasets.ill_conditioned_quadratic(KAPPA, start=[1.0, 1.0])
    record = BowlLossAfterEachUpdate(2 * x.T.astype("float64") @ x / len(x))  # A: see the loader
    model.compile(optimizer, loss)
    repeated = (np.tile(x, (UPDATES, 1)), np.tile(y, (UPDATES, 1)))
    model.fit(*repeated, batch_size=len(x), shuffle=False, verbose=0, callbacks=[record])
    return np.array(record.losses)


for name, optimizer in (
    ("gradient descent (F1)", kn.optimizers.SGD(ALPHA)),
    ("heavy ball (F2k)", kn.optimizers.SGD(ALPHA, momentum=BETA)),
    ("notes' EMA (F2)", kn.optimizers.SGD(ALPHA / (1 - BETA), BETA, momentum_form="ema")),
):
    below = np.flatnonzero(losses_on_the_bowl(optimizer) < 1e-3)
    steps = f"{below[0] + 1} updates" if below.size else f"not in {UPDATES} updates"
    print(f"{name:>22}: L < 1e-3 after {steps}")
gd_theory = np.log(0.5 / 1e-3) / -np.log((1 - ALPHA) ** 2)
print(f"theory: gradient descent ≈ {gd_theory:.0f} updates (flat term ½w², ×(1−α)² a step); "
      f"momentum contracts by β = {BETA} a step instead of {(1 - ALPHA) ** 2:.3f}")  # fmt: skip
