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
import time
from collections.abc import Callable

import keras
import numpy as np

from kerasnotes import losses, optimizers
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles, ClaimResult, pick_size
from kerasnotes.experiments.training import WHOLE_BATCHES, digits_split, fit_run, mlp

CLAIM = "C0"
TITLE = "learned features beat a shallow model on raw pixels"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        train_samples: training rows of digits (None: all 1,437).
        epochs: epochs per model.
        hidden: widths of the MLP's hidden layers.
        batch_size: samples per Adam step.
    """

    train_samples: int | None
    epochs: int
    hidden: tuple[int, ...] = (32,)
    batch_size: int = 64


SIZES = {
    "quick": Sizes(train_samples=256, epochs=1, hidden=(16,)),
    "default": Sizes(train_samples=WHOLE_BATCHES, epochs=20),
    "full": Sizes(train_samples=WHOLE_BATCHES, epochs=80, hidden=(64, 32), batch_size=32),
}

LEARNING_RATE = 0.003


def run(
    mode: str = "default",
    logdir: str | os.PathLike = "runs",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ClaimResult:
    """Train logistic regression and an MLP on raw digit pixels; compare accuracy and weights.

    Args:
        mode: "quick", "default" or "full" (see ``SIZES``).
        logdir: runs go to ``<logdir>/C0/<model>``, the plot to ``<logdir>/C0/``.
        seed: seed of the data split and the initial weights.
        progress: called with each configuration's name as it starts.
    """
    sizes = pick_size(SIZES, mode)
    start = time.perf_counter()
    files = ClaimFiles(logdir, CLAIM)
    train, validation = digits_split(sizes.train_samples, seed)
    configs = {"logistic_regression": (), "mlp": sizes.hidden}
    accuracy: dict[str, list[float]] = {}
    first_layer: dict[str, np.ndarray] = {}
    for name, hidden in configs.items():
        if progress is not None:
            progress(name)
        run_dir = files.run_dir(name)
        result = fit_run(
            mlp(64, hidden, 10, seed),
            optimizers.Adam(learning_rate=LEARNING_RATE),
            losses.SparseCategoricalCrossentropy(from_logits=True),
            train,
            epochs=sizes.epochs,
            batch_size=sizes.batch_size,
            log_dir=run_dir,
            validation=validation,
            metrics=("accuracy",),
            log_updates=False,
        )
        accuracy[name] = result.history["val_accuracy"]
        # Column j of the first kernel is what unit j looks for in the 8×8 image.
        kernel = keras.ops.convert_to_numpy(result.model.layers[0].kernel)
        first_layer[name] = kernel.T.reshape(-1, 8, 8)
        _image_summary(run_dir, first_layer[name], sizes.epochs)

    logistic = accuracy["logistic_regression"][-1]
    deep = accuracy["mlp"][-1]
    reproduced = bool(deep > logistic)
    widths = "-".join(str(w) for w in (64, *sizes.hidden, 10))
    verdict = (
        f"C0: validation accuracy after {measures.count(sizes.epochs, 'epoch')}: MLP {widths} {deep:.1%}, "
        f"logistic regression on raw pixels {logistic:.1%} "
        f"({'reproduced' if reproduced else 'not reproduced'}: the model that learns its "
        f"features is {'better' if reproduced else 'not better'} by {100 * (deep - logistic):+.1f} "
        "points; its first-layer features are in the plot and TensorBoard's Images tab)"
    )
    plot = _plot(files, accuracy, first_layer)
    return ClaimResult(
        claim=CLAIM,
        title=TITLE,
        figure=f"val acc: MLP {deep:.1%}, logistic {logistic:.1%}",
        verdict=verdict,
        reproduced=reproduced,
        plot=plot,
        runs=files.runs,
        seconds=time.perf_counter() - start,
        numbers={
            "val_accuracy_logistic_regression": logistic,
            "val_accuracy_mlp": deep,
            "first_layer_units_mlp": float(len(first_layer["mlp"])),
        },
    )


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
    files: ClaimFiles, accuracy: dict[str, list[float]], first_layer: dict[str, np.ndarray]
) -> os.PathLike:
    figure, (curves, templates, features) = plotting.new_figure(3, f"C0: {TITLE}")
    for name, curve in accuracy.items():
        curves.plot(range(1, len(curve) + 1), curve, marker=".", label=name.replace("_", " "))
    curves.set_xlabel("epoch")
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
