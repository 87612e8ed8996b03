"""Result records of the curvature probe: plain, immutable, numpy-valued.

Each record carries the numbers a solver produced *and* what they cost
(``num_hvp``, the number of Hessian-vector products spent), so a user can
judge both accuracy (residuals, convergence flags, standard errors) and price,
in the spirit of ``scipy.sparse.linalg.eigsh``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EigenResult:
    """Extreme Hessian eigenpairs found by Lanczos (a block of ``k`` start vectors when ``k > 1``).

    ```
    H u_i ≈ λ_i u_i,   residual_i = ‖H u_i − λ_i u_i‖₂,   ‖u_i‖₂ = 1
    ```

    Args:
        values: eigenvalue estimates (Ritz values), ascending, shape ``(m,)``.
        vectors: unit eigenvector estimates as columns, shape ``(num_parameters, m)``,
            flat over ``model.trainable_variables`` in order.
        residuals: ``‖H u_i − λ_i u_i‖₂`` for each pair, shape ``(m,)``.
        converged: True when every residual is at most ``tol · max|λ|`` and the
            block size is at least ``k`` (so an eigenvalue repeated up to ``k``
            times is seen that many times).
        num_hvp: Hessian-vector products spent.

    Example:
        >>> r = EigenResult(np.array([2.0]), np.eye(1), np.zeros(1), True, 3)
        >>> float(r.values[0])
        2.0
    """

    values: np.ndarray
    vectors: np.ndarray
    residuals: np.ndarray
    converged: bool
    num_hvp: int


@dataclass(frozen=True)
class TraceResult:
    """Stochastic estimate of the Hessian trace (Hutch++).

    ```
    tr(H) ≈ tr(Qᵀ H Q) + (1/m) Σ_j g_jᵀ (I − QQᵀ) H (I − QQᵀ) g_j
    ```

    Args:
        estimate: the trace estimate.
        stderr: standard error of the estimate (the ``Qᵀ H Q`` part is exact;
            the error comes from the Hutchinson part on the deflated remainder).
        num_hvp: Hessian-vector products spent.

    Example:
        >>> TraceResult(4.0, 0.1, 100).estimate
        4.0
    """

    estimate: float
    stderr: float
    num_hvp: int


@dataclass(frozen=True)
class Density:
    """Spectral density of the Hessian from stochastic Lanczos quadrature, with its masses.

    ```
    φ(t) ≈ (1/R) Σ_r Σ_j τ_rj · N(t; θ_rj, σ²),   ∫ φ(t) dt = 1        (smoothed, for display)
    negative_fraction = (1/R) Σ_r Σ_{θ_rj < −τ} τ_rj     zero: |θ_rj| ≤ τ     positive: θ_rj > τ
    τ = curvature_tol · max|θ|,   *_stderr = std_r(per-run mass, ddof=1) / √R
    ```

    The masses are counted from the quadrature nodes themselves, never from the
    smoothed curve ``φ``: broadening spreads a cluster of tiny positive
    eigenvalues over both sides of zero, so the curve of a positive
    semi-definite Hessian can show much "mass" below zero that is not there.
    The standard errors cover the random start vectors; the quadrature of a
    step at ±τ also has a bias that shrinks with more Lanczos steps (see the
    README's table).

    Args:
        grid: evaluation points ``t``, ascending, shape ``(grid_size,)``.
        density: ``φ(t)`` on the grid, normalised to integrate to 1 (trapezoid rule).
        negative_fraction: share of eigenvalues below ``−τ``.
        zero_fraction: share with ``|λ| ≤ τ`` ("near zero", as in ``analyze``).
        positive_fraction: share above ``τ``.
        negative_fraction_stderr: standard error of ``negative_fraction`` across runs
            (NaN for one run).
        zero_fraction_stderr: the same for ``zero_fraction``.
        positive_fraction_stderr: the same for ``positive_fraction``.
        threshold: ``τ``.
        sigma: the Gaussian broadening ``σ`` of ``density``.
        num_runs: random start vectors R.
        num_steps: Lanczos steps per run.
        num_hvp: Hessian-vector products spent.

    Example:
        >>> d = Density(np.linspace(-1, 1, 3), np.array([0.0, 1.0, 0.0]), 0.0, 0.5, 0.5,
        ...             0.0, 0.01, 0.01, 1e-4, 0.1, 5, 80, 400)
        >>> d.negative_fraction, d.positive_fraction, d.positive_fraction_stderr
        (0.0, 0.5, 0.01)
    """

    grid: np.ndarray
    density: np.ndarray
    negative_fraction: float
    zero_fraction: float
    positive_fraction: float
    negative_fraction_stderr: float
    zero_fraction_stderr: float
    positive_fraction_stderr: float
    threshold: float
    sigma: float
    num_runs: int
    num_steps: int
    num_hvp: int


@dataclass(frozen=True)
class CriticalPoint:
    """What kind of point the weights sit at (notes F13, F14), by the rule of ``classify``.

    The rule is ``kerasnotes.curvature.classify.RULE``, stated in that module's
    docstring (its one statement); ``minimum_ratio = #{λ > τ} / n``.

    Args:
        kind: one of ``"not_critical"``, ``"local_minimum"``, ``"local_maximum"``,
            ``"saddle"``, ``"flat"``.
        grad_norm: ``‖∇L‖₂`` at the weights.
        lambda_min: smallest Hessian eigenvalue.
        lambda_max: largest Hessian eigenvalue.
        minimum_ratio: share of eigenvalues above ``τ`` (F14).
        escape_direction: unit eigenvector of ``λmin`` for a saddle, else ``None``.
        num_hvp: Hessian-vector products spent.
        minimum_ratio_stderr: its standard error across SLQ runs; ``0.0`` when it was
            counted exactly from the dense Hessian's eigenvalues.

    Example:
        >>> CriticalPoint("saddle", 0.0, -2.0, 2.0, 0.5, np.ones(2) / 2**0.5, 4).kind
        'saddle'
    """

    kind: str
    grad_norm: float
    lambda_min: float
    lambda_max: float
    minimum_ratio: float
    escape_direction: np.ndarray | None
    num_hvp: int
    minimum_ratio_stderr: float = 0.0


@dataclass(frozen=True)
class Landscape:
    """The loss on a line or a plane through the weights (notes F16).

    ```
    loss[i]    = L(θ + a_i d₁)                 (1-D line,  b is None)
    loss[i, j] = L(θ + a_i d₁ + b_j d₂)        (2-D plane)
    near a critical point, along a unit eigenvector u with Hu = λu:  L(θ + a u) ≈ L(θ) + ½ λ a²
    ```

    Args:
        a: values along the first direction, ascending, shape ``(num,)``.
        b: values along the second direction, shape ``(num,)``, or ``None`` for a line.
        loss: the loss on the grid, shape ``(num,)`` or ``(num, num)`` (``loss[i, j]`` at
            ``a[i]``, ``b[j]``); NaN or Inf where the loss is not finite.
        directions: the directions used as columns, shape ``(num_parameters, 1 or 2)``,
            flat over ``model.trainable_variables``.
        center_loss: ``L(θ)``.
        num_hvp: Hessian-vector products spent finding the directions (0 unless
            ``directions="extreme"``).
        eigenvalues: ``[λmin, λmax]``, the eigenvalue of each direction, when
            ``directions="extreme"`` (so a viewer can draw the quadratic model
            ``L(θ) + ½ λ a²`` beside each slice); ``None`` for other directions.

    Example:
        >>> s = Landscape(np.array([-1.0, 0.0, 1.0]), None, np.array([1.0, 0.0, 1.0]),
        ...               np.eye(2)[:, :1], 0.0)
        >>> s.loss.shape, s.b is None
        ((3,), True)
    """

    a: np.ndarray
    b: np.ndarray | None
    loss: np.ndarray
    directions: np.ndarray
    center_loss: float
    num_hvp: int = 0
    eigenvalues: np.ndarray | None = None


@dataclass(frozen=True)
class LayerCurvature:
    """The curvature of one layer's (or one variable's) diagonal Hessian block (notes F18).

    ```
    H_ll = ∂²L/∂θ_l²   (the rows and columns of H that belong to θ_l)
    H_ll v_l = (H [0, …, v_l, …, 0])_l        one full HVP per block product
    lambda_max = λmax(H_ll),   trace = tr(H_ll)
    ```

    Args:
        name: the layer's name (or the variable's path with ``per_variable=True``).
        num_parameters: size of the block.
        lambda_max: largest eigenvalue of the block (Lanczos, exact once the
            Krylov space spans the block).
        trace: trace of the block (Hutch++; exact when the block has at most
            ``num_samples // 3`` parameters, then ``trace_stderr`` is 0).
        trace_stderr: standard error of ``trace``.
        num_hvp: Hessian-vector products spent on this block.

    Example:
        >>> LayerCurvature("dense", 3, 2.0, 3.5, 0.0).lambda_max
        2.0
    """

    name: str
    num_parameters: int
    lambda_max: float
    trace: float
    trace_stderr: float
    num_hvp: int = 0
