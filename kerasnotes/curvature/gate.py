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

from kerasnotes.curvature.objective import resolve_loss
from kerasnotes.curvature.probe import GradientNorm, _as_numpy_tree, _engine_for, _num_samples

#: Rows of the probe sample drawn afresh for the first stage on every call.
DEFAULT_SAMPLES = 128
#: Groups the subsample is split into; their spread estimates the sampling error.
GROUPS = 8
#: Standard errors the subsample norm must clear above ``grad_tol`` to skip the exact stage.
Z = 3.0


@dataclass(frozen=True)
class GateResult:
    """One answer of the gate.

    Attributes:
        loss: the loss (on the subsample when ``exact`` is False).
        grad_norm: ``‖g‖`` over the whole sample when ``exact``, else the subsample's ``‖ĝ‖``.
        grad_norm_stderr: ``se``, the estimated standard error of ``ĝ`` (0 when exact).
        exact: whether the full-sample gradient was computed (the second stage ran).
        critical: ``exact`` and ``grad_norm ≤ grad_tol``: worth the Hessian analysis.
    """

    loss: float
    grad_norm: float
    grad_norm_stderr: float
    exact: bool
    critical: bool


def _check_int(name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an int >= {least}; got {name}={value!r}")
    return int(value)


def _check_positive(name: str, value: Any, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number; got {name}={value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {allowed}; got {name}={value!r}")
    return value


class SubsampleGate:
    """Decide "not critical" from a subsample when that is safe, else compute ``‖∇L‖`` exactly.

    Stage 1 (every call, when ``samples`` is below the sample size N and the
    loss is a sum over rows, i.e. ``bn_mode="inference"``): ``m = K·n`` rows
    drawn without replacement from a generator seeded once, split into K groups
    of n rows; ``g_k`` is the gradient of the objective on group k (scaled to
    estimate the full objective), all K in one compiled call::

        ĝ = (1/K) Σ_k g_k,          se² = Σ_k ‖g_k − ĝ‖² / (K (K − 1))
        E[se²] = tr Σ / m ≥ E‖ĝ − g‖²   (Σ: covariance of one row's gradient;
                                          sampling without replacement only lowers the right side)
        ‖ĝ‖ − z·se > grad_tol  ->  "not critical", (‖ĝ‖, se) reported
        otherwise              ->  stage 2

    Stage 2: the exact full-sample ``(L, ‖g‖)`` of ``GradientNorm``; critical
    iff ``‖g‖ ≤ grad_tol``. With K = 2 the rule is ``se = ‖g₁ − g₂‖ / 2``.

    Guarantee (``‖g‖`` the full-sample gradient norm, ``‖g‖ < grad_tol / 2``):
    stage 1 can only report "not critical" when ``‖ĝ‖ > grad_tol + z·se``, so
    a miss needs ``‖ĝ − g‖ ≥ ‖ĝ‖ − ‖g‖ > grad_tol / 2 + z·se``.

    - Deterministic: when every row's gradient is the same (e.g. all vanish, as
      at the ``(1 − w₁w₂)²`` saddle and a linear network at zero), ``ĝ = g``
      and ``se = 0``, so there is never a miss; nor when ``samples ≥ N`` or
      ``bn_mode="batch"`` (stage 2 always runs).
    - Otherwise, over the random rows: with Gaussian group gradients the
      chance of a miss is at most ``P(|t_{K−1}| > z)`` (all the noise along one
      direction; 0.020 for K = 8, z = 3), and far less when the noise spreads
      over several directions (``P(F(d, d(K−1)) > z²)`` for d equal ones,
      below 1e-4 at d = 4). Every answer that opens the Hessian analysis is
      exact.

    Args:
        model, x, y, loss, batch_size, bn_mode: as for ``HessianProbe``
            (``batch_size`` is the micro-batch of stage 2).
        grad_tol: the gradient-norm threshold of a critical point.
        samples: m, rows of stage 1 (rounded down to a multiple of ``groups``).
        groups: K >= 2.
        z: standard errors of margin, >= 0.
        seed: seed of the row draws.

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes.curvature.gate import SubsampleGate
        >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
        >>> m.set_weights([np.array([[2.0]], "float32")])
        >>> x = np.ones((1000, 1), "float32")
        >>> gate = SubsampleGate(m, x, 0 * x, loss="mse", grad_tol=1e-3)
        >>> r = gate()                # every row has gradient 2w = 4: se = 0, far from critical
        >>> r.exact, round(r.grad_norm, 4), r.grad_norm_stderr
        (False, 4.0, 0.0)
        >>> m.set_weights([np.array([[0.0]], "float32")])
        >>> r = gate()                # ‖ĝ‖ = 0 <= grad_tol: the exact stage decides
        >>> r.exact, r.critical, r.grad_norm
        (True, True, 0.0)
    """

    def __init__(
        self,
        model: keras.Model,
        x: Any,
        y: Any,
        *,
        grad_tol: float,
        samples: int = DEFAULT_SAMPLES,
        groups: int = GROUPS,
        z: float = Z,
        seed: int = 0,
        loss: Any = None,
        batch_size: int | None = None,
        bn_mode: str = "inference",
    ) -> None:
        self.grad_tol = _check_positive("grad_tol", grad_tol, allow_zero=True)
        self.samples = _check_int("samples", samples, 2)
        self.groups = _check_int("groups", groups, 2)
        if self.samples < self.groups:
            raise ValueError(
                f"samples must be at least groups={self.groups} (one row per group); "
                f"got samples={self.samples}"
            )
        self.z = _check_positive("z", z, allow_zero=True)
        self._exact = GradientNorm(model, x, y, loss=loss, batch_size=batch_size, bn_mode=bn_mode)
        self.num_samples = self._exact.num_samples
        self._model = weakref.ref(model)
        per_group = self.samples // self.groups
        # Batch statistics make a row's loss depend on its batch: no unbiased subsample.
        self.subsampled = bn_mode == "inference" and self.groups * per_group < self.num_samples
        if not self.subsampled:
            return
        loss_fn, reduction = resolve_loss(loss, model)
        self._stats = _engine_for(model, loss, loss_fn, bn_mode).group_stats
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

    def subsample(self, rows: np.ndarray) -> tuple[float, float, float]:
        """``(L̄, ‖ĝ‖, se)`` of stage 1 on the given ``(K, n)`` row indices (no decision).

        Example:
            >>> import keras, numpy as np
            >>> from kerasnotes.curvature.gate import SubsampleGate
            >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
            >>> m.set_weights([np.array([[1.0]], "float32")])
            >>> x = np.array([[0.0], [1.0], [2.0], [3.0]], "float32")
            >>> gate = SubsampleGate(m, x, 0 * x, loss="mse", grad_tol=0.1,
            ...                      samples=2, groups=2)
            >>> # ℓ_i = (w x_i)², g_i = 2 w x_i²: g = [0, 8], ĝ = 4, se = ‖[-4, 4]‖ / √2 = 4
            >>> [round(v, 4) for v in gate.subsample(np.array([[0], [2]]))]
            [2.0, 4.0, 4.0]
        """
        model = self._model()
        if model is None:
            raise RuntimeError("the model this SubsampleGate was built for no longer exists")
        if not self.subsampled:
            raise ValueError(
                "this gate has no first stage (samples >= the sample size, or bn_mode='batch')"
            )
        # Read, not copied: nothing changes the weights while the gradient runs.
        trainable = [ops.convert_to_tensor(v.value) for v in model.trainable_variables]
        non_trainable = [ops.convert_to_tensor(v.value) for v in model.non_trainable_variables]
        rows = ops.convert_to_tensor(np.asarray(rows, dtype=np.int32))
        stats = self._stats(trainable, non_trainable, self._x, self._y, rows, self._weights)
        loss, mean_sq, spread = np.asarray(ops.convert_to_numpy(stats), dtype=np.float64)
        groups = rows.shape[0]
        stderr = math.sqrt(max(spread, 0.0) / (groups * (groups - 1)))
        return float(loss), math.sqrt(max(mean_sq, 0.0)), stderr

    def __call__(self) -> GateResult:
        """Stage 1 on fresh rows, and stage 2 when stage 1 cannot rule a critical point out."""
        if self.subsampled:
            rows = self._rng.choice(self.num_samples, self._shape[0] * self._shape[1], False)
            loss, norm, stderr = self.subsample(rows.reshape(self._shape))
            finite = math.isfinite(loss) and math.isfinite(norm) and math.isfinite(stderr)
            # Non-finite values go to stage 2, which reports them for the whole sample.
            if finite and norm - self.z * stderr > self.grad_tol:
                return GateResult(loss, norm, stderr, exact=False, critical=False)
        loss, norm = self._exact()
        return GateResult(loss, norm, 0.0, exact=True, critical=bool(norm <= self.grad_tol))
