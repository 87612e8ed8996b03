"""C1: where gradient descent stalls (∇L ≈ 0), the point is mostly a saddle, not a minimum.

Small ReLU networks are trained full-batch on the digits until the gradient norm
falls below a tolerance (or the step budget runs out); every such stall is then
classified with the exact Hessian (``HessianProbe.analyze``, notes F13) and its
minimum ratio (F14) is reported. To keep the Hessian exact and cheap, the
digits are pooled from 8×8 to 4×4 pixels in default and quick mode.

```
stall:          ‖∇L(θ)‖ ≤ grad_tol after some full-batch step (checked every `check_every`)
kind (F13):     λmin < −τ < τ < λmax: saddle;  λmin ≥ −τ: local minimum;  τ = 1e-4·max|λ|
minimum ratio:  #{λ > τ} / #{λ}          (F14; the lecture found at most about 0.5–0.6)
Gauss–Newton:   λmin of G = JᵀH_ℓJ at each stall (F19): ≥ 0 up to round-off, where the Hessian's is < 0
figure:         share of stalls that are saddles, and the largest minimum ratio
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c1_saddles
    >>> result = c1_saddles.run("quick", tempfile.mkdtemp())
    >>> int(result.numbers["stalls"]) <= c1_saddles.SIZES["quick"].nets  # one stall a net
    True
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, losses, optimizers, summary
from kerasnotes.callbacks import SaddlePointDetector
from kerasnotes.curvature import HessianProbe
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.claim import Claim, Context, Judgement, Trial
from kerasnotes.experiments.training import BatchLoss, RunRecorder, digits_split, mlp

CLAIM = "C1"
#: The plane through the first saddle stall along H's extreme eigenvectors (F16): unit
#: vectors, so a and b are distances in weight space.
SURFACE_SPAN = 1.0
SURFACE_NUM = 21
TITLE = "where gradient descent stalls, it is mostly at saddles"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much one mode trains.

    Args:
        hidden: hidden widths of the network (one architecture, compiled once).
        nets: how many networks (seeds) are trained, one stall each.
        train_samples: training rows of digits.
        pool: side of the pooled image (4: 4×4 = 16 features; 8: the raw 64 pixels).
        max_steps: full-batch gradient-descent steps before the budget runs out.
        check_every: steps between two gradient checks.
        grad_tol: the gradient norm below which training counts as stalled.
    """

    hidden: tuple[int, ...]
    nets: int
    train_samples: int
    pool: int
    max_steps: int
    check_every: int
    grad_tol: float


SIZES = {
    "quick": Sizes((4,), 2, 128, pool=4, max_steps=40, check_every=20, grad_tol=2e-2),
    "default": Sizes((4,), 3, 256, pool=4, max_steps=1000, check_every=100, grad_tol=2e-2),
    "full": Sizes((8,), 6, 512, pool=8, max_steps=4000, check_every=250, grad_tol=2e-3),
}

LEARNING_RATE = 0.5
#: the relative eigenvalue threshold of ``HessianProbe.analyze``
CURVATURE_TOL = 1e-4


def pooled(x: np.ndarray, side: int) -> np.ndarray:
    """Average the 8×8 digits over blocks, giving ``side × side`` features (8: unchanged).

    ```
    pooled[i, a, b] = mean of x[i, a·k : (a+1)·k, b·k : (b+1)·k],  k = 8 / side
    ```

    Args:
        x: digits rows, shape ``(n, 64)``.
        side: 1, 2, 4 or 8.

    Example:
        >>> pooled(np.arange(64.0)[None], 4).shape
        (1, 16)
    """
    if side not in (1, 2, 4, 8):
        raise ValueError(_validation.message("side", side, "1, 2, 4 or 8"))
    k = 8 // side
    blocks = np.asarray(x, dtype=np.float32).reshape(-1, side, k, side, k)
    return blocks.mean(axis=(2, 4)).reshape(len(x), side * side)


class _StopWhenStalled(keras.callbacks.Callback):
    """Ends ``fit`` once the detector (run before it) has found ‖∇L‖ ≤ grad_tol."""

    def __init__(self, detector: SaddlePointDetector) -> None:
        super().__init__()
        self.detector = detector

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.detector.history and self.detector.history[-1]["kind"] != "not_critical":
            self.model.stop_training = True


