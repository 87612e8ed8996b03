"""Argument checks of ``kerasnotes.tuning``: fixed values, choices and (min, max) ranges.

Each check raises a ``ValueError`` or ``TypeError`` in Keras's wording
(``kerasnotes._validation.message``: "Argument `name` must be ... Received:
name=value"), before any model or search exists. Plain integer checks use
``kerasnotes._validation`` directly; what is particular to a search space (a
choice list, a ``(min, max)`` range, a sample shape) lives here.

Example:
    >>> from kerasnotes.tuning._checks import _choices, _range
    >>> _choices("batch_sizes", (32, 64, 32)), _range("rho", (0.8, 0.99), 0.0, 1.0, open_high=True)
    ((32, 64), (0.8, 0.99))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from kerasnotes import _validation

Number = int | float
#: A hyperparameter argument: a fixed number or a ``(min, max)`` pair.
RangeSpec = Number | tuple[Number, Number]


def _is_number(value: Any) -> bool:
    # Narrower than ``_validation.is_real`` (no 0-d arrays): the released condition.
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _choices(name: str, value: Any, allowed: Sequence[str] | None = None) -> tuple:
    """A fixed value or a non-empty sequence of choices -> a tuple without repeats."""
    if isinstance(value, str) or _validation.is_integer(value):
        items = (value,)
    elif isinstance(value, Sequence):
        items = tuple(value)
    else:
        raise TypeError(_validation.message(name, value, "a value or a sequence of values"))
    if not items:
        raise ValueError(
            _validation.message(name, value, "a value or a sequence of at least one choice")
        )
    for item in items:
        if allowed is not None:
            if item not in allowed:
                raise ValueError(
                    _validation.message(
                        name,
                        value,
                        f"one of {list(allowed)} or a sequence of them ({item!r} is not)",
                    )
                )
        elif not _validation.is_integer(item) or item < 1:
            raise ValueError(
                _validation.message(name, value, "an integer >= 1 or a sequence of them")
            )
    return tuple(int(i) if _validation.is_integer(i) else i for i in dict.fromkeys(items))


def _range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    integer: bool = False,
    open_low: bool = False,
    open_high: bool = False,
) -> Number | tuple[Number, Number]:
    """A fixed number or a ``(min, max)`` pair inside [low, high] (ends open where asked)."""
    check = _validation.is_integer if integer else _is_number
    kind = "integer" if integer else "number"
    if check(value):
        pair = (value, value)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        pair = tuple(value)
        if not all(check(v) for v in pair):
            raise TypeError(_validation.message(name, value, f"a (min, max) pair of two {kind}s"))
    else:
        raise TypeError(_validation.message(name, value, f"a {kind} or a (min, max) pair"))
    lo, hi = (int(v) for v in pair) if integer else (float(v) for v in pair)
    lo_ok = lo > low if open_low else lo >= low
    hi_ok = hi < high if open_high else hi <= high
    if not (lo_ok and hi_ok and lo <= hi and math.isfinite(lo) and math.isfinite(hi)):
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(
            _validation.message(
                name, value, f"a {kind} or a (min, max) pair in {interval} with min <= max"
            )
        )
    return lo if lo == hi else (lo, hi)


def _input_shape(value: Any) -> tuple[int, ...]:
    shape = (value,) if _validation.is_integer(value) else value
    if (
        not isinstance(shape, Sequence)
        or isinstance(shape, str)
        or not shape
        or not all(_validation.is_integer(d) and d > 0 for d in shape)
    ):
        raise ValueError(
            _validation.message(
                "input_shape",
                value,
                "a non-empty tuple of positive integers (the shape of one sample, "
                "without the batch axis), e.g. (64,)",
            )
        )
    return tuple(int(d) for d in shape)


def _widths(width: Number | tuple[int, int]) -> tuple[int, ...]:
    """Every width the space can pick: a fixed width, or min, 2·min, 4·min, ... <= max."""
    if isinstance(width, int):
        return (width,)
    values, w = [], width[0]
    while w <= width[1]:
        values.append(w)
        w *= 2
    return tuple(values)
