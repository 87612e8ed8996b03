"""Extreme eigenpairs (Lanczos) and the trace (Hutch++) of a probe's Hessian.

```
k = 1:  Lanczos, T_m = Q_mᵀ H Q_m;  k > 1: block Lanczos;  residual_i = ‖H y_i − θ_i y_i‖
tr(H) ≈ tr(Qᵀ H Q) + (1/s) Σ_j g_jᵀ (I − QQᵀ) H (I − QQᵀ) g_j,   Q = orth(H S)
```

``HessianProbe`` inherits these methods from ``SpectrumMethods``; they only
need its Hessian-vector products (``hvp`` and ``_operator``), its
``num_parameters``, its product counter and, optionally, ``_solving`` (the
probe's progress bar over a solver; without it the solvers are silent).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from kerasnotes import _validation
from kerasnotes.curvature.lanczos import (
    MIN_KRYLOV_DIM,
    BlockRun,
    Tridiagonal,
    block_lanczos,
    lanczos,
)
from kerasnotes.curvature.results import EigenResult, TraceResult
from kerasnotes.curvature.trace import hutchpp

WHICH = ("largest", "smallest", "both")
#: Lanczos steps when ``eigenvalues(max_iter=None)``; the basis costs 8·n·steps bytes.
DEFAULT_MAX_ITER = 300
#: Refined Ritz pairs are tried once a Ritz residual is within this factor of the target.
REFINE_WINDOW = 10.0


class SpectrumMethods:
    """``eigenvalues`` and ``trace`` of ``HessianProbe`` (a mixin: it has no state of its own)."""

    def _solving(self, label: str, products: int | None) -> contextlib.AbstractContextManager:
        """The progress shown over a solver of at most ``products`` products (none here)."""
        return contextlib.nullcontext()

    def eigenvalues(
        self,
        k: int = 1,
        which: str = "largest",
        tol: float = 1e-4,
        max_iter: int | None = None,
        *,
        v0: Any = None,
        seed: int = 0,
        operator: str = "hessian",
        min_iter: int | None = None,
    ) -> EigenResult:
        """Extreme eigenpairs of the Hessian by (block) Lanczos with full reorthogonalisation.

        ```
        k = 1:  single-vector Lanczos, T_m = Q_mᵀ H Q_m tridiagonal,
                residual_i = |β_m s_i[m]|
        k > 1:  block Lanczos with block size b = k from b random vectors,
                T = Qᵀ H Q block tridiagonal, residual_i = ‖W S_last,i‖₂
                (W: the last block's H Q_m outside the basis)
        Ritz pairs (θ_i, Q s_i),  T s_i = θ_i s_i
        k = 1: refined pair (ρ_i, Q y_i),  y_i = argmin_{‖y‖=1} ‖(T̄_m − θ_i Ī) y‖,  ρ_i = y_iᵀ T_m y_i,
               kept instead when its residual ‖(T̄_m − ρ_i Ī) y_i‖ is smaller
        converged  ⇔  residual_i ≤ tol · max_j |θ_j| for the wanted pairs  and  b ≥ k
        stopping test first asked at m = min_iter  (random start: max(20, 2·wanted + 1))
        ```

        The criterion is a backward error: each returned pair is exact for a
        matrix within ``tol·‖H‖`` of ``H``. A single start vector sees each
        distinct eigenvalue once, so a repeated eigenvalue (e.g. the ``I ⊗ G``
        Hessian of a multi-output linear regression) would come back as one
        copy plus neighbours; with ``k > 1`` a block of ``k`` vectors is used,
        which sees multiplicity up to ``k`` and resolves clusters of up to
        ``k`` close eigenvalues. For ``k = 1`` multiplicity does not change
        the answer and the cheaper single-vector run is kept. Both ends come
        from one Krylov space, so ``which="both"`` costs little more than one
        end when both ends stand apart; a clustered end (the small and negative
        eigenvalues of a trained network) converges slower, and there the
        refined pair (``Tridiagonal.refined``), whose residual is never larger
        than the Ritz pair's, stops the run earlier. Unlike ``scipy``'s ``eigsh`` there is no restart: at most
        ``max_iter`` HVPs are spent.

        A residual proves that a value is near *some* eigenvalue, not that it
        is the extreme one: from a random start the largest eigenvalue may
        enter the Krylov space only after a few steps, and before that the
        second one can meet the tolerance (on a trained digits MLP: 4.0694 with
        residual 3e-4·λ at step 9, λmax = 4.1411 found at step 12). So the run
        takes at least ``min_iter`` steps, ARPACK's default Krylov dimension
        (``max(20, 2k + 1)``), before its stopping test is asked. A given
        ``v0`` is taken as a warm start that already points at the wanted end
        (a previous eigenvector) and may stop at the first step.

        Args:
            k: number of eigenpairs at each requested end, ``1 ≤ k < num_parameters``.
            which: ``"largest"``, ``"smallest"`` or ``"both"`` (k at each end).
            tol: relative residual tolerance, > 0.
            max_iter: maximum HVPs (basis vectors; whole blocks of ``k`` when
                ``k > 1``); ``None`` means ``min(num_parameters, 300)``.
            v0: optional warm-start vector (e.g. a previous eigenvector); with
                ``k > 1`` it is the first column of the start block.
            seed: seed of the random start vectors.
            operator: ``"hessian"`` (``H``) or ``"ggn"``, the generalized Gauss–Newton
                matrix ``G = JᵀH_ℓJ`` of ``ggn_vp`` (F19); ``num_hvp`` then counts
                GGN products.
            min_iter: HVPs spent before the stopping test is first asked; ``None``
                means ``max(20, 2·p + 1)`` from a random start (``p`` the wanted
                pairs: ``k``, or ``2k`` with ``which="both"``; at most ``max_iter``
                and the dimension) and 1 from a given ``v0``.

        Returns:
            ``EigenResult`` with values ascending and vectors as matching columns.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> p = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse")
            >>> np.round(p.eigenvalues(k=1, which="both").values, 6)   # H = diag(1, 4)
            array([1., 4.])
            >>> m2 = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False)])
            >>> p2 = kn.curvature.HessianProbe(m2, x, np.zeros((2, 2)), loss="mse")
            >>> r = p2.eigenvalues(k=2)   # H = I₂ ⊗ diag(1, 4) / 2: 2 twice, 0.5 twice
            >>> np.round(r.values, 6), r.converged
            (array([2., 2.]), True)
        """
        n = self.num_parameters
        matvec = self._operator(operator)
        if which not in WHICH:
            raise ValueError(_validation.message("which", which, f"one of {WHICH}"))
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(_validation.message("k", k, "an integer >= 1"))
        if k >= n or (which == "both" and 2 * k > n):
            raise ValueError(
                f"k={k} is too large for a model with num_parameters={n}: need k < "
                f"{n}{' and 2k <= num_parameters for which=both' if which == 'both' else ''}; "
                "use dense_hessian() for the full spectrum"
            )
        if not tol > 0:
            raise ValueError(_validation.message("tol", tol, "a number > 0"))
        if max_iter is None:
            max_iter = min(n, DEFAULT_MAX_ITER)
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)):
            raise TypeError(_validation.message("max_iter", max_iter, "None or an integer"))
        if max_iter < (2 * k if which == "both" else k):
            raise ValueError(f"max_iter={max_iter} is smaller than the number of wanted pairs")
        least = 2 * k if which == "both" else k
        if min_iter is None:
            guarded = max(MIN_KRYLOV_DIM, 2 * least + 1) if v0 is None else 1
            min_iter = min(guarded, max_iter, n)
        elif isinstance(min_iter, bool) or not isinstance(min_iter, (int, np.integer)):
            raise TypeError(_validation.message("min_iter", min_iter, "None or an integer"))
        elif not 1 <= min_iter <= max_iter:
            raise ValueError(
                _validation.message("min_iter", min_iter, f"an integer in [1, max_iter={max_iter}]")
            )
        rng = np.random.default_rng(seed)
        start = rng.standard_normal(n) if v0 is None else self._check_vector(v0, "v0")
        if not np.any(start):
            raise ValueError("v0 must be a non-zero vector")

        def wanted(theta: np.ndarray) -> np.ndarray:
            m = len(theta)
            low, high = np.arange(min(k, m)), np.arange(max(m - k, 0), m)
            if which == "smallest":
                return low
            if which == "largest":
                return high
            return np.unique(np.concatenate([low, high]))

        block_size = 1 if k == 1 else k

        def converged(run: Tridiagonal | BlockRun) -> bool:
            theta, s = run.ritz()
            if len(theta) < least:
                return False
            idx = wanted(theta)
            target = tol * max(np.max(np.abs(theta)), 1e-300)
            residuals = run.residuals(s[:, idx])
            if np.all(residuals <= target) or isinstance(run, BlockRun):
                return bool(np.all(residuals <= target))
            # A refined Ritz vector's residual is at most the Ritz vector's and
            # rarely below a tenth of it: only near the target is it worth an SVD.
            return all(
                r <= target or (r <= REFINE_WINDOW * target and run.refined(theta[i])[2] <= target)
                for i, r in zip(idx, residuals, strict=True)
            )

        before = self._counted()
        with self._solving(f"eigenvalues ({which})", max_iter):
            if block_size == 1:
                run: Tridiagonal | BlockRun = lanczos(
                    matvec, start, max_iter, rng, stop=converged, min_steps=min_iter
                )
            else:
                # Column 0 is the given (or random) start; the others are random.
                block = np.column_stack([start, rng.standard_normal((n, block_size - 1))])
                # The backends have no batched HVP: a block costs b single products.
                run = block_lanczos(
                    lambda vs: np.column_stack([matvec(v) for v in vs.T]),
                    block,
                    max_iter,
                    rng,
                    stop=converged,
                    min_size=min_iter,
                )
        basis = run.basis
        theta, s = run.ritz()
        idx = wanted(theta)
        residuals = run.residuals(s[:, idx])
        if basis.shape[1] == n:
            residuals = np.zeros_like(residuals)  # the Krylov space is everything: exact
        values, coefficients = theta[idx].copy(), s[:, idx]
        if isinstance(run, Tridiagonal) and basis.shape[1] < n:
            # k = 1: keep whichever of the Ritz and the refined pair has the smaller residual.
            for j, i in enumerate(idx):
                y, rho, refined_residual = run.refined(theta[i])
                if refined_residual < residuals[j]:
                    values[j], coefficients[:, j], residuals[j] = rho, y, refined_residual
        vectors = basis @ coefficients
        vectors /= np.linalg.norm(vectors, axis=0, keepdims=True)
        scale = max(np.max(np.abs(theta)), 1e-300)
        return EigenResult(
            values=values,
            vectors=vectors,
            residuals=residuals,
            # Multiplicity up to the block size is visible; the block size is k.
            converged=bool(np.all(residuals <= tol * scale) and block_size >= k),
            num_hvp=self._counted() - before,
        )

    def trace(self, num_samples: int = 100, *, seed: int = 0) -> TraceResult:
        """Hutch++ estimate of ``tr(H)`` with a standard error.

        ```
        tr(H) ≈ tr(Qᵀ H Q) + (1/s) Σ_j g_jᵀ (I − QQᵀ) H (I − QQᵀ) g_j,   Q = orth(H S)
        ```

        Args:
            num_samples: total Hessian-vector products, ≥ 3.
            seed: seed of the Rademacher vectors.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> p = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse")
            >>> round(p.trace(num_samples=6).estimate, 6)   # small models: exact
            5.0
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
            raise TypeError(_validation.message("num_samples", num_samples, "an integer >= 3"))
        if num_samples < 3:
            raise ValueError(_validation.message("num_samples", num_samples, "an integer >= 3"))
        with self._solving("trace", num_samples):
            estimate, stderr, used = hutchpp(
                self.hvp, self.num_parameters, num_samples, np.random.default_rng(seed)
            )
        return TraceResult(estimate=estimate, stderr=stderr, num_hvp=used)
