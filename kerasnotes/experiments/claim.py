"""The base of every claim experiment: the scaffolding once, each claim module only its science.

A claim subclasses :class:`Claim`, names itself (``claim``, ``title``, ``sizes``)
and says what it trains and how it judges; :meth:`Claim.run` does the rest:
the sizes of the mode, the claim's folder of runs, the loop over seeds and
configurations, the progress calls, the timing and the :class:`ClaimResult`.

```
run(mode, log_dir, seed, progress):
    sizes = sizes[mode];  files = <log_dir>/<claim>/;  seeds = seeds(mode, seed)
    for s in seeds:                                     (one TensorBoard run per
        data = data(context, s)                          configuration: the first seed's)
        for name, config in configs(context, data):
            progress(name  or  "name (seed s)");  results[name].append(train(context, trial))
    judge(context, results) -> Judgement(figure, verdict, reproduced, plot, numbers)
    -> ClaimResult(claim, title, ..., runs = files.runs, seconds, smoke_test = mode is "quick")
```

A claim whose runs do not fit that loop (C2's races from a saddle, the search)
overrides :meth:`Claim.experiment` and still gets everything else.

Example:
    >>> import tempfile
    >>> class Doubling(Claim):
    ...     claim, title = "C99", "doubling doubles"
    ...     sizes = {"quick": 1, "default": 2, "full": 3}
    ...     def configs(self, context, data):
    ...         return {"double": 2, "triple": 3}
    ...     def train(self, context, trial):
    ...         return trial.config * context.sizes
    ...     def judge(self, context, results):
    ...         ok = results["double"] == [2]
    ...         return Judgement(f"2×1 = {results['double'][0]}", "C99: doubled", ok, None)
    >>> result = Doubling().run("quick", tempfile.mkdtemp(), progress=print)
    double
    triple
    >>> result.figure, result.reproduced, result.smoke_test
    ('2×1 = 2', True, True)
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kerasnotes import backends
from kerasnotes.experiments import measures
from kerasnotes.experiments.base import ClaimFiles, ClaimResult, pick_size, resolve_log_dir
from kerasnotes.experiments.compiled import CompiledModels
from kerasnotes.experiments.training import digits_split

__all__ = ["Claim", "Context", "Judgement", "Trial"]


@dataclasses.dataclass
class Context:
    """What one run of a claim knows: its mode, sizes, seeds, folder and progress display.

    Args:
        mode: "quick", "default" or "full".
        sizes: the claim's sizes for ``mode``.
        seed: the seed the caller asked for.
        seeds: the seeds the claim runs (``[seed]``, or ``seed, seed + 1, ...`` for a noisy claim).
        files: the claim's folder under the log directory.
        progress: called with each configuration's name as it starts (None: silent).
        models: compiled models a claim keeps through this run, to restart for each
            trial instead of compiling a new one (``compiled.CompiledModels``).
    """

    mode: str
    sizes: Any
    seed: int
    seeds: list[int]
    files: ClaimFiles
    progress: Callable[[str], None] | None = None
    models: CompiledModels = dataclasses.field(default_factory=CompiledModels)

    @property
    def quick(self) -> bool:
        """Quick mode is a smoke test: its runs are too short to decide a claim."""
        return self.mode == "quick"

    def announce(self, name: str, run_seed: int | None = None) -> None:
        """Show ``name`` (with its seed when the claim runs several) on the progress display."""
        if self.progress is None:
            return
        several = run_seed is not None and len(self.seeds) > 1
        self.progress(f"{name} (seed {run_seed})" if several else name)

    def status(self, reproduced: bool | None) -> str:
        """The status line of the plot's title (``measures.status_text``)."""
        return measures.status_text(reproduced, self.quick)

    def smoke_test(self, reproduced: bool | None, verdict: str) -> tuple[bool | None, str]:
        """In quick mode, nothing is decided: ``(None, the verdict marked as a smoke test)``.

        Example:
            >>> import tempfile
            >>> context = Context("quick", None, 0, [0], ClaimFiles(tempfile.mkdtemp(), "C0"))
            >>> context.smoke_test(True, "C0: it worked")[0] is None
            True
        """
        if self.quick:
            return None, measures.smoke_test_verdict(verdict)
        return reproduced, verdict


@dataclasses.dataclass
class Trial:
    """One configuration of a claim trained on one seed.

    Args:
        name: the configuration's name (its run folder).
        config: what :meth:`Claim.configs` gave for it.
        seed: the seed of this run.
        data: what :meth:`Claim.data` gave for this seed.
        run_dir: its TensorBoard run folder; None for the seeds after the first, which
            are measured but not logged (one curve per configuration in TensorBoard).
    """

    name: str
    config: Any
    seed: int
    data: Any
    run_dir: Path | None

    @property
    def logged(self) -> bool:
        """Whether this run writes TensorBoard events (the first seed's)."""
        return self.run_dir is not None


