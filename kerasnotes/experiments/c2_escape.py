"""C2: a saddle is escaped along its negative-curvature eigenvector; momentum and SGD noise escape too.

Two saddles of the notes, each analysed with ``HessianProbe`` first:

```
product saddle   L = (1 − w1·w2)² at (0, 0):  ∇L = 0, H = [[0, −2], [−2, 0]], λ = ±2, u ∝ [1, 1]
linear network   two bias-free Dense layers at zero weights: ∇L = 0, H indefinite (a strict saddle)
                 three layers at zero weights: ∇L = 0 and H = 0: "flat", a higher-order critical
                 point the Hessian cannot classify (reported, not raced)
```

From each saddle, four ways out race to ``L ≤ ESCAPE_FRACTION · L(saddle)``:

```
GD          θ ← θ − α∇L                          exactly at the saddle ∇L = 0: it never moves;
                                                  raced from a tiny random push of norm `push`
momentum    v ← βv − α∇L, θ ← θ + v   (F2k)       from the same push
SGD         θ ← θ − α(∇L + ξ), ξ ~ N(0, σ²I)      from the saddle itself (noisy gradients)
eigenvector θ ← θ + ηu (SaddlePointDetector,      from the saddle itself, then GD
            escape=True), u: eigenvector of λmin
figure: steps until the loss is at most half the saddle's
```

The plot also shows the product saddle's surface on the plane of its Hessian's
eigenvectors (``HessianProbe.landscape``, notes F16), with the curvature along
each slice measured from the surface:

```
L(θ + a u_min + b u_max) = (1 − (a² − b²)/2)²,   u_min = [1, 1]/√2, u_max = [1, −1]/√2
along u_min: L(t) = (1 − t²/2)² = 1 − t² + t⁴/4, curvature L''(0) = −2 = λmin
curvature from the grid: (L(h) − 2L(0) + L(−h))/h² = −2 + h²/2   (h the grid step)
```

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments import c2_escape
    >>> result = c2_escape.run("quick", tempfile.mkdtemp())
    >>> result.claim
    'C2'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasnotes import datasets, optimizers, summary
from kerasnotes.callbacks import LandscapeLogger, SaddlePointDetector
from kerasnotes.curvature import HessianProbe
from kerasnotes.experiments import measures, plotting
from kerasnotes.experiments.claim import Claim, Context, Judgement
from kerasnotes.experiments.training import fit_run

CLAIM = "C2"
TITLE = "saddles are escaped along negative curvature, by momentum and by SGD noise"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How long each method may take to escape.

    Args:
        steps: update budget of every method on every landscape.
        linear_samples: rows of the linear network's data.
    """

    steps: int
    linear_samples: int


SIZES = {
    "quick": Sizes(steps=40, linear_samples=32),
    "default": Sizes(steps=150, linear_samples=64),
    "full": Sizes(steps=600, linear_samples=256),
}

LEARNING_RATE = 0.1
MOMENTUM = 0.9
#: norm of the random push GD and momentum start from (exactly at the saddle they never move)
PUSH = 1e-3
#: standard deviation of the noise added to every gradient component in SGD
NOISE = 0.05
#: escaped: the loss is at most this fraction of the saddle's loss
ESCAPE_FRACTION = 0.5
METHODS = ("gd", "momentum", "sgd_noise", "eigenvector")
#: the product saddle's surface: the grid covers [−span, span]² with num points a side
SURFACE_SPAN = 1.5
SURFACE_NUM = 31
#: grid points a side of the plane logged to TensorBoard from each eigenvector run
SURFACE_NUM_LOGGED = 21


def _landscape(name: str, sizes: Sizes, seed: int, depth: int = 2) -> datasets.Landscape:
    if name == "product":
        return datasets.product_saddle(0.0, 0.0)
    return datasets.linear_network(depth=depth, num_samples=sizes.linear_samples, seed=seed)


def _loss(model: keras.Model, x: np.ndarray, y: np.ndarray, loss) -> float:
    return float(keras.ops.convert_to_numpy(loss(y, model(x))))


def _set_flat(model: keras.Model, flat: np.ndarray) -> None:
    arrays, offset = [], 0
    for variable in model.trainable_variables:
        size = int(np.prod(variable.shape))
        arrays.append(flat[offset : offset + size].reshape(variable.shape).astype("float32"))
        offset += size
    for variable, array in zip(model.trainable_variables, arrays, strict=True):
        variable.assign(array)


