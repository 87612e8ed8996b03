"""C13: batch normalization allows a larger learning rate because it lowers the sharpness.

C9's deep ReLU MLP on the digits, with and without BatchNormalization before
every hidden activation, is trained from the same Dense initial weights with
the same optimizer for the same epochs; then, at that point, the sharpness of
each network's training loss (BN normalising with the batch's statistics, as it
trains) is measured on a fixed sample, whole and per layer.

```
plain     x -> [Dense(w) -> ReLU] × depth -> Dense(10)
with BN   x -> [Dense(w) -> BN -> ReLU] × depth -> Dense(10)
sharpness λmax(H) by Lanczos;  per layer λmax(H_ll), H_ll = ∂²L/∂θ_l² (F18)
F17: gradient descent is stable on the quadratic model while η < 2/λmax
effect per seed: log10(λmax plain / λmax BN)  (> 0: BN is flatter)
criterion: the mean effect beyond 2 standard errors of the seeds, every seed > 0
check against C9's rates: from the measured point, full-batch gradient descent at each
rate of C9's sweep; "stable" if the loss after the steps is below its start,
predicted stable if η < 2/λmax
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c13_batch_norm_sharpness
    >>> result = c13_batch_norm_sharpness.run("quick", tempfile.mkdtemp())
    >>> result.claim
    'C13'
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnotes import losses, optimizers, summary
from kerasnotes.experiments import c9_batch_norm, measures, plotting
from kerasnotes.experiments.claim import Context, DigitsClaim, Judgement, Trial
from kerasnotes.experiments.training import DigitsSizes, fit_run

CLAIM = "C13"
TITLE = "batch norm lowers the sharpness (λmax), so it admits a larger learning rate"


@dataclasses.dataclass(frozen=True)
class Sizes(DigitsSizes):
    """How much one mode trains and measures (``epochs``: of SGD before the measurement).

    Args:
        probe_samples: rows of the fixed sample the Hessian is measured on.
        depth: hidden layers (C9's network).
        width: units per hidden layer.
        learning_rate: the SGD rate both networks train with (C9's smallest).
        gd_steps: full-batch gradient-descent steps of the stability check per rate.
        trace_samples: Hutch++ samples of each layer's trace.
    """

    probe_samples: int
    depth: int = 6
    width: int = 32
    learning_rate: float = 0.1
    gd_steps: int = 10
    trace_samples: int = 12


SIZES = {
    "quick": Sizes(128, epochs=1, probe_samples=64, depth=3, width=16, gd_steps=3),
    "default": Sizes(512, epochs=2, probe_samples=256),
    "full": Sizes(None, epochs=10, probe_samples=1024, trace_samples=60),
}

BATCH_SIZE = c9_batch_norm.BATCH_SIZE
#: Relative residual of the Lanczos runs (whole Hessian and per layer).
LANCZOS_TOL = 1e-3
#: C9's learning rates (its default sweep), at which the stability check steps.
C9_RATES = c9_batch_norm.SIZES["default"].learning_rates


def gradient_descent_ratio(probe: Any, rate: float, steps: int) -> float:
    """``L(θ_steps) / L(θ_0)`` for full-batch gradient descent on the probe's sample.

    ```
    θ_{t+1} = θ_t − η ∇L(θ_t),   θ_0 = the probe's weights   (the model is not touched)
    ```

    Uses the probe's compiled objective (as ``HessianProbe.landscape`` does), so
    no step traces anything new. Infinity when the loss becomes non-finite.

    Example:
        >>> import keras, numpy as np, kerasnotes as kn
        >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
        >>> m.set_weights([np.array([[1.0]], "float32")])
        >>> p = kn.curvature.HessianProbe(m, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
        >>> # L = w², λ = 2: η = 0.25 halves w per step, η = 1.5 doubles it (|1 − 2η| = 2)
        >>> gradient_descent_ratio(p, 0.25, 2), gradient_descent_ratio(p, 1.5, 2)
        (0.0625, 16.0)
    """
    theta = probe._to_flat(probe._trainable)
    start = None
    for step in range(steps + 1):
        weights = probe._to_tensors(theta)
        total, grad = 0.0, np.zeros_like(theta)
        for x, y, sw, w in probe._batches:
            value, grads = probe._engine.value_and_grad(weights, probe._non_trainable, x, y, sw, w)
            total += float(keras.ops.convert_to_numpy(value))
            grad += probe._to_flat(grads)
        if not math.isfinite(total):
            return math.inf
        if start is None:
            start = total
        if step < steps:
            theta = theta - rate * grad
    return float(total / start) if start > 0 else math.nan


class BatchNormSharpness(DigitsClaim):
    """Train C9's MLP with and without BN to the same point; measure λmax, whole and per layer.

    Runs go to ``<log_dir>/C13/<config>`` (the training, then the sharpness against
    2/η and the per-layer table at the last epoch), the plot to ``<log_dir>/C13/``;
    ``seed`` seeds the data split and the initial weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    several_seeds = True

    def _model(self, context: Context, batch_norm: bool, seed: int) -> tuple[keras.Model, Any]:
        """The configuration's compiled model at the seed's initial weights, and its loss.

        One model (and loss) per configuration for all seeds, restarted per seed
        (``set_weights`` also resets BN's moving statistics): the training step is
        traced once, and the probe's compiled Hessian-vector product, cached per
        model and loss, too (a trace costs more than the whole measurement on these
        networks).
        """
        sizes = context.sizes
        model = context.models.get(
            batch_norm,
            c9_batch_norm.deep_mlp(sizes.depth, sizes.width, batch_norm, seed),
            lambda: optimizers.SGD(learning_rate=sizes.learning_rate),
            losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model, model.loss

    def configs(self, context: Context, data: Any) -> dict[str, bool]:
        return {"plain": False, "bn": True}

    def train(self, context: Context, trial: Trial) -> dict[str, Any]:
        from kerasnotes.curvature import HessianProbe

        sizes = context.sizes
        train, _ = trial.data
        model, loss = self._model(context, trial.config, trial.seed)
        result = fit_run(
            model,
            model.optimizer,
            loss,
            train,
            epochs=sizes.epochs,
            batch_size=BATCH_SIZE,
            log_dir=trial.run_dir,
            log_updates=False,
        )
        # The training loss as it is optimised: BN with the sample's own statistics.
        x, y = train[0][: sizes.probe_samples], train[1][: sizes.probe_samples]
        start = time.perf_counter()
        probe = HessianProbe(model, x, y, loss=loss, bn_mode="batch")
        top = probe.eigenvalues(k=1, tol=LANCZOS_TOL, seed=trial.seed)
        lambda_max = float(top.values[-1])
        whole_hvp = probe._counted()
        layers = None
        if trial.logged:  # per layer for the logged seed: the table of the plot and the run
            layers = probe.layer_curvature(
                num_samples=sizes.trace_samples, tol=LANCZOS_TOL, seed=trial.seed
            )
        seconds = time.perf_counter() - start
        stability = {rate: gradient_descent_ratio(probe, rate, sizes.gd_steps) for rate in C9_RATES}
        if trial.run_dir is not None:
            _log(trial.run_dir, sizes, lambda_max, whole_hvp, layers, seconds)
        return {
            "lambda_max": lambda_max,
            "num_hvp": whole_hvp,
            "layers": layers,
            "stability": stability,
            "final_loss": result.history["loss"][-1],
        }

    def judge(self, context: Context, results: dict[str, list[dict]]) -> Judgement:
        sizes = context.sizes
        plain, bn = results["plain"], results["bn"]
        lam_plain = [r["lambda_max"] for r in plain]
        lam_bn = [r["lambda_max"] for r in bn]
        effects = [
            math.log10(p / b) if p > 0 and b > 0 else math.nan
            for p, b in zip(lam_plain, lam_bn, strict=True)
        ]
        decision = measures.decide(effects, smoke_test=context.quick)
        mean_plain, mean_bn = float(np.mean(lam_plain)), float(np.mean(lam_bn))
        limit_plain, limit_bn = 2.0 / mean_plain, 2.0 / mean_bn

        # F17 against the check's measured stability, at C9's rates, on every seed.
        agree = total = 0
        described = []
        for name, runs, limit in (("plain", plain, limit_plain), ("BN", bn, limit_bn)):
            parts = []
            for rate in C9_RATES:
                ratios = [r["stability"][rate] for r in runs]
                stable = sum(1 for q in ratios if q < 1.0)
                predicted = [rate < 2.0 / r["lambda_max"] for r in runs]
                agree += sum((q < 1.0) == p for q, p in zip(ratios, predicted, strict=True))
                total += len(runs)
                parts.append(
                    f"η={rate:g} {'<' if rate < limit else '>'} 2/λmax, loss ×"
                    f"{_ratio_text(float(np.median(ratios)))} after {sizes.gd_steps} steps "
                    f"({stable}/{len(runs)} seeds fell)"
                )
            described.append(f"{name}: " + "; ".join(parts))

        if decision.reproduced is None:
            outcome = f"undecided: {decision.reason}"
        elif decision.reproduced:
            outcome = "reproduced"
        else:
            outcome = "not reproduced: BN is sharper"
        first_plain, first_bn = plain[0]["layers"], bn[0]["layers"]
        loss_plain = float(np.mean([r["final_loss"] for r in plain]))
        loss_bn = float(np.mean([r["final_loss"] for r in bn]))
        threshold = 2.0 / sizes.learning_rate
        verdict = (
            f"C13: after {measures.count(sizes.epochs, 'epoch')} of "
            f"SGD(η={sizes.learning_rate:g}) (training loss {loss_plain:.3g} plain vs "
            f"{loss_bn:.3g} with BN) the {sizes.depth}-layer MLP's training-loss sharpness is "
            f"λmax = {mean_plain:.3g} plain vs {mean_bn:.3g} with BN, "
            f"{mean_plain / threshold:.0%} vs {mean_bn / threshold:.0%} of the 2/η = "
            f"{threshold:g} it trains under (mean of {len(effects)} seeds; "
            f"log10 ratio plain/BN {decision.describe()}), so the largest stable rate 2/λmax is "
            f"≈ {limit_plain:.3g} plain vs ≈ {limit_bn:.3g} with BN; per layer (seed "
            f"{context.seeds[0]}) the largest block λmax is {_top_layer(first_plain)} plain "
            f"vs {_top_layer(first_bn)} with BN (criterion: BN's λmax lower on every seed, "
            f"the mean log ratio beyond {measures.MARGIN_STDERRS:g} standard errors; "
            f"{outcome}). Against C9's learning rates {', '.join(f'{r:g}' for r in C9_RATES)}"
            f", full-batch gradient descent from this point — {'; '.join(described)} — "
            f"agrees with η < 2/λmax in {agree}/{total} runs."
        )
        reproduced, verdict = context.smoke_test(decision.reproduced, verdict)
        plot = _plot(
            context.seeds,
            lam_plain,
            lam_bn,
            first_plain,
            first_bn,
            sizes.learning_rate,
            context.files.plot_path("c13_batch_norm_sharpness"),
            context.status(reproduced),
        )
        numbers: dict[str, float] = {
            "seeds": float(len(effects)),
            "final_loss_plain": loss_plain,
            "final_loss_bn": loss_bn,
            "lambda_max_plain": mean_plain,
            "lambda_max_bn": mean_bn,
            "stable_lr_plain": limit_plain,
            "stable_lr_bn": limit_bn,
            "log10_ratio_mean": decision.mean,
            "log10_ratio_stderr": decision.stderr,
            "c9_rate_checks_agreeing": float(agree),
            "c9_rate_checks": float(total),
            "num_hvp_plain": float(np.mean([r["num_hvp"] for r in plain])),
            "num_hvp_bn": float(np.mean([r["num_hvp"] for r in bn])),
        }
        for name, runs in (("plain", plain), ("bn", bn)):
            for rate in C9_RATES:
                numbers[f"gd_loss_ratio_{name}_lr{rate:g}"] = float(
                    np.median([r["stability"][rate] for r in runs])
                )
            for index, layer in enumerate(_dense(runs[0]["layers"]), start=1):
                numbers[f"layer_lambda_max_{name}_dense{index}"] = float(layer.lambda_max)
        return Judgement(
            figure=(
                f"λmax plain {mean_plain:.3g} vs BN {mean_bn:.3g}; "
                f"2/λmax {limit_plain:.2g} vs {limit_bn:.2g}"
            ),
            verdict=verdict,
            reproduced=reproduced,
            plot=plot,
            numbers=numbers,
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = BatchNormSharpness().run


def _ratio_text(ratio: float) -> str:
    if not math.isfinite(ratio):
        return "∞ (diverged)"
    return f"{ratio:.2g}"


def _dense(layers: list | None) -> list:
    """The Dense layers' entries, in order (the BN net's γ, β blocks left out)."""
    return [layer for layer in layers or [] if layer.name.startswith("dense")]


def _top_layer(layers: list | None) -> str:
    if not layers:
        return "–"
    top = max(layers, key=lambda layer: layer.lambda_max)
    return f"{top.lambda_max:.3g} ({top.name})"


def _log(
    run_dir: Path,
    sizes: Sizes,
    lambda_max: float,
    num_hvp: int,
    layers: list | None,
    seconds: float,
) -> None:
    """The measured point in the run's TensorBoard files, as SharpnessMonitor and
    SaddlePointDetector(layer_curvature=True) log theirs: the Curvature view shows both."""
    from kerasnotes.callbacks._probe_args import write_layer_table

    step = sizes.epochs - 1
    with summary.Writer(run_dir) as writer:
        writer.scalar(summary.TAG_SHARPNESS, lambda_max, step)
        writer.scalar(summary.TAG_SHARPNESS_THRESHOLD, 2.0 / sizes.learning_rate, step)
        writer.scalar(summary.TAG_SHARPNESS_NUM_HVP, num_hvp, step)
        if layers:
            write_layer_table(writer, layers, seconds, step)


def _plot(
    seed_ids: list[int],
    lam_plain: list[float],
    lam_bn: list[float],
    layers_plain: list | None,
    layers_bn: list | None,
    rate: float,
    path: Path,
    status: str,
) -> Path:
    figure, (left, right) = plotting.new_figure(
        2, f"C13: does batch norm lower the sharpness (λmax), admitting a larger rate?\n{status}"
    )
    seeds = np.arange(len(lam_plain))
    left.scatter(seeds - 0.1, lam_plain, color="#c92a2a", label="plain")
    left.scatter(seeds + 0.1, lam_bn, color="#1971c2", label="with BN")
    left.axhline(2.0 / rate, color="grey", linestyle="--", linewidth=1, label=f"2/η (η={rate:g})")
    left.set_yscale("log")
    left.set_xticks(seeds, [str(s) for s in seed_ids])
    left.set_xlabel("seed")
    left.set_ylabel("λmax of the training loss")
    left.set_title("whole Hessian", fontsize=9)
    left.legend(fontsize=7)
    dense = [
        (p.lambda_max, b.lambda_max)
        for p, b in zip(_dense(layers_plain), _dense(layers_bn), strict=False)
    ]
    if dense:
        index = np.arange(1, len(dense) + 1)
        right.bar(index - 0.2, [d[0] for d in dense], width=0.4, color="#c92a2a", label="plain")
        right.bar(index + 0.2, [d[1] for d in dense], width=0.4, color="#1971c2", label="with BN")
        right.set_yscale("log")
        right.set_xticks(index)
        right.legend(fontsize=7)
    right.set_xlabel("Dense layer")
    right.set_ylabel("λmax of the layer's block")
    right.set_title("per layer (first seed)", fontsize=9)
    return plotting.save(figure, path)
