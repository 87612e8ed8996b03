"""Lanczos iteration with full reorthogonalisation, in float64 numpy.

```
H Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ,     T_m = tridiag(β, α, β)
Ritz pair (θ_i, Q_m s_i):   residual_i = ‖H Q_m s_i − θ_i Q_m s_i‖₂ = |β_m · s_i[m]|
```

The Hessian only enters through ``matvec`` (one Hessian-vector product per
step). Every new vector is orthogonalised twice against all previous ones
("twice is enough"), so the Ritz values stay free of the ghost copies plain
Lanczos produces in floating point, and the residual formula above holds.
Both ends of the spectrum come from the same Krylov space.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import eigh_tridiagonal
from threadpoolctl import threadpool_limits

Matvec = Callable[[np.ndarray], np.ndarray]


def one_blas_thread(solver: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``solver`` with numpy's BLAS on one thread (the Hessian products keep theirs).

    Krylov solvers alternate a Hessian-vector product with a few BLAS calls on
    the basis. Right after each product the framework's worker threads still
    hold the cores (they spin a while before sleeping), and a multi-threaded
    BLAS call then waits for them. Measured on the 2-core CPU (torch, MLP
    64-256-256-10 on the 1,797 digits, ``eigenvalues(k=1, which="both")``, 54
    HVPs of 15 ms each): 3.1-3.5 s with OpenBLAS's two threads, 1.1-1.2 s with one.
    """

    @functools.wraps(solver)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return solver(*args, **kwargs)

    return wrapped


@dataclass
class Tridiagonal:
    """A Lanczos run: ``alpha`` (diagonal), ``beta`` (off-diagonal, ``beta[j]`` couples
    steps j and j+1; ``beta[-1]`` is the residual norm after the last step), basis ``Q``."""

    alpha: np.ndarray
    beta: np.ndarray
    basis: np.ndarray
    num_matvec: int

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values (ascending) and the eigenvectors ``S`` of ``T_m``."""
        if len(self.alpha) == 1:
            return self.alpha.copy(), np.ones((1, 1))
        return eigh_tridiagonal(self.alpha, self.beta[: len(self.alpha) - 1])

    def residuals(self, s: np.ndarray) -> np.ndarray:
        """``|β_m · s_i[m]|`` for the Ritz vectors ``s_i`` (columns of ``s``)."""
        return np.abs(self.beta[len(self.alpha) - 1] * s[-1, :])


def _check_finite(w: np.ndarray, step: int) -> None:
    if not np.all(np.isfinite(w)):
        raise FloatingPointError(
            f"the Hessian-vector product at Lanczos step {step} contains NaN or Inf; "
            "the loss or its curvature is not finite at these weights"
        )


@one_blas_thread
def lanczos(
    matvec: Matvec,
    v0: np.ndarray,
    num_steps: int,
    rng: np.random.Generator,
    stop: Callable[[Tridiagonal], bool] | None = None,
) -> Tridiagonal:
    """Run up to ``num_steps`` Lanczos steps from ``v0`` (need not be normalised).

    Args:
        matvec: ``v -> H v`` on flat float64 vectors; ``H`` symmetric.
        v0: start vector, non-zero.
        num_steps: maximum number of steps (at most the dimension).
        rng: source of fresh directions when the Krylov space becomes invariant.
        stop: called after each step with the run so far; True ends the run early.

    Returns:
        The tridiagonal run; ``num_matvec`` equals the number of steps taken.
    """
    n = v0.shape[0]
    num_steps = min(num_steps, n)
    # Rows are the Lanczos vectors: contiguous, so the projections below are two
    # BLAS matrix-vector products with no copy of the basis.
    rows = np.empty((num_steps, n))
    alpha = np.zeros(num_steps)
    beta = np.zeros(num_steps)
    q = v0 / np.linalg.norm(v0)
    scale = 0.0
    for j in range(num_steps):
        rows[j] = q
        w = matvec(q)
        _check_finite(w, j)
        alpha[j] = q @ w
        done = rows[: j + 1]
        for _ in range(2):
            w -= (done @ w) @ done
        beta[j] = np.linalg.norm(w)
        scale = max(scale, abs(alpha[j]), beta[j])
        if j + 1 == num_steps or (
            stop is not None and stop(Tridiagonal(alpha[: j + 1], beta[: j + 1], done.T, j + 1))
        ):
            return Tridiagonal(alpha[: j + 1].copy(), beta[: j + 1].copy(), done.T, j + 1)
        if beta[j] <= 1e-10 * max(scale, 1e-300):
            # The Krylov space is invariant: its Ritz pairs are exact. Continue
            # in a fresh direction orthogonal to it; T becomes block diagonal.
            beta[j] = 0.0
            w = rng.standard_normal(n)
            for _ in range(2):
                w -= (done @ w) @ done
            q = w / np.linalg.norm(w)
        else:
            q = w / beta[j]
    raise AssertionError("unreachable: the loop returns on its last step")
