"""Normalization layers of the notes (F11, F12), drop-in replacements for Keras's.

Example:
    >>> import keras
    >>> from kerasnotes import layers
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16),
    ...                           layers.BatchNormalization(), keras.layers.Dense(2)])
"""

from kerasnotes.layers.batch_normalization import BatchNormalization
from kerasnotes.layers.group_normalization import GroupNormalization
from kerasnotes.layers.layer_normalization import LayerNormalization

__all__ = ["BatchNormalization", "GroupNormalization", "LayerNormalization"]
