"""C7: early stopping prevents overfitting.

A wide MLP trained with Adam on a small slice of the digits memorises it: the
training loss keeps falling while the validation loss turns up. The same
network, from the same initial weights, is trained once for the whole budget
and once with ``kerasnotes.callbacks.EarlyStopping(restore_best_weights=True)``.

```
F15: stop when val_loss has not improved for `patience` epochs; restore the best epoch's weights
figure: final validation loss without and with early stopping, the best epoch restored
criterion: the run overfits (its last val_loss ends ≥ 2% above its best) and early stopping
           ends with a lower validation loss than training to the end
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c7_early_stopping
    >>> result = c7_early_stopping.run("quick", tempfile.mkdtemp())
    >>> len(result.runs)  # one run without, one with early stopping
    2
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from kerasnotes import losses, optimizers
from kerasnotes.callbacks import EarlyStopping, OptimizerInspector
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import (
    DigitsSizes,
    fit_digits,
    inference_loss,
    mlp,
)

CLAIM = "C7"
TITLE = "early stopping prevents overfitting"


@dataclasses.dataclass(frozen=True)
class Sizes(DigitsSizes):
    """A small slice of digits and the epoch budget of the run without early stopping.

    Args:
        hidden: widths of the hidden layers.
        patience: epochs without improvement before early stopping ends the run.
    """

    hidden: tuple[int, ...] = (128, 128)
    patience: int = 5


SIZES = {
    "quick": Sizes(train_samples=64, epochs=8, hidden=(64,), patience=2),
    # The budget runs well past the best epoch (7–17 on the three backends): with 30
    # epochs the plain runs rose only 1–15% above their best, within the seed spread on
    # one backend; with 60 the rise and the gain clear two standard errors on all three
    # (benchmarks/README.md's figures list the runs).
    "default": Sizes(train_samples=128, epochs=60),
    "full": Sizes(train_samples=200, epochs=300, hidden=(256, 256), patience=10),
}

LEARNING_RATE = 3e-3
#: 8 updates per epoch on 128 rows: the plain run passes its best epoch well within the budget
BATCH_SIZE = 16


def describe_stop(stopper: Any, epochs_run: int) -> str:
    """What an early-stopping run did, in the epoch numbers Keras prints.

    ```
    stopped:      "stops at epoch N and restores epoch M"    N = stopped_epoch + 1, M = best_epoch + 1
    ran to end:   "runs all E epochs and restores epoch M"   E = epochs run
    ```

    ``N`` and ``M`` are the numbers of Keras's "Epoch N: early stopping" and
    "Restoring model weights from the end of the best epoch: M." (the callbacks
    count epochs from 0, Keras's messages from 1).

    Args:
        stopper: a ``kerasnotes.callbacks.EarlyStopping`` or ``keras.callbacks.EarlyStopping``
            after its fit (``stopped_epoch`` 0 means it did not stop).
        epochs_run: epochs the fit ran.

    Example:
        >>> from types import SimpleNamespace
        >>> describe_stop(SimpleNamespace(stopped_epoch=20, best_epoch=15), 21)
        'stops at epoch 21 and restores epoch 16'
        >>> describe_stop(SimpleNamespace(stopped_epoch=0, best_epoch=6), 8)
        'runs all 8 epochs and restores epoch 7'
    """
    restored = int(stopper.best_epoch) + 1
    if stopper.stopped_epoch > 0:
        return f"stops at epoch {int(stopper.stopped_epoch) + 1} and restores epoch {restored}"
    return f"runs all {epochs_run} epochs and restores epoch {restored}"


class EarlyStoppingClaim(DigitsClaim):
    """Train on a small slice of digits with and without early stopping and compare val loss.

    Runs go to ``<log_dir>/C7/<config>``, the plot to ``<log_dir>/C7/``; ``seed`` seeds the
    data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    several_seeds = True

    def configs(self, context: Context, data: tuple) -> dict[str, bool]:
        return {"no_early_stopping": False, "early_stopping": True}

    def train(self, context: Context, trial: Trial) -> dict:
        sizes = context.sizes
        validation = trial.data[1]
        callbacks: list = []
        stopper = None
        if trial.config:
            # Its log_dir puts the monitored value, best epoch and stop in the run,
            # where the kerasnotes tab's Optimizer view marks them.
            stopper = EarlyStopping(
                monitor="val_loss",
                patience=sizes.patience,
                restore_best_weights=True,
                log_dir=trial.run_dir,
            )
            callbacks.append(stopper)
        if trial.logged:
            callbacks.append(OptimizerInspector(trial.run_dir))  # the Optimizer view's rates
        # One compiled model for every run (same network, optimizer and loss), restarted
        # from this seed's weights: TensorFlow traces the training step once, not once per
        # run (a shuffled fit on JAX and torch compiles it again: compiled.py says why).
        model = context.models.get(
            "mlp",
            mlp(64, sizes.hidden, 10, trial.seed),
            lambda: optimizers.Adam(learning_rate=LEARNING_RATE),
            losses.SparseCategoricalCrossentropy(from_logits=True),
            labels=trial.data[0][1],
        )
        result = fit_digits(
            model,
            model.optimizer,
            trial,
            sizes.epochs,
            BATCH_SIZE,
            metrics=(),
            callbacks=callbacks,
        )
        return {
            "val_loss": result.history["val_loss"],
            "loss": result.history["loss"],
            # the weights the run ends with (for early stopping: the restored best epoch's)
            "final": inference_loss(model, *validation),
            "restored": None if stopper is None else stopper.best_epoch + 1,  # counts from 0
        }

    def judge(self, context: Context, results: dict[str, list[dict]]) -> Judgement:
        sizes, seeds = context.sizes, context.seeds
        plain_runs, stopped_runs = results["no_early_stopping"], results["early_stopping"]
        curves = {name: runs[0]["val_loss"] for name, runs in results.items()}
        train_curves = {name: runs[0]["loss"] for name, runs in results.items()}
        final = {name: [r["final"] for r in runs] for name, runs in results.items()}
        rises = [r["val_loss"][-1] / min(r["val_loss"]) - 1.0 for r in plain_runs]
        best_epochs = [int(np.argmin(r["val_loss"])) + 1 for r in plain_runs]
        restored_epochs = [r["restored"] for r in stopped_runs]
        ran_epochs = [len(r["val_loss"]) for r in stopped_runs]

        gains = [
            a - b for a, b in zip(final["no_early_stopping"], final["early_stopping"], strict=True)
        ]
        decision = measures.decide(gains, smoke_test=context.quick)
        # The plain runs overfit when their rise above the best epoch is beyond the seed spread.
        overfit = measures.decide(rises, smoke_test=context.quick)
        overfits = overfit.reproduced is True
        reproduced = decision.reproduced
        if context.quick:
            outcome = (
                f"undecided (smoke test): {measures.count(sizes.epochs, 'epoch')} cannot decide"
            )
        elif not overfits:
            reproduced = None
            outcome = (
                f"undecided: the plain runs' rise above their best, "
                f"{overfit.describe(scale=100, unit=' %', digits=1)}, is not clear overfitting"
            )
        elif reproduced:
            outcome = "reproduced: early stopping ends lower on every seed, beyond the spread"
        elif reproduced is False:
            outcome = "not reproduced: early stopping ends higher"
        else:
            outcome = f"undecided: {decision.reason}"
        mean_plain = float(np.mean(final["no_early_stopping"]))
        mean_stopped = float(np.mean(final["early_stopping"]))
        verdict = (
            f"C7: on {sizes.train_samples} digits over {measures.count(len(seeds), 'seed')}, "
            f"validation loss is lowest at epoch {_join(best_epochs)} and ends "
            f"{_join([f'{r:+.0%}' for r in rises])} above that after {sizes.epochs} epochs "
            f"(mean {mean_plain:.3f}); early stopping (patience {sizes.patience}) stops at "
            f"epoch {_join(ran_epochs)} and restores epoch {_join(restored_epochs)}, ending at "
            f"{mean_stopped:.3f}; gain {decision.describe(digits=3)} (criterion: the plain runs "
            f"overfit, ending above their best by more than {measures.MARGIN_STDERRS:g} standard "
            f"errors, and early stopping ends lower by more than {measures.MARGIN_STDERRS:g} "
            f"standard errors; {outcome})"
        )

        plot = _plot(
            curves,
            train_curves,
            restored_epochs[0],
            context.files.plot_path("c7_early_stopping"),
            context.status(reproduced),
        )
        return Judgement(
            figure=(
                f"final val loss: {mean_plain:.3f} without, {mean_stopped:.3f} with "
                f"(gain {decision.mean:+.3f}"
                + ("" if len(seeds) == 1 else f" ± {decision.stderr:.3f}")
                + f", {measures.count(len(seeds), 'seed')})"
            ),
            verdict=verdict,
            reproduced=reproduced,
            plot=plot,
            numbers={
                "final_val_loss_no_early_stopping": mean_plain,
                "final_val_loss_early_stopping": mean_stopped,
                "best_val_loss": float(min(curves["no_early_stopping"])),
                "best_val_loss_early_stopping": float(min(curves["early_stopping"])),
                "best_epoch": float(best_epochs[0]),
                "restored_epoch": float(restored_epochs[0]),
                "epochs_run_early_stopping": float(ran_epochs[0]),
                "val_loss_gain": decision.mean,
                "val_loss_gain_stderr": decision.stderr,
                "overfit_rise": overfit.mean,
                "overfit_rise_stderr": overfit.stderr,
                "seeds": float(len(seeds)),
            },
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = EarlyStoppingClaim().run


def _join(values: list) -> str:
    return "/".join(str(v) for v in values)


def _plot(
    curves: dict[str, list[float]],
    train_curves: dict[str, list[float]],
    restored: int,
    path: Path,
    status: str,
) -> Path:
    figure, (axes,) = plotting.new_figure(
        1, f"C7: does early stopping prevent overfitting?\n{status}"
    )
    styles = {"no_early_stopping": "tab:red", "early_stopping": "tab:green"}
    for name, curve in curves.items():
        epochs = range(1, len(curve) + 1)
        label = name.replace("_", " ")
        axes.plot(epochs, curve, color=styles[name], marker=".", label=f"{label}: validation")
        axes.plot(
            epochs, train_curves[name], color=styles[name], linestyle=":", label=f"{label}: train"
        )
    axes.axvline(restored, color="grey", linestyle="--", linewidth=1, label="restored epoch")
    axes.set_xlabel("epoch")
    plotting.integer_ticks(axes)
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.legend(fontsize=7)
    return plotting.save(figure, path)
