"""Offline data for the notes' experiments: scikit-learn's bundled sets.

Nothing here touches the network. Each loader returns float32 features,
standardised with the training split's mean and standard deviation (so the
validation split never leaks into the scaling), and integer labels.

Example:
    >>> from kerasnotes import datasets
    >>> (x_train, y_train), (x_val, y_val) = datasets.load_digits(validation_fraction=0.2)
    >>> x_train.shape[1], int(y_train.max()) + 1
    (64, 10)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _split_and_scale(
    features: np.ndarray, labels: np.ndarray, validation_fraction: float, seed: int
) -> Split:
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            f"validation_fraction must be in [0, 1); got validation_fraction={validation_fraction!r}"
        )
    order = np.random.default_rng(seed).permutation(len(features))
    num_val = int(round(validation_fraction * len(features)))
    val_idx, train_idx = order[:num_val], order[num_val:]
    x_train = features[train_idx].astype(np.float64)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # constant pixels (digits' borders) stay at zero instead of NaN

    def scale(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).astype(np.float32)

    return (
        (scale(features[train_idx]), labels[train_idx].astype(np.int32)),
        (scale(features[val_idx]), labels[val_idx].astype(np.int32)),
    )


def _load(loader: Callable, validation_fraction: float, seed: int) -> Split:
    bunch = loader()
    return _split_and_scale(np.asarray(bunch.data), np.asarray(bunch.target), validation_fraction, seed)


def load_digits(validation_fraction: float = 0.2, seed: int = 0) -> Split:
    """8x8 handwritten digits (1,797 images, 64 pixels, 10 classes).

    Args:
        validation_fraction: share of the samples held out for validation, in [0, 1).
        seed: seed of the shuffle that picks the validation samples.

    Returns:
        ``((x_train, y_train), (x_val, y_val))``, features standardised per pixel.
    """
    from sklearn.datasets import load_digits as _digits

    return _load(_digits, validation_fraction, seed)


def load_breast_cancer(validation_fraction: float = 0.2, seed: int = 0) -> Split:
    """Wisconsin breast cancer (569 samples, 30 features, 2 classes).

    Args:
        validation_fraction: share of the samples held out for validation, in [0, 1).
        seed: seed of the shuffle that picks the validation samples.
    """
    from sklearn.datasets import load_breast_cancer as _cancer

    return _load(_cancer, validation_fraction, seed)


def load_iris(validation_fraction: float = 0.2, seed: int = 0) -> Split:
    """Iris (150 samples, 4 features, 3 classes).

    Args:
        validation_fraction: share of the samples held out for validation, in [0, 1).
        seed: seed of the shuffle that picks the validation samples.
    """
    from sklearn.datasets import load_iris as _iris

    return _load(_iris, validation_fraction, seed)
