"""The one rule that classifies a critical point, and its "near zero" threshold τ (F13, F14).

```
‖∇L‖ > grad_tol                          -> "not_critical"
s = max(|λmin|, |λmax|),  τ = curvature_tol · s
s ≤ curvature_tol  or  s ≤ τ             -> "flat"
λmin < −τ and λmax > τ                   -> "saddle"
λmin ≥ −τ                                -> "local_minimum"
λmax ≤ τ                                 -> "local_maximum"
λ < −τ: negative,  |λ| ≤ τ: zero,  λ > τ: positive
minimum_ratio = #{λ > τ} / n
```

``HessianProbe.analyze``, ``HessianProbe.spectral_density`` (its three masses),
``SaddlePointDetector``, the TensorBoard plugin's legend and ``kerasnotes
explain F13`` all use this module, so the rule is stated and applied in one
place. ``s`` comes from the extreme eigenvalues (Ritz values on the Lanczos
path). "flat" means the Hessian is numerically zero: a higher-order critical
point the second derivative cannot classify. A positive semi-definite Hessian
with zero directions is a (degenerate) local minimum.

Example:
    >>> from kerasnotes.curvature import classify
    >>> classify.kind(0.0, -2.0, 2.0, grad_tol=1e-3, curvature_tol=1e-4)
    'saddle'
    >>> classify.kind(0.0, -1e-9, 3.0, grad_tol=1e-3, curvature_tol=1e-4)  # |λmin| ≤ τ: zero
    'local_minimum'
    >>> classify.threshold(-1.0, 4.0, curvature_tol=1e-4)
    0.0004
"""

from __future__ import annotations

import math

__all__ = ["CONDITIONS", "KINDS", "RULE", "kind", "threshold"]

#: The kinds, in the order the rule tests them.
KINDS = ("not_critical", "flat", "saddle", "local_minimum", "local_maximum")

#: Kind -> the condition that selects it, tested in the order of ``KINDS``.
CONDITIONS = {
    "not_critical": "‖∇L‖ > grad_tol",
    "flat": "s ≤ curvature_tol  or  s ≤ τ",
    "saddle": "λmin < −τ and λmax > τ",
    "local_minimum": "λmin ≥ −τ",
    "local_maximum": "λmax ≤ τ",
}

#: The rule as text: docstrings, the plugin and ``kerasnotes explain`` state exactly this.
RULE = "\n".join(
    [
        f'{CONDITIONS["not_critical"]:<40} -> "not_critical"',
        "s = max(|λmin|, |λmax|),  τ = curvature_tol · s",
        *(f'{CONDITIONS[k]:<40} -> "{k}"' for k in KINDS[1:]),
        "λ < −τ: negative,  |λ| ≤ τ: zero,  λ > τ: positive",
        "minimum_ratio = #{λ > τ} / n",
    ]
)


def threshold(lambda_min: float, lambda_max: float, curvature_tol: float) -> float:
    """``τ = curvature_tol · max(|λmin|, |λmax|)``: eigenvalues with ``|λ| ≤ τ`` count as zero.

    Args:
        lambda_min: smallest eigenvalue (or Ritz value).
        lambda_max: largest eigenvalue (or Ritz value).
        curvature_tol: relative tolerance, ≥ 0.

    Example:
        >>> threshold(-3.0, 2.0, curvature_tol=0.1)
        0.30000000000000004
    """
    return float(curvature_tol) * max(abs(float(lambda_min)), abs(float(lambda_max)))


def kind(
    grad_norm: float,
    lambda_min: float,
    lambda_max: float,
    *,
    grad_tol: float,
    curvature_tol: float,
) -> str:
    """The kind of point by ``RULE`` (see the module docstring).

    Args:
        grad_norm: ``‖∇L‖₂``.
        lambda_min: smallest Hessian eigenvalue.
        lambda_max: largest Hessian eigenvalue.
        grad_tol: gradient-norm threshold of a critical point.
        curvature_tol: relative eigenvalue threshold (absolute for "flat").

    Example:
        >>> kind(0.0, 0.0, 1e-6, grad_tol=1e-3, curvature_tol=1e-4)   # H ≈ 0
        'flat'
        >>> kind(0.5, -1.0, 1.0, grad_tol=1e-3, curvature_tol=1e-4)
        'not_critical'
    """
    values = (grad_norm, lambda_min, lambda_max)
    if not all(math.isfinite(float(v)) for v in values):
        raise ValueError(
            "Arguments `grad_norm`, `lambda_min` and `lambda_max` must be finite. Received: "
            f"grad_norm={grad_norm!r}, lambda_min={lambda_min!r}, lambda_max={lambda_max!r}"
        )
    if grad_norm > grad_tol:
        return "not_critical"
    scale = max(abs(lambda_min), abs(lambda_max))
    tau = threshold(lambda_min, lambda_max, curvature_tol)
    if scale <= curvature_tol or scale <= tau:
        return "flat"
    if lambda_min < -tau and lambda_max > tau:
        return "saddle"
    if lambda_min >= -tau:
        return "local_minimum"
    return "local_maximum"
