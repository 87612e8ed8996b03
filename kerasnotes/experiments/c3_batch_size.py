"""C3: batch GD is stable but slow per update; SGD is fast and noisy; mini-batches are the compromise.

The same MLP on digits, from the same initial weights and with the same SGD
learning rate, makes the same number of updates with batch sizes 1, 32, 256
and the full training set. The verdict uses measures that do not depend on the
machine's load: the noise of the per-update loss curve, and the updates and
passes over the data until the training loss reaches a target (a mini-batch
must need fewer updates than B=1 and fewer passes than the full batch). Wall
and CPU time per update are measured and shown as information only.

```
update      θ ← θ − α · (1/B) Σ_{i∈batch} ∇L_i(θ)       B = batch size
cost        one update touches B samples; one pass over N samples takes N/B updates
noise       the batch gradient's variance falls like 1/B
```

To give every batch size the same number of updates, the training rows are
repeated as often as needed, cut to whole batches and shuffled together (the
full batch always sees every row exactly once per update); long runs are split
into equal epochs of such repeated rows.

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c3_batch_size
    >>> result = c3_batch_size.run("quick", tempfile.mkdtemp())
    >>> result.numbers["noise_batch_1"] >= 0
    True
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time

import keras
import numpy as np

from kerasnotes import losses, optimizers
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import Run, fit_run, mlp

CLAIM = "C3"
TITLE = "mini-batches balance cost per update against noise"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        train_samples: training rows of digits.
        updates: SGD updates every batch size makes.
        target_loss: the training loss (averaged over the last pass) to reach.
    """

    train_samples: int
    updates: int
    target_loss: float = 0.3


SIZES = {
    "quick": Sizes(train_samples=300, updates=20),
    "default": Sizes(train_samples=320, updates=400),
    "full": Sizes(train_samples=1437, updates=4000),
}

LEARNING_RATE = 0.05
HIDDEN = (32,)
BATCH_SIZES = (1, 32, 256, None)  # None: the whole training set
MAX_EPOCH_ROWS = 65536  # rows of repeated data held at once


