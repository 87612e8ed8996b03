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
    >>> result.claim
    'C7'
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kerasnotes import losses, optimizers
from kerasnotes.callbacks import EarlyStopping, OptimizerInspector
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles, ClaimResult, pick_size
from kerasnotes.experiments.training import digits_split, fit_run, inference_loss, mlp

CLAIM = "C7"
TITLE = "early stopping prevents overfitting"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        train_samples: the small slice of digits trained on.
        epochs: the budget of the run without early stopping.
        hidden: widths of the hidden layers.
        patience: epochs without improvement before early stopping ends the run.
    """

    train_samples: int
    epochs: int
    hidden: tuple[int, ...] = (128, 128)
    patience: int = 5


SIZES = {
    "quick": Sizes(train_samples=64, epochs=8, hidden=(64,), patience=2),
    "default": Sizes(train_samples=128, epochs=30),
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


def run(
    mode: str = "default",
    logdir: str | os.PathLike = "runs",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ClaimResult:
    """Train on a small slice of digits with and without early stopping and compare val loss.

    Args:
        mode: "quick", "default" or "full" (see ``SIZES``).
        logdir: runs go to ``<logdir>/C7/<config>``, the plot to ``<logdir>/C7/``.
        seed: seed of the data split and the initial weights.
        progress: called with each configuration's name as it starts.
    """
    sizes = pick_size(SIZES, mode)
    start = time.perf_counter()
    files = ClaimFiles(logdir, CLAIM)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    seeds = measures.seeds(mode, seed)

    curves: dict[str, list[float]] = {}
    train_curves: dict[str, list[float]] = {}
    final: dict[str, list[float]] = {"no_early_stopping": [], "early_stopping": []}
    rises: list[float] = []
    restored_epochs: list[int] = []
    ran_epochs: list[int] = []
    best_epochs: list[int] = []
    for run_seed in seeds:
        train, validation = digits_split(sizes.train_samples, run_seed)
        logged = run_seed == seeds[0]  # one TensorBoard run per configuration: the first seed's
        for name in ("no_early_stopping", "early_stopping"):
            if progress is not None:
                progress(name if len(seeds) == 1 else f"{name} (seed {run_seed})")
            run_dir = files.run_dir(name) if logged else None
            callbacks: list = []
            if name == "early_stopping":
                # Its log_dir puts the monitored value, best epoch and stop in the run,
                # where the kerasnotes tab's Optimizer view marks them.
                stopper = EarlyStopping(
                    monitor="val_loss",
                    patience=sizes.patience,
                    restore_best_weights=True,
                    log_dir=run_dir,
                )
                callbacks.append(stopper)
            if logged:
                callbacks.append(OptimizerInspector(run_dir))  # the Optimizer view's rates
            model = mlp(64, sizes.hidden, 10, run_seed)
            result = fit_run(
                model,
                optimizers.Adam(learning_rate=LEARNING_RATE),
                loss,
                train,
                epochs=sizes.epochs,
                batch_size=BATCH_SIZE,
                log_dir=run_dir,
                validation=validation,
                callbacks=callbacks,
                log_updates=False,
            )
            if logged:
                curves[name] = result.history["val_loss"]
                train_curves[name] = result.history["loss"]
            # the weights the run ends with (for early stopping: the restored best epoch's)
            final[name].append(inference_loss(model, *validation))
            plain = result.history["val_loss"]
            if name == "no_early_stopping":
                rises.append(plain[-1] / min(plain) - 1.0)
                best_epochs.append(int(np.argmin(plain)) + 1)
            else:
                restored_epochs.append(stopper.best_epoch + 1)  # EarlyStopping counts from 0
                ran_epochs.append(len(plain))

    gains = [
        a - b for a, b in zip(final["no_early_stopping"], final["early_stopping"], strict=True)
    ]
    decision = measures.decide(gains, smoke_test=mode == "quick")
    # The plain runs overfit when their rise above the best epoch is beyond the seed spread.
    overfit = measures.decide(rises, smoke_test=mode == "quick")
    overfits = overfit.reproduced is True
    reproduced = decision.reproduced
    if mode == "quick":
        outcome = f"undecided (smoke test): {measures.count(sizes.epochs, 'epoch')} cannot decide"
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
        files.plot_path("c7_early_stopping"),
        measures.status_text(reproduced, mode == "quick"),
    )
    return ClaimResult(
        claim=CLAIM,
        title=TITLE,
        figure=(
            f"final val loss: {mean_plain:.3f} without, {mean_stopped:.3f} with "
            f"(gain {decision.mean:+.3f}"
            + ("" if len(seeds) == 1 else f" ± {decision.stderr:.3f}")
            + f", {measures.count(len(seeds), 'seed')})"
        ),
        verdict=verdict,
        reproduced=reproduced,
        plot=plot,
        runs=files.runs,
        seconds=time.perf_counter() - start,
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
        smoke_test=mode == "quick",
    )


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
