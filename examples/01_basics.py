# %% [markdown]
# # Deep learning basics: features, a first model, losses and gradients
#
# Chapter 1 of the notes. A model is a function with weights θ, a loss L(θ) says how
# wrong it is, and training follows the gradient ∇L. Claim **C0**: a deep model learns
# its own features end to end, where a shallow model on raw inputs needs hand-made ones.
# We check the loss (F9, F10) and its gradient against the formulas, then compare a
# logistic regression on raw pixels with a small MLP on scikit-learn's 8×8 digits.
#
# Run it as a script (`python examples/01_basics.py`, `--quick` for a smoke run) or open
# it as a notebook: the file is in Jupytext's percent format.

# %%
import os
import sys
import tempfile

import keras
import matplotlib.pyplot as plt
import numpy as np

import kerasnotes as kn
from kerasnotes.curvature import HessianProbe

QUICK = "--quick" in sys.argv or os.environ.get("KERASNOTES_EXAMPLES_QUICK") == "1"
OUT = os.environ.get("KERASNOTES_EXAMPLES_LOGDIR") or tempfile.mkdtemp(prefix="kerasnotes-01-")
EPOCHS, SEEDS = (3, (0, 1)) if QUICK else (30, (0, 1, 2))

# Standardised pixels (the training split's mean and std), labels 0-9.
(x_train, y_train), (x_val, y_val) = kn.datasets.load_digits(validation_fraction=0.2)
print(f"digits: {len(x_train)} training and {len(x_val)} validation images of 64 pixels")

# %% [markdown]
# ## The loss: softmax and cross-entropy (F10, F9)
#
# A classifier outputs one score z_c per class. Softmax turns them into probabilities,
# ŷ_c = e^{z_c} / Σ_k e^{z_k}, and cross-entropy charges −log ŷ of the true class.
# The numpy lines below are the formulas; kerasnotes and Keras must give the same number.

# %%
rng = np.random.default_rng(0)
logits = rng.normal(size=(5, 10)).astype("float32")
labels = np.array([3, 1, 4, 1, 5])
probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # F10
by_hand = -np.log(probs[np.arange(5), labels]).mean()  # F9 with one-hot y
ours = kn.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
print(
    f"cross-entropy: numpy {by_hand:.6f}, kerasnotes {float(ours):.6f}, Keras {float(theirs):.6f}"
)

# %% [markdown]
# ## A first model and its gradient
#
# Logistic regression is one `Dense` layer: z = xW + b. For softmax cross-entropy the
# gradient has a closed form, ∂L/∂W = Xᵀ(P − Y)/N and ∂L/∂b = mean(P − Y), with P the
# predicted probabilities and Y the one-hot labels: each pixel's weight moves by how
# much the prediction overshoots. `HessianProbe.gradient()` is Keras's own automatic
# differentiation (on any backend) as one flat vector over `model.trainable_variables`.


# %%
def classifier(hidden, seed):
    """Raw pixels -> logits; hidden=() is logistic regression, (32,) a one-hidden-layer MLP."""
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Dense(units, activation="relu") for units in hidden]
    model = keras.Sequential([keras.Input((64,)), *layers, keras.layers.Dense(10)])
    loss = kn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(kn.optimizers.Adam(1e-2), loss, metrics=["accuracy"])
    return model


model = classifier((), seed=0)
kernel, bias = (keras.ops.convert_to_numpy(v) for v in model.trainable_variables)
z = x_train @ kernel + bias
p = np.exp(z - z.max(axis=1, keepdims=True))
p /= p.sum(axis=1, keepdims=True)
residual = (p - np.eye(10)[y_train]) / len(x_train)
formula = np.concatenate([(x_train.T @ residual).ravel(), residual.sum(axis=0)])
autodiff = HessianProbe(model, x_train, y_train).gradient()
gap = np.abs(formula - autodiff).max() / np.abs(autodiff).max()
print(f"gradient: {autodiff.size} weights, |formula - autodiff| / max|grad| = {gap:.1e}")
print("  (float32 round-off is ~1e-6: above 1e-4 the formula or the model would be wrong)")

# %% [markdown]
# ## C0: learned features beat raw pixels
#
# Both models see the same pixels and the same optimizer; only the MLP has a hidden
# layer that builds its own features. One run proves little, so every model trains
# with several seeds and the verdict compares the mean gain with twice its standard
# error over seeds. Each run's validation accuracy per epoch goes to TensorBoard
# through `kn.summary.Writer` (no TensorFlow needed): `tensorboard --logdir <OUT>`.

# %%
gains, accuracies = [], {"logistic": [], "mlp": []}
for seed in SEEDS:
    for name, hidden in (("logistic", ()), ("mlp", (32,))):
        model = classifier(hidden, seed)
        history = model.fit(
            x_train, y_train, epochs=EPOCHS, batch_size=32,
            validation_data=(x_val, y_val), verbose=0,
        )  # fmt: skip
        writer = kn.summary.Writer(os.path.join(OUT, f"{name}_seed{seed}"))
        for epoch, value in enumerate(history.history["val_accuracy"]):
            writer.scalar("val_accuracy", value, epoch)
        writer.close()
        accuracies[name].append(history.history["val_accuracy"][-1])
    gains.append(accuracies["mlp"][-1] - accuracies["logistic"][-1])

mean, stderr = np.mean(gains), np.std(gains, ddof=1) / np.sqrt(len(gains))
for name, values in accuracies.items():
    print(f"{name:>8}: validation accuracy {np.mean(values):.1%} over seeds {list(SEEDS)}")
verdict = "reproduced" if mean > 2 * stderr else "not decided by these runs"
print(f"MLP gain {mean:+.1%} ± {stderr:.1%} (standard error): C0 {verdict} (needs gain > 2 SE)")

# %% [markdown]
# ## What did the hidden layer learn?
#
# Each hidden unit has one weight per pixel, so its weights are an 8×8 image: the
# feature the unit responds to. Look for strokes and blobs where digits differ (a
# loop's hole, a bar's end) rather than whole digits. Nobody designed these.

# %%
first_layer = keras.ops.convert_to_numpy(model.layers[0].kernel)  # (64 pixels, 32 units)
figure, axes = plt.subplots(4, 8, figsize=(8, 4))
for unit, axis in enumerate(axes.ravel()):
    axis.imshow(first_layer[:, unit].reshape(8, 8), cmap="RdBu")
    axis.set_axis_off()
figure.suptitle("MLP first-layer weights: one learned feature per hidden unit")
figure.savefig(os.path.join(OUT, "features.png"))
print(f"features: {os.path.join(OUT, 'features.png')}; TensorBoard runs in {OUT}")
