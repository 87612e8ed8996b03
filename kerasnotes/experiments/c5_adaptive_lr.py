"""C5: Adagrad's learning rate decays until training stalls; RMSprop fixes it; Adam combines.

The digits MLP is trained from the same initial weights with Adagrad (the
notes' form, accumulator starting at 0), RMSprop and Adam, all with the same
base learning rate α. Pixels blank in every training image are left out (their
weights would get no gradient, so their step would stay α/√ε). Each optimizer's ``inspect`` gives the per-parameter
effective learning rate; its mean over every parameter is recorded through
training, beside the loss curve.

```
Adagrad  g_t = g_{t−1} + (∇L)²                 step α/√(g_t + ε)   (only grows: the step only shrinks)
RMSprop  E_t = βE_{t−1} + (1−β)(∇L)²           step α/√(E_t + ε)   (forgets: recovers when gradients shrink)
Adam     m_t, v_t: momentum + RMSprop, bias-corrected; step α·√(1−β₂ᵗ)/(1−β₁ᵗ)/(√v_t + ε̂)
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c5_adaptive_lr
    >>> result = c5_adaptive_lr.run("quick", tempfile.mkdtemp())
    >>> result.numbers["lr_decay_factor_adagrad"] > 1
    True
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from kerasnotes import losses, optimizers, summary
from kerasnotes.callbacks import OptimizerInspector
from kerasnotes.experiments import plotting
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Claim, Context, Judgement, Trial
from kerasnotes.experiments.training import WHOLE_BATCHES, DigitsSizes, digits_split, fit_run, mlp

CLAIM = "C5"
TITLE = "Adagrad's step decays until it stalls; RMSprop and Adam keep moving"


@dataclasses.dataclass(frozen=True)
class Sizes(DigitsSizes):
    """Rows and epochs per optimizer (``DigitsSizes``), plus how often the rates are read.

    Args:
        batch_size: samples per update.
        inspect_every: updates between two readings of the effective learning rate.
    """

    batch_size: int = 64
    inspect_every: int = 4


SIZES = {
    "quick": Sizes(train_samples=256, epochs=1),
    "default": Sizes(train_samples=WHOLE_BATCHES, epochs=12),
    "full": Sizes(train_samples=WHOLE_BATCHES, epochs=60, batch_size=32, inspect_every=10),
}

LEARNING_RATE = 0.01
HIDDEN = (32,)
OPTIMIZERS = {
    # the notes' Adagrad (F3) starts its sum of squared gradients at 0, Keras's at 0.1
    "adagrad": lambda: optimizers.Adagrad(
        learning_rate=LEARNING_RATE, initial_accumulator_value=0.0
    ),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=LEARNING_RATE),
    "adam": lambda: optimizers.Adam(learning_rate=LEARNING_RATE),
}
TAG_EFFECTIVE_LR = "effective_learning_rate_mean"


class EffectiveLearningRate(keras.callbacks.Callback):
    """Reads the optimizer's mean effective learning rate over every parameter, every k updates.

    ```
    mean_lr = Σ_variables sum(inspect(v)["effective_learning_rate"]) / number of parameters
    ```

    The median over parameters is kept too (``readings`` rows: update, mean, median).

    Args:
        every: updates between readings.
        writer: where to write ``effective_learning_rate_mean`` (step = update).

    Example:
        >>> EffectiveLearningRate(every=4).readings
        []
    """

    def __init__(self, every: int, writer: summary.Writer | None = None) -> None:
        super().__init__()
        self.every = every
        self.writer = writer
        self.readings: list[tuple[int, float]] = []
        self._updates = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._updates += 1
        if self._updates == 1 or self._updates % self.every == 0:
            optimizer = self.model.optimizer
            rates = np.concatenate(
                [
                    optimizer.inspect(variable)["effective_learning_rate"].reshape(-1)
                    for variable in self.model.trainable_variables
                ]
            )
            mean = float(np.mean(rates))
            self.readings.append((self._updates, mean, float(np.median(rates))))
            if self.writer is not None:
                self.writer.scalar(TAG_EFFECTIVE_LR, mean, step=self._updates)


class AdaptiveRates(Claim):
    """Train with Adagrad, RMSprop and Adam; follow each one's effective learning rate and loss.

    Runs go to ``<log_dir>/C5/<optimizer>``, the plot to ``<log_dir>/C5/``; ``seed`` seeds
    the data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES

    def data(self, context: Context, seed: int) -> tuple[np.ndarray, np.ndarray]:
        (x, y), _ = digits_split(context.sizes.train_samples, seed)
        # Pixels that are blank in every training image give their weights no gradient, so
        # those weights keep the initial step α/√ε forever and would dominate any mean
        # over parameters.
        varying = np.std(x, axis=0) > 0
        return x[:, varying], y

    def configs(self, context: Context, data: tuple) -> dict:
        return OPTIMIZERS

    def train(self, context: Context, trial: Trial) -> tuple[np.ndarray, np.ndarray]:
        """The tracker's readings and the epoch losses."""
        sizes = context.sizes
        # The Writer is shared with fit_run's recorder through for_log_dir; fit_run closes it.
        tracker = EffectiveLearningRate(
            sizes.inspect_every, summary.Writer.for_log_dir(trial.run_dir)
        )
        result = fit_run(
            mlp(trial.data[0].shape[1], HIDDEN, 10, trial.seed),
            trial.config(),
            losses.SparseCategoricalCrossentropy(from_logits=True),
            trial.data,
            epochs=sizes.epochs,
            batch_size=sizes.batch_size,
            log_dir=trial.run_dir,
            # the inspector's per-element rates and update ratios: the Optimizer view's data
            callbacks=[tracker, OptimizerInspector(trial.run_dir)],
            log_updates=False,
        )
        return np.asarray(tracker.readings), np.asarray(result.history["loss"])

    def judge(self, context: Context, results: dict[str, list[tuple]]) -> Judgement:
        rates = {name: readings for name, ((readings, _),) in results.items()}
        curves = {name: curve for name, ((_, curve),) in results.items()}
        numbers: dict[str, float] = {}
        for name in results:
            numbers[f"lr_first_{name}"] = float(rates[name][0, 1])
            numbers[f"lr_last_{name}"] = float(rates[name][-1, 1])
            numbers[f"lr_decay_factor_{name}"] = float(rates[name][0, 1] / rates[name][-1, 1])
            numbers[f"median_lr_decay_factor_{name}"] = float(
                rates[name][0, 2] / rates[name][-1, 2]
            )
            numbers[f"final_loss_{name}"] = float(curves[name][-1])

        decays = {name: numbers[f"lr_decay_factor_{name}"] for name in OPTIMIZERS}
        finals = {name: numbers[f"final_loss_{name}"] for name in OPTIMIZERS}
        decays_most = decays["adagrad"] > max(decays["rmsprop"], decays["adam"])
        stalls = finals["adagrad"] > max(finals["rmsprop"], finals["adam"])
        reproduced = decays_most and stalls
        verdict = (
            f"C5: with the same α={LEARNING_RATE:g}, Adagrad's mean effective learning rate fell "
            f"{decays['adagrad']:.0f}× over training (RMSprop {_factor(decays['rmsprop'])}, "
            f"Adam {_factor(decays['adam'])}) and it ended with the "
            f"{'highest' if stalls else 'not the highest'} training loss "
            f"(Adagrad {finals['adagrad']:.3f}, RMSprop {finals['rmsprop']:.3f}, "
            f"Adam {finals['adam']:.3f}; {'reproduced' if reproduced else 'not reproduced'}: "
            "Adagrad's step decays until it stalls, RMSprop and Adam keep moving)"
        )
        reproduced, verdict = context.smoke_test(reproduced, verdict)
        plot = _plot(context.files, rates, curves, context.sizes, context.status(reproduced))
        figure = (
            f"lr fell {decays['adagrad']:.0f}× (Adagrad) vs {_factor(decays['rmsprop'])} "
            f"(RMSprop); final loss {finals['adagrad']:.3f} vs {finals['rmsprop']:.3f}"
        )
        return Judgement(figure, verdict, reproduced, plot, numbers)


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = AdaptiveRates().run


