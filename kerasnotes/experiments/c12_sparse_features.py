"""C12: adaptive learning rates suit sparse features (chapter 4: Adagrad 适合稀疏数据).

A binary classification task is generated from a seed: a few dense features,
present in every example and weakly informative, and many rare binary features,
each present in 0.3–3% of the examples, that decide the label whenever they are
present. Logistic regression is trained with SGD, Adagrad and Adam, each at the
learning rate of a small sweep that gives it the best validation accuracy (swept
on the first seed, reused on the others). The figure is the test accuracy on the
examples that carry a rare feature; each feature's effective learning rate
(``optimizer.inspect(kernel)["effective_learning_rate"]``) is plotted against
its frequency.

```
x = [dense (always present, N(0, σ²)) | rare (1 with probability p_j, else 0)]
y = 1[ w_dense·x_dense + w_rare·x_rare + noise > 0 ],   |w_rare| ≫ |w_dense|
SGD      every weight steps α·g: a rare weight moves only on the p_j of steps that see it
Adagrad  α/√(Σg² + ε): Σg² grows with p_j, so a rare weight keeps a large step
         (≈ α/√(count), a slope of −½ against frequency on a log-log plot)
```

Example:
    >>> x, y, rare = sparse_task(200, seed=0)
    >>> x.shape, y.shape, bool(rare.any())
    ((200, 40), (200,), True)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras
import numpy as np

from kerasnotes import _compat, losses, optimizers
from kerasnotes.callbacks import OptimizerInspector
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Claim, Context, Judgement, Trial
from kerasnotes.experiments.training import fit_run

CLAIM = "C12"
TITLE = "adaptive learning rates suit sparse features"

DENSE_FEATURES = 8
RARE_FEATURES = 32
#: The rare features' frequencies, log-spaced: the rarest is in 0.3% of the examples.
RARE_FREQUENCIES = np.geomspace(0.003, 0.03, RARE_FEATURES)
DENSE_SCALE = 2.0
DENSE_WEIGHT = 0.15
RARE_WEIGHT = 4.0
LABEL_NOISE = 0.25


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        train_samples: generated training examples (validation: half as many, test: as many).
        epochs: epochs per run.
        batch_size: examples per update.
        sweep: sweep the learning rates (False: each optimizer's middle rate only).
    """

    train_samples: int
    epochs: int
    batch_size: int = 32
    sweep: bool = True


SIZES = {
    "quick": Sizes(train_samples=256, epochs=1, sweep=False),  # the rate 1.0 only
    "default": Sizes(train_samples=2048, epochs=2),
    "full": Sizes(train_samples=8192, epochs=5),
}

#: One sweep for every optimizer, rates a factor of about √10 apart. On seed 0 each
#: optimizer's best validation accuracy lies inside it (SGD 0.3, Adagrad 1, Adam 0.3).
RATES = (0.1, 0.3, 1.0, 3.0)
SWEEP = {"sgd": RATES, "adagrad": RATES, "adam": RATES}


def _optimizer(name: str, rate: float) -> keras.optimizers.Optimizer:
    if name == "sgd":
        return optimizers.SGD(learning_rate=rate)
    if name == "adagrad":
        # the notes' Adagrad (F3): the accumulator starts at 0, every feature at the same step
        return optimizers.Adagrad(learning_rate=rate, initial_accumulator_value=0.0)
    return optimizers.Adam(learning_rate=rate)


