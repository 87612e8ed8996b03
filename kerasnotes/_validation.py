"""Argument checks shared by every kerasnotes module, in Keras's wording.

Every check names the argument, says what is allowed, then shows what it got,
the way Keras 3 phrases its own argument errors::

    Argument `learning_rate` must be a finite number >= 0. Received: learning_rate=-1

A wrong *type* raises ``TypeError``, a value of the right type outside what is
allowed raises ``ValueError``. ``bool`` is never a number here, although it is
an ``int`` subclass: ``momentum=True`` is almost surely a slip. Each check
returns the value normalised (a Python ``float``, ``int``, ``bool`` or ``str``)
so a constructor can store what it returns.

The module imports only the standard library and numpy (Keras only to read a
backend tensor), so ``import kerasnotes`` stays as light as ``import keras``.

Example:
    >>> from kerasnotes import _validation
    >>> _validation.positive_number("epsilon", 1e-7)
    1e-07
    >>> _validation.positive_number("epsilon", 0.0)
    Traceback (most recent call last):
    ...
    ValueError: Argument `epsilon` must be a finite number > 0. Received: epsilon=0.0
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np


def message(name: str, value: Any, expected: str) -> str:
    """The error text: ``Argument `name` must be {expected}. Received: name=repr(value)``.

    For checks whose condition is particular to one place: the caller decides,
    this keeps the wording the same everywhere.

    Args:
        name: the argument's name, as the user spells it.
        value: what the user passed (shown with ``repr``).
        expected: what is allowed, phrased to follow "must be".

    Example:
        >>> message("port", -1, "an integer in [0, 65535]")
        'Argument `port` must be an integer in [0, 65535]. Received: port=-1'
    """
    return f"Argument `{name}` must be {expected}. Received: {name}={value!r}"


def is_bool(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy bool.

    Example:
        >>> is_bool(True), is_bool(np.bool_(False)), is_bool(1)
        (True, True, False)
    """
    return isinstance(value, (bool, np.bool_))


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy integer (bools excluded).

    Example:
        >>> is_integer(3), is_integer(np.int64(3)), is_integer(True), is_integer(3.0)
        (True, True, False, False)
    """
    return not is_bool(value) and isinstance(value, (int, np.integer))


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number: int, float, numpy scalar (bools excluded),
    or a 0-d numpy array / backend tensor of a float dtype.

    Example:
        >>> is_real(0.5), is_real(2), is_real(np.float32(0.5)), is_real(True), is_real("1")
        (True, True, True, False, False)
        >>> is_real(np.array(0.5)), is_real(np.array([0.5]))
        (True, False)
    """
    if is_bool(value):
        return False
    if isinstance(value, numbers.Real):
        return True
    # A 0-d numpy array or backend tensor holding a float (a scalar variable, say).
    return getattr(value, "shape", None) == () and "float" in str(getattr(value, "dtype", ""))


def _as_float(value: Any) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    import keras  # only a backend tensor gets here; keras reads it on any backend

    return float(keras.ops.convert_to_numpy(value))


def real_number(
    name: str,
    value: Any,
    *,
    expected: str = "a finite number",
    where: Callable[[float], bool] | None = None,
    finite: bool = True,
) -> float:
    """A finite real number, returned as a float.

    Args:
        name: the argument's name.
        value: what was passed.
        expected: the "must be" phrase of the error (callers that check more
            afterwards pass the whole condition, so both errors read the same).
        where: a further condition on the number (e.g. ``x > 0``), which
            ``expected`` states.
        finite: whether NaN and infinities fail (``in_range`` leaves them to ``where``).

    Raises:
        TypeError: ``value`` is not a real number (a bool, a string, ``None``...).
        ValueError: ``value`` is NaN or infinite, or fails ``where``.

    Example:
        >>> real_number("w1", 2)
        2.0
        >>> real_number("w1", float("nan"))
        Traceback (most recent call last):
        ...
        ValueError: Argument `w1` must be a finite number. Received: w1=nan
    """
    if not is_real(value):
        raise TypeError(message(name, value, expected))
    number = _as_float(value)
    if (finite and not math.isfinite(number)) or (where is not None and not where(number)):
        raise ValueError(message(name, value, expected))
    return number


def non_negative_number(name: str, value: Any) -> float:
    """A finite real number ``x >= 0``, returned as a float.

    Example:
        >>> non_negative_number("learning_rate", 0)
        0.0
        >>> non_negative_number("learning_rate", -1)
        Traceback (most recent call last):
        ...
        ValueError: Argument `learning_rate` must be a finite number >= 0. Received: learning_rate=-1
    """
    return real_number(name, value, expected="a finite number >= 0", where=lambda x: x >= 0)


def positive_number(name: str, value: Any) -> float:
    """A finite real number ``x > 0``, returned as a float.

    Example:
        >>> positive_number("span", 0.5)
        0.5
        >>> positive_number("span", "1")
        Traceback (most recent call last):
        ...
        TypeError: Argument `span` must be a finite number > 0. Received: span='1'
    """
    return real_number(name, value, expected="a finite number > 0", where=lambda x: x > 0)


