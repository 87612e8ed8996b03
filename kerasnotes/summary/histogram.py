"""Histogram buckets as TensorBoard's Histograms dashboard reads them.

``buckets(values, k)`` is the ``(k, 3)`` table ``[left_edge, right_edge, count]``
that ``Writer.histogram`` writes: k equal-width buckets over the finite values'
[min, max].

Example:
    >>> import numpy as np
    >>> buckets(np.array([0.0, 1.0, 1.0, 4.0, np.nan]), 2).tolist()
    [[0.0, 2.0, 3.0], [2.0, 4.0, 1.0]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_HISTOGRAM_BUCKETS", "buckets"]

#: Buckets of ``Writer.histogram`` unless told otherwise.
DEFAULT_HISTOGRAM_BUCKETS = 30


def buckets(values: np.ndarray, k: int) -> np.ndarray:
    """k equal-width buckets over [min, max] as the (k, 3) ``[left, right, count]`` array.

    Non-finite values are left out (a histogram has no bucket for them); an
    empty input gives k rows of zeros, a constant one puts every count in the
    last bucket with both edges at the value, as TensorBoard's own summaries do.
    """
    finite_mask = np.isfinite(values)
    # No copy when every value is finite (the usual case): one pass fewer.
    finite = values if finite_mask.all() else values[finite_mask]
    if finite.size == 0:
        return np.zeros((k, 3))
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        table = np.zeros((k, 3))
        table[:, :2] = low
        table[-1, 2] = finite.size
        return table
    edges = np.linspace(low, high, k + 1)
    # Bucket i holds [edge_i, edge_{i+1}); the maximum joins the last bucket.
    # floor((v - low) / (high - low) * k), in place: the same rounding, fewer arrays.
    scaled = np.subtract(finite, low)
    scaled /= high - low
    scaled *= k
    index = scaled.astype(np.int64)
    np.minimum(index, k - 1, out=index)
    table = np.empty((k, 3))
    table[:, 0], table[:, 1] = edges[:-1], edges[1:]
    table[:, 2] = np.bincount(index, minlength=k)
    return table
