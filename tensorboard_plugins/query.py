"""What one request to the kerasnotes tab may ask for, and how much its answer holds.

A request names a run, and for the spectrum and landscape views a step; a
name that is not in the logs is ``NotFound`` (HTTP 404), a malformed argument
``BadRequest`` (HTTP 400). The limits below bound every answer, so a long run
with many variables still answers well under 1 MB; ``display_indices`` thins
a grid to its limit.

Example:
    >>> chosen_step("run", {3: "a", 7: "b"}, None, "landscape", 0)
    ([3, 7], 7)
    >>> display_indices(5, 3).tolist()
    [0, 2, 4]
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Points returned per scalar series when the log holds more (TensorBoard keeps
#: 1000 scalar samples per tag by default, so this rarely drops anything).
MAX_POINTS = 1000
#: Total scalar points in one response, shared among its series, so a model
#: with many variables still answers well under 1 MB.
POINT_BUDGET = 20_000
#: Critical-point events returned per run.
MAX_EVENTS = 2000
#: Spectral densities considered per run (one per probe).
MAX_DENSITIES = 100_000
#: Grid points of one density sent to the browser.
MAX_GRID = 1000
#: Landscapes considered per run (LandscapeLogger logs a few, at chosen epochs).
MAX_LANDSCAPES = 1000


class NotFound(LookupError):
    """A run, tag or step the request named is not in the logs (HTTP 404)."""


class BadRequest(ValueError):
    """A request argument is missing or malformed (HTTP 400)."""


def display_indices(size: int, limit: int) -> np.ndarray:
    """Evenly spaced indices (first and last included) of at most ``limit`` grid points."""
    if size <= limit:
        return np.arange(size)
    return np.unique(np.round(np.linspace(0, size - 1, limit)).astype(int))


def chosen_step(
    run: str, by_step: dict[int, Any], step: int | None, what: str, skipped: int
) -> tuple[list[int], int]:
    """The logged steps in order and the one asked for (None: the last); NotFound otherwise."""
    steps = sorted(by_step)
    if not steps:
        raise NotFound(f"run {run!r} has no readable {what} ({skipped} skipped)")
    if step is None:
        step = steps[-1]
    if step not in by_step:
        raise NotFound(f"run {run!r} has no {what} at step {step}; steps: {steps}")
    return steps, step
