"""``kerasnotes tour``: reproduce the notes' claims on real data, one experiment per claim.

Each registered claim (see ``kerasnotes.experiments.REGISTRY``) trains its
configurations from fixed seeds, writes a TensorBoard run per configuration and
a PNG plot under ``<log_dir>/<claim>/``, and states a verdict with the criterion
it used. The tour shows a progress display while they run, then one table
(claim, figure, verdict, plot, TensorBoard runs), then the commands that open
the runs in TensorBoard.

After the claims (in default and full mode, or when ``--only`` names it) comes
the ``search`` step: a small keras-tuner search of ``NotesHyperModel`` on the
digits (``kerasnotes.experiments.search``), one TensorBoard run per trial with
its hyperparameters for the HParams dashboard.

A step that raises is reported with its error and the tour goes on; what the
other steps wrote stays on disk, and the exit status is 1. Ctrl-C stops the tour
with one line naming the steps completed and where their runs are (status 130).

Importing this module imports no framework (Keras loads when a tour runs), so
the command line checks its arguments at once.

The steps train under ``backends.active().short_lived_graphs()``: on
TensorFlow, Grappler (the graph optimiser) is off until the tour ends, since
it costs more than it saves on many small, briefly trained models.

```
kerasnotes tour [--logdir runs] [--quick | --full] [--only C3,C8,search]
modes: quick (smoke test, seconds; no search unless asked), default (about two minutes),
       full (faithful, minutes)
```

Example:
    >>> import io, tempfile
    >>> from rich.console import Console
    >>> from kerasnotes import tour
    >>> quiet = Console(file=io.StringIO())  # the progress display goes here
    >>> outcomes = tour.run_tour(["C8"], mode="quick", log_dir=tempfile.mkdtemp(), console=quiet)
    >>> outcomes[0].result.claim, outcomes[0].error
    ('C8', None)
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kerasnotes import _validation, experiments
from kerasnotes._deprecation import renamed_log_dir
from kerasnotes.experiments.base import ClaimResult, check_mode

#: The tour's step that is not a claim: the keras-tuner search
#: (``kerasnotes.experiments.search.STEP``, which imports Keras).
SEARCH = "search"

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


class _InterruptLatch:
    """Remembers a Ctrl-C, so that one raised where Python swallows it still ends the tour.

    Python's default SIGINT handler raises KeyboardInterrupt in whatever code runs
    when the signal arrives; inside a garbage-collector callback (JAX registers
    one) or a ``__del__`` the exception is printed as "Exception ignored" with a
    traceback, and training goes on. The latch records every Ctrl-C; it raises
    KeyboardInterrupt at once unless the signal landed in such code, where raising
    would only print that traceback. :meth:`check`, called between the tour's
    configurations and steps, raises it there.
    """

    def __init__(self):
        self.pressed = False
        self._previous = None

    @staticmethod
    def _swallowed_at(frame) -> bool:
        """Whether an exception raised in ``frame`` would be printed and dropped."""
        callbacks = {
            getattr(getattr(callback, "__func__", callback), "__code__", None)
            for callback in gc.callbacks
        }
        while frame is not None:
            if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
                return True
            frame = frame.f_back
        return False

    def _handle(self, signum, frame):
        self.pressed = True
        if not self._swallowed_at(frame):
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    def __enter__(self):
        # Signal handlers can only be set from the main thread; elsewhere the
        # default behaviour stays (the tour is then not the program's main work).
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class TourInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_tour`, carrying what was completed before it.

    Args:
        outcomes: the steps that finished (their runs are on disk).
        steps: every step the tour was asked to run.
    """

    def __init__(self, outcomes: Sequence[Outcome], steps: Sequence[str]):
        super().__init__(f"{len(outcomes)} of {len(steps)} steps completed")
        self.outcomes = list(outcomes)
        self.steps = list(steps)


