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
    >>> {loss: f"epochs_{loss}" in result.numbers for loss in ("cross_entropy", "mse")}
    {'cross_entropy': True, 'mse': True}
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from kerasnotes import activations, losses, optimizers
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.claim import Claim, Context, Judgement, Trial
from kerasnotes.experiments.training import (
    WHOLE_BATCHES,
    DigitsSizes,
    digits_split,
    fit_digits,
    mlp,
)

CLAIM = "C8"
TITLE = "cross-entropy trains faster than MSE on softmax outputs"


@dataclasses.dataclass(frozen=True)
class Sizes(DigitsSizes):
    """Rows and epochs per loss (``DigitsSizes``); the batch and the accuracy raced to.

    Args:
        batch_size: samples per SGD step.
        target_accuracy: the validation accuracy both losses race to.
    """

    batch_size: int = 64
    target_accuracy: float = 0.9


SIZES = {
    "quick": Sizes(train_samples=256, epochs=2),
    "default": Sizes(train_samples=WHOLE_BATCHES, epochs=10),
    "full": Sizes(train_samples=WHOLE_BATCHES, epochs=60, batch_size=32),
}

LEARNING_RATE = 0.1
HIDDEN = (32,)


class CrossEntropyVsMse(Claim):
    """Train the digits MLP with cross-entropy and with MSE and count epochs to the target.

    Runs go to ``<log_dir>/C8/<loss>``, the plot to ``<log_dir>/C8/``; ``seed`` seeds the
    data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    several_seeds = True

    def data(self, context: Context, seed: int) -> tuple:
        train, validation = digits_split(context.sizes.train_samples, seed)
        return (
            (train[0], keras.utils.to_categorical(train[1], 10)),
            (validation[0], keras.utils.to_categorical(validation[1], 10)),
        )

    def configs(self, context: Context, data: tuple) -> dict:
        return {
            "cross_entropy": losses.CategoricalCrossentropy,
            # kerasnotes has no regression loss; MSE is Keras's own, applied to the same softmax.
            "mse": keras.losses.MeanSquaredError,
        }

    def train(self, context: Context, trial: Trial) -> list[float]:
        result = fit_digits(
            mlp(64, HIDDEN, 10, trial.seed, output_activation=activations.softmax),
            optimizers.SGD(learning_rate=LEARNING_RATE),
            trial,
            context.sizes.epochs,
            context.sizes.batch_size,
            loss=trial.config(),
        )
        return result.history["val_accuracy"]

    def judge(self, context: Context, results: dict[str, list[list[float]]]) -> Judgement:
        budget = context.sizes.epochs
        target = context.sizes.target_accuracy
        reach = {
            name: [measures.first_reaching(curve, target, above=True) for curve in curves]
            for name, curves in results.items()
        }
        last = {name: [curve[-1] for curve in curves] for name, curves in results.items()}

        # Epochs saved by cross-entropy per seed; a loss that never reaches the target within
        # the budget counts as budget + 1 epochs (so the saving shown is a lower bound).
        def censored(count: int | None) -> int:
            return budget + 1 if count is None else count

        savings = [
            censored(m) - censored(c)
            for c, m in zip(reach["cross_entropy"], reach["mse"], strict=True)
        ]
        decision = measures.decide(savings, smoke_test=context.quick)
        reproduced = decision.reproduced
        both_missed = all(c is None and m is None for c, m in zip(*reach.values(), strict=True))
        at_chance = not measures.above_chance(max(min(last["cross_entropy"]), min(last["mse"])), 10)
        if context.quick:
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
            1, f"C8: does cross-entropy train faster than MSE?\n{context.status(reproduced)}"
        )
        for name, curves in results.items():  # the first seed's: the one in TensorBoard
            curve = curves[0]
            axes.plot(range(1, len(curve) + 1), curve, marker=".", label=name.replace("_", "-"))
        axes.axhline(
            target, color="grey", linestyle="--", linewidth=1, label=f"target {target:.0%}"
        )
        axes.set_xlabel(f"epoch (seed {context.seeds[0]})")
        plotting.integer_ticks(axes)
        axes.set_ylabel("validation accuracy")
        axes.legend()
        plot = plotting.save(figure, context.files.plot_path("c8_cross_entropy"))

        return Judgement(
            figure=f"epochs to {target:.0%} val acc: CE {_counts(reach['cross_entropy'], budget)}, "
            f"MSE {_counts(reach['mse'], budget)}",
            verdict=verdict,
            reproduced=reproduced,
            plot=plot,
            numbers={
                "epochs_cross_entropy": float(
                    np.mean([censored(c) for c in reach["cross_entropy"]])
                ),
                "epochs_mse": float(np.mean([censored(m) for m in reach["mse"]])),
                "saving_mean": decision.mean,
                "saving_stderr": decision.stderr,
                "seeds": float(len(context.seeds)),
                "final_val_accuracy_cross_entropy": float(np.mean(last["cross_entropy"])),
                "final_val_accuracy_mse": float(np.mean(last["mse"])),
            },
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = CrossEntropyVsMse().run


def _counts(counts: list[int | None], budget: int) -> str:
    return "/".join(f">{budget}" if c is None else str(c) for c in counts)