def _flat(model: keras.Model) -> np.ndarray:
    return np.concatenate(
        [np.ravel(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
    ).astype(np.float64)


def _race_fit(
    landscape: datasets.Landscape,
    start: np.ndarray,
    optimizer: keras.optimizers.Optimizer,
    steps: int,
    run_dir: Path,
) -> np.ndarray:
    """Losses after 0, 1, …, steps full-batch updates from ``start`` (fit on repeated data)."""
    model, x, y, loss = landscape
    _set_flat(model, start)
    repeated = (np.tile(x, (steps + 1, 1)), np.tile(y, (steps + 1, 1)))
    result = fit_run(model, optimizer, loss, repeated, 1, len(x), log_dir=run_dir, shuffle=False)
    # update_losses[k] is the loss before update k + 1, i.e. after k updates
    return result.update_losses


def _race_noise(
    landscape: datasets.Landscape, steps: int, rng: np.random.Generator, run_dir: Path
) -> np.ndarray:
    """Losses of SGD with Gaussian gradient noise from the saddle, stopped once escaped."""
    model, x, y, loss = landscape
    saddle_loss = _loss(model, x, y, loss)
    optimizer = optimizers.SGD(learning_rate=LEARNING_RATE)
    optimizer.build(model.trainable_variables)
    losses_seen = []
    with summary.Writer(run_dir) as writer:
        for step in range(steps + 1):
            probe = HessianProbe(model, x, y, loss=loss)
            value = probe.loss()
            losses_seen.append(value)
            writer.scalar("update_loss", value, step=step + 1)
            if value <= ESCAPE_FRACTION * saddle_loss or step == steps:
                break
            noisy = probe.gradient() + NOISE * rng.standard_normal(probe.num_parameters)
            grads, offset = [], 0
            for variable in model.trainable_variables:
                size = int(np.prod(variable.shape))
                part = noisy[offset : offset + size].reshape(variable.shape)
                grads.append(keras.ops.convert_to_tensor(part, dtype=variable.dtype))
                offset += size
            optimizer.apply(grads, model.trainable_variables)
    return np.asarray(losses_seen)


def _race_eigenvector(landscape: datasets.Landscape, steps: int, run_dir: Path) -> np.ndarray:
    """One SaddlePointDetector escape step from the saddle, then plain GD.

    The run also gets the saddle's plane (``LandscapeLogger``, F16) for the tab's Landscape view.
    """
    model, x, y, loss = landscape
    saddle_loss = _loss(model, x, y, loss)
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss=loss)
    detector = SaddlePointDetector((x, y), num_samples=len(x), escape=True, verbose=0)
    # The saddle's plane for the kerasnotes tab's Landscape view: logged at the end of
    # the epoch, before the detector (next in the list) steps out along u_min.
    logger = LandscapeLogger(
        (x, y), at=1, span=SURFACE_SPAN, num=SURFACE_NUM_LOGGED, num_samples=len(x), log_dir=run_dir
    )
    model.fit(
        x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0, callbacks=[logger, detector]
    )
    after = _race_fit(
        landscape, _flat(model), optimizers.SGD(learning_rate=LEARNING_RATE), steps - 1, run_dir
    )
    return np.concatenate([[saddle_loss], after])


class SaddleEscape(Claim):
    """Classify both saddles, then count the steps GD, momentum, SGD and the eigenvector step take.

    Runs go to ``<log_dir>/C2/<landscape>_<method>``, the plot to ``<log_dir>/C2/``;
    ``seed`` seeds the linear network's data, the push and the gradient noise. The races
    are deterministic given the seed, so quick mode decides too (no smoke test).
    """

    claim, title, sizes = CLAIM, TITLE, SIZES
    quick_is_smoke_test = False

    def experiment(self, context: Context) -> dict:
        """Both saddles' curvature and every method's loss curve from each (one rng throughout)."""
        sizes, seed = context.sizes, context.seed
        rng = np.random.default_rng(seed)
        numbers: dict[str, float] = {}
        curves: dict[str, dict[str, np.ndarray]] = {}
        kinds: dict[str, str] = {}
        saddle_losses: dict[str, float] = {}
        for name in ("product", "linear2"):
            model, x, y, loss = _landscape(name, sizes, seed)
            point = HessianProbe(model, x, y, loss=loss).analyze()
            kinds[name] = point.kind
            numbers[f"{name}_grad_norm"] = point.grad_norm
            numbers[f"{name}_lambda_min"] = point.lambda_min
            numbers[f"{name}_lambda_max"] = point.lambda_max
            numbers[f"{name}_is_saddle"] = float(point.kind == "saddle")
            saddle_losses[name] = _loss(model, x, y, loss)
            if name == "product":
                surface = _surface(model, x, y, loss, numbers)
            push = rng.standard_normal(
                sum(int(np.prod(v.shape)) for v in model.trainable_variables)
            )
            push *= PUSH / np.linalg.norm(push)
            curves[name] = {}
            for method in METHODS:
                config = f"{name}_{method}"
                context.announce(config)
                landscape = _landscape(name, sizes, seed)
                run_dir = context.files.run_dir(config)
                if method == "gd":
                    curve = _race_fit(
                        landscape, push, optimizers.SGD(LEARNING_RATE), sizes.steps, run_dir
                    )
                elif method == "momentum":
                    curve = _race_fit(
                        landscape,
                        push,
                        optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM),
                        sizes.steps,
                        run_dir,
                    )
                elif method == "sgd_noise":
                    curve = _race_noise(landscape, sizes.steps, rng, run_dir)
                else:
                    curve = _race_eigenvector(landscape, sizes.steps, run_dir)
                curves[name][method] = curve

        deep = _landscape("linear3", sizes, seed, depth=3)
        flat_point = HessianProbe(deep.model, deep.x, deep.y, loss=deep.loss).analyze()
        kinds["linear3"] = flat_point.kind
        numbers["linear3_grad_norm"] = flat_point.grad_norm
        numbers["linear3_max_abs_eigenvalue"] = max(
            abs(flat_point.lambda_min), abs(flat_point.lambda_max)
        )
        return {
            "numbers": numbers,
            "curves": curves,
            "kinds": kinds,
            "saddle_losses": saddle_losses,
            "surface": surface,
        }

    def judge(self, context: Context, results: dict) -> Judgement:
        curves, kinds = results["curves"], results["kinds"]
        numbers: dict[str, float] = dict(results["numbers"])
        steps_to: dict[str, dict[str, int | None]] = {}
        for name, by_method in curves.items():
            target = ESCAPE_FRACTION * results["saddle_losses"][name]
            steps_to[name] = {}
            for method, curve in by_method.items():
                config = f"{name}_{method}"
                reached = measures.first_reaching(curve, target)
                steps_to[name][method] = None if reached is None else reached - 1
                numbers[f"steps_{config}"] = float("nan") if reached is None else float(reached - 1)
                if method != "sgd_noise":  # the noisy run stops once it has escaped
                    numbers[f"final_loss_{config}"] = float(curve[-1])

        budget = context.sizes.steps
        # The claim is about the eigenvector step, momentum and SGD noise; GD is the baseline.
        claimed = ("eigenvector", "momentum", "sgd_noise")
        escaped = all(steps_to[name][method] is not None for name in steps_to for method in claimed)
        saddles = all(numbers[f"{name}_is_saddle"] == 1.0 for name in steps_to)
        reproduced = saddles and escaped

        def row(name: str) -> str:
            return ", ".join(
                f"{method} {_steps(steps_to[name][method], budget)}" for method in METHODS
            )

        verdict = (
            f"C2: steps to halve the loss from the saddle (λmin = "
            f"{numbers['product_lambda_min']:.2f}, λmax = {numbers['product_lambda_max']:.2f}) "
            f"of (1 − w1w2)²: {row('product')}; from the zero init of a 2-layer linear net "
            f"({kinds['linear2']}): {row('linear2')}; after {budget} steps the linear net's loss "
            f"is {numbers['final_loss_linear2_gd']:.3f} (GD), "
            f"{numbers['final_loss_linear2_momentum']:.3f} (momentum), "
            f"{numbers['final_loss_linear2_eigenvector']:.3f} (eigenvector step, then GD); "
            f"3-layer linear net at zero: {kinds['linear3']} (max |λ| = "
            f"{numbers['linear3_max_abs_eigenvalue']:.1e}); GD and momentum start {PUSH:g} away "
            f"(at the saddle itself ‖∇L‖ = {numbers['product_grad_norm']:.0e}, GD never moves); "
            f"the surface along u_min curves by {numbers['product_surface_curvature_min']:.3f}, "
            f"along u_max by {numbers['product_surface_curvature_max']:.3f} (λ = "
            f"{numbers['product_surface_lambda_min']:.2f}, "
            f"{numbers['product_surface_lambda_max']:.2f}; grid step "
            f"{numbers['product_surface_step']:g}, within "
            f"{numbers['product_surface_max_error']:.1e} of (1 − (a² − b²)/2)²) "
            f"(criterion: both are saddles by their Hessian and the eigenvector step, momentum "
            f"and SGD noise each escape within {budget} steps, GD being the baseline; "
            + ("reproduced)" if reproduced else "not reproduced)")
        )

        plot = _plot(
            curves,
            results["surface"],
            numbers,
            context.files.plot_path("c2_escape"),
            measures.status_text(reproduced),
        )
        product = steps_to["product"]
        figure = "(1−w1w2)² steps: " + ", ".join(
            f"{method.replace('_noise', '')} "
            f"{'>' + str(budget) if product[method] is None else product[method]}"
            for method in METHODS
        )
        figure += (
            f"; surface curvature u_min {numbers['product_surface_curvature_min']:.2f}, "
            f"u_max {numbers['product_surface_curvature_max']:.2f}"
        )
        return Judgement(
            figure, verdict, reproduced, plot, {key: float(value) for key, value in numbers.items()}
        )


