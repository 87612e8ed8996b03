"""C4: momentum accelerates progress and helps pass flat regions.

Plain gradient descent and heavy-ball momentum, with the same learning rate,
on two landscapes: the ill-conditioned quadratic ½wᵀAw (κ = λ_max/λ_min), where
the step must be small for the steep direction and so crawls along the flat
one, and the digits MLP. The figure is how many updates momentum needs to
reach the loss plain descent ends with. The notes' own form of momentum (an
average of gradients, F2) is run on the quadratic too, with the same learning
rate, to show that the Keras form's speed-up comes from its larger effective step.

```
plain      θ ← θ − α∇L
momentum   v ← βv − α∇L,  θ ← θ + v        (Keras; steady step α/(1−β) · ∇L)
notes, F2  v ← βv + (1−β)∇L,  θ ← θ − αv   (steady step α · ∇L)
quadratic  GD shrinks the flat direction by (1 − α·λ_min) per step, α < 2/λ_max
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c4_momentum
    >>> result = c4_momentum.run("quick", tempfile.mkdtemp())
    >>> len(result.runs)  # quadratic: sgd, momentum, notes' form; digits: sgd, momentum
    5
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from kerasnotes import datasets, losses, optimizers
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import WHOLE_BATCHES, fit_run, mlp

CLAIM = "C4"
TITLE = "momentum reaches the same loss in fewer updates"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        quadratic_updates: gradient-descent steps on the quadratic.
        train_samples: training rows of digits (None: all 1,437).
        epochs: epochs on digits.
        batch_size: samples per update on digits.
    """

    quadratic_updates: int
    train_samples: int | None
    epochs: int
    batch_size: int = 64


SIZES = {
    "quick": Sizes(quadratic_updates=50, train_samples=256, epochs=1),
    "default": Sizes(quadratic_updates=400, train_samples=WHOLE_BATCHES, epochs=10),
    "full": Sizes(quadratic_updates=2000, train_samples=WHOLE_BATCHES, epochs=50, batch_size=32),
}

CONDITION_NUMBER = 100.0
DIMENSION = 10
QUADRATIC_LEARNING_RATE = 1.0 / CONDITION_NUMBER  # stable: α < 2/λ_max = 2/κ
DIGITS_LEARNING_RATE = 0.01
MOMENTUM = 0.9
HIDDEN = (32,)


