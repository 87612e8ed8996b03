"""C9: batch normalization speeds training, allows a larger learning rate, and uses moving averages at test time.

A deeper ReLU MLP on the digits is trained with plain SGD at several learning
rates, once as is and once with ``kerasnotes.layers.BatchNormalization``
before every hidden activation, from the same Dense initial weights.

```
plain     x -> [Dense(w) -> ReLU] × depth -> Dense(10)
with BN   x -> [Dense(w) -> BN -> ReLU] × depth -> Dense(10)
F11: training normalises with the batch's μ_B, σ²_B; inference with the moving averages
figures: epochs to a target validation accuracy per learning rate;
         max |f(x_i alone) − f(x_i in the full batch)| at inference (≈ 0)
criterion: BN reaches the target in fewer epochs (best over the learning rates) and at a
           learning rate at least as large as the largest at which the plain net does
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c9_batch_norm
    >>> result = c9_batch_norm.run("quick", tempfile.mkdtemp())
    >>> result.numbers["inference_max_abs_diff"] < 1e-3, "epochs_best_bn" in result.numbers
    (True, True)
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnotes import _compat, layers, optimizers
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import WHOLE_BATCHES, DigitsSizes, fit_digits

CLAIM = "C9"
TITLE = "batch norm trains faster, at larger learning rates; moving averages at test time"


@dataclasses.dataclass(frozen=True)
class Sizes(DigitsSizes):
    """Rows and epochs per configuration (``DigitsSizes``), the learning rates and the net.

    Args:
        learning_rates: the SGD learning rates tried with and without BN.
        depth: hidden layers.
        width: units per hidden layer.
        target_accuracy: the validation accuracy raced to.
    """

    learning_rates: tuple[float, ...]
    depth: int = 6
    width: int = 32
    target_accuracy: float = 0.9


SIZES = {
    "quick": Sizes(128, epochs=2, learning_rates=(0.5,), depth=3),
    "default": Sizes(WHOLE_BATCHES, epochs=8, learning_rates=(0.1, 1.0)),
    "full": Sizes(WHOLE_BATCHES, epochs=40, learning_rates=(0.003, 0.01, 0.03, 0.1, 0.3, 1.0)),
}

BATCH_SIZE = 64
#: inference with one sample must equal inference inside the full batch up to round-off
MATCH_TOLERANCE = 1e-4


def deep_mlp(depth: int, width: int, batch_norm: bool, seed: int) -> keras.Sequential:
    """The claim's deep ReLU MLP, with or without BN before each activation.

    Both variants draw the same Dense initial weights from ``seed`` (BN's γ = 1,
    β = 0 need no random numbers).

    Args:
        depth: hidden layers.
        width: units per hidden layer.
        batch_norm: insert ``kerasnotes.layers.BatchNormalization`` before every ReLU.
        seed: seed of the Dense initial weights.

    Example:
        >>> len(deep_mlp(2, 8, True, seed=0).layers)
        7
    """
    _compat.set_random_seed(seed)
    stack: list[Any] = [keras.Input(shape=(64,))]
    for _ in range(depth):
        stack.append(keras.layers.Dense(width, use_bias=not batch_norm))
        if batch_norm:
            stack.append(layers.BatchNormalization())
        stack.append(keras.layers.Activation("relu"))
    stack.append(keras.layers.Dense(10))
    return keras.Sequential(stack)


class BatchNormRates(DigitsClaim):
    """Train the deep MLP with and without BN per learning rate; check BN's inference.

    Runs go to ``<log_dir>/C9/<config>``, the plot to ``<log_dir>/C9/``; ``seed`` seeds the
    data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES

    def configs(self, context: Context, data: tuple) -> dict[str, tuple[bool, float]]:
        return {
            f"{'bn' if batch_norm else 'plain'}_lr{rate:g}": (batch_norm, rate)
            for batch_norm in (False, True)
            for rate in context.sizes.learning_rates
        }

    def train(self, context: Context, trial: Trial) -> dict:
        sizes = context.sizes
        batch_norm, rate = trial.config
        model = deep_mlp(sizes.depth, sizes.width, batch_norm, trial.seed)
        result = fit_digits(
            model,
            optimizers.SGD(learning_rate=rate),
            trial,
            sizes.epochs,
            BATCH_SIZE,
        )
        return {
            "accuracy": result.history["val_accuracy"],
            "final_loss": result.history["loss"][-1],
            "model": model,
        }

    def judge(self, context: Context, results: dict[str, list[dict]]) -> Judgement:
        sizes = context.sizes
        target = sizes.target_accuracy
        configs = self.configs(context, None)
        runs = {configs[name]: run for name, (run,) in results.items()}
        accuracy = {key: run["accuracy"] for key, run in runs.items()}
        reach = {
            key: measures.first_reaching(curve, target, above=True)
            for key, curve in accuracy.items()
        }
        final_loss = {key: run["final_loss"] for key, run in runs.items()}
        # the last (largest learning rate) BN model is checked
        bn_model = runs[(True, sizes.learning_rates[-1])]["model"]
        validation = self.data(context, context.seed)[1]  # the same split: seeded, no state

        # F11 at test time: moving averages, so a sample alone = the sample inside the batch.
        full = keras.ops.convert_to_numpy(
            bn_model.predict(validation[0], batch_size=len(validation[0]), verbose=0)
        )
        alone = np.concatenate(
            [
                keras.ops.convert_to_numpy(bn_model(validation[0][i : i + 1], training=False))
                for i in range(min(len(validation[0]), 64))
            ]
        )
        inference_diff = float(np.max(np.abs(full[: len(alone)] - alone)))
        scale = float(np.max(np.abs(full[: len(alone)])))

        def best(batch_norm: bool) -> int | None:
            counts = [reach[(batch_norm, r)] for r in sizes.learning_rates]
            counts = [c for c in counts if c is not None]
            return min(counts) if counts else None

        def largest(batch_norm: bool) -> float | None:
            ok = [r for r in sizes.learning_rates if reach[(batch_norm, r)] is not None]
            return max(ok) if ok else None

        budget = sizes.epochs
        best_plain, best_bn = best(False), best(True)
        top_plain, top_bn = largest(False), largest(True)
        if best_bn is None and best_plain is None:
            reproduced, outcome = None, "undecided: neither reached the target"
        else:
            faster = best_bn is not None and (best_plain is None or best_bn < best_plain)
            larger = top_bn is not None and (top_plain is None or top_bn >= top_plain)
            reproduced = faster and larger
            outcome = (
                "reproduced"
                if reproduced
                else f"not reproduced: {'faster' if faster else 'not faster'}, "
                f"{'larger rate ok' if larger else 'no larger rate'}"
            )
        matches = inference_diff <= MATCH_TOLERANCE * max(scale, 1.0)

        def per_rate(batch_norm: bool) -> str:
            return ", ".join(
                f"lr {r:g}: {measures.describe_count(reach[(batch_norm, r)], budget, 'epochs')}"
                for r in sizes.learning_rates
            )

        verdict = (
            f"C9: epochs to {target:.0%} validation accuracy for a {sizes.depth}-layer MLP, "
            f"plain: {per_rate(False)}; with BN: {per_rate(True)} (criterion: BN reaches it in "
            f"fewer epochs at its best rate and at a rate at least as large as the plain net's "
            f"largest; {outcome}); batch-size-1 inference matches full-batch inference: max "
            f"|diff| = {inference_diff:.1e} ({'matches' if matches else 'does not match'} within "
            f"{MATCH_TOLERANCE:g}·max|f|)"
        )

        reproduced, verdict = context.smoke_test(reproduced, verdict)
        plot = _plot(
            accuracy,
            sizes.learning_rates,
            target,
            context.files.plot_path("c9_batch_norm"),
            context.status(reproduced),
        )
        numbers: dict[str, float] = {
            "inference_max_abs_diff": inference_diff,
            "epochs_best_plain": float("nan") if best_plain is None else float(best_plain),
            "epochs_best_bn": float("nan") if best_bn is None else float(best_bn),
        }
        for (batch_norm, rate), count in reach.items():
            tag = f"{'bn' if batch_norm else 'plain'}_lr{rate:g}"
            numbers[f"epochs_{tag}"] = float("nan") if count is None else float(count)
            numbers[f"final_loss_{tag}"] = float(final_loss[(batch_norm, rate)])
        figure = (
            f"best epochs to {target:.0%}: plain {_short(best_plain, budget)}, "
            f"BN {_short(best_bn, budget)}; BS-1 diff {inference_diff:.0e}"
        )
        return Judgement(figure, verdict, reproduced, plot, numbers)


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = BatchNormRates().run


def _short(count: int | None, budget: int) -> str:
    return f">{budget}" if count is None else str(count)


def _plot(
    accuracy: dict[tuple[bool, float], list[float]],
    rates: tuple[float, ...],
    target: float,
    path: Path,
    status: str,
) -> Path:
    figure, panels = plotting.new_figure(
        2, f"C9: does batch norm train faster, at larger learning rates?\n{status}"
    )
    for axes, batch_norm in zip(panels, (False, True), strict=True):
        for rate in rates:
            curve = [c if math.isfinite(c) else 0.0 for c in accuracy[(batch_norm, rate)]]
            axes.plot(range(1, len(curve) + 1), curve, marker=".", label=f"lr {rate:g}")
        axes.axhline(target, color="grey", linestyle="--", linewidth=1, label="target")
        axes.set_title("with batch norm" if batch_norm else "plain", fontsize=9)
        axes.set_xlabel("epoch")
        plotting.integer_ticks(axes)
        axes.set_ylabel("validation accuracy")
        axes.set_ylim(0.0, 1.0)
        axes.legend(fontsize=7)
    return plotting.save(figure, path)
