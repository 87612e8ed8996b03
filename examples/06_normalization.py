# %% [markdown]
# # Normalization: batch, layer and group
#
# Chapter 6 of the notes. Batch normalization (F11) standardises each feature with the
# mean and variance of the current batch, x̂ = (x − μ_B)/√(σ²_B + ε), then rescales,
# y = γx̂ + β; at test time it uses moving averages of μ_B and σ²_B instead. Claim
# **C9**: it speeds training and allows a larger learning rate. Claim **C13**: the
# reason is a lower sharpness λ_max (gradient descent is stable for α < 2/λ_max,
# F17). Claim **C10**: layer and group normalization (F12) use statistics per sample,
# so they keep working with batches of 2, where batch statistics are noise.
#
# Run it as a script (`python examples/06_normalization.py`, `--quick` for a smoke run)
# or open it as a notebook (Jupytext percent format).

# %%
import os
import sys

import keras
import numpy as np

import kerasnotes as kn
from kerasnotes.curvature import HessianProbe

QUICK = "--quick" in sys.argv or os.environ.get("KERASNOTES_EXAMPLES_QUICK") == "1"
EPOCHS, RATES, SAMPLES = (2, (0.05, 1.0), 400) if QUICK else (15, (0.05, 0.3, 1.0), None)

(x_train, y_train), (x_val, y_val) = kn.datasets.load_digits()
x_train, y_train = x_train[:SAMPLES], y_train[:SAMPLES]  # all 1,438 unless quick


def mlp(norm=None, depth=4, seed=0):
    """Dense -> [normalization] -> ReLU, `depth` times, then 10 logits."""
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((64,))]
    for _ in range(depth):
        layers.append(keras.layers.Dense(64, use_bias=norm is None))  # the norm has β
        layers += [norm()] if norm else []
        layers.append(keras.layers.Activation("relu"))
    return keras.Sequential([*layers, keras.layers.Dense(10)])


def train(model, learning_rate, batch_size=32):
    loss = kn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(kn.optimizers.SGD(learning_rate), loss, metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=batch_size, epochs=EPOCHS, verbose=0)
    return model.evaluate(x_val, y_val, verbose=0)[1]


# %% [markdown]
# ## C9: a deeper MLP with and without batch normalization
#
# Four hidden layers, plain SGD, the same seed; only the learning rate and the
# normalization change. Without BN a large rate diverges (the loss turns NaN and the
# accuracy falls to chance, ~10%); with BN the same rate trains.

# %%
trained = {}  # the two networks trained at the smallest rate, probed below (C13)
for rate in RATES:
    plain, batch_norm = mlp(), mlp(kn.layers.BatchNormalization)
    accuracies = [train(plain, rate), train(batch_norm, rate)]
    trained = trained or {"without BN": plain, "with BN": batch_norm}
    print(f"lr {rate:<4}: validation accuracy without BN {accuracies[0]:.1%}, "
          f"with BN {accuracies[1]:.1%}")  # fmt: skip

# %% [markdown]
# ## Test time uses the moving averages
#
# In inference a BN layer must not depend on the other samples in the batch, so a
# prediction made one sample at a time equals the one made on the whole set. In
# training mode (batch statistics) the same two samples give different outputs.

# %%
model = mlp(kn.layers.BatchNormalization)
train(model, 0.05)
one_by_one = model.predict(x_val, batch_size=1, verbose=0)
all_at_once = model.predict(x_val, batch_size=len(x_val), verbose=0)
print(f"inference, batch 1 vs batch {len(x_val)}: max |difference| "
      f"{np.abs(one_by_one - all_at_once).max():.1e} (float32 round-off)")  # fmt: skip
pair = x_val[:2]
in_training = keras.ops.convert_to_numpy(model(pair, training=True))
print(f"training mode on a batch of 2 vs inference: max |difference| "
      f"{np.abs(in_training - all_at_once[:2]).max():.2f}")  # fmt: skip

# %% [markdown]
# ## C13: why the larger rate works: sharpness
#
# `HessianProbe.eigenvalues()` finds the Hessian's largest eigenvalue λ_max by Lanczos
# on Hessian-vector products. Gradient descent is stable only for α < 2/λ_max (F17).
# We measure the two networks trained above at α = 0.05 (the same training point) on
# 512 training images; BN layers use the batch's statistics (`bn_mode="batch"`), as in
# training. (At the random initial weights the order can differ: the claim is about
# trained networks.)

# %%
loss = kn.losses.SparseCategoricalCrossentropy(from_logits=True)
for name, model in trained.items():
    probe = HessianProbe(model, x_train[:512], y_train[:512], loss=loss, bn_mode="batch")
    result = probe.eigenvalues(k=1, which="largest")
    sharpness = float(result.values[0])
    print(f"{name:>10}: lambda_max {sharpness:6.2f} (converged: {result.converged}), "
          f"largest stable gradient-descent rate 2/lambda_max = {2 / sharpness:.3f}")  # fmt: skip

# %% [markdown]
# ## C10: batches of two: batch, layer and group normalization
#
# Layer normalization standardises each sample over its 64 features; group
# normalization over groups of features (here 8 groups of 8). Neither looks at the
# other sample in the batch, so training and test behave alike. Batch size 2 also means
# many more updates per epoch, so we use a small rate.

# %%
for name, norm in (
    ("batch", kn.layers.BatchNormalization),
    ("layer", kn.layers.LayerNormalization),
    ("group", lambda: kn.layers.GroupNormalization(groups=8)),
):
    accuracy = train(mlp(norm, depth=2), 0.01, batch_size=2)
    print(f"{name:>5} normalization, batch size 2: validation accuracy {accuracy:.1%}")