class MomentumRace(DigitsClaim):
    """Race plain descent against momentum on the quadratic and on digits.

    Runs go to ``<log_dir>/C4/<landscape>_<optimizer>``, the plot to ``<log_dir>/C4/``;
    ``seed`` seeds the data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES

    def configs(self, context: Context, data: tuple) -> dict[str, tuple[str, dict]]:
        return {
            "quadratic_sgd": ("quadratic", {}),
            "quadratic_momentum": ("quadratic", {"momentum": MOMENTUM}),
            "quadratic_momentum_ema": (
                "quadratic",
                {"momentum": MOMENTUM, "momentum_form": "ema"},
            ),
            "digits_sgd": ("digits", {"momentum": 0.0}),
            "digits_momentum": ("digits", {"momentum": MOMENTUM}),
        }

    def train(self, context: Context, trial: Trial) -> tuple[np.ndarray, int]:
        """The training loss curve and the updates behind each of its points."""
        landscape, extra = trial.config
        if landscape == "quadratic":
            model, x, y, loss = datasets.ill_conditioned_quadratic(CONDITION_NUMBER, DIMENSION)
            updates = context.sizes.quadratic_updates
            result = fit_run(
                model,
                optimizers.SGD(learning_rate=QUADRATIC_LEARNING_RATE, **extra),
                loss,
                # the rows repeated: one epoch of `updates` identical full-batch steps
                (np.tile(x, (updates, 1)), np.tile(y, (updates, 1))),
                epochs=1,
                batch_size=len(x),
                log_dir=trial.run_dir,
                shuffle=False,
            )
            return result.update_losses, 1
        train, _ = trial.data
        result = fit_run(
            mlp(64, HIDDEN, 10, trial.seed),
            optimizers.SGD(learning_rate=DIGITS_LEARNING_RATE, **extra),
            losses.SparseCategoricalCrossentropy(from_logits=True),
            train,
            epochs=context.sizes.epochs,
            batch_size=context.sizes.batch_size,
            log_dir=trial.run_dir,
        )
        return np.asarray(result.history["loss"]), result.updates_per_epoch

    def judge(self, context: Context, results: dict[str, list[tuple]]) -> Judgement:
        # per landscape: (optimizer -> curve, updates per point, label)
        landscapes = {}
        for landscape, label in (
            ("quadratic", f"quadratic (κ={CONDITION_NUMBER:g}, {DIMENSION} weights, α=1/κ)"),
            ("digits", f"digits MLP (α={DIGITS_LEARNING_RATE:g}, epoch-mean training loss)"),
        ):
            runs = {
                name.removeprefix(f"{landscape}_"): run
                for name, (run,) in results.items()
                if name.startswith(f"{landscape}_")
            }
            curves = {name: curve for name, (curve, _) in runs.items()}
            landscapes[landscape] = (curves, runs["sgd"][1], label)
        quadratic, digits = landscapes["quadratic"], landscapes["digits"]

        numbers: dict[str, float] = {}
        sentences = []
        figures = []
        outcomes = []
        for landscape, (curves, updates_per_point, label) in landscapes.items():
            race = _race(curves, updates_per_point)
            outcomes.append(race["momentum_faster"])
            numbers.update({f"{landscape}_{key}": value for key, value in race["numbers"].items()})
            sentences.append(f"{label}: {race['sentence']}")
            figures.append(f"{landscape} {race['short']}")
        ema = measures.first_reaching(quadratic[0]["momentum_ema"], numbers["quadratic_target"])
        numbers["quadratic_updates_momentum_ema"] = float("nan") if ema is None else float(ema)
        budget = len(quadratic[0]["sgd"])
        reproduced = all(outcomes)
        verdict = (
            "C4: updates momentum (β=0.9, same α) needs to reach the loss plain descent ends "
            "with: "
            + "; ".join(sentences)
            + f" ({'reproduced' if reproduced else 'not reproduced'}: momentum faster on "
            + ("both" if reproduced else "only one" if any(outcomes) else "neither")
            + "). The notes' averaging form (F2) with the same α needs "
            + f"{measures.within(ema, budget, 'updates').removeprefix('in ')} on the quadratic: "
            "its steady step is α·∇L, so its gain needs a larger α."
        )
        reproduced, verdict = context.smoke_test(reproduced, verdict)
        plot = _plot(context.files, quadratic, digits, context.status(reproduced))
        return Judgement("; ".join(figures), verdict, reproduced, plot, numbers)


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = MomentumRace().run


def _race(curves: dict[str, np.ndarray], updates_per_point: int) -> dict:
    """Who reaches the other's final loss first, counted in updates."""
    plain, fast = curves["sgd"], curves["momentum"]
    budget = len(plain) * updates_per_point
    momentum_better = fast[-1] < plain[-1]
    leader, follower = ("momentum", "sgd") if momentum_better else ("sgd", "momentum")
    target = float(curves[follower][-1])
    hit = measures.first_reaching(curves[leader], target)
    updates = budget if hit is None else hit * updates_per_point
    speed_up = budget / updates
    if momentum_better:
        sentence = f"{updates} of {budget} updates to loss {target:.3g} ({speed_up:.1f}× fewer)"
        short = f"{speed_up:.1f}× fewer updates"
    else:
        sentence = f"plain descent is ahead: it reached momentum's final loss {target:.3g} in {updates} of {budget} updates"
        short = "plain ahead"
    return {
        "momentum_faster": bool(momentum_better and updates < budget),
        "sentence": sentence,
        "short": short,
        "numbers": {
            "target": target,
            "updates_sgd": float(budget if momentum_better else updates),
            "updates_momentum": float(updates if momentum_better else budget),
            "final_loss_sgd": float(plain[-1]),
            "final_loss_momentum": float(fast[-1]),
        },
    }


def _plot(files: ClaimFiles, quadratic: tuple, digits: tuple, status: str) -> os.PathLike:
    figure, panels = plotting.new_figure(
        2, f"C4: does momentum reach the same loss in fewer updates?\n{status}"
    )
    for axes, (curves, per_point, label) in zip(panels, (quadratic, digits), strict=True):
        for name, curve in curves.items():
            steps = np.arange(1, len(curve) + 1) * per_point
            axes.plot(steps, curve, label=name.replace("_", " "))
        axes.set_yscale("log")
        axes.set_xlabel("update")
        axes.set_ylabel("training loss")
        axes.set_title(label, fontsize=9)
        axes.legend(fontsize=8)
    return plotting.save(figure, files.plot_path("c4_momentum"))