@dataclasses.dataclass
class Judgement:
    """What a claim concludes from its runs: the :class:`ClaimResult` fields it computes.

    Args:
        figure: the headline numbers, short enough for a table cell.
        verdict: the sentence with the criterion and whether the runs met it.
        reproduced: True, False or None (undecided).
        plot: the PNG it wrote.
        numbers: every figure the verdict used, by name.
    """

    figure: str
    verdict: str
    reproduced: bool | None
    plot: Path | None
    numbers: dict[str, float] = dataclasses.field(default_factory=dict)


class Claim:
    """One claim of the notes as an experiment; subclasses hold only the science.

    Class attributes:
        claim: the claim's id, "C0" ... "C13" (the tour's search step: "search").
        title: the claim in a few words.
        sizes: how much each mode trains, one entry per mode in ``base.MODES``.
        several_seeds: a noisy claim runs ``measures.seeds(mode, seed)``; the others ``[seed]``.
        quick_is_smoke_test: quick mode's result says "undecided (smoke test)" (False for C2,
            whose deterministic races decide even in quick mode, and for the search).
        status_label: the status of a tour step that is not a claim (None for claims).
    """

    claim: str = ""
    title: str = ""
    sizes: Mapping[str, Any] = {}
    several_seeds: bool = False
    quick_is_smoke_test: bool = True
    status_label: str | None = None

    def run(
        self,
        mode: str = "default",
        log_dir: str | os.PathLike = "runs",
        seed: int = 0,
        progress: Callable[[str], None] | None = None,
        *,
        logdir: str | os.PathLike | None = None,
    ) -> ClaimResult:
        """Run the claim's experiment and return its result.

        Args:
            mode: "quick", "default" or "full" (see the module's ``SIZES``).
            log_dir: runs go to ``<log_dir>/<claim>/<config>``, the plot to ``<log_dir>/<claim>/``.
            seed: seed of the data split and the initial weights.
            progress: called with each configuration's name as it starts.
            logdir: deprecated spelling of ``log_dir``.

        The claim trains under ``kerasnotes.backends.active().short_lived_graphs()``
        (as the tour does), which gives the backend's settings back when it ends.
        """
        log_dir = resolve_log_dir(log_dir, logdir)
        sizes = pick_size(self.sizes, mode)
        start = time.perf_counter()
        context = Context(
            mode=mode,
            sizes=sizes,
            seed=seed,
            seeds=measures.seeds(mode, seed) if self.several_seeds else [seed],
            files=ClaimFiles(log_dir, self.claim),
            progress=progress,
        )
        # Many small models trained briefly: the backend's settings for that (Grappler off
        # on TensorFlow, one intra-op thread on torch), restored afterwards; as in the tour.
        with backends.active().short_lived_graphs():
            judgement = self.judge(context, self.experiment(context))
        return ClaimResult(
            claim=self.claim,
            title=self.title,
            # figure, verdict, reproduced, plot, numbers: ClaimResult's fields of those names
            **{
                field.name: getattr(judgement, field.name)
                for field in dataclasses.fields(judgement)
            },
            runs=context.files.runs,
            seconds=time.perf_counter() - start,
            status_label=self.status_label,
            smoke_test=context.quick and self.quick_is_smoke_test,
        )

    def experiment(self, context: Context) -> dict[str, list[Any]]:
        """Train every configuration on every seed: configuration name -> one result per seed.

        Only the first seed's runs are logged to TensorBoard.
        """
        results: dict[str, list[Any]] = {}
        for run_seed in context.seeds:
            data = self.data(context, run_seed)
            logged = run_seed == context.seeds[0]
            for name, config in self.configs(context, data).items():
                context.announce(name, run_seed)
                run_dir = context.files.run_dir(name) if logged else None
                trial = Trial(name, config, run_seed, data, run_dir)
                results.setdefault(name, []).append(self.train(context, trial))
        return results

    def data(self, context: Context, seed: int) -> Any:
        """The data every configuration of one seed trains on (None: each makes its own)."""
        return None

    def configs(self, context: Context, data: Any) -> Mapping[str, Any]:
        """The configurations one seed trains, in order: name -> config."""
        raise NotImplementedError(f"{type(self).__name__} must define configs()")

    def train(self, context: Context, trial: Trial) -> Any:
        """Train one configuration on one seed and return what :meth:`judge` needs of it."""
        raise NotImplementedError(f"{type(self).__name__} must define train()")

    def judge(self, context: Context, results: Any) -> Judgement:
        """The figure, verdict, plot and numbers, from what :meth:`experiment` returned."""
        raise NotImplementedError(f"{type(self).__name__} must define judge()")


class DigitsClaim(Claim):
    """A claim trained on scikit-learn's digits: each seed's data is one seeded split.

    ``data`` is ``(train, validation)`` from
    :func:`~kerasnotes.experiments.training.digits_split` with
    ``context.sizes.train_samples`` training rows (e.g. a
    :class:`~kerasnotes.experiments.training.DigitsSizes`).
    """

    def data(self, context: Context, seed: int) -> tuple:
        return digits_split(context.sizes.train_samples, seed)
