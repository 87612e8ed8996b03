"""C0: deep learning learns its features end to end; a shallow model must use the raw inputs.

Logistic regression (one Dense layer, softmax) and an MLP learn digits from the
same raw pixels with the same optimizer. Logistic regression can only weigh
pixels, one template per class; the MLP learns its own first-layer features,
shown as 8×8 images (PNG and a TensorBoard image summary) beside the logistic
regression's templates. The figure is each model's validation accuracy.

```
logistic regression  ŷ = softmax(W x + b)                       (features = pixels)
MLP                  h = relu(W₁ x + b₁),  ŷ = softmax(W₂ h + b₂)  (features h learned)
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c0_features
    >>> result = c0_features.run("quick", tempfile.mkdtemp())
    >>> sorted(key for key in result.numbers if key.startswith("val_accuracy"))
    ['val_accuracy_logistic_regression', 'val_accuracy_mlp']
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np

from kerasnotes import optimizers
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import (
    WHOLE_BATCHES,
    DigitsSizes,
    fit_digits,
    mlp,
)

CLAIM = "C0"
TITLE = "learned features beat a shallow model on raw pixels"


@dataclasses.dataclass(frozen=True)
class Sizes(DigitsSizes):
    """Rows and epochs of each model (see ``DigitsSizes``), and the MLP it trains.

    Args:
        hidden: widths of the MLP's hidden layers.
        batch_size: samples per Adam step.
    """

    hidden: tuple[int, ...] = (32,)
    batch_size: int = 64


SIZES = {
    "quick": Sizes(train_samples=256, epochs=1, hidden=(16,)),
    "default": Sizes(train_samples=WHOLE_BATCHES, epochs=10),
    "full": Sizes(train_samples=WHOLE_BATCHES, epochs=80, hidden=(64, 32), batch_size=32),
}

LEARNING_RATE = 0.003


class LearnedFeatures(DigitsClaim):
    """Train logistic regression and an MLP on raw digit pixels; compare accuracy and weights.

    Runs go to ``<log_dir>/C0/<model>``, the plot to ``<log_dir>/C0/``; ``seed`` seeds the
    data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    several_seeds = True

    def configs(self, context: Context, data: tuple) -> dict[str, tuple[int, ...]]:
        return {"logistic_regression": (), "mlp": context.sizes.hidden}

    def train(self, context: Context, trial: Trial) -> tuple[list[float], np.ndarray | None]:
        """The validation accuracy per epoch; the first-layer weights of the logged seed."""
        sizes = context.sizes
        result = fit_digits(
            mlp(64, trial.config, 10, trial.seed),
            optimizers.Adam(learning_rate=LEARNING_RATE),
            trial,
            sizes.epochs,
            sizes.batch_size,
        )
        weights = None
        if trial.logged:
            # Column j of the first kernel is what unit j looks for in the 8×8 image.
            kernel = keras.ops.convert_to_numpy(result.model.layers[0].kernel)
            weights = kernel.T.reshape(-1, 8, 8)
            _image_summary(trial.run_dir, weights, sizes.epochs)
        return result.history["val_accuracy"], weights

    def judge(self, context: Context, results: dict[str, list[tuple]]) -> Judgement:
        sizes, seeds = context.sizes, context.seeds
        # per seed: final validation accuracy of each model; the first seed's curves and weights
        final = {name: [curve[-1] for curve, _ in runs] for name, runs in results.items()}
        accuracy = {name: runs[0][0] for name, runs in results.items()}
        first_layer = {name: runs[0][1] for name, runs in results.items()}
        logistic = float(np.mean(final["logistic_regression"]))
        deep = float(np.mean(final["mlp"]))
        gaps = [d - lr for d, lr in zip(final["mlp"], final["logistic_regression"], strict=True)]
        decision = measures.decide(gaps, smoke_test=context.quick)
        reproduced = decision.reproduced
        at_chance = not measures.above_chance(min(final["mlp"]), 10)
        if at_chance and reproduced:
            reproduced = None
        if reproduced:
            outcome = "reproduced: the model that learns its features is better beyond the spread"
        elif reproduced is False:
            outcome = "not reproduced: logistic regression is better beyond the spread"
        elif at_chance:
            outcome = (
                f"undecided: the MLP's {min(final['mlp']):.1%} is below "
                f"{measures.CHANCE_FACTOR:g}× chance (10%)"
            )
        else:
            outcome = f"undecided: {decision.reason}"
        if context.quick:
            outcome = (
                f"undecided (smoke test): {measures.count(sizes.epochs, 'epoch')} cannot decide"
            )
        widths = "-".join(str(w) for w in (64, *sizes.hidden, 10))
        verdict = (
            f"C0: validation accuracy after {measures.count(sizes.epochs, 'epoch')}: MLP "
            f"{widths} {_per_seed(final['mlp'])}, logistic regression on raw pixels "
            f"{_per_seed(final['logistic_regression'])}; the MLP's gain "
            f"{decision.describe(' points', scale=100, digits=1)} ({outcome}; criterion: gain > "
            f"{measures.MARGIN_STDERRS:g} standard errors on every seed, MLP ≥ "
            f"{measures.CHANCE_FACTOR:g}× chance; its first-layer features are in the plot and "
            "TensorBoard's Images tab)"
        )
        plot = _plot(context.files, accuracy, first_layer, context.status(reproduced))
        return Judgement(
            figure=f"val acc: MLP {deep:.1%}, logistic {logistic:.1%} "
            f"(gain {100 * decision.mean:+.1f}"
            + ("" if len(seeds) == 1 else f" ± {100 * decision.stderr:.1f}")
            + f" pts, {measures.count(len(seeds), 'seed')})",
            verdict=verdict,
            reproduced=reproduced,
            plot=plot,
            numbers={
                "val_accuracy_logistic_regression": logistic,
                "val_accuracy_mlp": deep,
                "gain_mean": decision.mean,
                "gain_stderr": decision.stderr,
                "seeds": float(len(seeds)),
                "first_layer_units_mlp": float(len(first_layer["mlp"])),
            },
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = LearnedFeatures().run


def _per_seed(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1%}"
    return f"{np.mean(values):.1%} (seeds: {', '.join(f'{v:.1%}' for v in values)})"


def _image_summary(run_dir: os.PathLike, weights: np.ndarray, step: int) -> None:
    columns = min(8, len(weights))
    grid = plotting.tile_images(weights, columns)
    zoom = 8
    plotting.write_image_summary(
        run_dir,
        "first_layer_weights",
        plotting.png_bytes(grid, zoom),
        width=grid.shape[1] * zoom,
        height=grid.shape[0] * zoom,
        step=step,
    )


def _plot(
    files: ClaimFiles,
    accuracy: dict[str, list[float]],
    first_layer: dict[str, np.ndarray],
    status: str,
) -> os.PathLike:
    figure, (curves, templates, features) = plotting.new_figure(
        3, f"C0: does an MLP that learns its features beat logistic regression? {status}"
    )
    for name, curve in accuracy.items():
        curves.plot(range(1, len(curve) + 1), curve, marker=".", label=name.replace("_", " "))
    curves.set_xlabel("epoch")
    plotting.integer_ticks(curves)
    curves.set_ylabel("validation accuracy")
    curves.legend()
    for axes, name, title in (
        (templates, "logistic_regression", "logistic regression: one template per class"),
        (features, "mlp", "MLP: learned first-layer features"),
    ):
        weights = first_layer[name]
        axes.imshow(
            plotting.tile_images(weights, min(8, len(weights))), cmap="gray", vmin=0, vmax=1
        )
        axes.set_title(title, fontsize=9)
        axes.set_axis_off()
    return plotting.save(figure, files.plot_path("c0_features"))