class SaddleStalls(Claim):
    """Train small nets until the gradient is small and classify each stall by its Hessian.

    Runs go to ``<log_dir>/C1/<net>``, the plot to ``<log_dir>/C1/``; ``seed`` seeds the
    data split and the first network's weights.
    """

    claim, title, sizes = CLAIM, TITLE, SIZES

    def data(self, context: Context, seed: int) -> dict:
        """The pooled digits, repeated into epochs of ``check_every`` steps, and the model.

        One model, compiled once: each net is a fresh seeded initialisation of it, so no
        configuration pays for tracing the training step or the Hessian again. Plain
        full-batch gradient descent keeps no optimizer state between nets.
        """
        sizes = context.sizes
        (x, y), _ = digits_split(sizes.train_samples, seed)
        x = pooled(x, sizes.pool)
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        repeats = sizes.check_every  # one epoch = `check_every` full-batch steps
        model = mlp(x.shape[1], sizes.hidden, 10, seed)
        model.compile(
            optimizer=optimizers.SGD(learning_rate=LEARNING_RATE),
            loss=loss,
            metrics=[BatchLoss(loss)],
            jit_compile=False if keras.backend.backend() == "tensorflow" else "auto",
        )
        return {
            "x": x,
            "y": y,
            "loss": loss,
            "repeats": repeats,
            "tiled": (np.tile(x, (repeats, 1)), np.tile(y, repeats)),
            "epochs": -(-sizes.max_steps // repeats),
            "model": model,
        }

    def configs(self, context: Context, data: dict) -> dict[str, int]:
        hidden = "x".join(str(width) for width in context.sizes.hidden)
        seeds = [context.seed + index for index in range(context.sizes.nets)]
        return {f"net_{hidden}_seed{net_seed}": net_seed for net_seed in seeds}

    def train(self, context: Context, trial: Trial) -> dict:
        data, model = trial.data, trial.data["model"]
        x, y, loss = data["x"], data["y"], data["loss"]
        model.set_weights(mlp(x.shape[1], context.sizes.hidden, 10, trial.config).get_weights())
        detector = SaddlePointDetector(
            (x, y),
            num_samples=len(x),
            grad_tol=context.sizes.grad_tol,
            curvature_tol=CURVATURE_TOL,
            # the spectral density of every full analysis: data for the Spectrum view
            density=True,
            log_dir=trial.run_dir,
            verbose=0,
        )
        writer = summary.Writer(trial.run_dir)
        try:
            recorder = RunRecorder(writer, log_updates=False)
            model.fit(
                *data["tiled"],
                epochs=data["epochs"],
                batch_size=len(x),
                shuffle=False,
                callbacks=[recorder, detector, _StopWhenStalled(detector)],
                verbose=0,
            )
        finally:
            writer.close()
        last = detector.history[-1]
        stalled = last["kind"] not in ("not_critical", "error")
        if stalled:
            kind, ratio = last["kind"], last["minimum_ratio"]
            lam_min, lam_max = last["lambda_min"], last["lambda_max"]
        else:
            # The budget ran out first: the curvature where it ended, shown but not counted.
            point = HessianProbe(model, x, y, loss=loss).analyze(
                grad_tol=float("inf"), curvature_tol=CURVATURE_TOL
            )
            kind, ratio = point.kind, point.minimum_ratio
            lam_min, lam_max = point.lambda_min, point.lambda_max
        # F19: the Gauss–Newton part JᵀH_ℓJ of the same Hessian, PSD for softmax
        # cross-entropy, so all of the stall's negative curvature is the residual's.
        probe = HessianProbe(model, x, y, loss=loss)
        ggn_min = probe.eigenvalues(k=1, which="smallest", operator="ggn").values[0]
        # F16: the loss on the plane of u_min, u_max through the stall, for the plot.
        surface = (
            probe.landscape("extreme", span=SURFACE_SPAN, num=SURFACE_NUM)
            if stalled and kind == "saddle"
            else None
        )
        return {
            "name": trial.name,
            "stalled": stalled,
            "ggn_lambda_min": float(ggn_min),
            "surface": surface,
            "kind": kind,
            "minimum_ratio": float(ratio),
            "lambda_min": float(lam_min),
            "lambda_max": float(lam_max),
            "grad_norm": float(last["grad_norm"]),
            "steps": len(recorder.history["loss"]) * data["repeats"],
            "loss": recorder.history["loss"][-1],
            "grad_curve": [entry["grad_norm"] for entry in detector.history],
        }

    def judge(self, context: Context, results: dict[str, list[dict]]) -> Judgement:
        sizes = context.sizes
        stalls = [stall for (stall,) in results.values()]
        counted = [s for s in stalls if s["stalled"]]
        saddles = [s for s in counted if s["kind"] == "saddle"]
        minima = [s for s in counted if s["kind"] == "local_minimum"]
        flats = [s for s in counted if s["kind"] not in ("saddle", "local_minimum")]
        ratios = [s["minimum_ratio"] for s in counted]
        share = len(saddles) / len(counted) if counted else float("nan")
        tol = sizes.grad_tol
        if not counted:
            reproduced = None
            outcome = f"undecided: no net reached ‖∇L‖ ≤ {tol:g} within {sizes.max_steps} steps"
        else:
            reproduced = len(saddles) > len(counted) / 2
            outcome = (
                "reproduced: mostly saddles" if reproduced else "not reproduced: not mostly saddles"
            )
        ratio_text = (
            f"minimum ratios {min(ratios):.2f}–{max(ratios):.2f}" if ratios else "no ratios"
        )
        relative = [abs(s["lambda_min"]) / s["lambda_max"] for s in saddles if s["lambda_max"] > 0]
        depth_text = (
            f"; the saddles' |λmin|/λmax is at most {max(relative):.1e}" if relative else ""
        )
        ggn_mins = [s["ggn_lambda_min"] for s in counted]
        ggn_text = (
            f"; the Gauss–Newton part's λmin is {min(ggn_mins):.1e} at the lowest (Hessian's: "
            f"{min(s['lambda_min'] for s in counted):.1e}): the negative curvature is the "
            "residual term's (F19)"
            if ggn_mins
            else ""
        )
        verdict = (
            f"C1: of {sizes.nets} nets trained until ‖∇L‖ ≤ {tol:g} (budget {sizes.max_steps} "
            f"steps), {len(counted)} stalled: {len(saddles)} saddles, {len(minima)} local minima, "
            f"{len(flats)} other; {ratio_text} (lecture: at most about 0.5–0.6){depth_text}{ggn_text} "
            f"(criterion: more than half of the stalls are saddles; {outcome})"
        )

        reproduced, verdict = context.smoke_test(reproduced, verdict)
        surface = next((s["surface"] for s in saddles if s["surface"] is not None), None)
        plot = _plot(
            stalls, tol, surface, context.files.plot_path("c1_saddles"), context.status(reproduced)
        )
        numbers: dict[str, float] = {
            "stalls": float(len(counted)),
            "saddles": float(len(saddles)),
            "local_minima": float(len(minima)),
            "saddle_share": float(share),
            "max_minimum_ratio": float(max(ratios)) if ratios else float("nan"),
            "min_minimum_ratio": float(min(ratios)) if ratios else float("nan"),
        }
        if surface is not None:
            numbers["surface_curvature_min"], numbers["surface_curvature_max"] = (
                measures.plane_curvatures(surface.loss, float(surface.a[1] - surface.a[0]))
            )
            numbers["surface_lambda_min"] = float(surface.eigenvalues[0])
            numbers["surface_lambda_max"] = float(surface.eigenvalues[1])
        if counted:
            numbers["ggn_lambda_min"] = float(min(ggn_mins))
            numbers["hessian_lambda_min"] = float(min(s["lambda_min"] for s in counted))
        for s in stalls:
            numbers[f"minimum_ratio_{s['name']}"] = s["minimum_ratio"]
            numbers[f"grad_norm_{s['name']}"] = s["grad_norm"]
        figure = f"{len(saddles)}/{len(counted)} stalls are saddles; " + (
            f"min. ratio ≤ {max(ratios):.2f}" if ratios else "no stall reached"
        )
        return Judgement(figure, verdict, reproduced, plot, numbers)


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = SaddleStalls().run


def _plot(stalls: list[dict], tol: float, surface: Any, path: Path, status: str) -> Path:
    figure, panels = plotting.new_figure(
        3 if surface is not None else 2,
        f"C1: where gradient descent stalls, is it mostly at saddles? {status}",
    )
    curves, ratios = panels[:2]
    if surface is not None:
        _plot_surface(panels[2], surface)
    for s in stalls:
        steps = np.arange(1, len(s["grad_curve"]) + 1) * (s["steps"] / len(s["grad_curve"]))
        curves.semilogy(steps, s["grad_curve"], marker=".", label=s["name"])
    curves.axhline(tol, color="grey", linestyle="--", linewidth=1, label=f"grad_tol {tol:g}")
    curves.set_xlabel("full-batch step")
    curves.set_ylabel("‖∇L‖")
    curves.legend(fontsize=7)
    colours = {"saddle": "tab:red", "local_minimum": "tab:green"}
    for s in stalls:
        ratios.scatter(
            s["loss"],
            s["minimum_ratio"],
            color=colours.get(s["kind"], "tab:grey"),
            marker="o" if s["stalled"] else "x",
        )
        # offset toward the inside of the axes, clipped to them: no label leaves the panel
        ratios.annotate(
            s["kind"].replace("_", " "),
            (s["loss"], s["minimum_ratio"]),
            xytext=(0, -10),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            annotation_clip=True,
            clip_on=True,
        )
    ratios.axhspan(0.5, 0.6, color="tab:blue", alpha=0.1, label="lecture: ≤ about 0.5–0.6")
    ratios.margins(x=0.25)  # room for the labels of the outermost points
    ratios.set_xlabel("training loss at the stall")
    ratios.set_ylabel("minimum ratio #{λ>0}/#{λ}")
    ratios.set_ylim(0.0, 1.05)
    ratios.legend(fontsize=7)
    return plotting.save(figure, path)


def _plot_surface(axes: Any, surface: Any) -> None:
    """L − L(stall) on the plane of u_min, u_max through the first saddle stall."""
    labels = {
        "colorbar": "L − L(stall)",
        "point": "the stall",
        "x": f"a along u_min (λ = {surface.eigenvalues[0]:.1e})",
        "y": f"b along u_max (λ = {surface.eigenvalues[1]:.2f})",
        "title": "the loss around the first saddle stall (F16)",
    }
    plotting.plane(axes, surface, surface.loss - surface.center_loss, labels)
