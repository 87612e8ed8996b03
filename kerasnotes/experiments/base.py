"""What every claim experiment shares: its modes, its result and where its files go.

A claim module (``c8_cross_entropy.py`` ...) declares its sizes per mode, runs
its configurations from fixed seeds, writes one TensorBoard run per
configuration under ``<log_dir>/<claim>/<config>`` and one PNG plot under
``<log_dir>/<claim>/``, and returns a :class:`ClaimResult` whose figure and
verdict are computed from those runs.

Example:
    >>> import tempfile
    >>> from kerasnotes.experiments.base import ClaimFiles, pick_size
    >>> pick_size({"quick": 2, "default": 10, "full": 40}, "quick")
    2
    >>> files = ClaimFiles(tempfile.mkdtemp(), "C8")
    >>> files.plot_path("c8_cross_entropy").name
    'c8_cross_entropy.png'
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from kerasnotes import _validation

#: The three sizes of every experiment: a smoke test for the test suite, the
#: README's ``kerasnotes tour`` (the whole tour in about two minutes on two
#: cores), and a larger run faithful to the claim (minutes).
MODES = ("quick", "default", "full")

T = TypeVar("T")


def check_mode(mode: Any) -> str:
    """Returns ``mode`` if it is one of :data:`MODES`, else raises ``ValueError``.

    Args:
        mode: "quick", "default" or "full".

    Example:
        >>> check_mode("quick")
        'quick'
    """
    if mode not in MODES:
        raise ValueError(_validation.message("mode", mode, f"one of {', '.join(MODES)}"))
    return mode


def pick_size(sizes: Mapping[str, T], mode: str) -> T:
    """The sizes a claim module declared for ``mode``.

    Args:
        sizes: one entry per mode in :data:`MODES`.
        mode: the mode asked for.

    Example:
        >>> pick_size({"quick": 1, "default": 2, "full": 3}, "full")
        3
    """
    check_mode(mode)
    missing = [m for m in MODES if m not in sizes]
    if missing:
        raise ValueError(f"sizes must have an entry for every mode; missing {missing}")
    return sizes[mode]


def resolve_log_dir(
    log_dir: str | os.PathLike, logdir: str | os.PathLike | None, default: str = "runs"
) -> str | os.PathLike:
    """The log directory of an experiment, from ``log_dir`` or the deprecated ``logdir``.

    ``log_dir`` is the spelling of ``keras.callbacks.TensorBoard``; ``logdir=`` still
    works for now, with a ``DeprecationWarning``.

    Args:
        log_dir: the log directory as passed (``default`` when not given).
        logdir: the deprecated spelling (None when not given).
        default: ``log_dir``'s default, to tell a passed value from an absent one.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     resolve_log_dir("runs", logdir="old_runs")
        'old_runs'
    """
    if logdir is None:
        return log_dir
    if log_dir != default:
        raise TypeError(
            _validation.message(
                "logdir", logdir, f"None when log_dir is given (log_dir={log_dir!r}); pass it once"
            )
        )
    warnings.warn(
        "logdir= is deprecated; pass log_dir= (the spelling of keras.callbacks.TensorBoard)",
        DeprecationWarning,
        stacklevel=3,
    )
    return logdir


@dataclasses.dataclass
class ClaimResult:
    """The outcome of one claim's experiment, as the tour's table shows it.

    Args:
        claim: the claim's id in the notes, "C0" ... "C13".
        title: the claim in a few words.
        figure: the measured headline numbers, short enough for a table cell.
        verdict: one sentence that states the criterion and whether the run met it.
        reproduced: True or False by the stated criterion; None when the run cannot
            decide (e.g. no configuration reached the target).
        plot: the PNG written under the log directory.
        runs: the TensorBoard run directories, one per configuration.
        seconds: wall time of the whole experiment.
        numbers: every figure the verdict used, by name (for tests and scripts).
        status_label: the status shown for a tour step that is not a claim (the
            search says "searched"); None for claims, whose status follows ``reproduced``.
        smoke_test: the runs were too short to decide (quick mode): an undecided
            claim says "undecided (smoke test)".

    Example:
        >>> result = ClaimResult("C8", "cross-entropy vs MSE", "CE 7 vs MSE 19 epochs",
        ...                      "C8: ...", True, None)
        >>> result.status
        'reproduced'
    """

    claim: str
    title: str
    figure: str
    verdict: str
    reproduced: bool | None
    plot: Path | None
    runs: list[Path] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    numbers: dict[str, float] = dataclasses.field(default_factory=dict)
    status_label: str | None = None
    smoke_test: bool = False

    @property
    def is_claim(self) -> bool:
        """Whether this is a claim of the notes (the tour's search step is not)."""
        return self.status_label is None

    @property
    def status(self) -> str:
        """ "reproduced", "not reproduced", "undecided" (or a step's ``status_label``).

        Example:
            >>> ClaimResult("C0", "", "", "", None, None, smoke_test=True).status
            'undecided (smoke test)'
        """
        if self.status_label is not None:
            return self.status_label
        if self.reproduced is None:
            return "undecided (smoke test)" if self.smoke_test else "undecided"
        return "reproduced" if self.reproduced else "not reproduced"


class ClaimFiles:
    """The folder of one claim under the log directory: its runs and its plot.

    ```
    <log_dir>/<claim>/<config>/events.out.tfevents...   one TensorBoard run per configuration
    <log_dir>/<claim>/<name>.png                        the claim's plot
    ```

    Args:
        log_dir: the tour's log directory (created if missing).
        claim: the claim's id, e.g. "C8".

    Example:
        >>> import tempfile
        >>> files = ClaimFiles(tempfile.mkdtemp(), "C3")
        >>> files.run_dir("batch_32").name
        'batch_32'
    """

    def __init__(self, log_dir: str | os.PathLike, claim: str) -> None:
        if not isinstance(log_dir, (str, os.PathLike)) or not os.fspath(log_dir):
            raise TypeError(_validation.message("log_dir", log_dir, "a non-empty path"))
        self.root = Path(log_dir) / claim
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs: list[Path] = []

    def run_dir(self, config: str) -> Path:
        """The run directory of ``config``, emptied of this tour's earlier event files.

        A rerun replaces its own run instead of appending a second curve to it
        (TensorBoard would draw both in one line); only event files are removed.
        """
        path = self.root / config
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("events.out.tfevents.*"):
            old.unlink()
        if path not in self.runs:
            self.runs.append(path)
        return path

    def plot_path(self, name: str) -> Path:
        """Where the claim's PNG goes."""
        return self.root / f"{name}.png"
