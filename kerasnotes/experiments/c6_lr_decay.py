"""C6: decaying the learning rate (large early, small late) helps.

The digits MLP is trained with plain minibatch SGD from the same initial
weights three times: with a constant learning rate α₀, with exponential decay
and with step decay, both starting at the same α₀ and ending about ten times
lower. The figure is the loss on the whole training set after the last epoch.

```
constant     α_t = α₀
exponential  α_t = α₀ · e^{−γt},           γ = ln(10)/epochs     (F6)
step         α_t = α₀ · drop^⌊t/every⌋,    drop = 0.5, every = ⌈epochs/4⌉   (F7)
(t in epochs)
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c6_lr_decay
    >>> result = c6_lr_decay.run("quick", tempfile.mkdtemp())
    >>> [name for name in ("constant", "exponential", "step")
    ...  if f"final_train_loss_{name}" in result.numbers]
    ['constant', 'exponential', 'step']
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np

from kerasnotes import losses, optimizers, schedules, summary
from kerasnotes.callbacks import OptimizerInspector
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import (
    WHOLE_BATCHES,
    DigitsSizes,
    fit_digits,
    inference_loss,
    mlp,
)

CLAIM = "C6"
TITLE = "a decaying learning rate ends lower than a constant one"


#: rows and epochs per schedule
SIZES = {
    "quick": DigitsSizes(train_samples=256, epochs=1),
    "default": DigitsSizes(train_samples=WHOLE_BATCHES, epochs=10),
    "full": DigitsSizes(train_samples=WHOLE_BATCHES, epochs=60),
}

#: samples per SGD step, in every mode
BATCH_SIZE = 32
INITIAL_LEARNING_RATE = 0.1
HIDDEN = (32,)


class LearningRateLog(keras.callbacks.Callback):
    """Keeps (and writes) the optimizer's learning rate at the end of every epoch.

    Args:
        writer: where to write ``kerasnotes/learning_rate`` (step = epoch).

    Example:
        >>> LearningRateLog().rates
        []
    """

    def __init__(self, writer: summary.Writer | None = None) -> None:
        super().__init__()
        self.writer = writer
        self.rates: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.rates.append(rate)
        if self.writer is not None:
            self.writer.scalar(summary.TAG_LEARNING_RATE, rate, step=epoch)


def _learning_rates(epochs: int, steps_per_epoch: int) -> dict[str, object]:
    every = max(1, math.ceil(epochs / 4))  # three drops (α₀/8) by the last epoch
    return {
        "constant": INITIAL_LEARNING_RATE,
        "exponential": schedules.ExponentialDecay(
            INITIAL_LEARNING_RATE, gamma=math.log(10.0) / epochs, steps_per_unit=steps_per_epoch
        ),
        "step": schedules.StepDecay(
            INITIAL_LEARNING_RATE, drop=0.5, every=every, steps_per_unit=steps_per_epoch
        ),
    }


class DecayingRates(DigitsClaim):
    """Train with a constant, an exponentially decaying and a step-decaying learning rate.

    Runs go to ``<log_dir>/C6/<schedule>``, the plot to ``<log_dir>/C6/``; ``seed`` seeds
    the data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    several_seeds = True

    def configs(self, context: Context, data: tuple) -> dict[str, object]:
        steps_per_epoch = math.ceil(len(data[0][0]) / BATCH_SIZE)
        return _learning_rates(context.sizes.epochs, steps_per_epoch)

    def train(self, context: Context, trial: Trial) -> dict:
        train = trial.data[0]
        callbacks: list[keras.callbacks.Callback] = []
        if trial.logged:
            # Shared with fit_run's recorder through for_log_dir; fit_run closes it. The
            # inspector fills the kerasnotes tab's Optimizer view (rate per element).
            rate_log = LearningRateLog(summary.Writer.for_log_dir(trial.run_dir))
            callbacks = [rate_log, OptimizerInspector(trial.run_dir)]
        # One compiled model per schedule, restarted from this seed's weights (and its
        # optimizer from step 0): TensorFlow traces the training step once per schedule
        # (a shuffled fit on JAX and torch compiles it again: compiled.py says why).
        model = context.models.get(
            trial.name,
            mlp(64, HIDDEN, 10, trial.seed),
            lambda: optimizers.SGD(learning_rate=trial.config),
            losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=("accuracy",),
            labels=train[1],
        )
        result = fit_digits(
            model,
            model.optimizer,
            trial,
            context.sizes.epochs,
            BATCH_SIZE,
            callbacks=callbacks,
        )
        return {
            "train_loss": inference_loss(result.model, *train),
            "val_accuracy": result.history["val_accuracy"][-1],
            # the logged seed's curves, for the plot
            "curve": np.asarray(result.history["loss"]) if trial.logged else None,
            "rates": rate_log.rates if trial.logged else None,
        }

    def judge(self, context: Context, results: dict[str, list[dict]]) -> Judgement:
        sizes, seeds = context.sizes, context.seeds
        per_seed = {name: [r["train_loss"] for r in runs] for name, runs in results.items()}
        accuracy = {name: [r["val_accuracy"] for r in runs] for name, runs in results.items()}
        curves = {name: runs[0]["curve"] for name, runs in results.items()}
        rates = {name: runs[0]["rates"] for name, runs in results.items()}
        # Effect of a decay on one seed: how many times lower its final training loss is.
        decisions = {
            name: measures.decide(
                [
                    math.log(c / d)
                    for c, d in zip(per_seed["constant"], per_seed[name], strict=True)
                ],
                smoke_test=context.quick,
            )
            for name in ("exponential", "step")
        }
        reproduced = measures.all_of(d.reproduced for d in decisions.values())
        loss = {name: float(np.mean(values)) for name, values in per_seed.items()}
        status = context.status(reproduced)
        effects = "; ".join(
            f"{name} decay: log(constant/decayed) {d.describe(digits=2)}"
            for name, d in decisions.items()
        )
        why = plot_note = ""
        if reproduced is False:
            # Decay pays off once a constant rate hovers at its noise floor; a constant-rate
            # run still descending at the end shows the budget ended before that point.
            still = curves["constant"][-1] / curves["constant"][-2] - 1.0
            why = (
                f"; why: the constant rate is still descending (its epoch loss changed "
                f"{still:+.0%} in the last epoch), so lowering the rate only slows it"
            )
            plot_note = f"\nthe constant rate still descends ({still:+.0%} in the last epoch)"
        verdict = (
            f"C6: training loss after {measures.count(sizes.epochs, 'epoch')} of SGD from "
            f"α₀={INITIAL_LEARNING_RATE:g} (mean over {measures.count(len(seeds), 'seed')}): "
            f"constant {loss['constant']:.4f}, exponential decay {loss['exponential']:.4f}, "
            f"step decay {loss['step']:.4f}; {effects} (validation accuracy "
            f"{np.mean(accuracy['constant']):.1%} / {np.mean(accuracy['exponential']):.1%} / "
            f"{np.mean(accuracy['step']):.1%}; {status}; criterion: both decays end lower by "
            f"more than {measures.MARGIN_STDERRS:g} standard errors, on every seed{why})"
        )
        numbers: dict[str, float] = {"seeds": float(len(seeds))}
        for name in per_seed:
            numbers[f"final_train_loss_{name}"] = loss[name]
            numbers[f"final_val_accuracy_{name}"] = float(np.mean(accuracy[name]))
            numbers[f"final_learning_rate_{name}"] = rates[name][-1]
        for name, decision in decisions.items():
            numbers[f"log_gain_{name}_mean"] = decision.mean
            numbers[f"log_gain_{name}_stderr"] = decision.stderr
        plot = _plot(context.files, curves, rates, status + plot_note)
        figure = (
            f"final loss: const {loss['constant']:.3f}, exp {loss['exponential']:.3f}, "
            f"step {loss['step']:.3f} ({measures.count(len(seeds), 'seed')})"
        )
        return Judgement(figure, verdict, reproduced, plot, numbers)


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = DecayingRates().run


def _plot(
    files: ClaimFiles, curves: dict[str, np.ndarray], rates: dict[str, list[float]], status: str
) -> os.PathLike:
    figure, (loss_axes, rate_axes) = plotting.new_figure(
        2, f"C6: does a decaying learning rate end lower? {status}"
    )
    for name, curve in curves.items():
        epochs = np.arange(1, len(curve) + 1)
        loss_axes.plot(epochs, curve, marker=".", label=name)
        rate_axes.plot(epochs, rates[name], marker=".", label=name)
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("epoch")
    plotting.integer_ticks(loss_axes)
    plotting.integer_ticks(rate_axes)
    loss_axes.set_ylabel("training loss (epoch mean)")
    loss_axes.legend(fontsize=8)
    rate_axes.set_xlabel("epoch")
    rate_axes.set_ylabel("learning rate at the end of the epoch")
    rate_axes.legend(fontsize=8)
    return plotting.save(figure, files.plot_path("c6_lr_decay"))