def in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    include_low: bool = True,
    include_high: bool = True,
) -> float:
    """A real number in the interval from ``low`` to ``high``, returned as a float.

    The interval is written as mathematicians do: ``[0, 1)`` includes 0 and
    excludes 1. A NaN is never in range; ``high=math.inf`` leaves it open above.

    Args:
        name: the argument's name.
        value: what was passed.
        low, high: the interval's ends.
        include_low, include_high: whether each end is allowed.

    Example:
        >>> in_range("momentum", 0.9, 0, 1, include_high=False)
        0.9
        >>> in_range("momentum", 1.0, 0, 1, include_high=False)
        Traceback (most recent call last):
        ...
        ValueError: Argument `momentum` must be a number in [0, 1). Received: momentum=1.0
    """
    interval = f"{'[' if include_low else '('}{low:g}, {high:g}{']' if include_high else ')'}"

    def inside(number: float) -> bool:  # NaN fails both comparisons
        above = number >= low if include_low else number > low
        return above and (number <= high if include_high else number < high)

    return real_number(name, value, expected=f"a number in {interval}", where=inside, finite=False)


def probability(name: str, value: Any) -> float:
    """A real number in ``[0, 1]``, returned as a float.

    Example:
        >>> probability("label_smoothing", 0.1)
        0.1
        >>> probability("label_smoothing", 1.5)
        Traceback (most recent call last):
        ...
        ValueError: Argument `label_smoothing` must be a number in [0, 1]. Received: label_smoothing=1.5
    """
    return in_range(name, value, 0.0, 1.0)


def integer(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    wrong_type: type[Exception] = TypeError,
) -> int:
    """An integer (Python or numpy, not bool), optionally bounded, returned as an int.

    Args:
        name: the argument's name.
        value: what was passed.
        minimum, maximum: the smallest and largest allowed value (None: no bound).
        wrong_type: the exception for a value that is not an integer. ``ValueError``
            only where a released check has always raised it, so code that catches
            it keeps working.

    Example:
        >>> integer("port", 6006, minimum=0, maximum=65535)
        6006
        >>> integer("every", 2.0, minimum=1)
        Traceback (most recent call last):
        ...
        TypeError: Argument `every` must be an integer >= 1. Received: every=2.0
    """
    if minimum is not None and maximum is not None:
        expected = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    else:
        expected = "an integer"
    if not is_integer(value):
        raise wrong_type(message(name, value, expected))
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(message(name, value, expected))
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """An integer ``n >= 1``.

    Example:
        >>> positive_int("depth", 3)
        3
        >>> positive_int("depth", 0)
        Traceback (most recent call last):
        ...
        ValueError: Argument `depth` must be an integer >= 1. Received: depth=0
    """
    return integer(name, value, minimum=1)


def non_negative_int(name: str, value: Any) -> int:
    """An integer ``n >= 0``.

    Example:
        >>> non_negative_int("seed", 0)
        0
        >>> non_negative_int("seed", -1)
        Traceback (most recent call last):
        ...
        ValueError: Argument `seed` must be an integer >= 0. Received: seed=-1
    """
    return integer(name, value, minimum=0)


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` (numpy bools accepted), returned as a Python bool.

    Example:
        >>> boolean("nesterov", np.bool_(True))
        True
        >>> boolean("nesterov", 1)
        Traceback (most recent call last):
        ...
        TypeError: Argument `nesterov` must be True or False. Received: nesterov=1
    """
    if not is_bool(value):
        raise TypeError(message(name, value, "True or False"))
    return bool(value)


def string(name: str, value: Any) -> str:
    """A non-empty ``str``.

    Raises:
        TypeError: ``value`` is not a str.
        ValueError: ``value`` is the empty string.

    Example:
        >>> string("monitor", "val_loss")
        'val_loss'
        >>> string("monitor", "")
        Traceback (most recent call last):
        ...
        ValueError: Argument `monitor` must be a non-empty string. Received: monitor=''
    """
    if not isinstance(value, str):
        raise TypeError(message(name, value, "a non-empty string"))
    if not value:
        raise ValueError(message(name, value, "a non-empty string"))
    return value


def one_of(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` itself when it is one of ``allowed``, else a ``ValueError``.

    Membership is by ``==`` (``value in allowed``); a value that cannot be
    compared (an unhashable one against a set) is simply not allowed.

    Example:
        >>> one_of("per", "epoch", ("epoch", "step"))
        'epoch'
        >>> one_of("per", "batch", ("epoch", "step"))
        Traceback (most recent call last):
        ...
        ValueError: Argument `per` must be one of ('epoch', 'step'). Received: per='batch'
    """
    allowed = (
        allowed if isinstance(allowed, (tuple, list, set, frozenset, dict)) else tuple(allowed)
    )
    try:
        found = value in allowed
    except TypeError:  # an unhashable value tested against a set or dict
        found = False
    if not found:
        raise ValueError(message(name, value, f"one of {allowed!r}"))
    return value


def path(name: str, value: Any, *, optional: bool = False) -> str | None:
    """A non-empty ``str`` or ``os.PathLike``, returned as a str (``None`` too when optional).

    Args:
        name: the argument's name.
        value: what was passed.
        optional: whether ``None`` is allowed (and returned as is).

    Example:
        >>> path("log_dir", None, optional=True) is None
        True
        >>> path("log_dir", 3)
        Traceback (most recent call last):
        ...
        TypeError: Argument `log_dir` must be a non-empty path (str or os.PathLike). Received: log_dir=3
    """
    if value is None and optional:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        allowed = "None or a non-empty path" if optional else "a non-empty path"
        raise TypeError(message(name, value, f"{allowed} (str or os.PathLike)"))
    return os.fspath(value)
