"""The figures claims are judged by: when a curve first reaches a target, how noisy it is.

Example:
    >>> first_reaching([3.0, 2.0, 1.0, 0.5], 1.0)
    3
    >>> first_reaching([0.2, 0.5, 0.9], 0.9, above=True)
    3
    >>> first_reaching([3.0, 2.0], 1.0) is None
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def first_reaching(values: Sequence[float], target: float, above: bool = False) -> int | None:
    """1-based position of the first value at or below ``target`` (at or above if ``above``).

    ```
    first_reaching(v, t) = min{k ≥ 1 : v_k ≤ t}    (None if no such k)
    ```

    Args:
        values: a curve, e.g. a loss per update or an accuracy per epoch.
        target: the level to reach.
        above: reach from below (accuracy) instead of from above (loss).

    Example:
        >>> first_reaching([0.5, 0.1], 0.1)
        2
    """
    array = np.asarray(values, dtype=np.float64)
    hits = np.flatnonzero(array >= target if above else array <= target)
    return int(hits[0]) + 1 if hits.size else None


def curve_noise(values: Sequence[float]) -> float:
    """Root-mean-square change between consecutive points over the second half of a curve.

    ```
    noise = sqrt(mean_k (v_k − v_{k−1})²),   k over the second half of the curve
    ```

    A smooth descent changes little from one update to the next; a minibatch
    loss jumps with every batch. Curves of fewer than three points give NaN.

    Args:
        values: the curve, e.g. the training loss of every update.

    Example:
        >>> curve_noise([1.0, 1.0, 3.0, 1.0, 3.0])
        2.0
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size < 3:
        return float("nan")
    tail = array[array.size // 2 - 1 :] if array.size // 2 >= 1 else array
    return float(np.sqrt(np.mean(np.diff(tail) ** 2)))


def describe_count(count: int | None, budget: int, unit: str) -> str:
    """ "7 epochs", or "> 30 epochs" when the target was not reached within the budget.

    Args:
        count: the figure from :func:`first_reaching` (None: not reached).
        budget: how many were run.
        unit: "epochs", "updates", ...

    Example:
        >>> describe_count(None, 30, "epochs")
        '> 30 epochs'
    """
    return f"> {budget} {unit}" if count is None else f"{count} {unit}"


def within(count: int | None, budget: int, unit: str) -> str:
    """The same figure as a phrase: "in 7 epochs", or "not within 30 epochs".

    Args:
        count: the figure from :func:`first_reaching` (None: not reached).
        budget: how many were run.
        unit: "epochs", "updates", ...

    Example:
        >>> within(7, 30, "epochs"), within(None, 30, "epochs")
        ('in 7 epochs', 'not within 30 epochs')
    """
    return f"not within {budget} {unit}" if count is None else f"in {count} {unit}"


def count(number: int, noun: str) -> str:
    """ "1 epoch", "10 epochs".

    Args:
        number: how many.
        noun: the singular.

    Example:
        >>> count(1, "epoch"), count(10, "epoch")
        ('1 epoch', '10 epochs')
    """
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