#: ``run(mode="default", log_dir="runs", seed=0, progress=None) -> ClaimResult``
run = SaddleEscape().run


def _steps(count: int | None, budget: int) -> str:
    return f"> {budget} steps" if count is None else measures.count(count, "step")


def _surface(model: keras.Model, x: np.ndarray, y: np.ndarray, loss, numbers: dict) -> Any:
    """The product saddle's plane along u_min, u_max and its measured curvatures, into ``numbers``."""
    surface = HessianProbe(model, x, y, loss=loss).landscape(
        "extreme", span=SURFACE_SPAN, num=SURFACE_NUM
    )
    h = float(surface.a[1] - surface.a[0])
    grid = surface.loss
    a, b = np.meshgrid(surface.a, surface.b, indexing="ij")
    numbers["product_surface_curvature_min"], numbers["product_surface_curvature_max"] = (
        measures.plane_curvatures(grid, h)
    )
    numbers["product_surface_lambda_min"] = float(surface.eigenvalues[0])
    numbers["product_surface_lambda_max"] = float(surface.eigenvalues[1])
    numbers["product_surface_step"] = h
    numbers["product_surface_max_error"] = float(
        np.max(np.abs(grid - (1 - (a**2 - b**2) / 2) ** 2))
    )
    return surface


def _plot_surface(axes: Any, surface: Any, numbers: dict) -> None:
    """Heat map and contours of the plane, the saddle marked, u_min and u_max as axes."""
    labels = {
        "colorbar": "loss",
        "point": "saddle (0, 0)",
        "x": f"a along u_min (λ = {numbers['product_surface_lambda_min']:.2f})",
        "y": f"b along u_max (λ = {numbers['product_surface_lambda_max']:.2f})",
        "title": "(1 − w1·w2)² on the plane of H's eigenvectors",
    }
    plotting.plane(axes, surface, surface.loss, labels, contours=[0.25, 0.5, 1.0, 2.0, 4.0])


