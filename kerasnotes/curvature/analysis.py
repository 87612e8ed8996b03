"""Spectral density (SLQ) and the critical-point analysis of a probe's Hessian (F13, F14).

```
φ(t) ≈ (1/R) Σ_r Σ_j τ_rj N(t; θ_rj, σ²)          (R runs of stochastic Lanczos quadrature)
kind = classify.kind(‖∇L‖, λmin, λmax),   minimum_ratio = #{λ > τ} / n
```

``HessianProbe`` inherits these methods from ``AnalysisMethods``. The default
SLQ sizes are named once here (``SLQ_RUNS``, ``SLQ_STEPS`` for
``spectral_density``; ``ANALYZE_*`` for ``analyze``), and the runs are made in
rounds of ``SLQ_RUNS`` that both methods share through one cache.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from kerasnotes import _validation
from kerasnotes.curvature import classify
from kerasnotes.curvature.density import Quadrature, broadened_density, slq
from kerasnotes.curvature.flat import gradient_norm
from kerasnotes.curvature.results import CriticalPoint, Density

#: SLQ runs per round (seeds seed, seed + SLQ_RUNS, …, each round cached), and
#: ``spectral_density``'s default number of runs.
SLQ_RUNS = 5
#: Lanczos steps per SLQ run in ``spectral_density`` by default.
SLQ_STEPS = 80
#: analyze() uses the exact dense Hessian up to this many parameters, SLQ above.
DENSE_ANALYZE_LIMIT = 2000
#: analyze()'s SLQ path: Lanczos steps per run, runs added per round, most runs, and the
#: standard error of minimum_ratio it aims at (chosen by the table in the README).
ANALYZE_STEPS = 200
ANALYZE_RUNS_PER_ROUND = SLQ_RUNS
ANALYZE_MAX_RUNS = 40
ANALYZE_TARGET_STDERR = 0.02


def _check_tolerance(name: str, value: Any) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, (int, float, np.floating, np.integer)) and value >= 0
    ):
        raise ValueError(_validation.message(name, value, "a number >= 0"))


class AnalysisMethods:
    """``spectral_density`` and ``analyze`` of ``HessianProbe`` (a mixin over its products)."""

    def _quadrature(
        self, num_runs: int, num_steps: int, seed: int, operator: str = "hessian"
    ) -> Quadrature:
        """SLQ in rounds of ``SLQ_RUNS`` runs (seeds seed, seed + SLQ_RUNS, …), each cached.

        Rounds let ``analyze`` add runs without repeating any, and let a later
        ``spectral_density(num_runs=R)`` reuse exactly the runs ``analyze`` made.
        """
        steps = min(num_steps, self.num_parameters)
        keys = [
            (min(SLQ_RUNS, num_runs - start), steps, seed + start, operator)
            for start in range(0, num_runs, SLQ_RUNS)
        ]
        # The runs not cached yet, each of ``steps`` products: the bar's budget.
        products = sum(key[0] * steps for key in keys if key not in self._quadratures)
        quadrature = None
        with self._solving("spectral density", products):
            for key in keys:
                if key not in self._quadratures:
                    self._quadratures[key] = slq(
                        self._operator(operator),
                        self.num_parameters,
                        key[0],
                        steps,
                        np.random.default_rng(key[2]),
                    )
                part = self._quadratures[key]
                quadrature = part if quadrature is None else quadrature.extended(part)
        return quadrature

    def spectral_density(
        self,
        num_runs: int = SLQ_RUNS,
        num_steps: int = SLQ_STEPS,
        grid_size: int = 1000,
        *,
        curvature_tol: float = 1e-4,
        sigma: float | None = None,
        seed: int = 0,
        operator: str = "hessian",
    ) -> Density:
        """Eigenvalue density of the Hessian and its three masses, by stochastic Lanczos quadrature.

        ```
        φ(t) ≈ (1/R) Σ_r Σ_j τ_rj N(t; θ_rj, σ²),   ∫ φ = 1                   (smoothed curve)
        τ = curvature_tol · max|θ|     (θ_rj: Ritz values; max|θ| from the extreme ones)
        negative_fraction = (1/R) Σ_r Σ_{θ_rj < −τ} τ_rj,   zero: |θ_rj| ≤ τ,   positive: θ_rj > τ
        *_stderr = std_r(m_r, ddof=1) / √R       (m_r: run r's mass; NaN when R = 1)
        ```

        The masses come from the quadrature nodes, never from the smoothed curve,
        with the "near zero" band of ``analyze`` (``kerasnotes.curvature.classify``).
        Their standard errors measure the start vectors' randomness; the
        quadrature's own bias at ±τ shrinks with ``num_steps`` (``analyze`` uses
        more steps than this default; see the README's table).

        Runs are made in rounds of ``SLQ_RUNS`` = 5 (seeds ``seed``, ``seed + 5``, …), each cached
        per (runs, num_steps, seed), so a call after another with the same
        arguments, or after ``analyze()`` with ``num_runs=probe.analysis_runs,
        num_steps=ANALYZE_STEPS``, spends no new HVPs (``num_hvp`` still reports
        what computing it cost).

        Args:
            num_runs: random start vectors R.
            num_steps: Lanczos steps per run (capped at ``num_parameters``).
            grid_size: points of the returned grid, ≥ 2.
            curvature_tol: relative width of the "near zero" band, ≥ 0.
            sigma: Gaussian broadening; ``None`` means 1% of the spread of the nodes.
            seed: seed of the start vectors.
            operator: ``"hessian"`` or ``"ggn"`` (the density of ``G = JᵀH_ℓJ``, F19).

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> d = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse").spectral_density()
            >>> round(float(np.trapezoid(d.density, d.grid)), 6), d.negative_fraction
            (1.0, 0.0)
            >>> round(d.positive_fraction, 6), round(d.positive_fraction_stderr, 6)
            (1.0, 0.0)
        """
        for name, value, least in (
            ("num_runs", num_runs, 1),
            ("num_steps", num_steps, 1),
            ("grid_size", grid_size, 2),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ValueError(_validation.message(name, value, f"an integer >= {least}"))
        _check_tolerance("curvature_tol", curvature_tol)
        if sigma is not None and not sigma > 0:
            raise ValueError(_validation.message("sigma", sigma, "None or a number > 0"))
        quadrature = self._quadrature(num_runs, num_steps, seed, self._checked_operator(operator))
        grid, density, sigma = broadened_density(quadrature, grid_size, sigma)
        tau = classify.threshold(quadrature.nodes.min(), quadrature.nodes.max(), curvature_tol)
        masses = quadrature.masses(tau)
        return Density(
            grid=grid,
            density=density,
            negative_fraction=masses.negative,
            zero_fraction=masses.zero,
            positive_fraction=masses.positive,
            negative_fraction_stderr=masses.negative_stderr,
            zero_fraction_stderr=masses.zero_stderr,
            positive_fraction_stderr=masses.positive_stderr,
            threshold=tau,
            sigma=float(sigma),
            num_runs=int(num_runs),
            num_steps=int(min(num_steps, self.num_parameters)),
            num_hvp=quadrature.num_matvec,
        )

    def _minimum_ratio(self, tau: float) -> tuple[float, float]:
        """``#{λ > τ}/n`` by SLQ: runs added until its standard error ≤ the target (or the cap)."""
        steps, runs = ANALYZE_STEPS, ANALYZE_RUNS_PER_ROUND
        masses = self._quadrature(runs, steps, 0).masses(tau)
        while not masses.positive_stderr <= ANALYZE_TARGET_STDERR and runs < ANALYZE_MAX_RUNS:
            runs += ANALYZE_RUNS_PER_ROUND
            masses = self._quadrature(runs, steps, 0).masses(tau)
        self.analysis_runs = runs
        if not masses.positive_stderr <= ANALYZE_TARGET_STDERR:
            warnings.warn(
                f"analyze(): the standard error of minimum_ratio is "
                f"{masses.positive_stderr:.3g} > {ANALYZE_TARGET_STDERR} after "
                f"{runs} SLQ runs of {min(steps, self.num_parameters)} steps",
                stacklevel=3,
            )
        return masses.positive, masses.positive_stderr

    def analyze(self, grad_tol: float = 1e-3, curvature_tol: float = 1e-4) -> CriticalPoint:
        """Classify the weights as a critical point of the loss (notes F13, F14).

        The rule is ``kerasnotes.curvature.classify.RULE`` (stated in that
        module's docstring, and only there): "saddle" when ``λmin < −τ`` and
        ``λmax > τ``, with ``τ = curvature_tol · max(|λmin|, |λmax|)``.

        "flat" means the Hessian is numerically zero: a higher-order critical
        point the second derivative cannot classify, e.g. a three-layer linear
        network at zero weights, where every second derivative vanishes but
        third-order terms do not. A positive semi-definite Hessian with zero
        directions counts as a (degenerate) local minimum. A saddle's escape
        direction is the unit eigenvector of ``λmin``.

        Up to 2,000 parameters everything is exact, from the dense Hessian
        (``n`` HVPs) and ``minimum_ratio_stderr`` is 0. Above, ``λmin``/``λmax``
        come from ``eigenvalues(k=1, which="both")`` (so ``s`` is the largest
        extreme Ritz value) and ``minimum_ratio`` from SLQ with ``ANALYZE_STEPS``
        (200) steps per run: 5 runs, then 5 more at a time (up to 40) until its
        standard error across runs is at most 0.02; if it is still larger, a
        warning says so. The eigenvalues and ratio are computed whatever the
        gradient norm.

        Args:
            grad_tol: gradient-norm threshold for a critical point, ≥ 0.
            curvature_tol: relative eigenvalue threshold (and absolute one for "flat"), ≥ 0.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.zeros((2, 1), "float32")])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse").analyze().kind
            'local_minimum'
        """
        _check_tolerance("grad_tol", grad_tol)
        _check_tolerance("curvature_tol", curvature_tol)
        before = self._counted()
        grad_norm = gradient_norm(self._evaluate()[1])
        if not np.isfinite(grad_norm) or not np.isfinite(self.loss()):
            raise FloatingPointError(
                f"the loss ({self.loss()}) or gradient norm ({grad_norm}) is not finite at "
                "these weights; the Hessian cannot be analysed"
            )
        # One bar for the whole analysis (its eigenvalue and density runs inside).
        with self._solving("analyze", None):
            n = self.num_parameters
            if n <= DENSE_ANALYZE_LIMIT:
                values, vectors = np.linalg.eigh(self.dense_hessian(max_parameters=n))
                if not np.all(np.isfinite(values)):
                    raise FloatingPointError("the Hessian contains NaN or Inf at these weights")
                lam_min, lam_max, u_min = float(values[0]), float(values[-1]), vectors[:, 0]
                tau = classify.threshold(lam_min, lam_max, curvature_tol)
                ratio, ratio_stderr = float(np.mean(values > tau)), 0.0
                self.analysis_runs = None
            else:
                extremes = self.eigenvalues(k=1, which="both")
                lam_min, lam_max = float(extremes.values[0]), float(extremes.values[-1])
                u_min = extremes.vectors[:, 0]
                tau = classify.threshold(lam_min, lam_max, curvature_tol)
                ratio, ratio_stderr = self._minimum_ratio(tau)
        kind = classify.kind(
            grad_norm, lam_min, lam_max, grad_tol=grad_tol, curvature_tol=curvature_tol
        )
        escape = None
        if kind == "saddle":
            escape = u_min / np.linalg.norm(u_min)
            escape = escape * np.sign(escape[np.argmax(np.abs(escape))])  # deterministic sign
        return CriticalPoint(
            kind=kind,
            grad_norm=grad_norm,
            lambda_min=lam_min,
            lambda_max=lam_max,
            minimum_ratio=ratio,
            escape_direction=escape,
            num_hvp=self._counted() - before,
            minimum_ratio_stderr=ratio_stderr,
        )
