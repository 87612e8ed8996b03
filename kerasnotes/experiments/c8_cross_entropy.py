"""C8: for classification, cross-entropy trains faster than MSE on softmax outputs.

The same MLP on digits, from the same initial weights and with the same SGD,
trained once with categorical cross-entropy and once with mean squared error,
both on the softmax probabilities. The figure is the number of epochs each
needs to reach a target validation accuracy.

```
cross-entropy  L = −Σ_c y_c log ŷ_c,   ∂L/∂z = ŷ − y
MSE            L = Σ_c (ŷ_c − y_c)²/C,  ∂L/∂z = J_softmax · 2(ŷ − y)/C
               (J_softmax = diag(ŷ) − ŷŷᵀ shrinks the gradient when ŷ saturates)
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c8_cross_entropy
    >>> result = c8_cross_entropy.run("quick", tempfile.mkdtemp())
    >>> result.claim
    'C8'
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

import keras

from kerasnotes import activations, losses, optimizers
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles, ClaimResult, pick_size
from kerasnotes.experiments.training import WHOLE_BATCHES, digits_split, fit_run, mlp

CLAIM = "C8"
TITLE = "cross-entropy trains faster than MSE on softmax outputs"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        train_samples: training rows of digits (None: all 1,437).
        epochs: epochs per loss.
        batch_size: samples per SGD step.
        target_accuracy: the validation accuracy both losses race to.
    """

    train_samples: int | None
    epochs: int
    batch_size: int = 64
    target_accuracy: float = 0.9


SIZES = {
    "quick": Sizes(train_samples=256, epochs=2),
    "default": Sizes(train_samples=WHOLE_BATCHES, epochs=15),
    "full": Sizes(train_samples=WHOLE_BATCHES, epochs=60, batch_size=32),
}

LEARNING_RATE = 0.1
HIDDEN = (32,)


def run(
    mode: str = "default",
    logdir: str | os.PathLike = "runs",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> ClaimResult:
    """Train the digits MLP with cross-entropy and with MSE and count epochs to the target.

    Args:
        mode: "quick", "default" or "full" (see ``SIZES``).
        logdir: runs go to ``<logdir>/C8/<loss>``, the plot to ``<logdir>/C8/``.
        seed: seed of the data split and the initial weights.
        progress: called with each configuration's name as it starts.
    """
    sizes = pick_size(SIZES, mode)
    start = time.perf_counter()
    files = ClaimFiles(logdir, CLAIM)
    train, validation = digits_split(sizes.train_samples, seed)
    one_hot = (
        keras.utils.to_categorical(train[1], 10),
        keras.utils.to_categorical(validation[1], 10),
    )
    configs = {
        "cross_entropy": losses.CategoricalCrossentropy(),
        # kerasnotes has no regression loss; MSE is Keras's own, applied to the same softmax.
        "mse": keras.losses.MeanSquaredError(),
    }
    epochs_to_target: dict[str, int | None] = {}
    accuracy: dict[str, list[float]] = {}
    for name, loss in configs.items():
        if progress is not None:
            progress(name)
        model = mlp(64, HIDDEN, 10, seed, output_activation=activations.softmax)
        result = fit_run(
            model,
            optimizers.SGD(learning_rate=LEARNING_RATE),
            loss,
            (train[0], one_hot[0]),
            epochs=sizes.epochs,
            batch_size=sizes.batch_size,
            log_dir=files.run_dir(name),
            validation=(validation[0], one_hot[1]),
            metrics=("accuracy",),
            log_updates=False,
        )
        accuracy[name] = result.history["val_accuracy"]
        epochs_to_target[name] = measures.first_reaching(
            accuracy[name], sizes.target_accuracy, above=True
        )

    target = sizes.target_accuracy
    ce, mse = epochs_to_target["cross_entropy"], epochs_to_target["mse"]
    budget = sizes.epochs
    ce_text = measures.describe_count(ce, budget, "epochs")
    mse_text = measures.describe_count(mse, budget, "epochs")
    if ce is None and mse is None:
        reproduced, ratio_text = None, "undecided: neither reached it"
    elif ce is None:
        reproduced, ratio_text = False, "not reproduced: MSE faster"
    elif mse is None:
        reproduced, ratio_text = True, f"ratio > {budget / ce:.1f}; reproduced: CE faster"
    else:
        reproduced = ce < mse
        verdict_word = "reproduced: CE faster" if reproduced else "not reproduced: CE not faster"
        ratio_text = f"ratio {mse / ce:.1f}; {verdict_word}"
    verdict = (
        f"C8: {target:.0%} validation accuracy reached by cross-entropy "
        f"{measures.within(ce, budget, 'epochs')}, by MSE {measures.within(mse, budget, 'epochs')} "
        f"({ratio_text})"
    )

    figure, (axes,) = plotting.new_figure(1, f"C8: {TITLE}")
    for name, curve in accuracy.items():
        axes.plot(range(1, len(curve) + 1), curve, marker=".", label=name.replace("_", "-"))
    axes.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation accuracy")
    axes.legend()
    plot = plotting.save(figure, files.plot_path("c8_cross_entropy"))

    return ClaimResult(
        claim=CLAIM,
        title=TITLE,
        figure=f"epochs to {target:.0%} val acc: CE {ce_text.replace(' epochs', '')}, "
        f"MSE {mse_text.replace(' epochs', '')}",
        verdict=verdict,
        reproduced=reproduced,
        plot=plot,
        runs=files.runs,
        seconds=time.perf_counter() - start,
        numbers={
            "epochs_cross_entropy": float("nan") if ce is None else float(ce),
            "epochs_mse": float("nan") if mse is None else float(mse),
            "final_val_accuracy_cross_entropy": accuracy["cross_entropy"][-1],
            "final_val_accuracy_mse": accuracy["mse"][-1],
        },
    )
