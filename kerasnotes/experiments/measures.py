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

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from kerasnotes import _validation


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
    """:func:`describe_count`'s figure (the same arguments) as a phrase: "in 7 epochs", or
    "not within 30 epochs".

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


#: How many seeds a noisy claim runs per mode: one is a smoke test, three give a spread.
SEEDS = {"quick": 1, "default": 3, "full": 5}

#: The verdict of a noisy claim needs its mean effect beyond this many standard errors.
MARGIN_STDERRS = 2.0

#: Accuracy below this multiple of chance (1 / classes) never reproduces a claim about accuracy.
CHANCE_FACTOR = 2.0


def seeds(mode: str, seed: int = 0) -> list[int]:
    """The seeds a noisy claim runs in ``mode``: ``seed, seed + 1, ...`` (see :data:`SEEDS`).

    Example:
        >>> seeds("default", 10), seeds("quick")
        ([10, 11, 12], [0])
    """
    if mode not in SEEDS:
        raise ValueError(_validation.message("mode", mode, f"one of {', '.join(SEEDS)}"))
    return [seed + k for k in range(SEEDS[mode])]


@dataclasses.dataclass(frozen=True)
class SeedVerdict:
    """A claim's effect measured once per seed, and what it decides.

    ```
    mean   m  = (1/n) Σ_s e_s                  e_s > 0: the claim's direction
    spread se = std(e, ddof=1) / √n            (standard error of the mean)
    reproduced      if m >  k·se and every e_s > 0
    not reproduced  if m < −k·se and every e_s < 0
    undecided       otherwise, with fewer than two seeds, or in a smoke test
    ```

    Args:
        reproduced: True, False or None (undecided) by the rule above.
        mean: the mean effect.
        stderr: its standard error (NaN with one seed).
        values: the effect of each seed.
        reason: why it is undecided ("" when decided).
    """

    reproduced: bool | None
    mean: float
    stderr: float
    values: tuple[float, ...]
    reason: str = ""

    def describe(self, unit: str = "", scale: float = 1.0, digits: int = 2) -> str:
        """ "+1.20 ± 0.30 points over 3 seeds (k=2 standard errors)".

        Args:
            unit: appended to the numbers, e.g. " points".
            scale: multiplies every number (100 for fractions shown as points).
            digits: decimals.

        Example:
            >>> decide([1.0, 2.0, 3.0]).describe(" epochs", digits=1)
            '+2.0 ± 0.6 epochs (mean ± standard error over 3 seeds)'
        """
        n = len(self.values)
        if n < 2:
            return f"{scale * self.mean:+.{digits}f}{unit} (one seed, no spread)"
        return (
            f"{scale * self.mean:+.{digits}f} ± {scale * self.stderr:.{digits}f}{unit} "
            f"(mean ± standard error over {n} seeds)"
        )


def decide(
    effects: Sequence[float], k: float = MARGIN_STDERRS, smoke_test: bool = False
) -> SeedVerdict:
    """Decide a noisy claim from its effect per seed (positive: the claim's direction).

    A claim is reproduced only when its mean effect exceeds ``k`` standard
    errors of the seed-to-seed spread and no seed points the other way; it is
    not reproduced when the opposite holds; anything between is undecided. One
    seed has no spread, so it never decides.

    Args:
        effects: one number per seed; NaN (a seed that could not measure it) counts against.
        k: standard errors the mean must exceed.
        smoke_test: the runs are too short to decide (the tour's quick mode).

    Example:
        >>> decide([0.8, 1.1, 0.9]).reproduced
        True
        >>> decide([0.8, -0.5, 0.9]).reproduced is None
        True
        >>> decide([-2.0, -2.5, -1.5]).reproduced
        False
        >>> decide([5.0, 5.0, 5.0, -0.1]).reason
        'the seeds disagree in sign'
    """
    if not isinstance(k, (int, float)) or not k > 0:
        raise ValueError(_validation.message("k", k, "a positive number of standard errors"))
    values = tuple(float(v) for v in effects)
    if not values:
        raise ValueError(
            _validation.message("effects", list(values), "one number per seed, at least one")
        )
    array = np.asarray(values)
    finite = array[np.isfinite(array)]
    mean = float(np.mean(finite)) if finite.size else float("nan")
    stderr = (
        float(np.std(finite, ddof=1) / np.sqrt(finite.size)) if finite.size > 1 else float("nan")
    )
    if smoke_test:
        return SeedVerdict(None, mean, stderr, values, "smoke test")
    if finite.size < len(values):
        return SeedVerdict(None, mean, stderr, values, "a seed could not measure it")
    if len(values) < 2:
        return SeedVerdict(None, mean, stderr, values, "one seed has no spread")
    if mean > k * stderr and np.all(array > 0):
        return SeedVerdict(True, mean, stderr, values)
    if mean < -k * stderr and np.all(array < 0):
        return SeedVerdict(False, mean, stderr, values)
    if abs(mean) > k * stderr:  # beyond the margin, yet some seed points the other way
        return SeedVerdict(None, mean, stderr, values, "the seeds disagree in sign")
    return SeedVerdict(
        None, mean, stderr, values, f"the effect is within {k:g} standard errors of zero"
    )


def all_of(outcomes: Iterable[bool | None]) -> bool | None:
    """Several decisions as one: False if any is False, True if all are True, else None.

    Example:
        >>> all_of([True, True]), all_of([True, None]), all_of([None, False])
        (True, None, False)
    """
    outcomes = list(outcomes)
    if False in outcomes:
        return False
    return True if all(outcomes) else None


def plane_curvatures(grid: np.ndarray, step: float) -> tuple[float, float]:
    """Second differences of a landscape's loss through its centre, along a and along b.

    ```
    c = num // 2:   (L[c−1, c] − 2 L[c, c] + L[c+1, c]) / h²,   (L[c, c−1] − 2 L[c, c] + L[c, c+1]) / h²
    ```

    For a unit eigenvector d with eigenvalue λ this is λ + O(h²) (F16's slice ½λt²).

    Args:
        grid: ``Landscape.loss``, shape (num, num) with num odd (the weights at the centre).
        step: the grid's spacing h (``a[1] − a[0]``).

    Example:
        >>> t = np.linspace(-1, 1, 5)
        >>> a, b = np.meshgrid(t, t, indexing="ij")
        >>> plane_curvatures(1 - a**2 + 0.5 * b**2, 0.5)   # L = 1 − a² + ½b²: curvatures −2, 1
        (-2.0, 1.0)
    """
    c = grid.shape[0] // 2
    along_a = (grid[c - 1, c] - 2 * grid[c, c] + grid[c + 1, c]) / step**2
    along_b = (grid[c, c - 1] - 2 * grid[c, c] + grid[c, c + 1]) / step**2
    return float(along_a), float(along_b)


def above_chance(accuracy: float, num_classes: int, factor: float = CHANCE_FACTOR) -> bool:
    """Whether an accuracy is far enough above chance to support a claim about accuracy.

    ```
    above_chance  ⇔  accuracy ≥ factor / num_classes      (10 classes, factor 2: 20%)
    ```

    Args:
        accuracy: a fraction in [0, 1].
        num_classes: classes of the task.
        factor: multiple of chance required.

    Example:
        >>> above_chance(0.114, 10), above_chance(0.95, 10)
        (False, True)
    """
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(_validation.message("num_classes", num_classes, "an integer >= 2"))
    return bool(np.isfinite(accuracy) and accuracy >= factor / num_classes)


def status_text(reproduced: bool | None, smoke_test: bool = False) -> str:
    """The verdict in words, as plot titles and the tour's table show it.

    Example:
        >>> status_text(None, smoke_test=True), status_text(False)
        ('undecided (smoke test)', 'not reproduced')
    """
    if reproduced is None:
        return "undecided (smoke test)" if smoke_test else "undecided"
    return "reproduced" if reproduced else "not reproduced"


def smoke_test_verdict(verdict: str) -> str:
    """A verdict sentence rewritten for a smoke test: its figures stay, its decision goes.

    The tour's quick mode trains too briefly for a noisy claim to be decided, so
    "reproduced" / "not reproduced" inside the sentence become "smoke test" and
    "undecided (smoke test)" follows the claim's id.

    Example:
        >>> smoke_test_verdict("C4: 3 vs 5 updates (reproduced: faster)")
        'C4: undecided (smoke test), too short to decide; 3 vs 5 updates (smoke test: faster)'
    """
    import re

    body = re.sub(r"\b(?:not reproduced|reproduced)\b", "smoke test", verdict)
    claim, sep, rest = body.partition(": ")
    if not sep or not re.fullmatch(r"C\d+", claim):
        claim, rest = "", body
    prefix = f"{claim}: " if claim else ""
    return f"{prefix}undecided (smoke test), too short to decide; {rest}"
