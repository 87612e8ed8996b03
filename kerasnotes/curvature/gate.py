"""A two-stage gradient gate: is ``‖∇L‖`` possibly below ``grad_tol``? (cheap first, exact second).

``SaddlePointDetector`` asks this once per epoch. The exact answer costs one
gradient over the whole probe sample, as many operations as an epoch of
training on that many rows; the first stage answers the common case ("far from
critical") from a small random subsample and states its sampling error.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation
from kerasnotes.curvature import sources
from kerasnotes.curvature.engine import _as_numpy_tree, _num_samples, prepared
from kerasnotes.curvature.flat import gradient_norm
from kerasnotes.curvature.gradient import flat_gradient, loss_and_gradient
from kerasnotes.curvature.placement import process_count

#: Rows of the first stage by default: none. On the digits MLP (64-128-64-10, 1,437
#: rows) the exact full-sample gradient cost about as much as stage 1 on 128 rows in
#: 16 groups on TensorFlow and JAX, and less on torch. On 16,384 rows stage 1 wins
#: at the start of training (0.07-0.19x of the exact gate) but, once ‖g‖ is ~0.2,
#: its 1-D test cannot clear grad_tol from 128-1,024 rows, both stages run and the
#: gate costs 1.1-2.6x the exact one (bench_gate_samples.py, benchmarks/README.md):
#: an "auto" default by sample size would lose over most of a fit.
DEFAULT_SAMPLES = 0
#: Groups the subsample is split into (half give a direction, half test it).
GROUPS = 16
#: One-sided t margin of the test: P(t_7 > 4) = 0.0026 for 8 test groups.
Z = 4.0


class GradientNorm:
    """Loss and gradient norm at a model's *current* weights on fixed data: a cheap gate.

    ```
    L(θ) = Σ_b L_b(θ),   ‖∇L(θ)‖₂ = √(Σ_j g_j²),   g = Σ_b ∇L_b(θ)  (summed in float64)
    ```

    The same objective, micro-batches and compiled gradient function as
    ``HessianProbe(model, x, y, ...)``, so ``gate()`` gives exactly
    ``(probe.loss(), ‖probe.gradient()‖)`` of a probe built at the same
    weights. Unlike the probe it copies nothing per call: the data go to the
    device once, at construction, and each call reads the model's weights as
    they are, so it suits a check once per epoch (``SaddlePointDetector``).
    It holds the model only weakly.

    Args:
        model, x, y, loss, batch_size, sample_weight, bn_mode, steps, cache_bytes: as for
            ``HessianProbe`` (a data source with ``y=None`` is streamed on every call).
        verbose: as for ``HessianProbe``, but 0 by default: a gate runs once per epoch.

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes.curvature.gate import GradientNorm
        >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
        >>> m.set_weights([np.array([[2.0]], "float32")])
        >>> gate = GradientNorm(m, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
        >>> gate()                               # L = w², |dL/dw| = 2|w|
        (4.0, 4.0)
        >>> m.set_weights([np.array([[0.5]], "float32")])
        >>> gate()
        (0.25, 1.0)
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any = None,
        *,
        loss: Any = None,
        batch_size: int | None = None,
        sample_weight: Any = None,
        bn_mode: str = "inference",
        steps: int | None = None,
        cache_bytes: int | None = None,
        verbose: Any = 0,
    ) -> None:
        self._engine, self._batches, self.num_samples = prepared(
            model,
            x,
            y,
            loss,
            batch_size,
            sample_weight,
            bn_mode,
            steps=steps,
            cache_bytes=cache_bytes,
            verbose=verbose,
        )
        self._model = weakref.ref(model)
        self._flat = flat_gradient(self._engine)  # compiled once per engine, shared

    @property
    def model(self) -> keras.Model | None:
        """The model the gate reads (None once it no longer exists)."""
        return self._model()

    def __call__(self) -> tuple[float, float]:
        """``(L(θ), ‖∇L(θ)‖₂)`` at the model's weights now; NaN or Inf are returned as they are."""
        model = self._model()
        if model is None:
            raise RuntimeError("the model this GradientNorm was built for no longer exists")
        # Read, not copied: nothing changes the weights while the gradient runs.
        trainable = [ops.convert_to_tensor(v.value) for v in model.trainable_variables]
        non_trainable = [ops.convert_to_tensor(v.value) for v in model.non_trainable_variables]
        loss, grad = loss_and_gradient(
            self._engine, trainable, non_trainable, self._batches, self._flat
        )
        return loss, gradient_norm(grad)