def sparse_task(
    samples: int, seed: int, weights_seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generated examples whose rare features decide the label: ``(x, y, carries_rare)``.

    ```
    x_dense ~ N(0, DENSE_SCALE²)            (DENSE_FEATURES columns, always present)
    x_rare_j ~ Bernoulli(p_j)               (RARE_FEATURES columns, p_j = RARE_FREQUENCIES)
    logit = x_dense·w_dense + x_rare·w_rare + LABEL_NOISE·N(0, 1)
    w_dense ~ N(0, DENSE_WEIGHT²),  w_rare = ±RARE_WEIGHT;   y = 1[logit > 0]
    ```

    Args:
        samples: examples to draw.
        seed: seed of the examples.
        weights_seed: seed of the true weights (``seed`` when None): the training,
            validation and test sets of one task share it.

    Example:
        >>> x, y, rare = sparse_task(10_000, seed=1)
        >>> frequency = (x[:, DENSE_FEATURES:] != 0).mean(axis=0)
        >>> bool(abs(frequency[-1] - RARE_FREQUENCIES[-1]) < 0.01), x.dtype.name
        (True, 'float32')
    """
    truth = np.random.default_rng(seed if weights_seed is None else weights_seed)
    w_dense = truth.normal(0.0, DENSE_WEIGHT, DENSE_FEATURES)
    w_rare = RARE_WEIGHT * truth.choice([-1.0, 1.0], RARE_FEATURES)
    rng = np.random.default_rng([seed, 12])
    dense = rng.normal(0.0, DENSE_SCALE, (samples, DENSE_FEATURES))
    rare = (rng.random((samples, RARE_FEATURES)) < RARE_FREQUENCIES).astype(np.float64)
    logit = dense @ w_dense + rare @ w_rare + LABEL_NOISE * rng.normal(size=samples)
    x = np.concatenate([dense, rare], axis=1).astype("float32")
    return x, (logit > 0).astype("float32"), rare.any(axis=1)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """The share of examples whose logit has the sign of their label.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> accuracy(model, np.zeros((0, 2), "float32"), np.zeros(0))
        nan
    """
    if len(x) == 0:
        return float("nan")
    logits = keras.ops.convert_to_numpy(model(x, training=False)).reshape(-1)
    return float(np.mean((logits > 0) == (y > 0.5)))


class SparseFeatures(Claim):
    """SGD, Adagrad and Adam on rare informative features, each at its best swept rate.

    Runs go to ``<log_dir>/C12/<optimizer>_lr<rate>`` (the first seed's sweep), the
    plot to ``<log_dir>/C12/``; ``seed`` seeds the task and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    several_seeds = True

    def data(self, context: Context, seed: int) -> dict[str, Any]:
        n = context.sizes.train_samples
        train = sparse_task(n, seed)
        return {
            "train": train,
            "validation": sparse_task(n // 2, seed + 1000, weights_seed=seed),
            "test": sparse_task(n, seed + 2000, weights_seed=seed),
        }

    def experiment(self, context: Context) -> dict[str, Any]:
        """Sweep every optimizer on the first seed; the other seeds rerun each one's best rate."""
        sweep: dict[str, dict[float, dict]] = {name: {} for name in SWEEP}
        best: dict[str, list[dict]] = {name: [] for name in SWEEP}
        for index, run_seed in enumerate(context.seeds):
            data = self.data(context, run_seed)
            for name, rates in SWEEP.items():
                if not context.sizes.sweep:
                    rates = rates[len(rates) // 2 : len(rates) // 2 + 1]
                if index == 0:
                    for rate in rates:
                        label = f"{name}_lr{rate:g}"
                        context.announce(label, run_seed)
                        trial = Trial(
                            label, (name, rate), run_seed, data, context.files.run_dir(label)
                        )
                        sweep[name][rate] = self.train(context, trial)
                    chosen = max(sweep[name].values(), key=lambda r: r["val_accuracy"])
                else:
                    rate = best[name][0]["rate"]
                    label = f"{name}_lr{rate:g}"
                    context.announce(label, run_seed)
                    chosen = self.train(context, Trial(label, (name, rate), run_seed, data, None))
                best[name].append(chosen)
        return {"sweep": sweep, "best": best}

    def train(self, context: Context, trial: Trial) -> dict[str, Any]:
        name, rate = trial.config
        x, y, _ = trial.data["train"]
        _compat.set_random_seed(trial.seed)
        model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1)])
        callbacks = [OptimizerInspector(trial.run_dir)] if trial.logged else []
        result = fit_run(
            model,
            _optimizer(name, rate),
            losses.BinaryCrossentropy(from_logits=True),
            (x, y),
            epochs=context.sizes.epochs,
            batch_size=context.sizes.batch_size,
            log_dir=trial.run_dir,
            callbacks=callbacks,
            log_updates=False,
        )
        kernel = model.layers[-1].kernel
        rates = result.model.optimizer.inspect(kernel)["effective_learning_rate"].reshape(-1)
        xv, yv, _ = trial.data["validation"]
        xt, yt, rare = trial.data["test"]
        return {
            "rate": rate,
            "val_accuracy": accuracy(model, xv, yv),
            "rare_accuracy": accuracy(model, xt[rare], yt[rare]),
            "common_accuracy": accuracy(model, xt[~rare], yt[~rare]),
            "effective_rates": np.asarray(rates, dtype=np.float64),
            "frequency": (x != 0).mean(axis=0),
            "final_loss": result.history["loss"][-1],
        }

    def judge(self, context: Context, results: dict[str, Any]) -> Judgement:
        best, sweep = results["best"], results["sweep"]
        seeds = context.seeds
        rare = {name: [r["rare_accuracy"] for r in runs] for name, runs in best.items()}
        common = {name: [r["common_accuracy"] for r in runs] for name, runs in best.items()}
        decisions = {
            name: measures.decide(
                [a - s for a, s in zip(rare[name], rare["sgd"], strict=True)],
                smoke_test=context.quick,
            )
            for name in ("adagrad", "adam")
        }
        reproduced = measures.all_of(d.reproduced for d in decisions.values())
        numbers: dict[str, float] = {"seeds": float(len(seeds))}
        slopes: dict[str, float] = {}
        for name, runs in best.items():
            first = runs[0]
            numbers[f"best_learning_rate_{name}"] = float(first["rate"])
            numbers[f"rare_accuracy_{name}"] = float(np.mean(rare[name]))
            numbers[f"common_accuracy_{name}"] = float(np.mean(common[name]))
            slopes[name] = _slope(first["frequency"], first["effective_rates"])
            numbers[f"rate_slope_{name}"] = slopes[name]
            numbers[f"rare_to_dense_rate_{name}"] = _rare_to_dense(first["effective_rates"])
            for rate, run_data in sweep[name].items():
                numbers[f"sweep_val_accuracy_{name}_lr{rate:g}"] = float(run_data["val_accuracy"])
        for name, decision in decisions.items():
            numbers[f"rare_gain_{name}_mean"] = decision.mean
            numbers[f"rare_gain_{name}_stderr"] = decision.stderr
        status = context.status(reproduced)
        # A best rate at an end of the sweep may not be that optimizer's best: say so.
        at_end = [
            name
            for name in best
            if len(sweep[name]) > 1
            and best[name][0]["rate"] in (min(sweep[name]), max(sweep[name]))
        ]
        acc = {name: numbers[f"rare_accuracy_{name}"] for name in best}
        lr = {name: numbers[f"best_learning_rate_{name}"] for name in best}
        verdict = (
            f"C12: logistic regression on {context.sizes.train_samples} generated examples "
            f"({RARE_FEATURES} rare features in {RARE_FREQUENCIES[0]:.1%}–"
            f"{RARE_FREQUENCIES[-1]:.0%} of examples decide the label), "
            f"{measures.count(context.sizes.epochs, 'epoch')}, each optimizer at its best swept "
            f"rate of {', '.join(f'{r:g}' for r in RATES)} (SGD {lr['sgd']:g}, Adagrad "
            f"{lr['adagrad']:g}, Adam {lr['adam']:g}; at an end of the sweep: "
            f"{', '.join(at_end) or 'none'}): test "
            f"accuracy on the examples with a rare feature SGD {acc['sgd']:.1%}, Adagrad "
            f"{acc['adagrad']:.1%}, Adam {acc['adam']:.1%} (mean over "
            f"{measures.count(len(seeds), 'seed')}; Adagrad − SGD "
            f"{decisions['adagrad'].describe(' points', scale=100, digits=1)}, Adam − SGD "
            f"{decisions['adam'].describe(' points', scale=100, digits=1)}); effective learning "
            f"rate against frequency: slope {slopes['adagrad']:+.2f} (Adagrad), "
            f"{slopes['adam']:+.2f} (Adam), {slopes['sgd']:+.2f} (SGD) on log-log axes; {status}; "
            f"criterion: both adaptive optimizers beat SGD on those examples by more than "
            f"{measures.MARGIN_STDERRS:g} standard errors, on every seed)"
        )
        reproduced, verdict = context.smoke_test(reproduced, verdict)
        status = context.status(reproduced)
        detail = (
            f"rare-feature accuracy: SGD {acc['sgd']:.1%}, Adagrad {acc['adagrad']:.1%}, "
            f"Adam {acc['adam']:.1%} ({measures.count(len(seeds), 'seed')})\ncriterion: "
            f"adaptive − SGD > {measures.MARGIN_STDERRS:g} s.e. on every seed"
        )
        plot = _plot(
            context.files, {name: runs[0] for name, runs in best.items()}, f"{status}\n{detail}"
        )
        return Judgement(
            figure=f"rare-feature accuracy SGD {acc['sgd']:.1%}, Adagrad {acc['adagrad']:.1%}, "
            f"Adam {acc['adam']:.1%}; rate vs frequency slope {slopes['adagrad']:+.2f} (Adagrad)",
            verdict=verdict,
            reproduced=reproduced,
            plot=plot,
            numbers=numbers,
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = SparseFeatures().run


def _rare_columns(count: int) -> np.ndarray:
    return np.arange(count) >= DENSE_FEATURES


def _slope(frequency: np.ndarray, rates: np.ndarray) -> float:
    """Least-squares slope of log(effective rate) on log(frequency) over the rare features seen."""
    rare = _rare_columns(len(frequency)) & (frequency > 0)
    if rare.sum() < 2 or np.ptp(np.log(frequency[rare])) == 0:
        return float("nan")
    return float(np.polyfit(np.log(frequency[rare]), np.log(rates[rare]), 1)[0])


def _rare_to_dense(rates: np.ndarray) -> float:
    """Median effective rate of the rare features over that of the dense ones."""
    rare = _rare_columns(len(rates))
    return float(np.median(rates[rare]) / np.median(rates[~rare]))


def _plot(files: ClaimFiles, runs: dict[str, dict], status: str) -> os.PathLike:
    figure, (rate_axes, accuracy_axes) = plotting.new_figure(
        2, "C12: do adaptive learning rates suit sparse features? " + status, height=4.0
    )
    for name, run_data in runs.items():
        frequency = np.maximum(run_data["frequency"], 1e-4)  # a feature never seen: at the edge
        rate_axes.scatter(
            frequency, run_data["effective_rates"], s=12, label=f"{name} (lr {run_data['rate']:g})"
        )
    rate_axes.set_xscale("log")
    rate_axes.set_yscale("log")
    rate_axes.set_xlabel("feature frequency in the training set (dense features: 1)")
    rate_axes.set_ylabel("effective learning rate at the end (inspect)")
    rate_axes.legend(fontsize=8)
    names = list(runs)
    positions = np.arange(len(names))
    width = 0.38
    accuracy_axes.bar(
        positions - width / 2,
        [runs[n]["rare_accuracy"] for n in names],
        width,
        label="examples with a rare feature",
    )
    accuracy_axes.bar(
        positions + width / 2,
        [runs[n]["common_accuracy"] for n in names],
        width,
        label="the other examples",
    )
    accuracy_axes.set_xticks(positions, names)
    accuracy_axes.set_ylim(0.0, 1.0)
    accuracy_axes.set_ylabel("test accuracy (first seed)")
    accuracy_axes.legend(fontsize=8, loc="lower right")
    return plotting.save(figure, files.plot_path("c12_sparse_features"))
