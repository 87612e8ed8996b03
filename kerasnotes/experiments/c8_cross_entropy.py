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
import numpy as np

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
    "default": Sizes(train_samples=WHOLE_BATCHES, epochs=10),
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
    configs = {
        "cross_entropy": losses.CategoricalCrossentropy,
        # kerasnotes has no regression loss; MSE is Keras's own, applied to the same softmax.
        "mse": keras.losses.MeanSquaredError,
    }
    seeds = measures.seeds(mode, seed)
    budget = sizes.epochs
    target = sizes.target_accuracy
    reach: dict[str, list[int | None]] = {name: [] for name in configs}
    last: dict[str, list[float]] = {name: [] for name in configs}
    accuracy: dict[str, list[float]] = {}
    for run_seed in seeds:
        train, validation = digits_split(sizes.train_samples, run_seed)
        one_hot = (
            keras.utils.to_categorical(train[1], 10),
            keras.utils.to_categorical(validation[1], 10),
        )
        logged = run_seed == seeds[0]  # one TensorBoard run per loss: the first seed's
        for name, loss in configs.items():
            if progress is not None:
                progress(name if len(seeds) == 1 else f"{name} (seed {run_seed})")
            model = mlp(64, HIDDEN, 10, run_seed, output_activation=activations.softmax)
            result = fit_run(
                model,
                optimizers.SGD(learning_rate=LEARNING_RATE),
                loss(),
                (train[0], one_hot[0]),
                epochs=budget,
                batch_size=sizes.batch_size,
                log_dir=files.run_dir(name) if logged else None,
                validation=(validation[0], one_hot[1]),
                metrics=("accuracy",),
                log_updates=False,
            )
            curve = result.history["val_accuracy"]
            if logged:
                accuracy[name] = curve
            reach[name].append(measures.first_reaching(curve, target, above=True))
            last[name].append(curve[-1])

    # Epochs saved by cross-entropy per seed; a loss that never reaches the target within
    # the budget counts as budget + 1 epochs (so the saving shown is a lower bound).
    def censored(count: int | None) -> int:
        return budget + 1 if count is None else count

    savings = [
        censored(m) - censored(c) for c, m in zip(reach["cross_entropy"], reach["mse"], strict=True)
    ]
    decision = measures.decide(savings, smoke_test=mode == "quick")
    reproduced = decision.reproduced
    both_missed = all(c is None and m is None for c, m in zip(*reach.values(), strict=True))
    at_chance = not measures.above_chance(max(min(last["cross_entropy"]), min(last["mse"])), 10)
    if mode == "quick":
        outcome = f"undecided (smoke test): {measures.count(budget, 'epoch')} cannot decide"
    elif both_missed or at_chance:
        reproduced = None
        outcome = "undecided: neither loss reached the target" + (
            " (accuracy near chance)" if at_chance else ""
        )
    elif reproduced:
        outcome = "reproduced: cross-entropy reaches it sooner on every seed, beyond the spread"
    elif reproduced is False:
        outcome = "not reproduced: MSE reaches it sooner"
    else:
        outcome = f"undecided: {decision.reason}"
    verdict = (
        f"C8: epochs to {target:.0%} validation accuracy (budget {budget}) per seed: "
        f"cross-entropy {_counts(reach['cross_entropy'], budget)}, MSE "
        f"{_counts(reach['mse'], budget)}; cross-entropy saves "
        f"{decision.describe(' epochs', digits=1)}"
        f"{' (at least: MSE missed the target)' if None in reach['mse'] else ''} "
        f"({outcome}; criterion: saving > {measures.MARGIN_STDERRS:g} standard errors "
        "and positive on every seed)"
    )

    figure, (axes,) = plotting.new_figure(
        1,
        f"C8: does cross-entropy train faster than MSE?\n{measures.status_text(reproduced, mode == 'quick')}",
    )
    for name, curve in accuracy.items():
        axes.plot(range(1, len(curve) + 1), curve, marker=".", label=name.replace("_", "-"))
    axes.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    axes.set_xlabel(f"epoch (seed {seeds[0]})")
    plotting.integer_ticks(axes)
    axes.set_ylabel("validation accuracy")
    axes.legend()
    plot = plotting.save(figure, files.plot_path("c8_cross_entropy"))

    mean_ce = float(np.mean([censored(c) for c in reach["cross_entropy"]]))
    mean_mse = float(np.mean([censored(m) for m in reach["mse"]]))
    return ClaimResult(
        claim=CLAIM,
        title=TITLE,
        figure=f"epochs to {target:.0%} val acc: CE {_counts(reach['cross_entropy'], budget)}, "
        f"MSE {_counts(reach['mse'], budget)}",
        verdict=verdict,
        reproduced=reproduced,
        plot=plot,
        runs=files.runs,
        seconds=time.perf_counter() - start,
        numbers={
            "epochs_cross_entropy": mean_ce,
            "epochs_mse": mean_mse,
            "saving_mean": decision.mean,
            "saving_stderr": decision.stderr,
            "seeds": float(len(seeds)),
            "final_val_accuracy_cross_entropy": float(np.mean(last["cross_entropy"])),
            "final_val_accuracy_mse": float(np.mean(last["mse"])),
        },
        smoke_test=mode == "quick",
    )


def _counts(counts: list[int | None], budget: int) -> str:
    return "/".join(f">{budget}" if c is None else str(c) for c in counts)
