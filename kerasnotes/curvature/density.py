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

from kerasnotes.curvature.lanczos import Matvec, lanczos


@dataclass(frozen=True)
class Quadrature:
    """Pooled SLQ nodes and weights; ``weights`` sum to 1 over all runs."""

    nodes: np.ndarray
    weights: np.ndarray
    num_matvec: int

    def mass_below(self, threshold: float) -> float:
        """Estimated share of eigenvalues below ``threshold``."""
        return float(self.weights[self.nodes < threshold].sum())

    def mass_above(self, threshold: float) -> float:
        """Estimated share of eigenvalues above ``threshold``."""
        return float(self.weights[self.nodes > threshold].sum())


def slq(
    matvec: Matvec, n: int, num_runs: int, num_steps: int, rng: np.random.Generator
) -> Quadrature:
    """Nodes and weights from ``num_runs`` Lanczos runs of ``num_steps`` steps each."""
    nodes, weights, used = [], [], 0
    for _ in range(num_runs):
        start = rng.choice([-1.0, 1.0], size=n)
        run = lanczos(matvec, start, num_steps, rng)
        theta, s = run.ritz()
        nodes.append(theta)
        weights.append(s[0, :] ** 2 / num_runs)
        used += run.num_matvec
    return Quadrature(np.concatenate(nodes), np.concatenate(weights), used)


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
