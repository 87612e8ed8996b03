# %% [markdown]
# # Local minima and saddle points: reading the Hessian
#
# Chapter 2 of the notes. Where ∇L ≈ 0 training stalls, and the Hessian H tells what
# kind of point it is (F13): all eigenvalues > 0 is a local minimum, mixed signs a
# saddle. Claim **C1**: in high dimension stalls are mostly saddles; claim **C2**: a
# saddle is escaped along the eigenvector u of a negative eigenvalue λ, because
# uᵀHu = λ‖u‖² < 0. `kerasnotes.curvature.HessianProbe` computes eigenvalues from
# Hessian-vector products, never forming H, so it works on real networks too.
#
# Run it as a script (`python examples/02_saddle_points.py`, `--quick` for a smoke run)
# or open it as a notebook (Jupytext percent format).

# %%
import os
import sys
import tempfile

import keras
import numpy as np

import kerasnotes as kn
from kerasnotes.callbacks import SaddlePointDetector
from kerasnotes.curvature import HessianProbe

QUICK = "--quick" in sys.argv or os.environ.get("KERASNOTES_EXAMPLES_QUICK") == "1"
OUT = os.environ.get("KERASNOTES_EXAMPLES_LOGDIR") or tempfile.mkdtemp(prefix="kerasnotes-02-")
STEPS, EPOCHS = (120, 2) if QUICK else (300, 10)

# %% [markdown]
# ## The smallest saddle: L(w₁, w₂) = (1 − w₁w₂)²
#
# At w = 0 the gradient is 0 and H = [[0, −2], [−2, 0]]: eigenvalues ±2, and λ = −2 has
# u ∝ [1, 1]. `analyze()` applies F13 and reports the minimum ratio (F14): the share of
# positive eigenvalues, ½ here. A local minimum would have ratio 1.

# %%
model, x, y, loss = kn.datasets.product_saddle(w1=0.0, w2=0.0)
probe = HessianProbe(model, x, y, loss=loss)
point = probe.analyze()
print(f"at w = 0: kind {point.kind}, |grad| {point.grad_norm:.1e}, "
      f"lambda {point.lambda_min:+.4f} / {point.lambda_max:+.4f}, "
      f"minimum ratio {point.minimum_ratio:.2f}")  # fmt: skip
print(f"escape direction u = {np.round(point.escape_direction, 4)} (expected ±[0.7071, 0.7071])")

# %% [markdown]
# ## Who escapes, and how fast (C2)
#
# We start a hair away from the saddle, 1e-6 along u, and count gradient steps until
# the loss falls below ½ (it is 1 at the saddle). Near the saddle the u-component grows
# by (1 + 2α) per step, so plain gradient descent does escape, but only after
# log(1e6)/log(1 + 2α) steps; heavy-ball momentum (F2k) compounds those steps. The
# eigenvector step jumps straight along u: F13's θ ← θ + ηu with η = √2 lands on the
# valley w₁w₂ = 1 in one move. Starting exactly at 0, gradient descent never moves:
# any perturbation, such as the noise of SGD's mini-batches, is what lets it start.


# %%
class LossAfterEachUpdate(keras.callbacks.Callback):
    """Records L = (1 - w1·w2)² from the two weights after every update."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        # Through self.model: on JAX it first copies the training state back into the
        # model's variables (a closure over `model` would read stale ones there).
        w1, w2 = (keras.ops.convert_to_numpy(w).item() for w in self.model.weights)
        self.losses.append((1 - w1 * w2) ** 2)


def steps_to_escape(optimizer, start):
    model, x, y, loss = kn.datasets.product_saddle(*start)
    model.compile(optimizer, loss)
    record = LossAfterEachUpdate()
    # The one sample repeated STEPS times: one `fit`, one full-batch update per row.
    model.fit(np.tile(x, (STEPS, 1)), np.tile(y, (STEPS, 1)), batch_size=1, shuffle=False,
              verbose=0, callbacks=[record])  # fmt: skip
    below = np.flatnonzero(np.array(record.losses) < 0.5)
    return int(below[0]) + 1 if below.size else None  # None: still stuck after STEPS steps


near = 1e-6 / np.sqrt(2)
for name, optimizer, start in (
    ("gradient descent from exactly 0", kn.optimizers.SGD(0.1), (0.0, 0.0)),
    ("gradient descent", kn.optimizers.SGD(0.1), (near, near)),
    ("momentum 0.9 (F2k)", kn.optimizers.SGD(0.1, momentum=0.9), (near, near)),
):
    print(f"{name:>32}: steps to L < 0.5: {steps_to_escape(optimizer, start)} (of {STEPS})")
model.set_weights([np.full((1, 1), w, "float32") for w in np.sqrt(2) * point.escape_direction])
print(
    f"{'one eigenvector step, eta=√2':>32}: L = {HessianProbe(model, x, y, loss=loss).loss():.2e}"
)
print(f"theory for gradient descent: log(1e6)/log(1.2) = {np.log(1e6) / np.log(1.2):.0f} steps")

# %% [markdown]
# ## Saddles that the Hessian cannot see
#
# A linear network y = x K₁…K_d started at all-zero weights has ∇L = 0. With two
# layers that point is a strict saddle; with three, H = 0 as well (the loss moves only
# at third order), and the second-order test must answer "flat", never "minimum".

# %%
for depth in (2, 3):
    model, x, y, loss = kn.datasets.linear_network(depth=depth, init_scale=0.0)
    point = HessianProbe(model, x, y, loss=loss).analyze()
    print(f"linear net, depth {depth}: {point.kind:>7}, "
          f"lambda {point.lambda_min:+.3f} / {point.lambda_max:+.3f}")  # fmt: skip

# %% [markdown]
# ## A real network on the digits (C1)
#
# `SaddlePointDetector` runs the same analysis on a fixed sample at the end of epochs.
# With `always_probe=True` it reports the curvature even while ∇L is large. Watch the
# minimum ratio: below 1 means the Hessian still has negative directions to descend,
# which is why in high dimension stalls are mostly saddles (the lecture behind the
# notes found ratios of at most about 0.5-0.6 at stalls). Its TensorBoard run shows
# these numbers in the kerasnotes tab (Curvature): `tensorboard --logdir <OUT>`.

# %%
(x_train, y_train), _ = kn.datasets.load_digits()
x_train, y_train = x_train[:300], y_train[:300]
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((64,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(10)]
)
model.compile(
    kn.optimizers.SGD(0.1), kn.losses.SparseCategoricalCrossentropy(from_logits=True)
)  # fmt: skip
detector = SaddlePointDetector(
    (x_train, y_train), always_probe=True, log_dir=os.path.join(OUT, "digits"), verbose=0
)
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=300, verbose=0, callbacks=[detector])
for entry in detector.history:
    print(f"epoch {entry['epoch'] + 1:>2}: {entry['kind']:>12}, |grad| {entry['grad_norm']:.3f}, "
          f"lambda {entry['lambda_min']:+.3f} / {entry['lambda_max']:+.3f}, "
          f"minimum ratio {entry['minimum_ratio']:.2f} (saddle-like: < 1)")  # fmt: skip
print(f"TensorBoard run: {os.path.join(OUT, 'digits')}")
