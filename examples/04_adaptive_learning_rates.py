# %% [markdown]
# # Adaptive learning rates and learning-rate decay
#
# Chapter 4 of the notes. One learning rate for every weight is a compromise; adaptive
# methods give each weight its own. Claim **C5**: Adagrad (F3) divides by the root of
# *all* past squared gradients, so its effective rate α/√(g_t + ε) only shrinks until
# training stalls; RMSprop (F4) uses a moving average instead and recovers; Adam (F5)
# adds momentum to RMSprop. Claim **C6**: decaying one global rate, large early and
# small late (F6 exponential, F7 step), helps plain SGD.
#
# Run it as a script (`python examples/04_adaptive_learning_rates.py`, `--quick` for a
# smoke run) or open it as a notebook (Jupytext percent format).

# %%
import os
import sys
import tempfile

import keras
import numpy as np

import kerasnotes as kn
from kerasnotes.callbacks import LearningRateDecay, OptimizerInspector

QUICK = "--quick" in sys.argv or os.environ.get("KERASNOTES_EXAMPLES_QUICK") == "1"
OUT = os.environ.get("KERASNOTES_EXAMPLES_LOGDIR") or tempfile.mkdtemp(prefix="kerasnotes-04-")
EPOCHS, SEEDS = (3, (0, 1)) if QUICK else (25, (0, 1, 2))

(x_train, y_train), (x_val, y_val) = kn.datasets.load_digits()


def mlp(optimizer, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    loss = kn.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer, loss, metrics=["accuracy"])
    return model


# %% [markdown]
# ## C5: watch each optimizer's effective learning rate
#
# Every kerasnotes optimizer answers `inspect(variable)` with its state and the
# per-element `effective_learning_rate`, the factor it multiplies the gradient by.
# We record its median over the first layer's kernel after every epoch (the median:
# the digits' border pixels are always 0, their weights get no gradient, and their
# rate stays at α/√ε, far above the rest). Adagrad here
# starts its accumulator at 0, as the notes write F3 (Keras starts at 0.1).
# `OptimizerInspector` logs the same rates as histograms: open TensorBoard on <OUT>
# and the kerasnotes tab's Optimizer view.


# %%
class MedianEffectiveRate(keras.callbacks.Callback):
    """After every epoch: the median effective learning rate of one variable."""

    def __init__(self, variable):
        super().__init__()
        self.variable, self.rates = variable, []

    def on_epoch_end(self, epoch, logs=None):
        state = self.model.optimizer.inspect(self.variable)
        self.rates.append(np.median(state["effective_learning_rate"]))


for name, optimizer in (
    ("adagrad", kn.optimizers.Adagrad(0.05, initial_accumulator_value=0.0)),
    ("rmsprop", kn.optimizers.RMSprop(0.001)),
    ("adam", kn.optimizers.Adam(0.001)),
):
    model = mlp(optimizer)
    watch = MedianEffectiveRate(model.layers[0].kernel)
    inspector = OptimizerInspector(os.path.join(OUT, name))
    history = model.fit(x_train, y_train, epochs=EPOCHS, verbose=0, callbacks=[watch, inspector])
    rates = watch.rates
    only_shrinks = bool(np.all(np.diff(rates) <= 0))
    print(f"{name:>8}: median effective rate {rates[0]:.2e} after epoch 1, {rates[-1]:.2e} after "
          f"epoch {EPOCHS} (x{rates[-1] / rates[0]:.2f}, only shrinks: {only_shrinks}); "
          f"training loss {history.history['loss'][-1]:.3f}")  # fmt: skip

# %% [markdown]
# Adagrad's rate can only shrink (its accumulator only grows): that is C5's stall.
# RMSprop's and Adam's follow the recent gradients and may rise again. The claim is
# about that shape; which optimizer ends lower on this small problem depends on the
# rates chosen.
#
# ## C6: decay the learning rate
#
# SGD at α₀ = 0.1, three ways: constant; exponential α₀e^{−γt} (F6) and step
# α₀·0.5^⌊t/every⌋ (F7), both ending about ten times lower (t in epochs).
# `LearningRateDecay(schedule, per="epoch")` sets the rate at the start of every epoch
# and logs it (the learning-rate curve in TensorBoard).
# A decay "helps" when its final training loss is lower than the constant rate's by more
# than twice the standard error of the difference over seeds ("hurts" the other way).
# In a short run (`--quick`) a decay can only cost progress; the claim is about long
# runs, where a constant rate keeps bouncing around the bottom of the valley.

# %%
schedules = {
    "exponential": kn.schedules.ExponentialDecay(0.1, gamma=np.log(10) / EPOCHS),
    "step": kn.schedules.StepDecay(0.1, drop=0.5, every=-(-EPOCHS // 4)),
}
final = {name: [] for name in ("constant", *schedules)}
for seed in SEEDS:
    for name in final:
        callbacks = []
        if name in schedules:
            log_dir = os.path.join(OUT, f"{name}_seed{seed}")
            callbacks.append(LearningRateDecay(schedules[name], per="epoch", log_dir=log_dir))
        model = mlp(kn.optimizers.SGD(0.1), seed)
        model.fit(x_train, y_train, epochs=EPOCHS, verbose=0, callbacks=callbacks)
        final[name].append(model.evaluate(x_train, y_train, verbose=0)[0])
for name in schedules:
    gain = np.subtract(final["constant"], final[name])
    stderr = gain.std(ddof=1) / np.sqrt(len(gain))
    verdict = "undecided"
    if abs(gain.mean()) > 2 * stderr:
        verdict = "helps" if gain.mean() > 0 else "hurts"
    print(f"{name:>11} decay: final loss {np.mean(final[name]):.4f} vs constant "
          f"{np.mean(final['constant']):.4f}, gain {gain.mean():+.4f} ± {stderr:.4f} (SE): "
          f"{verdict}")  # fmt: skip
print(f"TensorBoard runs: {OUT}")
