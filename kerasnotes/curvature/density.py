"""Stochastic Lanczos quadrature (SLQ): the Hessian's eigenvalue density.

```
φ(t) = (1/n) Σ_i δ(t − λ_i) ≈ (1/R) Σ_r Σ_j τ_rj · N(t; θ_rj, σ²)
θ_rj = eigenvalues of T_m from a Lanczos run started at v_r,  τ_rj = (first entry of its eigenvector)²
```

For a random unit vector ``v``, ``vᵀ f(H) v`` is an unbiased estimate of
``tr f(H) / n``, and the Gauss quadrature of the Lanczos tridiagonal turns it
into a weighted set of nodes (Ghorbani, Krishnan, Xiao 2019; Lin, Saad, Yang 2016).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kerasnotes import _validation
from kerasnotes.curvature.lanczos import Matvec, lanczos


@dataclass(frozen=True)
class Masses:
    """Shares of eigenvalues below −τ, within ±τ and above τ, with standard errors across runs.

    ```
    m_r = Σ_j τ_rj [θ_rj in the interval]       (run r; Σ_j τ_rj = 1)
    mass = (1/R) Σ_r m_r,    stderr = std_r(m_r, ddof=1) / √R      (NaN when R = 1)
    ```

    The three masses sum to 1. The standard error covers the randomness of the
    start vectors (each run is an independent estimate of ``tr f(H) / n``), not
    the bias of an ``m``-node quadrature of a step function, which more steps reduce.
    """

    negative: float
    zero: float
    positive: float
    negative_stderr: float
    zero_stderr: float
    positive_stderr: float


@dataclass(frozen=True)
class Quadrature:
    """SLQ nodes and weights of ``num_runs`` runs; ``weights`` sum to 1 over all runs.

    ``runs[i]`` is the run that produced node ``i``; each run's weights sum to ``1/R``.
    """

    nodes: np.ndarray
    weights: np.ndarray
    num_matvec: int
    runs: np.ndarray
    num_runs: int

    def mass_below(self, threshold: float) -> float:
        """Estimated share of eigenvalues below ``threshold``."""
        return float(self.weights[self.nodes < threshold].sum())

    def mass_above(self, threshold: float) -> float:
        """Estimated share of eigenvalues above ``threshold``."""
        return float(self.weights[self.nodes > threshold].sum())

    def run_masses(self, tau: float) -> np.ndarray:
        """Per-run masses, shape ``(R, 3)``: columns λ < −τ, |λ| ≤ τ, λ > τ; rows sum to 1."""
        if not tau >= 0:
            raise ValueError(_validation.message("tau", tau, "a non-negative number"))
        column = np.where(self.nodes < -tau, 0, np.where(self.nodes > tau, 2, 1))
        masses = np.zeros((self.num_runs, 3))
        # Per-run weights are the pooled ones times R (each run's sum to 1/R).
        np.add.at(masses, (self.runs, column), self.weights * self.num_runs)
        return masses

    def masses(self, tau: float) -> Masses:
        """The three masses at ``τ`` and their standard errors across runs (``Masses``)."""
        per_run = self.run_masses(tau)
        mean = per_run.mean(axis=0)
        if self.num_runs > 1:
            stderr = per_run.std(axis=0, ddof=1) / np.sqrt(self.num_runs)
        else:
            stderr = np.full(3, np.nan)
        return Masses(*(float(v) for v in mean), *(float(v) for v in stderr))

    def extended(self, other: Quadrature) -> Quadrature:
        """This quadrature and ``other`` (independent runs) pooled as one of R₁ + R₂ runs."""
        total = self.num_runs + other.num_runs
        return Quadrature(
            np.concatenate([self.nodes, other.nodes]),
            np.concatenate(
                [self.weights * (self.num_runs / total), other.weights * (other.num_runs / total)]
            ),
            self.num_matvec + other.num_matvec,
            np.concatenate([self.runs, other.runs + self.num_runs]),
            total,
        )


def slq(
    matvec: Matvec, n: int, num_runs: int, num_steps: int, rng: np.random.Generator
) -> Quadrature:
    """Nodes and weights from ``num_runs`` Lanczos runs of ``num_steps`` steps each.

    Example:
        >>> h = np.diag([-1.0, 0.0, 0.0, 2.0])
        >>> q = slq(lambda v: h @ v, 4, 3, 4, np.random.default_rng(0))
        >>> m = q.masses(tau=1e-9)           # Rademacher starts: exact for a diagonal H
        >>> round(m.negative, 6), round(m.zero, 6), round(m.positive, 6), m.positive_stderr
        (0.25, 0.5, 0.25, 0.0)
    """
    nodes, weights, runs, used = [], [], [], 0
    for r in range(num_runs):
        start = rng.choice([-1.0, 1.0], size=n)
        run = lanczos(matvec, start, num_steps, rng)
        theta, s = run.ritz()
        nodes.append(theta)
        weights.append(s[0, :] ** 2 / num_runs)
        runs.append(np.full(theta.shape, r))
        used += run.num_matvec
    return Quadrature(
        np.concatenate(nodes), np.concatenate(weights), used, np.concatenate(runs), num_runs
    )


def broadened_density(
    quadrature: Quadrature, grid_size: int, sigma: float | None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Gaussian-broadened density on a grid covering the nodes ± 5σ; returns (grid, φ, σ).

    The default ``σ`` is 1% of the spread of the nodes, so the grid (1,000 points
    by default) resolves each Gaussian with about ten points and the trapezoid
    integral is accurate; ``φ`` is finally divided by that integral.
    """
    lo, hi = float(quadrature.nodes.min()), float(quadrature.nodes.max())
    if sigma is None:
        sigma = max(0.01 * (hi - lo), 1e-6 * max(abs(lo), abs(hi)), 1e-12)
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, grid_size)
    density = np.zeros(grid_size)
    # Accumulate node by node: memory stays O(grid_size) however many nodes there are.
    norm = 1.0 / (sigma * np.sqrt(2 * np.pi))
    for node, weight in zip(quadrature.nodes, quadrature.weights, strict=True):
        density += weight * norm * np.exp(-0.5 * ((grid - node) / sigma) ** 2)
    total = np.trapezoid(density, grid)
    return grid, density / total, sigma
