"""What the tests of the probing callbacks (LandscapeLogger, SharpnessMonitor) share."""

from __future__ import annotations

import keras
import numpy as np
import pytest

# The arguments every probing callback checks the same way (``callbacks/_common.py``).
COMMON_BAD_ARGUMENTS = [
    (dict(num_samples=0), ValueError, "num_samples=0"),
    (dict(seed=-1), ValueError, "seed=-1"),
    (dict(batch_size=0), ValueError, "batch_size=0"),
    (dict(verbose=-1), ValueError, "verbose=-1"),
    (dict(log_dir=3), TypeError, "log_dir=3"),
    (dict(loss=3), TypeError, "loss=3"),
]


def check_data_must_be_a_pair(cls, x) -> None:
    """A bare array (no targets) is refused with the pair message."""
    with pytest.raises(TypeError, match="`data` must be a pair"):
        cls(x)


def check_config_round_trip(callback) -> dict:
    """``from_config`` and Keras serialization both give back the same config and sample."""
    cls = type(callback)
    config = callback.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    np.testing.assert_array_equal(clone.x, callback.x)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert isinstance(restored, cls) and restored.get_config() == config
    return config
