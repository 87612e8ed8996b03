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

A single start vector cannot see multiplicity: the Krylov space of ``v``
holds one direction per distinct eigenvalue, so a repeated eigenvalue shows
up once. ``block_lanczos`` starts from ``b`` vectors instead, which sees each
eigenvalue up to ``b`` times (and converges fast on clusters of up to ``b``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import eigh_tridiagonal
from threadpoolctl import threadpool_limits

#: Steps a Lanczos run from a random start takes before its stopping test may
#: end it (ARPACK's default Krylov dimension, ncv = max(2k + 1, 20)). A small
#: residual proves that a Ritz value is near *some* eigenvalue, not that it is
#: the extreme one: while the start vector's component along the top
#: eigenvector is still small, the second eigenvalue can converge first. On the
#: trained digits MLP (torch, start seed 2) steps 8-10 returned 4.0694 with a
#: residual of 3e-4·λ while λmax = 4.1411 entered the Krylov space at step 12.
MIN_KRYLOV_DIM = 20

Matvec = Callable[[np.ndarray], np.ndarray]
#: ``(n, b) block -> H @ block``.
Matmat = Callable[[np.ndarray], np.ndarray]


def one_blas_thread(solver: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``solver`` with numpy's BLAS on one thread (the Hessian products keep theirs).

    Krylov solvers alternate a Hessian-vector product with a few BLAS calls on
    the basis. Right after each product the framework's worker threads still
    hold the cores (they spin a while before sleeping), and a multi-threaded
    BLAS call then waits for them: on a 2-core CPU one BLAS thread made a torch
    ``eigenvalues(k=1, which="both")`` much faster than two (the measurement:
    ``benchmarks/README.md``).
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

    def refined(self, theta: float, sweeps: int = 2) -> tuple[np.ndarray, float, float]:
        """The refined Ritz pair near ``theta``: ``(y, ρ, residual)``, eigenvector ``Q y``.

        ```
        H Q_m = Q_{m+1} T̄_m,   T̄_m = [T_m; β_m e_mᵀ]  ((m+1)×m),   Ī = [I_m; 0]
        y = argmin_{‖y‖=1} ‖(T̄_m − θ Ī) y‖   (right singular vector of the smallest σ)
        ρ = yᵀ T_m y,   residual = ‖H Q y − ρ Q y‖ = ‖(T̄_m − ρ Ī) y‖;   then θ ← ρ
        ```

        Among the unit vectors of the Krylov space, ``y`` has the smallest
        residual at shift ``θ``, and ``ρ`` the smallest for that vector, so the
        refined residual never exceeds the Ritz vector's ``|β_m s[m]|`` and is
        often a few times smaller where eigenvalues cluster (the low end of a
        trained network's Hessian): the same tolerance is met with fewer products.
        """
        m = len(self.alpha)
        bar = np.zeros((m + 1, m))
        bar[np.arange(m), np.arange(m)] = self.alpha
        bar[np.arange(m - 1), np.arange(1, m)] = self.beta[: m - 1]
        bar[np.arange(1, m + 1), np.arange(m)] = self.beta[:m]
        shift, y = float(theta), np.zeros(m)
        for _ in range(sweeps):
            shifted = bar.copy()
            shifted[np.arange(m), np.arange(m)] -= shift
            y = np.linalg.svd(shifted, full_matrices=False)[2][-1]
            shift = float(y @ (bar[:m] @ y))
        shifted = bar @ y
        shifted[:m] -= shift * y
        return y, shift, float(np.linalg.norm(shifted))


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
    min_steps: int = MIN_KRYLOV_DIM,
) -> Tridiagonal:
    """Run up to ``num_steps`` Lanczos steps from ``v0`` (need not be normalised).

    Args:
        matvec: ``v -> H v`` on flat float64 vectors; ``H`` symmetric.
        v0: start vector, non-zero.
        num_steps: maximum number of steps (at most the dimension).
        rng: source of fresh directions when the Krylov space becomes invariant.
        stop: called after each step with the run so far; True ends the run early.
        min_steps: ``stop`` is not asked before this many steps; the default,
            ``MIN_KRYLOV_DIM``, guards a random start against stopping on the
            second eigenvalue, and a warm start that already points at the
            wanted end passes 1.

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
            stop is not None
            and j + 1 >= min_steps
            and stop(Tridiagonal(alpha[: j + 1], beta[: j + 1], done.T, j + 1))
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


@dataclass
class BlockRun:
    """A block Lanczos run: the projection ``T = Qᵀ H Q`` (block tridiagonal), the
    orthonormal basis ``Q`` (columns) and the residual block ``W`` after the last step."""

    projection: np.ndarray
    basis: np.ndarray
    residual: np.ndarray
    block_size: int
    num_matvec: int

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values (ascending) and the eigenvectors ``S`` of ``T``."""
        return np.linalg.eigh(self.projection)

    def residuals(self, s: np.ndarray) -> np.ndarray:
        """``‖W S_last,i‖₂`` for the Ritz vectors ``s_i`` (columns of ``s``).

        ``S_last`` are the rows of ``s`` that belong to the last block, and
        ``W = H Q_last − Q Qᵀ H Q_last`` is the part of the last block's
        products outside the basis, so ``H Q s − Q T s = W S_last`` exactly.
        """
        last = s[s.shape[0] - self.residual.shape[1] :, :]
        return np.linalg.norm(self.residual @ last, axis=0)


def _project_out(v: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
    """``v`` minus its components along the rows of each block, twice ("twice is enough")."""
    for _ in range(2):
        for rows in blocks:
            if rows.shape[0]:
                v -= (rows @ v) @ rows
    return v


def _next_block(
    w: np.ndarray, basis: np.ndarray, width: int, threshold: float, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Orthonormal rows spanning the columns of ``w`` outside ``basis`` (rows).

    A column whose remaining norm is at most ``threshold`` depends on the basis
    and the columns before it (the block is rank-deficient: part of an
    invariant subspace was found). It is deflated: its coupling to the next
    block is zero, and a fresh random direction orthogonal to everything takes
    its place, so the block keeps ``width`` columns and can still see the rest
    of the spectrum. Returns the rows and the number of deflated columns.
    """
    n = basis.shape[1]
    rows = np.empty((width, n))
    count, deflated = 0, 0
    for c in range(w.shape[1]):
        if count == width:
            break
        v = _project_out(w[:, c].copy(), [basis, rows[:count]])
        norm = np.linalg.norm(v)
        if norm > threshold:
            rows[count] = v / norm
            count += 1
        else:
            deflated += 1
    while count < width:
        v = _project_out(rng.standard_normal(n), [basis, rows[:count]])
        rows[count] = v / np.linalg.norm(v)
        count += 1
    return rows, deflated


@one_blas_thread
def block_lanczos(
    matmat: Matmat,
    v0: np.ndarray,
    max_matvec: int,
    rng: np.random.Generator,
    stop: Callable[[BlockRun], bool] | None = None,
    min_size: int = MIN_KRYLOV_DIM,
) -> BlockRun:
    """Block Lanczos with full reorthogonalisation from the ``b`` columns of ``v0``.

    ```
    H Q_j = Q_{j−1} B_{j−1}ᵀ + Q_j A_j + Q_{j+1} B_j,    Q = [Q_1 … Q_m],  QᵀQ = I
    T = Qᵀ H Q (block tridiagonal, b×b blocks),   T s_i = θ_i s_i
    H Q s_i − θ_i Q s_i = W S_last,i,   residual_i = ‖W S_last,i‖₂
    ```

    where ``W`` is the last block's ``H Q_m`` minus its projection on the whole
    basis and ``S_last,i`` the last ``b`` entries of ``s_i``. Each step
    orthogonalises the new block twice against every basis vector, so ``T`` is
    computed as the actual projection ``Qᵀ H Q``. A block Krylov space holds
    up to ``b`` independent directions per eigenvalue, so an eigenvalue of
    multiplicity up to ``b`` appears that many times among the Ritz values.
    Rank-deficient blocks are deflated and refilled with random directions
    orthogonal to the basis, so the run goes on past an invariant subspace.

    Args:
        matmat: ``(n, b) block -> H @ block`` on float64 arrays; ``H`` symmetric.
        v0: start block, shape ``(n, b)``; dependent columns are replaced by random ones.
        max_matvec: at most this many products (columns of ``H @ block``), i.e.
            basis vectors; only whole blocks are taken, except the last block
            when it fills the whole space.
        rng: source of the fresh directions.
        stop: called after each block step with the run so far; True ends it.
        min_size: ``stop`` is not asked before the basis has this many vectors
            (by default ``MIN_KRYLOV_DIM``, as ``lanczos``' ``min_steps``).

    Returns:
        The run; ``num_matvec`` equals the basis size.

    Example:
        >>> import numpy as np
        >>> a = np.diag(np.r_[np.linspace(0, 1, 27), 5.0, 5.0, 5.0])  # 5 three times
        >>> rng = np.random.default_rng(0)
        >>> run = block_lanczos(lambda v: a @ v, rng.normal(size=(30, 3)), 12, rng)
        >>> np.round(run.ritz()[0][-3:], 4)                 # four blocks of three
        array([5., 5., 5.])
        >>> one = lanczos(lambda v: a @ v, rng.normal(size=30), 12, rng)
        >>> np.round(one.ritz()[0][-3:], 4)                 # twelve single steps: 5 once
        array([0.9501, 0.9998, 5.    ])
    """
    n, b = v0.shape
    max_size = min(int(max_matvec), n)
    if b < 1 or max_size < min(b, n):
        raise ValueError(f"max_matvec={max_matvec} is smaller than the block size {b}")
    rows = np.empty((max_size, n))
    projection = np.zeros((max_size, max_size))
    start_scale = float(np.max(np.linalg.norm(v0, axis=0)))
    block, _ = _next_block(v0, rows[:0], min(b, n), 1e-10 * start_scale, rng)
    m, scale = 0, 0.0
    while True:
        width = block.shape[0]
        rows[m : m + width] = block
        w = np.asarray(matmat(block.T), dtype=np.float64).reshape(n, width)
        _check_finite(w, m // b)
        done = rows[: m + width]
        coefficients = done @ w
        w -= done.T @ coefficients
        correction = done @ w
        w -= done.T @ correction
        coefficients += correction
        projection[: m + width, m : m + width] = coefficients
        m += width
        scale = max(scale, float(np.max(np.abs(coefficients))), float(np.max(np.abs(w))))
        # The upper block triangle holds Qᵀ H Q_j as computed; mirror it (H is symmetric).
        upper = np.triu(projection[:m, :m])
        run = BlockRun(upper + np.triu(upper, 1).T, rows[:m].T, w, b, m)
        width = min(b, n - m)
        if width == 0 or m + width > max_size or (stop is not None and m >= min_size and stop(run)):
            return run
        block, _ = _next_block(w, rows[:m], width, 1e-10 * max(scale, 1e-300), rng)
