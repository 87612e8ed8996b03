"""C11: training can stall while the gradient is not small (the edge of stability, F17).

A small tanh MLP is trained on digits (one-hot targets, mean squared error) by
full-batch gradient descent: every step sees the same whole training set, so
nothing is noise. Three runs start from the same weights: gradient descent at a
learning rate η whose threshold 2/η lies a little above the initial sharpness,
gradient descent at η/4, and Adam. A ``SharpnessMonitor`` measures λmax of the
training loss against the optimizer's stability threshold every few steps (the
Curvature view of the kerasnotes tab shows both), and ‖∇L‖ is measured at the
same points.

```
stable GD, ηλmax < 2:   L(θ − η∇L) ≈ L − η‖∇L‖²(1 − ηλ/2)       (the loss falls as ‖∇L‖ says)
edge of stability:      λmax rises to 2/η and hovers; the step overshoots along the sharp
                        direction, so the loss rises on some steps and falls far less
efficiency = (L_mid − L_end) / (η · steps · mean ‖∇L‖²)   over the second half of the run
             (≈ 1 for stable descent, ≈ 0 when the gradient is large but the loss stalls)
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c11_edge_of_stability
    >>> result = c11_edge_of_stability.run("quick", tempfile.mkdtemp())
    >>> result.status
    'undecided (smoke test)'
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras
import numpy as np

from kerasnotes import _compat, optimizers, summary
from kerasnotes.callbacks import SharpnessMonitor
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Claim, Context, Judgement, Trial
from kerasnotes.experiments.training import digits_split, fit_run

CLAIM = "C11"
TITLE = "training stalls at the edge of stability while the gradient stays large"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        train_samples: training rows of digits (the full batch of every step).
        steps: full-batch gradient steps per run.
        steps_per_epoch: steps between two measurements of λmax and ‖∇L‖ (one Keras epoch).
    """

    train_samples: int
    steps: int
    steps_per_epoch: int = 10


SIZES = {
    "quick": Sizes(train_samples=64, steps=20, steps_per_epoch=5),
    "default": Sizes(train_samples=512, steps=300, steps_per_epoch=15),
    "full": Sizes(train_samples=512, steps=600),
}

#: η of the run that reaches the edge. λmax at the initial weights is above 2/η; the first
#: steps push it down to 0.85–0.97 × 2/η (seeds 0–2), and it then rises again.
LEARNING_RATE = 2.5
#: The smaller rate is η/4: its threshold 8/η is four times higher.
SMALLER_FACTOR = 0.25
ADAM_LEARNING_RATE = 0.01
HIDDEN = (32, 32)

#: "Hovers at the threshold": the median λmax / threshold over the second half lies here.
EDGE_BAND = (0.8, 1.25)
#: "The loss oscillates": at least this share of the second half's steps raise the loss.
MIN_RISING_SHARE = 0.05

EDGE, SMALLER, ADAM = (
    f"gd_lr{LEARNING_RATE:g}",
    f"gd_lr{SMALLER_FACTOR * LEARNING_RATE:g}",
    f"adam_lr{ADAM_LEARNING_RATE:g}",
)


def tanh_mlp(seed: int) -> keras.Sequential:
    """``64 -> 32 tanh -> 32 tanh -> 10``; the initial weights depend only on ``seed``.

    Example:
        >>> tanh_mlp(0).count_params()
        3466
    """
    _compat.set_random_seed(seed)
    layers: list[Any] = [keras.Input(shape=(64,))]
    layers += [keras.layers.Dense(width, activation="tanh") for width in HIDDEN]
    layers.append(keras.layers.Dense(10))
    return keras.Sequential(layers)


