"""Constructor checks shared by the optimizers and schedules.

Each check raises at construction, naming the argument, the value received and
what is allowed, so a bad setting never reaches a training step.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
import numpy as np


def _is_real_number(value: Any) -> bool:
    # bool is an int subclass, but True as a learning rate is almost surely a slip.
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, numbers.Real):
        return True
    # A 0-d numpy array or backend tensor holding a real number.
    return getattr(value, "shape", None) == () and "float" in str(getattr(value, "dtype", ""))


def check_real(name: str, value: Any) -> float:
    """Returns ``value`` as a finite float or raises naming ``name``."""
    if not _is_real_number(value):
        raise TypeError(f"`{name}` must be a real number; received {name}={value!r}.")
    value = float(keras.ops.convert_to_numpy(value)) if hasattr(value, "shape") else float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite; received {name}={value!r}.")
    return value


def check_non_negative(name: str, value: Any) -> float:
    """A finite float >= 0."""
    value = check_real(name, value)
    if value < 0:
        raise ValueError(f"`{name}` must be >= 0; received {name}={value!r}.")
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite float > 0."""
    value = check_real(name, value)
    if value <= 0:
        raise ValueError(f"`{name}` must be > 0; received {name}={value!r}.")
    return value


def check_unit_interval(name: str, value: Any) -> float:
    """A float in [0, 1): a decay rate that keeps some memory and forgets some."""
    value = check_real(name, value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1); received {name}={value!r}.")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A plain bool (numpy bools accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; received {name}={value!r}.")
    return bool(value)


def check_learning_rate(value: Any) -> Any:
    """A finite float >= 0, a ``LearningRateSchedule`` or a zero-argument callable."""
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule) or callable(value):
        return value
    if not _is_real_number(value):
        raise TypeError(
            "`learning_rate` must be a float, a "
            "keras.optimizers.schedules.LearningRateSchedule or a callable; "
            f"received learning_rate={value!r}."
        )
    return check_non_negative("learning_rate", value)
