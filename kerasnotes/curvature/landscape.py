"""Loss landscapes through the weights: lines and planes along chosen directions (notes F16).

```
L(θ + a·d₁)  or  L(θ + a·d₁ + b·d₂)  on a grid of a, b ∈ [−span, span]
d = (u_min, u_max), unit eigenvectors of λmin, λmax of H      ("extreme")
d = filter-normalised Gaussian directions                        ("random", Li et al. 2018)
near a critical point, along a unit eigenvector: L(θ + a u) ≈ L(θ) + ½ λ a²
```

Filter normalisation (Li, Xu, Taylor, Studer, Goldstein 2018, "Visualizing the
loss landscape of neural nets") rescales each filter of a random direction to
the norm of the same filter of the weights, so that a step of 1 changes every
filter in proportion to its size and the scale invariance of ReLU and
normalised networks does not distort the picture:

```
d[..., j] ← d[..., j] · ‖θ[..., j]‖ / ‖d[..., j]‖      for every variable of rank ≥ 2
d ← 0                                                  for every variable of rank ≤ 1
```

A filter is a slice along the last axis: one output unit of a Dense kernel
``(in, out)``, one output channel of a Conv kernel ``(…, in, out)``. Variables
of rank ≤ 1 (biases, BatchNormalization/LayerNormalization scales and offsets)
are not perturbed (their direction is zeroed), as in Li et al.'s reference
plots; a filter of the weights that is all zero gets a zero direction too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from kerasnotes import _validation
from kerasnotes.curvature.placement import process_sum

STRING_DIRECTIONS = ("extreme", "random")
NORMALIZE = ("filter", "unit", None)
#: Grid points per batched loss call on backends that batch: bounds the
#: memory to that many copies of the weights and activations.
CHUNK = 32


def filter_normalized(direction: list[np.ndarray], weights: list[np.ndarray]) -> list[np.ndarray]:
    """Each filter (slice along the last axis) of ``direction`` scaled to the weights' filter norm.

    ```
    d[..., j] ← d[..., j] · ‖θ[..., j]‖ / ‖d[..., j]‖   (rank ≥ 2),   d ← 0   (rank ≤ 1)
    ```

    Example:
        >>> d = [np.array([[3.0, 0.0], [4.0, 2.0]]), np.array([1.0, 1.0])]
        >>> w = [np.array([[1.0, 0.0], [0.0, 5.0]]), np.array([0.5, 0.5])]
        >>> out = filter_normalized(d, w)
        >>> np.linalg.norm(out[0], axis=0).tolist(), out[1].tolist()
        ([1.0, 5.0], [0.0, 0.0])
    """
    result = []
    for d, w in zip(direction, weights, strict=True):
        if d.ndim <= 1:
            result.append(np.zeros_like(d))
            continue
        axes = tuple(range(d.ndim - 1))
        d_norm = np.sqrt(np.sum(d * d, axis=axes, keepdims=True))
        w_norm = np.sqrt(np.sum(w * w, axis=axes, keepdims=True))
        scale = np.divide(w_norm, d_norm, out=np.zeros_like(d_norm), where=d_norm > 0)
        result.append(d * scale)
    return result


def check_arguments(
    directions: Any, span: Any, num: Any, normalize: Any, n: int
) -> np.ndarray | str:
    """Validate ``landscape``'s arguments; return the string or the ``(n, k)`` direction matrix."""
    _validation.positive_number("span", span)
    _validation.integer("num", num, minimum=2)
    _validation.one_of("normalize", normalize, NORMALIZE)
    allowed = f"one of {STRING_DIRECTIONS}, a flat vector or a pair of flat vectors"
    if isinstance(directions, str):
        if directions not in STRING_DIRECTIONS:
            raise ValueError(_validation.message("directions", directions, allowed))
        if directions == "extreme" and n < 2:
            raise ValueError(
                f"directions='extreme' needs two eigenvectors, but num_parameters={n}; "
                "pass the direction as a vector instead"
            )
        return directions
    if not isinstance(directions, (np.ndarray, Sequence)):
        raise TypeError(_validation.message("directions", directions, allowed))
    try:
        matrix = np.asarray(directions, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"Argument `directions` must be numeric vectors ({error}). "
            f"Received: directions={directions!r}"
        ) from None
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[0] not in (1, 2) or matrix.shape[1] != n:
        raise ValueError(
            f"Argument `directions` must be one flat vector of shape ({n},) or two, "
            f"shape (2, {n}). Received: directions of shape {np.shape(directions)}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError(
            "Argument `directions` must be finite. Received: directions with NaN or Inf"
        )
    if not np.all(np.any(matrix != 0, axis=1)):
        raise ValueError(
            "Argument `directions` must be non-zero vectors. Received: directions with a zero vector"
        )
    return matrix.T.copy()


def compiled_loss(engine: Any) -> tuple[Any, Any]:
    """``(loss, batched_loss or None)`` compiled from the engine's objective, cached on it."""
    if getattr(engine, "loss_only", None) is None:
        from kerasnotes import backends

        backend = backends.active()
        batched = getattr(backend, "batched_loss_function", None)
        engine.loss_only = (
            backend.loss_function(engine.objective),
            batched(engine.objective) if batched is not None else None,
        )
    return engine.loss_only