def _factor(decay: float) -> str:
    # "fell 3×" or, when the rate grew, "rose 2.5×"
    return f"{decay:.1f}×" if decay >= 1 else f"rose {1 / decay:.1f}×"


def _plot(
    files: ClaimFiles,
    rates: dict[str, np.ndarray],
    curves: dict[str, np.ndarray],
    sizes: Sizes,
    status: str,
) -> os.PathLike:
    figure, (rate_axes, loss_axes) = plotting.new_figure(
        2, f"C5: does Adagrad's step decay until it stalls while RMSprop and Adam go on?\n{status}"
    )
    for name, readings in rates.items():
        (line,) = rate_axes.plot(readings[:, 0], readings[:, 1], label=f"{name} (mean)")
        rate_axes.plot(readings[:, 0], readings[:, 2], linestyle=":", color=line.get_color())
    rate_axes.set_xscale("log")
    rate_axes.set_yscale("log")
    rate_axes.set_xlabel("update")
    rate_axes.set_ylabel("effective learning rate (inspect; dotted: median)")
    rate_axes.legend(fontsize=8)
    for name, curve in curves.items():
        loss_axes.plot(np.arange(1, len(curve) + 1), curve, marker=".", label=name)
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("epoch")
    plotting.integer_ticks(loss_axes)
    loss_axes.set_ylabel("training loss")
    loss_axes.legend(fontsize=8)
    return plotting.save(figure, files.plot_path("c5_adaptive_lr"))
