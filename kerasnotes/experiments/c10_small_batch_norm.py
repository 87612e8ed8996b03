"""C10: layer norm does not depend on the batch; group norm works with small batches.

The same MLP on the digits with batch, layer or group normalization after each
hidden Dense layer, trained with batches of 2 to 4 samples, from the same
Dense initial weights; then one sample's output is compared inside two
batches of different composition (training mode, where BN uses the batch).

```
BN (F11): μ, σ² over the batch (moving averages at test time)
LN (F12): μ, σ² over the features of each sample;  GN: over groups of features of each sample
figures: validation accuracy per normalization and batch size;
         max |f(x_0 in batch A) − f(x_0 in batch B)| in training mode per normalization
criterion: LN's and GN's output does not depend on the batch (≤ 1e-5) while BN's does, and at
           the smallest batch size LN and GN reach a validation accuracy at least BN's
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c10_small_batch_norm
    >>> result = c10_small_batch_norm.run("quick", tempfile.mkdtemp())
    >>> [norm for norm in c10_small_batch_norm.NORMS  # whose output depends on the batch
    ...  if result.numbers[f"batch_dependence_{norm}"] > c10_small_batch_norm.INDEPENDENCE_TOLERANCE]
    ['batch_norm']
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnotes import _compat, _validation, layers, optimizers
from kerasnotes.experiments import plotting
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import DigitsSizes, fit_digits

CLAIM = "C10"
TITLE = "layer norm ignores the batch; group norm works with small batches"


@dataclasses.dataclass(frozen=True)
class Sizes(DigitsSizes):
    """Rows and epochs (``DigitsSizes``) and the small batch sizes compared.

    Args:
        batch_sizes: the small batch sizes compared.
    """

    batch_sizes: tuple[int, ...]


SIZES = {
    "quick": Sizes(train_samples=32, epochs=1, batch_sizes=(2,)),
    "default": Sizes(train_samples=256, epochs=3, batch_sizes=(2, 4)),
    "full": Sizes(train_samples=1024, epochs=5, batch_sizes=(2, 3, 4)),
}

NORMS = ("batch_norm", "layer_norm", "group_norm")
WIDTH = 32
GROUPS = 4
LEARNING_RATE = 0.02
#: a per-sample normalization must give the same output in any batch up to round-off
INDEPENDENCE_TOLERANCE = 1e-5


def _norm_layer(norm: str) -> keras.layers.Layer:
    if norm == "batch_norm":
        return layers.BatchNormalization()
    if norm == "layer_norm":
        return layers.LayerNormalization()
    return layers.GroupNormalization(groups=GROUPS)


def normalized_mlp(norm: str, seed: int, depth: int = 2) -> keras.Sequential:
    """``[Dense(32) -> norm -> ReLU] × depth -> Dense(10)``, Dense weights from ``seed``.

    Args:
        norm: "batch_norm", "layer_norm" or "group_norm" (4 groups of 8 features).
        seed: seed of the Dense initial weights (the same for every norm).
        depth: hidden layers.

    Example:
        >>> normalized_mlp("group_norm", seed=0).count_params()
        3594
    """
    if norm not in NORMS:
        raise ValueError(_validation.message("norm", norm, f"one of {NORMS}"))
    _compat.set_random_seed(seed)
    stack: list[Any] = [keras.Input(shape=(64,))]
    for _ in range(depth):
        stack += [keras.layers.Dense(WIDTH), _norm_layer(norm), keras.layers.Activation("relu")]
    stack.append(keras.layers.Dense(10))
    return keras.Sequential(stack)


def _composition_diff(model: keras.Model, x: np.ndarray) -> float:
    """max |f(x_0 in [x_0, x_1, x_2, x_3]) − f(x_0 in [x_0, x_4, x_5, x_6])|, training mode.

    Calls the model statelessly, so BN's moving averages are left as they were.
    """
    first = np.stack([x[0], x[1], x[2], x[3]])
    second = np.stack([x[0], x[4], x[5], x[6]])
    outputs = []
    for batch in (first, second):
        out, _ = model.stateless_call(
            model.trainable_variables,
            model.non_trainable_variables,
            keras.ops.convert_to_tensor(batch),
            training=True,
        )
        outputs.append(keras.ops.convert_to_numpy(out)[0])
    return float(np.max(np.abs(outputs[0] - outputs[1])))


class SmallBatchNorms(DigitsClaim):
    """Train BN, LN and GN nets with batches of 2–4 and compare accuracy and batch dependence.

    Runs go to ``<log_dir>/C10/<norm>_bs<k>``, the plot to ``<log_dir>/C10/``; ``seed`` seeds
    the data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES

    def configs(self, context: Context, data: tuple) -> dict[str, tuple[str, int]]:
        return {
            f"{norm}_bs{batch}": (norm, batch)
            for norm in NORMS
            for batch in context.sizes.batch_sizes
        }

    def train(self, context: Context, trial: Trial) -> dict:
        validation = trial.data[1]
        norm, batch = trial.config
        model = normalized_mlp(norm, trial.seed)
        result = fit_digits(
            model,
            optimizers.SGD(learning_rate=LEARNING_RATE),
            trial,
            context.sizes.epochs,
            batch,
        )
        return {
            "curve": result.history["val_accuracy"],
            "val_loss": result.history["val_loss"][-1],
            # how much a sample's output depends on its batch, at the smallest batch size
            "composition": _composition_diff(model, validation[0])
            if batch == context.sizes.batch_sizes[0]
            else None,
        }

    def judge(self, context: Context, results: dict[str, list[dict]]) -> Judgement:
        sizes = context.sizes
        configs = self.configs(context, None)
        runs = {configs[name]: run for name, (run,) in results.items()}
        curves = {key: run["curve"] for key, run in runs.items()}
        accuracy = {key: curve[-1] for key, curve in curves.items()}
        val_loss = {key: run["val_loss"] for key, run in runs.items()}
        composition = {
            norm: run["composition"]
            for (norm, _), run in runs.items()
            if run["composition"] is not None
        }

        smallest = sizes.batch_sizes[0]
        independent = (
            composition["layer_norm"] <= INDEPENDENCE_TOLERANCE
            and composition["group_norm"] <= INDEPENDENCE_TOLERANCE
            and composition["batch_norm"] > INDEPENDENCE_TOLERANCE
        )
        works = (
            min(accuracy[("layer_norm", smallest)], accuracy[("group_norm", smallest)])
            >= (accuracy[("batch_norm", smallest)])
        )
        reproduced = independent and works
        if reproduced:
            outcome = "reproduced"
        else:
            outcome = "not reproduced: " + (
                "a per-sample norm depends on the batch"
                if not independent
                else "BN is more accurate at the smallest batch"
            )

        def accuracies(norm: str) -> str:
            return "/".join(f"{accuracy[(norm, b)]:.3f}" for b in sizes.batch_sizes)

        batches = "/".join(str(b) for b in sizes.batch_sizes)
        verdict = (
            f"C10: validation accuracy after {sizes.epochs} epochs with batch sizes {batches}: "
            f"BN {accuracies('batch_norm')}, LN {accuracies('layer_norm')}, "
            f"GN {accuracies('group_norm')}; a sample's output in two different batches of 4 "
            f"(training mode) differs by {composition['batch_norm']:.1e} with BN, "
            f"{composition['layer_norm']:.1e} with LN, {composition['group_norm']:.1e} with GN "
            f"(criterion: LN and GN differ by ≤ {INDEPENDENCE_TOLERANCE:g}, BN by more, and at "
            f"batch size {smallest} LN and GN are at least as accurate as BN; {outcome})"
        )

        reproduced, verdict = context.smoke_test(reproduced, verdict)
        plot = _plot(
            curves,
            sizes.batch_sizes,
            context.files.plot_path("c10_small_batch_norm"),
            context.status(reproduced),
        )
        numbers: dict[str, float] = {}
        for (norm, batch), value in accuracy.items():
            numbers[f"val_accuracy_{norm}_bs{batch}"] = float(value)
            numbers[f"val_loss_{norm}_bs{batch}"] = float(val_loss[(norm, batch)])
        for norm, value in composition.items():
            numbers[f"batch_dependence_{norm}"] = value
        figure = (
            f"val acc at bs {smallest}: BN {accuracy[('batch_norm', smallest)]:.2f}, "
            f"LN {accuracy[('layer_norm', smallest)]:.2f}, "
            f"GN {accuracy[('group_norm', smallest)]:.2f}"
        )
        return Judgement(figure, verdict, reproduced, plot, numbers)


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = SmallBatchNorms().run


def _plot(
    curves: dict[tuple[str, int], list[float]],
    batch_sizes: tuple[int, ...],
    path: Path,
    status: str,
) -> Path:
    figure, panels = plotting.new_figure(
        len(batch_sizes),
        f"C10: do layer norm and group norm work with small batches where BN fails?\n{status}",
    )
    for axes, batch in zip(panels, batch_sizes, strict=True):
        for norm in NORMS:
            curve = curves[(norm, batch)]
            axes.plot(range(1, len(curve) + 1), curve, marker="o", label=norm.replace("_", " "))
        axes.set_title(f"batch size {batch}", fontsize=9)
        axes.set_xlabel("epoch")
        plotting.integer_ticks(axes)
        axes.set_ylabel("validation accuracy")
        axes.set_ylim(0.0, 1.0)
        axes.legend(fontsize=7)
    return plotting.save(figure, path)