@dataclass(frozen=True)
class GateResult:
    """One answer of the gate.

    Attributes:
        loss: the loss (on the subsample when ``exact`` is False).
        grad_norm: ``‖g‖`` over the whole sample when ``exact``, else the subsample's ``‖ĝ‖``.
        grad_norm_stderr: ``se``, the estimated standard error of ``ĝ`` (0 when exact).
        grad_norm_lower: the test's lower confidence bound on ``‖g‖`` (``grad_norm`` when exact).
        exact: whether the full-sample gradient was computed (the second stage ran).
        critical: ``exact`` and ``grad_norm ≤ grad_tol``: worth the Hessian analysis.
    """

    loss: float
    grad_norm: float
    grad_norm_stderr: float
    grad_norm_lower: float
    exact: bool
    critical: bool


def _check_int(name: str, value: Any, least: int) -> int:
    # A ValueError for a wrong type too, as the gate has always raised.
    return _validation.integer(name, value, minimum=least, wrong_type=ValueError)


class SubsampleGate:
    """Decide "not critical" from a subsample when that is safe, else compute ``‖∇L‖`` exactly.

    Stage 1 (every call): ``m = K·n`` rows drawn with replacement from a
    generator seeded once, in K groups of n rows (K even); ``g_k`` is the
    gradient of the objective on group k (scaled to estimate the full
    objective, so ``E g_k = g``), all K in one compiled call that returns only
    their losses and Gram matrix ``G_kl = g_k · g_l``::

        ĝ = (1/K) Σ_k g_k,     se² = Σ_k ‖g_k − ĝ‖² / (K(K − 1))   (E se² = E‖ĝ − g‖²)
        u = d/‖d‖,  d = mean of g_k over the first K/2 groups (direction)
        p_b = g_b · u  for the other K/2 groups (independent of u: E[p_b | u] = g·u ≤ ‖g‖)
        lower = mean(p) − z · sd(p) / √(K/2)
        lower > grad_tol  ->  "not critical", (‖ĝ‖, se, lower) reported
        otherwise         ->  stage 2

    Stage 2: the exact full-sample ``(L, ‖g‖)`` of ``GradientNorm``; critical
    iff ``‖g‖ ≤ grad_tol``. The test works along one direction, so its noise is
    ``uᵀΣu/n`` rather than ``tr Σ / n`` (Σ: covariance of one row's gradient):
    ``‖ĝ‖ − z·se`` would need ``‖g‖`` several times ``√(tr Σ / m)``, which at
    the start of training on digits it is not (``‖ĝ‖`` 1.38, ``se`` 0.73).

    Guarantee (``‖g‖`` the full-sample gradient norm, ``‖g‖ < grad_tol / 2``):
    a miss ("not critical") needs ``mean(p) − E[p_b | u] > grad_tol / 2 +
    z·sd(p)/√(K/2)``.

    - Deterministic: when every row's gradient is the same (e.g. all vanish, as
      at the ``(1 − w₁w₂)²`` saddle and a linear network at zero), ``p_b = ‖g‖``
      and ``sd(p) = 0`` (or ``d = 0``, which goes to stage 2), so there is never
      a miss; nor when stage 1 is off (``samples=0``, the default, ``samples ≥ N``,
      ``bn_mode="batch"``, a model with one loss per output, or several
      ``torch.distributed`` processes, each holding a shard).
    - Otherwise, over the random rows: the ``p_b`` are i.i.d. given ``u``;
      for Gaussian ``p_b`` a miss has probability below ``P(t_{K/2−1} > z)``
      (0.0026 for K = 16, z = 4), whatever the dimension. Every answer that
      opens the Hessian analysis is exact.

    Args:
        model, x, y, loss, batch_size, bn_mode, steps, cache_bytes: as for
            ``HessianProbe`` (``batch_size`` is the micro-batch of stage 2; a data
            source with ``y=None`` needs ``samples=0``).
        grad_tol: the gradient-norm threshold of a critical point.
        samples: m, rows of stage 1 (rounded down to a multiple of ``groups``);
            0 (the default, see ``DEFAULT_SAMPLES``) turns stage 1 off.
        groups: K, even, >= 4.
        z: margin of the one-sided t test, >= 0.
        seed: seed of the row draws.

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes.curvature.gate import SubsampleGate
        >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
        >>> m.set_weights([np.array([[2.0]], "float32")])
        >>> x = np.ones((1000, 1), "float32")
        >>> gate = SubsampleGate(m, x, 0 * x, loss="mse", grad_tol=1e-3, samples=128)
        >>> r = gate()                # every row has gradient 2w = 4: sd(p) = 0, far from critical
        >>> r.exact, round(r.grad_norm, 4), round(r.grad_norm_lower, 4), r.grad_norm_stderr
        (False, 4.0, 4.0, 0.0)
        >>> m.set_weights([np.array([[0.0]], "float32")])
        >>> r = gate()                # d = 0: the exact stage decides
        >>> r.exact, r.critical, r.grad_norm
        (True, True, 0.0)
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any = None,
        *,
        grad_tol: float,
        samples: int = DEFAULT_SAMPLES,
        groups: int = GROUPS,
        z: float = Z,
        seed: int = 0,
        loss: Any = None,
        batch_size: int | None = None,
        bn_mode: str = "inference",
        steps: int | None = None,
        cache_bytes: int | None = None,
    ) -> None:
        self.grad_tol = _validation.non_negative_number("grad_tol", grad_tol)
        self.groups = _check_int("groups", groups, 4)
        if self.groups % 2:
            raise ValueError(_validation.message("groups", groups, "even (two halves)"))
        self.samples = _check_int("samples", samples, 0)
        if 0 < self.samples < self.groups:
            raise ValueError(
                _validation.message(
                    "samples", samples, f"0 or at least groups={self.groups} (one row per group)"
                )
            )
        self.z = _validation.non_negative_number("z", z)
        streamed = y is None and sources.is_source(x)
        if streamed and self.samples:
            raise ValueError(
                _validation.message(
                    "samples", samples, "0 when x is a data source (stage 1 draws rows of arrays)"
                )
            )
        self._exact = GradientNorm(
            model,
            x,
            y,
            loss=loss,
            batch_size=batch_size,
            bn_mode=bn_mode,
            steps=steps,
            cache_bytes=cache_bytes,
        )
        self.num_samples = self._exact.num_samples
        self._model = weakref.ref(model)
        per_group = self.samples // self.groups
        # Batch statistics make a row's loss depend on its batch: no unbiased subsample.
        # Several outputs' losses (one weight each) are summed only by the exact stage.
        terms = self._exact._engine.loss.terms
        # Under several processes each holds a shard: rows drawn from one shard are no
        # sample of the whole data, so the exact stage answers alone.
        usable = (
            bn_mode == "inference" and len(terms) == 1 and per_group > 0 and process_count() == 1
        )
        self.subsampled = usable and self.groups * per_group < self.num_samples
        self._stats = None
        if not usable:
            return
        reduction = terms[0].reduction
        # The exact stage's compiled objective, so both stages differentiate one loss.
        self._stats = self._exact._engine.group_stats
        xs, ys = _as_numpy_tree(x, "x"), _as_numpy_tree(y, "y")
        _num_samples(xs, "x")  # checked by GradientNorm already; kept cheap here
        # The sample stays on the device; each call sends only the row indices.
        self._x = keras.tree.map_structure(ops.convert_to_tensor, xs)
        self._y = keras.tree.map_structure(ops.convert_to_tensor, ys)
        # A "sum" loss adds rows, so a group of n rows is scaled by N/n to estimate it.
        scale = self.num_samples / per_group if reduction == "sum" else 1.0
        dtype = model.trainable_variables[0].dtype
        self._weights = ops.convert_to_tensor(np.array([scale, 1.0]), dtype=dtype)
        self._shape = (self.groups, per_group)
        self._rng = np.random.default_rng(seed)

    @property
    def model(self) -> keras.Model | None:
        """The model the gate reads (None once it no longer exists)."""
        return self._model()

    def subsample(self, rows: np.ndarray) -> tuple[float, float, float, float]:
        """``(L̄, ‖ĝ‖, se, lower)`` of stage 1 on the given ``(K, n)`` row indices (no decision).

        Example:
            >>> import keras, numpy as np
            >>> from kerasnotes.curvature.gate import SubsampleGate
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.array([[1.0]], "float32")])
            >>> x = np.array([[0.0], [1.0], [2.0], [3.0]], "float32")
            >>> gate = SubsampleGate(m, x, 0 * x, loss="mse", grad_tol=0.1,
            ...                      samples=4, groups=4, z=1.0)
            >>> # ℓ_i = (w x_i)², g_i = 2 w x_i² = [0, 2, 8, 18]; d = (2 + 8)/2 > 0, so u = 1
            >>> # p = [0, 18]: mean 9, sd 12.73, lower = 9 − 12.73/√2 = 0
            >>> [round(v, 2) for v in gate.subsample(np.array([[1], [2], [0], [3]]))]
            [3.5, 7.0, 4.04, 0.0]
        """
        model = self._model()
        if model is None:
            raise RuntimeError("the model this SubsampleGate was built for no longer exists")
        if self._stats is None:
            raise ValueError("this gate has no first stage (samples=0 or bn_mode='batch')")
        # Read, not copied: nothing changes the weights while the gradient runs.
        trainable = [ops.convert_to_tensor(v.value) for v in model.trainable_variables]
        non_trainable = [ops.convert_to_tensor(v.value) for v in model.non_trainable_variables]
        groups = int(np.shape(rows)[0])
        rows = ops.convert_to_tensor(np.asarray(rows, dtype=np.int32))
        stats = self._stats(trainable, non_trainable, self._x, self._y, rows, self._weights)
        stats = np.asarray(ops.convert_to_numpy(stats), dtype=np.float64)
        losses, gram = stats[:groups], stats[groups:].reshape(groups, groups)
        mean_sq = max(float(gram.mean()), 0.0)
        spread = max(float(np.trace(gram)) - groups * mean_sq, 0.0)
        stderr = math.sqrt(spread / (groups * (groups - 1)))
        half = groups // 2
        direction_sq = float(gram[:half, :half].mean())
        if not direction_sq > 0.0:  # no direction to test (all of its gradients vanish)
            return float(losses.mean()), math.sqrt(mean_sq), stderr, 0.0
        projections = gram[half:, :half].mean(axis=1) / math.sqrt(direction_sq)
        lower = projections.mean() - self.z * projections.std(ddof=1) / math.sqrt(len(projections))
        return float(losses.mean()), math.sqrt(mean_sq), stderr, float(lower)

    def full_sample(self) -> tuple[float, float]:
        """``(L(θ), ‖∇L(θ)‖₂)`` over the whole sample: stage 2 alone (``GradientNorm``)."""
        return self._exact()

    def __call__(self) -> GateResult:
        """Stage 1 on fresh rows, and stage 2 when stage 1 cannot rule a critical point out."""
        if self.subsampled:
            rows = self._rng.integers(0, self.num_samples, size=self._shape)
            loss, norm, stderr, lower = self.subsample(rows)
            finite = all(math.isfinite(v) for v in (loss, norm, stderr, lower))
            # Non-finite values go to stage 2, which reports them for the whole sample.
            if finite and lower > self.grad_tol:
                return GateResult(loss, norm, stderr, lower, exact=False, critical=False)
        loss, norm = self._exact()
        return GateResult(loss, norm, 0.0, norm, exact=True, critical=bool(norm <= self.grad_tol))