def _plot_slices(axes: Any, surface: Any, numbers: dict) -> None:
    """Both slices through the saddle beside the quadratic model L(0) + ½λt²."""
    c = len(surface.a) // 2
    t = surface.a
    for k, (name, values, color) in enumerate(
        (("u_min", surface.loss[:, c], "#1c7ed6"), ("u_max", surface.loss[c, :], "#e8590c"))
    ):
        lam = float(surface.eigenvalues[k])
        curvature = numbers[f"product_surface_curvature_{name[2:]}"]
        axes.plot(t, values, color=color, label=f"L along {name}: curvature {curvature:.3f}")
        axes.plot(
            t,
            surface.center_loss + 0.5 * lam * t**2,
            color=color,
            linestyle="--",
            linewidth=1,
            label=f"L(0) + ½λt², λ = {lam:.2f}",
        )
    axes.set_ylim(-0.2, 3.0)
    axes.set_xlabel("t")
    axes.set_ylabel("loss")
    axes.set_title("slices through the saddle: (1 − t²/2)² and (1 + t²/2)²", fontsize=9)
    axes.legend(fontsize=7)


def _plot(
    curves: dict[str, dict[str, np.ndarray]], surface: Any, numbers: dict, path: Path, status: str
) -> Path:
    titles = {"product": "(1 − w1·w2)² from (0, 0)", "linear2": "2-layer linear net from 0"}
    figure, panels = plotting.new_figure(
        len(curves) + 2,
        f"C2: is a saddle escaped along negative curvature, by momentum and by SGD noise?\n{status}",
    )
    _plot_surface(panels[-2], surface, numbers)
    _plot_slices(panels[-1], surface, numbers)
    for axes, (name, by_method) in zip(panels[:-2], curves.items(), strict=True):
        for method, curve in by_method.items():
            axes.plot(range(len(curve)), curve, label=method.replace("_", " "))
        axes.axhline(
            ESCAPE_FRACTION * by_method["eigenvector"][0],
            color="grey",
            linestyle="--",
            linewidth=1,
            label="escaped",
        )
        axes.set_title(titles[name], fontsize=9)
        axes.set_xlabel("update")
        axes.set_ylabel("loss")
        axes.legend(fontsize=7)
    return plotting.save(figure, path)
