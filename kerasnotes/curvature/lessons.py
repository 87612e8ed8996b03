"""The lessons' views of a probe's Hessian: loss landscapes (F16) and per-layer blocks (F18).

``HessianProbe`` inherits these methods from ``LessonMethods``; the work is
done in ``curvature/landscape.py`` and ``curvature/layers.py``, which only need
the probe's loss evaluations, Hessian-vector products and flat layout.
"""

from __future__ import annotations

from typing import Any

from kerasnotes.curvature import landscape as landscape_module
from kerasnotes.curvature import layers as layers_module
from kerasnotes.curvature.spectrum import DEFAULT_MAX_ITER


class LessonMethods:
    """``landscape`` and ``layer_curvature`` of ``HessianProbe`` (a mixin: no state of its own)."""

    def landscape(
        self,
        directions: Any = "extreme",
        span: float = 1.0,
        num: int = 41,
        normalize: str | None = "filter",
        *,
        seed: int = 0,
    ) -> Any:
        """The loss on a line or a plane through the weights (notes F16).

        ```
        loss[i]    = L(θ + a_i d₁)              one direction: a line, b is None
        loss[i, j] = L(θ + a_i d₁ + b_j d₂)     two directions: a plane,  a = b = linspace(−span, span, num)
        "extreme": d₁ = u_min, d₂ = u_max, unit eigenvectors of λmin, λmax
                   near a critical point L(θ + a u) ≈ L(θ) + ½ λ a²
        "random":  Gaussian d₁, d₂, filter-normalised (Li et al. 2018):
                   d[..., j] ← d[..., j] · ‖θ[..., j]‖ / ‖d[..., j]‖,   rank ≤ 1 variables: d = 0
        ```

        A filter is a slice along a kernel's last axis: an output unit of a
        Dense kernel, an output channel of a Conv kernel. Biases and
        normalisation scales/offsets (rank ≤ 1) are not perturbed by random
        directions, as in Li et al.'s plots. Eigenvectors are unit vectors
        (the sign makes their largest entry positive); given vectors are used
        exactly as given, so ``a`` is in their units. Each grid point costs one
        compiled loss evaluation (forward pass only); 32 points share one
        batched call (``jax.vmap``, ``torch.func.vmap``, ``tf.vectorized_map``)
        where the backend can vectorise the model (convolutions on PyTorch and
        TensorFlow cannot: point by point there, with a warning). ``"extreme"`` first spends the HVPs of
        ``eigenvalues(k=1, which="both")``.

        Args:
            directions: ``"extreme"``, ``"random"``, one flat vector (a line) or
                two, shape ``(2, num_parameters)`` (a plane).
            span: the grid covers ``[−span, span]`` along each direction, > 0.
            num: grid points per axis, ≥ 2 (odd puts θ itself on the grid).
            normalize: for ``"random"`` only: ``"filter"``, ``"unit"`` (unit
                Euclidean norm) or ``None`` (raw Gaussian).
            seed: seed of the random directions or of Lanczos' start vector.

        Returns:
            ``Landscape(a, b, loss, directions, center_loss, num_hvp, eigenvalues)``;
            ``eigenvalues`` is ``[λmin, λmax]`` of the two directions for
            ``"extreme"`` and ``None`` otherwise.

        Example:
            >>> import numpy as np, kerasnotes as kn
            >>> model, x, y, loss = kn.datasets.product_saddle()   # L = (1 − w₁w₂)²
            >>> p = kn.curvature.HessianProbe(model, x, y, loss=loss)
            >>> u = np.array([1.0, 1.0]) / np.sqrt(2)
            >>> s = p.landscape(u, span=2.0, num=5)               # L(t u) = (1 − t²/2)²
            >>> s.a.tolist(), np.round(s.loss, 6).tolist()
            ([-2.0, -1.0, 0.0, 1.0, 2.0], [1.0, 0.25, 1.0, 0.25, 1.0])
        """
        return landscape_module.landscape(self, directions, span, num, normalize, seed)

    def layer_curvature(
        self,
        num_samples: int = 100,
        per_variable: bool = False,
        *,
        tol: float = 1e-4,
        max_iter: int = DEFAULT_MAX_ITER,
        seed: int = 0,
    ) -> list:
        """λmax and trace of each layer's diagonal Hessian block (notes F18).

        ```
        H_ll = ∂²L/∂θ_l²,   H_ll v_l = (H [0, …, v_l, …, 0])_l    (one HVP per block product)
        lambda_max = λmax(H_ll)  (Lanczos, residual ≤ tol·max|θ|),   trace = tr(H_ll)  (Hutch++)
        Σ_l tr(H_ll) = tr(H)
        ```

        One entry per layer with trainable weights, in the order of
        ``model.trainable_variables`` (a variable belongs to the innermost layer
        that created it), or per variable with ``per_variable=True``. A block of
        at most ``num_samples // 3`` parameters is computed exactly (its
        ``size`` columns, ``trace_stderr = 0``); so is every block once
        ``dense_hessian()`` has been computed. Larger blocks: Lanczos for λmax
        plus ``num_samples`` Hutch++ products for the trace.

        Args:
            num_samples: Hutch++ products per block, ≥ 3.
            per_variable: one entry per variable instead of per layer.
            tol: relative residual tolerance of the block λmax, > 0.
            max_iter: Lanczos steps per block at most.
            seed: seed of the random vectors.

        Returns:
            ``[LayerCurvature(name, num_parameters, lambda_max, trace, trace_stderr, num_hvp)]``.

        Example:
            >>> import keras, numpy as np, kerasnotes as kn
            >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")],
            ...                      name="net")
            >>> x = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")
            >>> p = kn.curvature.HessianProbe(m, x, np.zeros((2, 1)), loss="mse")
            >>> [(c.name, c.num_parameters, round(c.trace, 6))       # diag blocks of H
            ...  for c in p.layer_curvature(per_variable=True)]
            [('net/out/kernel', 2, 5.0), ('net/out/bias', 1, 2.0)]
            >>> [(c.name, round(c.lambda_max, 6)) for c in p.layer_curvature()]  # one block: H
            [('out', 5.302776)]
        """
        return layers_module.layer_curvature(self, num_samples, per_variable, tol, max_iter, seed)