def _batched_values(probe: Any, batched: Any, coefficients: np.ndarray, directions: np.ndarray):
    """The grid's losses from ``batched``, ``CHUNK`` points per call, the last chunk padded."""
    from keras import ops

    center = probe._to_flat(probe._trainable)
    values = np.empty(len(coefficients))
    for start in range(0, len(coefficients), CHUNK):
        chunk = coefficients[start : start + CHUNK]
        size = len(chunk)
        if size < CHUNK:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], CHUNK - size, axis=0)])
        points = center[None, :] + chunk @ directions.T
        pieces = np.split(points, probe._offsets, axis=1)
        stacked = [
            ops.convert_to_tensor(p.reshape((CHUNK, *shape)).astype(dtype), dtype=dtype)
            for p, shape, dtype in zip(pieces, probe._shapes, probe._dtypes, strict=True)
        ]
        total = np.zeros(CHUNK)
        for x, y, sw, w in probe._batches:
            out = batched(stacked, probe._non_trainable, x, y, sw, w)
            total += np.asarray(ops.convert_to_numpy(out), dtype=np.float64)
        values[start : start + size] = total[:size]
    return values


def evaluate_grid(
    probe: Any, coefficients: np.ndarray, directions: np.ndarray, batch: bool = True
) -> np.ndarray:
    """``L(θ + Σ_k c_pk d_k)`` for every row ``c_p`` of ``coefficients`` (float64 sums).

    One loss evaluation per point and micro-batch, or, on a backend with a
    batched loss (JAX ``jax.vmap``, PyTorch ``torch.func.vmap``, TensorFlow
    ``tf.vectorized_map``) and with ``batch``, ``CHUNK`` points per call, the
    last chunk padded with copies of its first point so the compiled shape
    never changes. A model whose objective the backend cannot vectorise (an
    op without a batching rule) falls back to point by point, with a warning,
    once per probe.
    """
    from keras import ops

    loss_fn, batched = compiled_loss(probe._engine)
    if batch and batched is not None:
        try:
            values = _batched_values(probe, batched, coefficients, directions)
        except Exception as error:  # noqa: BLE001 - any failure to vectorise; re-raised below if real
            warnings.warn(
                f"the landscape grid could not be batched on this backend ({error}); "
                "evaluating it point by point",
                stacklevel=3,
            )
            probe._engine.loss_only = (loss_fn, None)
        else:
            return process_sum(values)
    center = probe._to_flat(probe._trainable)
    values = np.empty(len(coefficients))
    for p, row in enumerate(coefficients):
        trainable = probe._to_tensors(center + directions @ row)
        total = 0.0
        for x, y, sw, w in probe._batches:
            total += float(
                ops.convert_to_numpy(loss_fn(trainable, probe._non_trainable, x, y, sw, w))
            )
        values[p] = total
    # Several processes (placement.py): every shard's losses, added; else unchanged.
    return process_sum(values)


def landscape(probe: Any, directions: Any, span: Any, num: Any, normalize: Any, seed: int) -> Any:
    """The body of ``HessianProbe.landscape`` (see there)."""
    from kerasnotes.curvature.results import Landscape

    n = probe.num_parameters
    checked = check_arguments(directions, span, num, normalize, n)
    before = probe._counted()
    eigenvalues = None
    if isinstance(checked, str) and checked == "extreme":
        pair = probe.eigenvalues(k=1, which="both", seed=seed)
        eigenvalues = np.asarray(pair.values, dtype=np.float64).copy()  # [λmin, λmax]
        matrix = pair.vectors.copy()  # columns u_min, u_max (ascending eigenvalues)
        # A deterministic sign: the largest entry of each eigenvector is positive.
        signs = np.sign(matrix[np.argmax(np.abs(matrix), axis=0), np.arange(2)])
        matrix *= np.where(signs == 0, 1.0, signs)
    elif isinstance(checked, str):  # "random"
        rng = np.random.default_rng(seed)
        matrix = rng.standard_normal((n, 2))
        if normalize == "filter":
            weights = np.split(probe._to_flat(probe._trainable), probe._offsets)
            columns = []
            for k in range(2):
                pieces = np.split(matrix[:, k], probe._offsets)
                shaped = [p.reshape(s) for p, s in zip(pieces, probe._shapes, strict=True)]
                shaped_w = [w.reshape(s) for w, s in zip(weights, probe._shapes, strict=True)]
                columns.append(
                    np.concatenate([d.ravel() for d in filter_normalized(shaped, shaped_w)])
                )
            matrix = np.column_stack(columns)
            if not np.all(np.any(matrix != 0, axis=0)):
                raise ValueError(
                    "normalize='filter' zeroes every direction of this model: it has no "
                    "non-zero weight of rank >= 2 (biases and normalisation parameters are "
                    "not perturbed); use normalize='unit'"
                )
        elif normalize == "unit":
            matrix /= np.linalg.norm(matrix, axis=0, keepdims=True)
    else:
        matrix = checked  # given vectors are used exactly as given
    a = np.linspace(-float(span), float(span), num)
    if matrix.shape[1] == 1:
        b = None
        coefficients = a[:, None]
    else:
        b = a.copy()
        aa, bb = np.meshgrid(a, b, indexing="ij")
        coefficients = np.column_stack([aa.ravel(), bb.ravel()])
    values = evaluate_grid(probe, coefficients, matrix)
    shape = (num,) if b is None else (num, num)
    return Landscape(
        a=a,
        b=b,
        loss=values.reshape(shape),
        directions=matrix,
        center_loss=probe.loss(),
        num_hvp=probe._counted() - before,
        eigenvalues=eigenvalues,
    )
