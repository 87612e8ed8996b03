"""One flat float64 vector over a model's trainable variables, and back.

```
θ = concat(vec(W_1), …, vec(W_K))          (in the order of model.trainable_variables)
offsets = cumsum(|W_1|, …, |W_{K−1}|),     n = Σ_k |W_k|
```

Every curvature vector (a gradient, a Hessian-vector product, an eigenvector,
an escape direction) is such a flat ``numpy.float64`` array of length ``n``;
the model holds the same numbers as K tensors of their own shapes and dtypes.
The probe and ``SaddlePointDetector`` convert between the two here. Sums are
done in float64 and cast back to each variable's dtype only at the end, so a
float32 model's round trip is exact and a step ``θ + η u`` is rounded once.

Example:
    >>> import keras, numpy as np
    >>> from kerasnotes.curvature.flat import FlatLayout
    >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> layout = FlatLayout.of(m.trainable_variables)
    >>> layout.shapes, layout.size                   # kernel 2×3, bias 3
    ([(2, 3), (3,)], 9)
    >>> theta = layout.to_flat(m.trainable_variables)
    >>> [tuple(t.shape) for t in layout.to_tensors(theta)]
    [(2, 3), (3,)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops


def to_flat(tensors: Sequence[Any]) -> np.ndarray:
    """``concat(vec(t_1), …, vec(t_K))`` as float64: tensors, variables or arrays.

    Example:
        >>> to_flat([np.ones((2, 2), "float32"), np.array([3.0])])
        array([1., 1., 1., 1., 3.])
    """
    return np.concatenate(
        [np.asarray(ops.convert_to_numpy(t), dtype=np.float64).ravel() for t in tensors]
    )


def gradient_norm(flat: np.ndarray) -> float:
    """``‖g‖₂ = √(Σ_j g_j²)`` of a flat float64 vector, summed without BLAS.

    ``np.linalg.norm`` calls OpenBLAS's threaded dot, which on a small machine
    waits for cores held by TensorFlow's spinning threads after a TF ``fit``,
    which makes a microsecond sum take milliseconds.

    Example:
        >>> gradient_norm(np.array([3.0, 4.0]))
        5.0
    """
    return float(np.sqrt(np.einsum("i,i->", flat, flat)))


def read_weights(variables: Sequence[Any]) -> list[np.ndarray]:
    """Copies of the variables' values as numpy arrays of their own dtypes.

    Copies, so later training (or torch's in-place updates) cannot change them.

    Example:
        >>> import keras
        >>> v = keras.Variable(np.array([1.0, 2.0], "float32"))
        >>> saved = read_weights([v])
        >>> _ = v.assign([5.0, 6.0])
        >>> saved[0]
        array([1., 2.], dtype=float32)
    """
    return [
        np.array(v.numpy() if isinstance(v, keras.Variable) else ops.convert_to_numpy(v), copy=True)
        for v in variables
    ]


def assign_weights(variables: Sequence[Any], arrays: Sequence[np.ndarray]) -> None:
    """``v_k ← a_k`` for each variable, in order; the counts must match.

    Example:
        >>> import keras
        >>> v = keras.Variable(np.zeros(2, "float32"))
        >>> assign_weights([v], [np.array([1.0, 2.0], "float32")]); read_weights([v])[0]
        array([1., 2.], dtype=float32)
    """
    if len(variables) != len(arrays):
        raise ValueError(
            f"Argument `arrays` must hold one array per variable ({len(variables)}). "
            f"Received: arrays with {len(arrays)} arrays"
        )
    for variable, array in zip(variables, arrays, strict=True):
        variable.assign(array)


def assign_flat(variables: Sequence[Any], flat: Any) -> None:
    """``[W_1, …, W_K] ← θ``: the flat vector cut, reshaped and cast to each variable.

    The inverse of :func:`to_flat` (``θ`` of another length raises ``ValueError``).

    Example:
        >>> import keras
        >>> w, b = keras.Variable(np.zeros((1, 2), "float32")), keras.Variable(np.zeros(1))
        >>> assign_flat([w, b], np.array([1.0, 2.0, 3.0])); to_flat([w, b])
        array([1., 2., 3.])
    """
    layout = FlatLayout.of(variables)
    assign_weights(variables, layout.to_arrays(layout.check(flat, "flat")))


class FlatLayout:
    """Shapes, dtypes and offsets of a list of variables seen as one flat vector.

    ```
    to_flat:    [W_1, …, W_K] -> θ ∈ ℝⁿ (float64)
    to_tensors: θ -> [W_1, …, W_K]  (each reshaped and cast to its variable's dtype)
    shifted:    [W_k] , u, η -> [W_k + η u_k]   (added in float64, cast back once)
    ```

    Args:
        shapes: the variables' shapes, in order.
        dtypes: their dtypes (names such as ``"float32"``), in order.

    Example:
        >>> layout = FlatLayout([(2,), (1, 2)], ["float32", "float64"])
        >>> layout.offsets.tolist(), layout.size
        ([2], 4)
        >>> [a.tolist() for a in layout.to_arrays(np.arange(4.0))]
        [[0.0, 1.0], [[2.0, 3.0]]]
    """

    def __init__(self, shapes: Sequence[Sequence[int]], dtypes: Sequence[str]) -> None:
        if len(shapes) != len(dtypes):
            raise ValueError(
                f"Argument `dtypes` must have one entry per variable, as `shapes` "
                f"({len(shapes)}). Received: dtypes with {len(dtypes)} entries"
            )
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.dtypes = list(dtypes)
        sizes = [int(np.prod(s)) for s in self.shapes]
        self.offsets = np.cumsum(sizes)[:-1]
        self.size = int(sum(sizes))

    @classmethod
    def of(cls, variables: Sequence[Any]) -> FlatLayout:
        """The layout of these variables (or arrays): their shapes and dtypes."""
        return cls([tuple(v.shape) for v in variables], [_dtype_name(v.dtype) for v in variables])

    @staticmethod
    def to_flat(tensors: Sequence[Any]) -> np.ndarray:
        """``concat(vec(W_1), …, vec(W_K))`` as float64 (see :func:`to_flat`)."""
        return to_flat(tensors)

    def check(self, v: Any, name: str = "v") -> np.ndarray:
        """``v`` as a float64 array; ``ValueError`` naming ``name`` unless its shape is ``(n,)``."""
        v = np.asarray(v, dtype=np.float64)
        if v.shape != (self.size,):
            raise ValueError(
                f"Argument `{name}` must be a flat vector of shape ({self.size},) over "
                f"model.trainable_variables. Received: {name} with shape {v.shape}"
            )
        return v

    def to_arrays(self, flat: np.ndarray) -> list[np.ndarray]:
        """The flat vector cut at the offsets, each piece reshaped and cast to its dtype."""
        pieces = np.split(flat, self.offsets)
        return [
            p.reshape(shape).astype(dtype)
            for p, shape, dtype in zip(pieces, self.shapes, self.dtypes, strict=True)
        ]

    def to_tensors(self, flat: np.ndarray) -> list:
        """:meth:`to_arrays` as backend tensors of the variables' dtypes."""
        return [
            ops.convert_to_tensor(array, dtype=dtype)
            for array, dtype in zip(self.to_arrays(flat), self.dtypes, strict=True)
        ]

    def shifted(
        self, arrays: Sequence[np.ndarray], direction: np.ndarray, step: float
    ) -> list[np.ndarray]:
        """``W_k + step · u_k`` per array, added in float64 and cast back to each array's dtype.

        Example:
            >>> layout = FlatLayout([(2,)], ["float32"])
            >>> layout.shifted([np.ones(2, "float32")], np.array([1.0, -1.0]), 0.5)
            [array([1.5, 0.5], dtype=float32)]
        """
        pieces = np.split(np.asarray(direction, dtype=np.float64), self.offsets)
        return [
            (np.asarray(array).astype(np.float64) + step * piece.reshape(np.shape(array))).astype(
                np.asarray(array).dtype
            )
            for array, piece in zip(arrays, pieces, strict=True)
        ]


def _dtype_name(dtype: Any) -> str:
    # Keras variables report "float32"; numpy arrays a np.dtype: one spelling for both.
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name
