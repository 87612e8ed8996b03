"""Classification cross-entropies of the notes (F8, F9) as drop-in Keras losses.

Each class is a ``keras.losses.Loss`` with exactly the arguments and defaults of
its Keras twin; each function has the signature of the Keras function of the
same name. The math, in ``keras.ops``:

- from logits, the stable forms ``softplus(z) − z·y = max(z, 0) − z·y + log(1 + e^{−|z|})``
  (binary) and ``log Σ e^{z_k} = m + log Σ e^{z_k − m}``, m = max z (categorical),
  finite for any z. The two softmax cross-entropies are evaluated by Keras's
  own ``keras.ops`` cross-entropies, which are the backend's fused kernels where
  it has them (``tf.nn.*softmax_cross_entropy_with_logits``, torch's
  ``cross_entropy``): one kernel and one backward pass instead of six to ten
  element-wise operations, the same stable form, and the same numbers as
  ``keras.losses``. The binary one is written out (see ``_binary_terms``);
- from probabilities, Keras's clipping of ŷ to ``[ε, 1 − ε]`` (ε =
  ``keras.backend.epsilon()``), so the numbers match Keras's.

What is checked, and when:

- Shapes, always, from the static shapes (so also while a training step is being
  traced): binary and categorical labels must have the prediction's shape after
  Keras's rank alignment; sparse labels the prediction's shape without the
  class axis. A mismatch is a ``ValueError`` naming both shapes, never a silent
  broadcast.
- Label values, whenever the labels are concrete arrays: every direct call,
  every training step on PyTorch (eager), and ``fit(..., run_eagerly=True)`` on
  TensorFlow and JAX. Inside a compiled step (``tf.function``, ``jax.jit``) the
  values are unknown and cannot be checked. Binary and categorical labels must
  lie in [0, 1]; sparse labels must be integers in [0, C) (or ``ignore_class``).

One concept a module, every public name re-exported here: ``binary`` (F8),
``categorical`` and ``sparse`` (F9, the latter with ``ignore_class`` masking);
``_checks`` (arguments, shapes, label values) and ``_common`` (rank alignment,
logits, the ``keras.losses.Loss`` plumbing) are what they share.

Example:
    >>> import numpy as np
    >>> from kerasnotes import losses
    >>> y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> logits = np.array([[-1e4, 1e4], [3.0, -2.0]])
    >>> round(float(losses.CategoricalCrossentropy(from_logits=True)(y_true, logits)), 4)
    0.0034
"""

from __future__ import annotations

from .binary import BinaryCrossentropy, binary_crossentropy
from .categorical import CategoricalCrossentropy, categorical_crossentropy
from .sparse import SparseCategoricalCrossentropy, sparse_categorical_crossentropy

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]