class GradientNorm(keras.callbacks.Callback):
    """‖∇L‖ of the whole training set at the end of every epoch.

    ```
    grad_norm = ‖∇_θ L(θ)‖₂   (the compiled loss on (x, y), at the epoch's last weights)
    ```

    One ``kerasnotes.curvature.gate.GradientNorm`` per fit, built at train begin:
    it reads the model's weights as they are at each call and gives the number a
    ``HessianProbe`` built at those weights gives, without a probe's construction
    (argument checks, the data put on the device, a copy of the weights) at every
    epoch.

    Args:
        data: ``(x, y)``, the full batch.
        writer: where to write ``kerasnotes/curvature/grad_norm`` (step = epoch), or None.

    Example:
        >>> GradientNorm((None, None)).norms
        []
    """

    def __init__(self, data: tuple[Any, Any], writer: summary.Writer | None = None) -> None:
        super().__init__()
        self.x, self.y = data
        self.writer = writer
        self.norms: list[float] = []
        self._gate: Any = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        from kerasnotes.curvature.gate import GradientNorm as Gate

        self._gate = Gate(self.model, self.x, self.y)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        _ = self.model  # under JAX, reading it syncs the trainer's state into the variables
        norm = self._gate()[1]
        self.norms.append(norm)
        if self.writer is not None:
            self.writer.scalar(summary.TAG_GRAD_NORM, norm, step=epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        self._gate = None  # the data on the device, released with the fit
        if self.writer is not None:
            self.writer.flush()  # the run's shared writer: the last epoch's norm on disk now


def efficiency(losses: np.ndarray, norms: np.ndarray, learning_rate: float) -> float:
    """The share of the decrease ``η‖∇L‖²`` per step that the second half of a run achieved.

    ```
    efficiency = (L_mid − L_end) / (η · (N − N/2) · mean_{second half} ‖∇L‖²)
    ```

    Stable gradient descent gives about ``1 − ηλ/2`` along the gradient's mix of
    directions (near 1 for a small step); a loss that stalls or oscillates while
    the gradient stays large gives about 0.

    Args:
        losses: the loss before every step (N values).
        norms: ‖∇L‖ measured at even intervals through the run.
        learning_rate: η.

    Example:
        >>> # second half: L 2 -> 1 in 2 steps of η = 0.5 with ‖∇L‖ = 1: (2 − 1)/(0.5·2·1)
        >>> float(efficiency(np.array([4.0, 3.0, 2.0, 1.0]), np.array([1.0, 1.0]), 0.5))
        1.0
    """
    half = len(losses) // 2
    squared = np.mean(np.asarray(norms[len(norms) // 2 :], dtype=np.float64) ** 2)
    return float((losses[half] - losses[-1]) / (learning_rate * (len(losses) - half) * squared))


def rising_share(losses: np.ndarray) -> float:
    """The share of the second half's steps after which the loss was higher than before.

    Example:
        >>> rising_share(np.array([5.0, 4.0, 3.0, 3.5, 2.0]))  # second half 3 → 3.5 → 2
        0.5
    """
    tail = np.asarray(losses[len(losses) // 2 :], dtype=np.float64)
    return float(np.mean(np.diff(tail) > 0)) if tail.size > 1 else float("nan")


class EdgeOfStability(Claim):
    """Full-batch GD at η and η/4 and Adam from the same weights; λmax, ‖∇L‖ and the loss.

    Runs go to ``<log_dir>/C11/<config>``, the plot to ``<log_dir>/C11/``; ``seed``
    seeds the data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    several_seeds = True

    def data(self, context: Context, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The training rows and their one-hot targets."""
        (x, y), _ = digits_split(context.sizes.train_samples, seed)
        return x, np.eye(10, dtype="float32")[y]

    def configs(self, context: Context, data: tuple) -> dict[str, tuple[str, float]]:
        return {
            EDGE: ("sgd", LEARNING_RATE),
            SMALLER: ("sgd", SMALLER_FACTOR * LEARNING_RATE),
            ADAM: ("adam", ADAM_LEARNING_RATE),
        }

    def train(self, context: Context, trial: Trial) -> dict[str, Any]:
        sizes = context.sizes
        x, y = trial.data
        kind, rate = trial.config
        loss = keras.losses.MeanSquaredError()
        # One compiled model per configuration, restarted from this seed's weights: the
        # training step and the curvature engines are traced once, not once per seed.
        model = context.models.get(
            trial.name,
            tanh_mlp(trial.seed),
            lambda: optimizers.SGD(rate) if kind == "sgd" else optimizers.Adam(rate),
            loss,
            shuffle=False,
        )
        writer = summary.Writer.for_log_dir(trial.run_dir) if trial.logged else None
        callbacks: list[keras.callbacks.Callback] = []
        # λmax at every measurement for the run that reaches the edge; the others every
        # third one, and only in the logged seed (they stay well below their thresholds:
        # the judgement needs their losses and gradient norms, the plot their curve).
        if trial.name == EDGE or trial.logged:
            callbacks.append(
                SharpnessMonitor(
                    (x, y),
                    every=1 if trial.name == EDGE else 3,
                    log_dir=trial.run_dir,
                    num_samples=len(x),
                    seed=trial.seed,
                )
            )
        norms = GradientNorm((x, y), writer)
        # One epoch = steps_per_epoch full-batch steps: the rows repeated, never shuffled,
        # so each batch is the whole set and Keras's per-epoch overhead is paid less often.
        repeats = sizes.steps_per_epoch
        result = fit_run(
            model,
            model.optimizer,
            loss,
            (np.tile(x, (repeats, 1)), np.tile(y, (repeats, 1))),
            epochs=sizes.steps // repeats,
            batch_size=len(x),
            log_dir=trial.run_dir,
            callbacks=[*callbacks, norms],
            shuffle=False,
        )
        history = callbacks[0].history if callbacks else []
        return {
            "rate": rate,
            "losses": result.update_losses,
            "norms": np.asarray(norms.norms),
            "epochs": np.asarray([h["epoch"] for h in history]),
            "ratio": np.asarray([h["sharpness"] / h["threshold"] for h in history]),
            "sharpness": np.asarray([h["sharpness"] for h in history]),
            "threshold": float(history[-1]["threshold"]) if history else float("nan"),
            "num_hvp": float(sum(h["num_hvp"] for h in history)),
            "monitor_seconds": float(sum(h["seconds"] for h in history)),
            "fit_seconds": float(sum(result.epoch_seconds)),
        }

    def judge(self, context: Context, results: dict[str, list[dict]]) -> Judgement:
        seeds = context.seeds
        edge, smaller, adam = results[EDGE], results[SMALLER], results[ADAM]
        edge_ratio = [float(np.median(r["ratio"][len(r["ratio"]) // 2 :])) for r in edge]
        rising = [rising_share(r["losses"]) for r in edge]
        eff_edge = [efficiency(r["losses"], r["norms"], r["rate"]) for r in edge]
        eff_smaller = [efficiency(r["losses"], r["norms"], r["rate"]) for r in smaller]
        decrease = {
            name: [
                float(np.log(r["losses"][len(r["losses"]) // 2] / r["losses"][-1])) for r in runs
            ]
            for name, runs in results.items()
        }
        at_edge = [
            EDGE_BAND[0] <= ratio <= EDGE_BAND[1] and share >= MIN_RISING_SHARE
            for ratio, share in zip(edge_ratio, rising, strict=True)
        ]
        # Per seed: how much more of its gradient's promise the smaller step turns into
        # descent, and how much more Adam lowers the loss over the same second half.
        stuck = measures.decide(
            [s - e for s, e in zip(eff_smaller, eff_edge, strict=True)], smoke_test=context.quick
        )
        goes_on = measures.decide(
            [a - e for a, e in zip(decrease[ADAM], decrease[EDGE], strict=True)],
            smoke_test=context.quick,
        )
        if not any(at_edge) or False in (stuck.reproduced, goes_on.reproduced):
            reproduced: bool | None = False
        elif all(at_edge) and stuck.reproduced and goes_on.reproduced:
            reproduced = True
        else:
            reproduced = None
        grad_end = float(np.mean([r["norms"][-1] for r in edge]))
        grad_start = float(np.mean([r["norms"][0] for r in edge]))
        numbers: dict[str, float] = {
            "seeds": float(len(seeds)),
            "learning_rate": float(np.mean([r["rate"] for r in edge])),
            "threshold": float(np.mean([r["threshold"] for r in edge])),
            "edge_ratio": float(np.mean(edge_ratio)),
            "edge_ratio_first": float(np.mean([r["ratio"][0] for r in edge])),
            "edge_ratio_max": float(np.mean([np.max(r["ratio"]) for r in edge])),
            "seeds_at_edge": float(sum(at_edge)),
            "rising_share": float(np.mean(rising)),
            "efficiency_edge": float(np.mean(eff_edge)),
            "efficiency_smaller": float(np.mean(eff_smaller)),
            "efficiency_gain_mean": stuck.mean,
            "efficiency_gain_stderr": stuck.stderr,
            "grad_norm_end": grad_end,
            "grad_norm_start": grad_start,
            "adam_gain_mean": goes_on.mean,
            "adam_gain_stderr": goes_on.stderr,
            # the logged seed's: the other seeds do not measure these runs' sharpness
            "smaller_ratio": float(np.median(smaller[0]["ratio"])),
            "adam_ratio": float(np.median(adam[0]["ratio"])),
            "num_hvp_edge": float(np.mean([r["num_hvp"] for r in edge])),
            "monitor_seconds_edge": float(np.mean([r["monitor_seconds"] for r in edge])),
            "fit_seconds_edge": float(np.mean([r["fit_seconds"] for r in edge])),
        }
        for name in results:
            numbers[f"final_loss_{name}"] = float(np.mean([r["losses"][-1] for r in results[name]]))
            numbers[f"log_decrease_{name}"] = float(np.mean(decrease[name]))
        status = context.status(reproduced)
        low, high = EDGE_BAND
        verdict = (
            f"C11: full-batch GD at a fixed η={LEARNING_RATE:g} on "
            f"{context.sizes.train_samples} digits "
            f"for {context.sizes.steps} steps (mean over {measures.count(len(seeds), 'seed')}): "
            f"λmax ended at {numbers['edge_ratio']:.2f}× the threshold "
            f"2/η={numbers['threshold']:.3g} "
            f"(started at {numbers['edge_ratio_first']:.2f}×), the loss rose on "
            f"{numbers['rising_share']:.0%} of the second half's steps and fell by "
            f"{numbers['efficiency_edge']:.1%} of η‖∇L‖² while ‖∇L‖ ended at {grad_end:.3g} "
            f"({grad_end / grad_start:.0%} of its start); GD at η/4 achieved "
            f"{numbers['efficiency_smaller']:.0%} of its η‖∇L‖² (gain {stuck.describe(digits=2)}); "
            f"Adam lowered the loss by log {numbers[f'log_decrease_{ADAM}']:.2f} over the second "
            f"half against {numbers[f'log_decrease_{EDGE}']:.2f} (gain {goes_on.describe(digits=2)}); "
            f"{status}; criterion: on every seed the median λmax/threshold of the second half "
            f"within [{low:g}, {high:g}] and the loss rising on ≥ {MIN_RISING_SHARE:.0%} of its "
            f"steps, and both gains above {measures.MARGIN_STDERRS:g} standard errors)"
        )
        reproduced, verdict = context.smoke_test(reproduced, verdict)
        status = context.status(reproduced)
        detail = (
            f"λmax/(2/η) {numbers['edge_ratio']:.2f} at the end, ‖∇L‖ {grad_end:.3g}, "
            f"{numbers['efficiency_edge']:.1%} of η‖∇L‖² realised (η/4: "
            f"{numbers['efficiency_smaller']:.0%}); criterion: ratio in [{low:g}, {high:g}], "
            f"gains > {measures.MARGIN_STDERRS:g} s.e. over {measures.count(len(seeds), 'seed')}"
        )
        plot = _plot(
            context.files,
            {name: runs[0] for name, runs in results.items()},
            context.sizes,
            f"{status}\n{detail}",
        )
        return Judgement(
            figure=f"λmax/(2/η) {numbers['edge_ratio']:.2f}; ‖∇L‖ {grad_end:.3g} yet "
            f"{numbers['efficiency_edge']:.1%} of η‖∇L‖² realised (η/4: "
            f"{numbers['efficiency_smaller']:.0%}); Adam log-decrease "
            f"{numbers[f'log_decrease_{ADAM}']:.2f} vs {numbers[f'log_decrease_{EDGE}']:.2f}",
            verdict=verdict,
            reproduced=reproduced,
            plot=plot,
            numbers=numbers,
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = EdgeOfStability().run


def _plot(files: ClaimFiles, runs: dict[str, dict], sizes: Sizes, status: str) -> os.PathLike:
    figure, (ratio_axes, loss_axes, grad_axes) = plotting.new_figure(
        3,
        "C11: can training stall while the gradient is not small? " + status,
        height=4.0,
    )
    per = sizes.steps_per_epoch
    for name, run_data in runs.items():
        steps = (run_data["epochs"] + 1) * per
        (line,) = ratio_axes.plot(steps, run_data["ratio"], marker=".", label=name)
        losses = run_data["losses"]
        loss_axes.plot(np.arange(1, len(losses) + 1), losses, color=line.get_color(), label=name)
        norm_steps = np.arange(1, len(run_data["norms"]) + 1) * per
        grad_axes.plot(
            norm_steps, run_data["norms"], marker=".", color=line.get_color(), label=name
        )
    ratio_axes.axhline(1.0, color="black", linestyle="--", linewidth=1, label="threshold")
    ratio_axes.set_xlabel("step")
    # GD: λmax·η/2; Adam: its preconditioned sharpness over (2 + 2β₁)/(1 − β₁) = 38
    ratio_axes.set_ylabel("sharpness / stability threshold")
    ratio_axes.legend(fontsize=8)
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("training loss (full batch, before each step)")
    loss_axes.legend(fontsize=8)
    grad_axes.set_yscale("log")
    grad_axes.set_xlabel("step")
    grad_axes.set_ylabel("‖∇L‖ (full batch)")
    grad_axes.legend(fontsize=8)
    for axes in (ratio_axes, loss_axes, grad_axes):
        plotting.integer_ticks(axes)
    return plotting.save(figure, files.plot_path("c11_edge_of_stability"))