class BatchSizes(DigitsClaim):
    """Train the same MLP with batch sizes 1, 32, 256 and full; compare cost, speed and noise.

    Runs go to ``<log_dir>/C3/batch_<B>``, the plot to ``<log_dir>/C3/``; ``seed`` seeds the
    data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES

    def configs(self, context: Context, data: tuple) -> dict[str, int]:
        n = len(data[0][0])
        return {
            "batch_full" if requested is None else f"batch_{requested}": (
                n if requested is None or requested > n else requested
            )
            for requested in BATCH_SIZES
        }

    def train(self, context: Context, trial: Trial) -> tuple[dict[str, float], np.ndarray]:
        """The run's measures (see ``_measure``) and its loss per update."""
        sizes = context.sizes
        (x, y), validation = trial.data
        n, batch = len(x), trial.config
        updates_per_pass = math.ceil(n / batch)
        per_epoch, epochs = _epochs_of_whole_batches(sizes.updates, batch)
        rows_needed = per_epoch * batch
        repeats = math.ceil(rows_needed / n)
        clock = CpuClock()
        result = fit_run(
            mlp(64, HIDDEN, 10, trial.seed),
            optimizers.SGD(learning_rate=LEARNING_RATE),
            losses.SparseCategoricalCrossentropy(from_logits=True),
            (np.tile(x, (repeats, 1))[:rows_needed], np.tile(y, repeats)[:rows_needed]),
            epochs=epochs,
            batch_size=batch,
            log_dir=trial.run_dir,
            validation=validation,
            metrics=("accuracy",),
            shuffle=batch < n,
            callbacks=[clock],
        )
        row, curve = _measure(result, updates_per_pass, sizes.target_loss, clock.median())
        row["batch_size"] = float(batch)
        row["passes_to_target"] = row["updates_to_target"] * batch / n
        return row, curve

    def judge(self, context: Context, results: dict[str, list[tuple]]) -> Judgement:
        sizes = context.sizes
        rows = {name: row for name, ((row, _),) in results.items()}
        curves = {name: curve for name, ((_, curve),) in results.items()}
        n = round(rows["batch_full"]["batch_size"])  # the full batch: every training row
        noise = [rows[name]["noise"] for name in rows]
        names = list(rows)
        smoother = all(a > b for a, b in itertools.pairwise(noise))
        # Decided on counts that do not depend on the machine's load: updates and passes over
        # the data until the target. The mini-batch that reaches it in the fewest passes must
        # also need fewer updates than B=1 (noisy SGD) and fewer passes than the full batch
        # (one update per pass). Wall and CPU time are shown, not judged.
        passes = {k: rows[k]["updates_to_target"] * rows[k]["batch_size"] / n for k in names}
        minis = [k for k in ("batch_32", "batch_256") if np.isfinite(passes[k])]
        best = min(minis, key=lambda k: passes[k]) if minis else None
        if best is None:
            reproduced = None
            outcome = "undecided: no mini-batch reached the target"
        else:
            fewer_updates = (
                not rows["batch_1"]["updates_to_target"] <= rows[best]["updates_to_target"]
            )
            fewer_passes = not passes["batch_full"] <= passes[best]
            reproduced = smoother and fewer_updates and fewer_passes
            outcome = _status(reproduced) + (
                ""
                if reproduced
                else f": noise falls {smoother}, fewer updates than B=1 "
                f"{fewer_updates}, fewer passes than full {fewer_passes}"
            )
        reach = "; ".join(
            f"B={_label(k)[6:]}: "
            + (
                f"{rows[k]['updates_to_target']:.0f} updates = {passes[k]:.1f} passes"
                if np.isfinite(passes[k])
                else f"not within {sizes.updates} updates"
            )
            for k in names
        )
        timing = ", ".join(
            f"B={_label(k)[6:]} {1000 * rows[k]['seconds_per_update']:.2f}/"
            f"{1000 * rows[k]['cpu_seconds_per_update']:.2f} ms"
            for k in names
        )
        verdict = (
            f"C3: with {sizes.updates} updates each on {n} rows, the loss noise falls with batch "
            f"size ({' > '.join(f'{v:.3f}' for v in noise)}: {'yes' if smoother else 'no'}); to "
            f"training loss {sizes.target_loss}: {reach} (criterion: noise falls with B, and a "
            f"mini-batch needs fewer updates than B=1 and fewer passes than the full batch; "
            f"{outcome}); information, not judged (depends on the machine's load): wall/CPU "
            f"time per update {timing}"
        )
        figure_text = ", ".join(
            f"B={_label(k)[6:]}: "
            + (
                f"{row['updates_to_target']:.0f} upd"
                if np.isfinite(row["updates_to_target"])
                else f">{sizes.updates} upd"
            )
            for k, row in rows.items()
        )
        reproduced, verdict = context.smoke_test(reproduced, verdict)
        plot = _plot(
            context.files,
            curves,
            rows,
            sizes.target_loss,
            _status(reproduced) + (" (smoke test)" if context.quick else ""),
        )
        numbers = {
            f"{key}_{name}": value for name, row in rows.items() for key, value in row.items()
        }
        return Judgement(
            f"to loss {sizes.target_loss}: {figure_text}", verdict, reproduced, plot, numbers
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = BatchSizes().run


def _epochs_of_whole_batches(updates: int, batch: int) -> tuple[int, int]:
    """Split ``updates`` into equal epochs of whole batches, each at most ``MAX_EPOCH_ROWS`` rows.

    ```
    per_epoch = the largest divisor of `updates` with per_epoch · batch ≤ MAX_EPOCH_ROWS (≥ 1)
    epochs    = updates / per_epoch
    ```

    The repeated rows of one epoch then stay small in memory (the full batch of
    1,437 rows made 4,000 times would be 1.5 GB), and the count of updates stays exact.
    """
    limit = max(1, MAX_EPOCH_ROWS // batch)
    per_epoch = max(d for d in range(1, min(updates, limit) + 1) if updates % d == 0)
    return per_epoch, updates // per_epoch


class CpuClock(keras.callbacks.Callback):
    """The process's CPU seconds at the end of every update (information: wall time's twin).

    ```
    cpu per update = median of the differences, the first two (compilation) left out
    ```

    Example:
        >>> CpuClock().median()
        nan
    """

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.stamps.append(time.process_time())

    def median(self) -> float:
        steps = np.diff(np.asarray(self.stamps))[2:]
        return float(np.median(steps)) if steps.size else float("nan")


def _measure(
    result: Run, updates_per_pass: int, target: float, cpu_per_update: float
) -> tuple[dict[str, float], np.ndarray]:
    losses_per_update = result.update_losses
    # The loss averaged over the last pass of the data: exact for the full batch,
    # the usual "epoch loss" for the others; this is the curve the target applies to.
    window = np.ones(updates_per_pass) / updates_per_pass
    padded = np.concatenate(
        [np.full(updates_per_pass - 1, losses_per_update[0]), losses_per_update]
    )
    pass_loss = np.convolve(padded, window, mode="valid")
    hit = measures.first_reaching(pass_loss, target)
    per_update = result.seconds_per_update
    row = {
        "seconds_per_update": per_update,
        "cpu_seconds_per_update": cpu_per_update,
        "seconds_per_pass": per_update * updates_per_pass,
        "updates_to_target": float("nan") if hit is None else float(hit),
        "seconds_to_target": float("inf") if hit is None else hit * per_update,
        "noise": measures.curve_noise(losses_per_update),
        "final_val_accuracy": result.history["val_accuracy"][-1],
        "final_loss": float(pass_loss[-1]),
    }
    return row, losses_per_update


def _label(name: str) -> str:
    return name.replace("_", " ")


def _status(reproduced: bool | None) -> str:
    return {True: "reproduced", False: "not reproduced", None: "undecided"}[reproduced]


def _plot(
    files: ClaimFiles,
    curves: dict[str, np.ndarray],
    rows: dict[str, dict[str, float]],
    target: float,
    status: str,
) -> os.PathLike:
    figure, (loss_axes, bar_axes) = plotting.new_figure(
        2, f"C3: do mini-batches balance cost per update against noise?\n{status}"
    )
    for name, curve in curves.items():
        loss_axes.plot(np.arange(1, len(curve) + 1), curve, linewidth=0.8, label=_label(name))
    loss_axes.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target}")
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("update")
    loss_axes.set_ylabel("training loss of the update's batch")
    loss_axes.legend(fontsize=8)
    names = list(rows)
    # The judged measure (load-independent): passes over the data to the target; a batch
    # size that never reached it is drawn hatched at the passes it ran.
    passes = [rows[k]["passes_to_target"] for k in names]
    for k, name in enumerate(names):
        reached = np.isfinite(passes[k])
        ran = len(curves[name]) * rows[name]["batch_size"] / rows["batch_full"]["batch_size"]
        bar_axes.bar(
            k,
            passes[k] if reached else ran,
            color="tab:blue" if reached else "white",
            edgecolor="tab:blue",
            hatch=None if reached else "//",
        )
        bar_axes.annotate(
            (f"{passes[k]:.1f}" if reached else f"> {ran:.1f}")
            + f"\nval acc {rows[name]['final_val_accuracy']:.0%}",
            (k, passes[k] if reached else ran),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    bar_axes.set_xticks(range(len(names)), [_label(k)[6:] for k in names])
    bar_axes.set_yscale("log")
    bar_axes.margins(y=0.3)
    bar_axes.set_xlabel("batch size")
    bar_axes.set_ylabel(f"passes over the data to loss {target}")
    return plotting.save(figure, files.plot_path("c3_batch_size"))