def plural(count: int, noun: str) -> str:
    """``"1 claim"``, ``"2 claims"``: a count with its noun in the right number.

    Example:
        >>> plural(1, "claim"), plural(0, "claim"), plural(3, "step")
        ('1 claim', '0 claims', '3 steps')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def default_steps(mode: str) -> list[str]:
    """What ``kerasnotes tour`` runs without ``--only``: every claim, then the search.

    The quick mode is a smoke test of the claims and leaves the search out
    (``--only search`` runs it at its quick size).

    Args:
        mode: "quick", "default" or "full".

    Example:
        >>> steps = default_steps("default")
        >>> steps[0], steps[-1], SEARCH in default_steps("quick")
        ('C0', 'search', False)
    """
    check_mode(mode)
    return experiments.registered() + ([] if mode == "quick" else [SEARCH])


def parse_steps(text: str) -> list[str]:
    """Turn "C5,search,c1" into ``["C1", "C5", "search"]``: claims in the notes' order, then the search.

    Args:
        text: claim ids and/or ``search``, separated by commas.

    Raises:
        ValueError: an id is neither a claim with an experiment nor ``search``.

    Example:
        >>> parse_steps("search, C8")
        ['C8', 'search']
    """
    if not isinstance(text, str):
        raise TypeError(_validation.message("steps", text, "a string like 'C1,C5,search'"))
    parts = [part.strip() for part in text.split(",") if part.strip()]
    wants_search = any(part.lower() == SEARCH for part in parts)
    claims = [part for part in parts if part.lower() != SEARCH]
    if not claims:
        if wants_search:
            return [SEARCH]
        raise ValueError(
            f"no claim ids in {text!r}; choose from {', '.join(experiments.registered())} "
            f"or {SEARCH}"
        )
    try:
        steps = experiments.parse_claims(",".join(claims))
    except ValueError as error:
        raise ValueError(f"{error} (and the keras-tuner step '{SEARCH}')") from None
    return steps + ([SEARCH] if wants_search else [])


@dataclasses.dataclass
class Outcome:
    """One step's place in the tour (a claim or the search): its result, or the error that stopped it.

    Args:
        claim: the claim's id, or "search".
        result: what the experiment returned (None if it failed).
        error: "ExceptionType: message" when it failed.
        seconds: wall time spent on the claim.
    """

    claim: str
    result: ClaimResult | None
    error: str | None
    seconds: float


def run_tour(
    claims: Sequence[str] | None = None,
    mode: str = "default",
    log_dir: str | os.PathLike = "runs",
    seed: int = 0,
    console: Console | None = None,
    *,
    logdir: str | os.PathLike | None = None,
) -> list[Outcome]:
    """Run the claims' experiments (and the search) one after another, catching each one's failure.

    Args:
        claims: claim ids to run, and ``"search"`` for the keras-tuner step
            (default: :func:`default_steps`).
        mode: "quick", "default" or "full".
        log_dir: the folder for every claim's runs and plots.
        seed: seed of every experiment.
        console: where the progress display goes (default: stdout).
        logdir: deprecated spelling of ``log_dir`` (a ``DeprecationWarning``).

    Raises:
        TourInterrupted: Ctrl-C; it carries the outcomes of the steps completed.
    """
    import keras

    from kerasnotes import backends
    from kerasnotes.experiments import search

    log_dir = renamed_log_dir(log_dir, logdir, default="runs", caller="tour.run_tour")
    check_mode(mode)
    claims = default_steps(mode) if claims is None else list(claims)
    for claim in claims:
        if claim not in experiments.REGISTRY and claim != SEARCH:
            raise ValueError(
                f"Argument `claims` must hold registered ids "
                f"({', '.join(experiments.registered())}) or {SEARCH!r}. "
                f"Received: claims={claims!r} (unknown: {claim!r})"
            )
    console = console or Console()
    outcomes = []
    # Every configuration is a new model, so TensorFlow warns that its functions are
    # traced again and again; that is expected here and would bury the progress display.
    tf_logger = logging.getLogger("tensorflow")
    previous_level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
    )
    try:
        # Many small models, each trained briefly: TensorFlow's graph optimiser costs
        # more than it saves there (see backends.tensorflow.short_lived_graphs).
        with (
            _InterruptLatch() as latch,
            backends.active().short_lived_graphs(),
            Progress(*columns, console=console) as progress,
        ):
            task = progress.add_task("tour", total=len(claims))
            for claim in claims:

                def show(config: str, claim: str = claim) -> None:
                    latch.check()
                    progress.update(task, description=f"{claim} {config}")

                show("starting")
                start = time.perf_counter()
                try:
                    runner = search.run if claim == SEARCH else experiments.load(claim).run
                    # The folder goes by position: the experiments' runners rename
                    # their ``logdir`` argument to ``log_dir`` in the same release.
                    result = runner(mode, log_dir, seed=seed, progress=show)
                    outcome = Outcome(claim, result, None, time.perf_counter() - start)
                except Exception as error:  # noqa: BLE001 - one failed step must not end the tour
                    detail = "".join(traceback.format_exception_only(type(error), error)).strip()
                    outcome = Outcome(claim, None, detail, time.perf_counter() - start)
                    progress.console.print(f"[red]{claim} failed:[/red] {detail}")
                finally:
                    # Fresh layer names and graphs for the next step. Without
                    # free_memory's full gc.collect() (a large share of the quick
                    # tour; benchmarks/README.md); Python's own collector still
                    # reclaims the cycles.
                    keras.backend.clear_session(free_memory=False)
                outcomes.append(outcome)
                progress.advance(task)
                latch.check()
            progress.update(task, description="done")
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, TourInterrupted):
            raise
        raise TourInterrupted(outcomes, claims) from None
    finally:
        tf_logger.setLevel(previous_level)
    return outcomes


def _relative(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def results_table(outcomes: Sequence[Outcome]) -> Table:
    """The closing table: claim, figure and verdict of every step.

    File paths are not in the table, where a narrow column would break them;
    :func:`file_lines` lists them whole below it.

    Args:
        outcomes: what :func:`run_tour` returned.
    """
    table = Table(title="kerasnotes tour", show_lines=True)
    table.add_column("claim", no_wrap=True)
    table.add_column("figure", ratio=1)
    table.add_column("verdict", ratio=3)
    for outcome in outcomes:
        result = outcome.result
        if result is None:
            table.add_row(outcome.claim, "[red]failed[/red]", f"[red]{outcome.error}[/red]")
            continue
        colour = {True: "green", False: "yellow", None: "cyan"}[result.reproduced]
        if not result.is_claim:
            colour = "blue"
        table.add_row(
            f"{result.claim}\n[{colour}]{result.status}[/{colour}]\n{outcome.seconds:.0f} s",
            result.figure,
            result.verdict,
        )
    return table


def file_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """Where each step's plot and TensorBoard runs are, one path per line.

    Args:
        outcomes: what :func:`run_tour` returned.

    Example:
        >>> from pathlib import Path
        >>> from kerasnotes.experiments.base import ClaimResult
        >>> result = ClaimResult("C8", "ce vs mse", "CE 2", "C8: ...", True,
        ...                      Path("runs/C8/c8.png"), [Path("runs/C8/ce"), Path("runs/C8/mse")])
        >>> print("\\n".join(file_lines([Outcome("C8", result, None, 2.0)])))
        C8 plot: runs/C8/c8.png
        C8 runs: runs/C8/ (ce, mse)
    """
    lines = []
    for outcome in outcomes:
        result = outcome.result
        if result is None:
            continue
        if result.plot is not None:
            lines.append(f"{outcome.claim} plot: {_relative(result.plot)}")
        if result.runs:
            # The runs' common folder, then each run below it (the search's runs
            # are trial_<id>/execution<k>, a claim's are its configurations).
            parent = Path(os.path.commonpath([path.parent for path in result.runs]))
            names = ", ".join(path.relative_to(parent).as_posix() for path in result.runs)
            lines.append(f"{outcome.claim} runs: {Path(_relative(parent)).as_posix()}/ ({names})")
    return lines


def main(
    log_dir: str | os.PathLike = "runs",
    mode: str = "default",
    only: Sequence[str] | None = None,
    console: Console | None = None,
    *,
    logdir: str | os.PathLike | None = None,
) -> int:
    """Run the tour, print its table and the TensorBoard commands; returns the exit status.

    Args:
        log_dir: the folder for every claim's runs and plots.
        mode: "quick", "default" or "full".
        only: claim ids (and "search") to run (default: :func:`default_steps`).
        console: where everything is printed (default: stdout).
        logdir: deprecated spelling of ``log_dir`` (a ``DeprecationWarning``).

    Returns:
        0 when every step ran (whatever its verdict), 1 when one or more failed,
        2 when ``log_dir`` cannot be created, 130 (:data:`INTERRUPTED`) after Ctrl-C.
    """
    log_dir = renamed_log_dir(log_dir, logdir, default="runs", caller="tour.main")
    if console is None:
        console = Console()
        if not console.is_terminal:
            # Piped or captured output has no width to fit; give the table room to read.
            console = Console(width=140)
    claims = default_steps(mode) if only is None else list(only)
    try:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        console.print(
            # Worded for the command line (its flag is --logdir), which calls main.
            f"[red]kerasnotes tour: cannot write to logdir={os.fspath(log_dir)!r} "
            f"({error.strerror or error})[/red]; pass --logdir with a folder you can create"
        )
        return 2
    import keras  # after the checks: loading the framework takes seconds

    console.print(
        f"kerasnotes tour ({mode}): {', '.join(claims)} on Keras {keras.__version__}, "
        f"backend {keras.backend.backend()}; runs and plots go to {log_dir}/"
    )
    start = time.perf_counter()
    try:
        outcomes = run_tour(claims, mode=mode, log_dir=log_dir, console=console)
    except TourInterrupted as interrupt:
        done = [outcome.claim for outcome in interrupt.outcomes]
        console.print(
            f"interrupted: {len(done)} of {plural(len(interrupt.steps), 'step')} completed"
            + (f" ({', '.join(done)})" if done else "")
            + f"; runs in {os.fspath(log_dir)}/",
            highlight=False,
            soft_wrap=True,
        )
        return INTERRUPTED
    console.print(results_table(outcomes))
    console.print("\n".join(file_lines(outcomes)), highlight=False, soft_wrap=True)
    failed = [outcome for outcome in outcomes if outcome.result is None]
    claim_outcomes = [o for o in outcomes if o.claim != SEARCH]
    claims_failed = sum(1 for o in claim_outcomes if o.result is None)
    reproduced = sum(1 for o in claim_outcomes if o.result is not None and o.result.reproduced)
    summary = (
        f"{plural(len(claim_outcomes), 'claim')} in {time.perf_counter() - start:.0f} s: "
        f"{reproduced} reproduced, "
        f"{len(claim_outcomes) - reproduced - claims_failed} not reproduced or undecided, "
        f"{claims_failed} failed."
    )
    for outcome in outcomes:
        if outcome.claim == SEARCH:
            summary += (
                " Search: failed."
                if outcome.result is None
                else f" Search: best validation accuracy "
                f"{outcome.result.numbers['best_val_accuracy']:.4f} "
                f"in {outcome.seconds:.0f} s (HParams dashboard)."
            )
    console.print(summary)
    for outcome in failed:
        console.print(f"[red]{outcome.claim} failed[/red]: {outcome.error}")
    console.print(
        "Look at the runs in TensorBoard (the kerasnotes tab, plus Scalars and Images):\n"
        f"  tensorboard --logdir {log_dir}\n"
        f"  kerasnotes board --logdir {log_dir}",
        highlight=False,
        soft_wrap=True,  # never break a command the user will copy
    )
    return 1 if failed else 0
