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
from kerasnotes.callbacks import EarlyStopping
from kerasnotes.experiments import plotting
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
    "default": Sizes(train_samples=128, epochs=40),
    "full": Sizes(train_samples=200, epochs=300, hidden=(256, 256), patience=10),
}

LEARNING_RATE = 3e-3
#: the plain run overfits if its final validation loss ends this fraction above its best
OVERFIT_MARGIN = 0.02
BATCH_SIZE = 32


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
    train, validation = digits_split(sizes.train_samples, seed)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)

    curves: dict[str, list[float]] = {}
    train_curves: dict[str, list[float]] = {}
    final: dict[str, float] = {}
    stopper = None
    for name in ("no_early_stopping", "early_stopping"):
        if progress is not None:
            progress(name)
        run_dir = files.run_dir(name)
        if name == "early_stopping":
            # Its log_dir puts the monitored value, best epoch and stop in the run,
            # where the kerasnotes tab's Optimizer view marks them.
            stopper = EarlyStopping(
                monitor="val_loss",
                patience=sizes.patience,
                restore_best_weights=True,
                log_dir=run_dir,
            )
        model = mlp(64, sizes.hidden, 10, seed)
        result = fit_run(
            model,
            optimizers.Adam(learning_rate=LEARNING_RATE),
            loss,
            train,
            epochs=sizes.epochs,
            batch_size=BATCH_SIZE,
            log_dir=run_dir,
            validation=validation,
            callbacks=(stopper,) if stopper is not None else (),
            log_updates=False,
        )
        curves[name] = result.history["val_loss"]
        train_curves[name] = result.history["loss"]
        # the weights the run ends with (for early stopping: the restored best epoch's)
        final[name] = inference_loss(model, *validation)

    plain = curves["no_early_stopping"]
    best_epoch_plain = int(np.argmin(plain)) + 1
    rise = plain[-1] / min(plain) - 1.0
    overfits = rise >= OVERFIT_MARGIN
    restored = stopper.best_epoch + 1  # EarlyStopping counts epochs from 0
    ran = len(curves["early_stopping"])
    gain = final["no_early_stopping"] - final["early_stopping"]
    if not overfits:
        reproduced = None
        outcome = f"undecided: the plain run ends only {rise:.1%} above its best, no overfitting"
    else:
        reproduced = final["early_stopping"] < final["no_early_stopping"]
        outcome = (
            "reproduced: early stopping ends lower"
            if reproduced
            else "not reproduced: early stopping does not end lower"
        )
    verdict = (
        f"C7: on {sizes.train_samples} digits, validation loss is lowest at epoch "
        f"{best_epoch_plain} ({min(plain):.3f}) and ends at {final['no_early_stopping']:.3f} "
        f"after {len(plain)} epochs; early stopping (patience {sizes.patience}) "
        f"{describe_stop(stopper, ran)}, ending at {final['early_stopping']:.3f} "
        f"(criterion: the plain run overfits, ending ≥ {OVERFIT_MARGIN:.0%} above its best, and "
        f"early stopping ends with a lower validation loss; {outcome})"
    )

    plot = _plot(curves, train_curves, restored, files.plot_path("c7_early_stopping"))
    return ClaimResult(
        claim=CLAIM,
        title=TITLE,
        figure=(
            f"final val loss: {final['no_early_stopping']:.3f} without, "
            f"{final['early_stopping']:.3f} with (epoch {restored} of {ran} restored)"
        ),
        verdict=verdict,
        reproduced=reproduced,
        plot=plot,
        runs=files.runs,
        seconds=time.perf_counter() - start,
        numbers={
            "final_val_loss_no_early_stopping": final["no_early_stopping"],
            "final_val_loss_early_stopping": final["early_stopping"],
            "best_val_loss": float(min(plain)),
            "best_val_loss_early_stopping": float(min(curves["early_stopping"])),
            "best_epoch": float(best_epoch_plain),
            "restored_epoch": float(restored),
            "epochs_run_early_stopping": float(ran),
            "val_loss_gain": float(gain),
            "overfit_rise": float(rise),
        },
    )


def _plot(
    curves: dict[str, list[float]],
    train_curves: dict[str, list[float]],
    restored: int,
    path: Path,
) -> Path:
    figure, (axes,) = plotting.new_figure(1, f"C7: {TITLE}")
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
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.legend(fontsize=7)
    return plotting.save(figure, path)
