"""Hutch++: a stochastic trace estimator with a low-rank deflation.

```
S, G ∈ {±1}^{n×s} (Rademacher),  Q = orth(H S)
tr(H) ≈ tr(Qᵀ H Q) + (1/s') Σ_j g_jᵀ (I − QQᵀ) H (I − QQᵀ) g_j
```

(Meyer, Musco, Musco, Woodruff 2021). With ``m`` Hessian-vector products the
error falls like ``1/m`` instead of Hutchinson's ``1/√m`` when the spectrum has
a few large eigenvalues, which is the usual shape of a network's Hessian.
"""

from __future__ import annotations

import numpy as np

from kerasnotes.curvature.lanczos import Matvec, one_blas_thread


@one_blas_thread
def hutchpp(
    matvec: Matvec, n: int, num_samples: int, rng: np.random.Generator
) -> tuple[float, float, int]:
    """Estimate ``tr(H)`` with ``num_samples`` products; return (estimate, stderr, num_matvec).

    A third of the budget (at most ``n``) sketches the range of ``H``, a third
    computes its exact trace there, and the rest goes to Hutchinson samples on
    the orthogonal complement; their spread gives the standard error. When the
    sketch spans the whole space the estimate is exact and the error zero.
    """
    sketch_size = min(num_samples // 3, n)
    sketch = rng.choice([-1.0, 1.0], size=(n, sketch_size))
    image = np.column_stack([matvec(sketch[:, j]) for j in range(sketch_size)])
    q, _ = np.linalg.qr(image)
    exact = sum(q[:, j] @ matvec(q[:, j]) for j in range(sketch_size))
    used = 2 * sketch_size
    if sketch_size == n:
        return float(exact), 0.0, used
    num_probe = num_samples - used
    samples = np.empty(num_probe)
    for j in range(num_probe):
        g = rng.choice([-1.0, 1.0], size=n)
        g -= q @ (q.T @ g)
        samples[j] = g @ matvec(g)
    estimate = float(exact + samples.mean())
    stderr = float(samples.std(ddof=1) / np.sqrt(num_probe)) if num_probe > 1 else float("nan")
    return estimate, stderr, used + num_probe
