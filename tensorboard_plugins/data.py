"""What the kerasnotes tab shows, read through TensorBoard's data provider.

Everything here goes through ``context.data_provider`` (``list_scalars`` /
``read_scalars`` / ``list_tensors`` / ``read_tensors`` with ``downsample``), so
the tab works the same on TensorBoard's Python loader and on its Rust data
server (``--load_fast``). Each view's method returns a plain JSON-ready dict
built from the records that ``kerasnotes.tensorboard_plugins.records`` decodes
(the tags are those of ``kerasnotes.summary.layout``; epochs and steps as
explained there).

The masses shown are the logged ones, counted from the quadrature by
``HessianProbe.spectral_density``; none is ever derived from the smoothed
curve, which spreads eigenvalues near zero over both signs. The kinds'
conditions (the Curvature view's legend) are sent from
``kerasnotes.curvature.classify.RULE``, the one statement of the rule.

Malformed data (a truncated event file, a tensor of the wrong shape) is
skipped and counted in the response's ``"skipped"`` field instead of failing
the request: the user sees what could be read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from tensorboard.data import provider as tb_provider
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata

from kerasnotes.curvature import classify
from kerasnotes.summary import layout
from kerasnotes.tensorboard_plugins import query
from kerasnotes.tensorboard_plugins.records import (
    as_keras_epoch,
    decode_critical_point,
    decode_density,
    decode_early_stopping,
    decode_landscape,
    decode_layer_table,
    decode_spectral_masses,
    decode_text,
    scalar_series,
)

#: Curvature series name in the JSON -> scalar tag (SaddlePointDetector).
CURVATURE_SCALARS = {
    "grad_norm": layout.TAG_GRAD_NORM,
    "lambda_min": layout.TAG_LAMBDA_MIN,
    "lambda_max": layout.TAG_LAMBDA_MAX,
    "minimum_ratio": layout.TAG_MINIMUM_RATIO,
    "minimum_ratio_stderr": layout.TAG_MINIMUM_RATIO_STDERR,
}
#: Sharpness series name in the JSON -> scalar tag (SharpnessMonitor, F17).
SHARPNESS_SCALARS = {
    "sharpness": layout.TAG_SHARPNESS,
    "threshold": layout.TAG_SHARPNESS_THRESHOLD,
    "num_hvp": layout.TAG_SHARPNESS_NUM_HVP,
}
#: The four tensors of one landscape, written together at one step.
LANDSCAPE_TAGS = (
    layout.TAG_LANDSCAPE_SURFACE,
    layout.TAG_LANDSCAPE_DIRECTIONS,
    layout.TAG_LANDSCAPE_TRAJECTORY,
    layout.TAG_LANDSCAPE_INFO,
)


class RunReader:
    """Reads one experiment's kerasnotes data for one request, as JSON-ready dicts.

    ```
    scalars: read_scalars(plugin_name="scalars", downsample=…)   -> {"steps": [...], "values": [...]}
    tensors: read_tensors(plugin_name="kerasnotes", downsample=…) -> decoded per the layout above
    ```

    Unlike the stock Scalars plugin, which answers one tag at a time, each method
    joins what one view of the tab needs (e.g. the critical-point events with the
    curvature series) and skips malformed records instead of failing.

    Args:
        data_provider: TensorBoard's ``DataProvider`` (``context.data_provider``).
        ctx: the request's ``RequestContext``.
        experiment_id: the request's experiment id (often ``""``).

    Example:
        >>> import tempfile
        >>> from kerasnotes import summary
        >>> from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
        >>> from tensorboard.context import RequestContext
        >>> logdir = tempfile.mkdtemp()
        >>> with summary.Writer(logdir + "/run") as writer:
        ...     writer.scalar(summary.TAG_LEARNING_RATE, 0.5, step=0)
        >>> multiplexer = plugin_event_multiplexer.EventMultiplexer()
        >>> multiplexer.AddRunsFromDirectory(logdir)  # doctest: +ELLIPSIS
        <...>
        >>> multiplexer.Reload()  # doctest: +ELLIPSIS
        <...>
        >>> provider = data_provider.MultiplexerDataProvider(multiplexer, logdir)
        >>> RunReader(provider, RequestContext(), "").schedule("run")["learning_rate"]
        {'steps': [0], 'values': [0.5]}
    """

    def __init__(
        self,
        data_provider: tb_provider.DataProvider,
        ctx: Any,
        experiment_id: str,
    ) -> None:
        self._provider = data_provider
        self._ctx = ctx
        self._eid = experiment_id

    # -- listing -----------------------------------------------------------------

    def _scalar_index(self, runs: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        listed = self._provider.list_scalars(
            self._ctx,
            experiment_id=self._eid,
            plugin_name=scalar_metadata.PLUGIN_NAME,
            run_tag_filter=tb_provider.RunTagFilter(runs=runs),
        )
        return {
            run: {tag: ts for tag, ts in tags.items() if tag.startswith(layout.TAG_PREFIX)}
            for run, tags in listed.items()
        }

    def _tensor_index(self, runs: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        return dict(
            self._provider.list_tensors(
                self._ctx,
                experiment_id=self._eid,
                plugin_name=layout.PLUGIN_NAME,
                run_tag_filter=tb_provider.RunTagFilter(runs=runs),
            )
        )

    def runs(self) -> list[dict[str, Any]]:
        """Every run with kerasnotes data and which views it can fill."""
        scalars = self._scalar_index()
        tensors = self._tensor_index()
        info = self._run_info()
        result = []
        for run in sorted(set(scalars) | set(tensors)):
            s_tags = scalars.get(run, {})
            t_tags = tensors.get(run, {})
            if not s_tags and not t_tags:
                continue
            variables = _optimizer_variables(s_tags)
            result.append(
                {
                    "run": run,
                    "curvature": layout.TAG_GRAD_NORM in s_tags
                    or layout.TAG_CRITICAL_POINT in t_tags
                    or layout.TAG_SHARPNESS in s_tags
                    or layout.TAG_LAYER_CURVATURE in t_tags,
                    "sharpness": layout.TAG_SHARPNESS in s_tags,
                    "critical_points": layout.TAG_CRITICAL_POINT in t_tags,
                    "spectrum": layout.TAG_SPECTRAL_DENSITY in t_tags,
                    "landscape": layout.TAG_LANDSCAPE_SURFACE in t_tags,
                    "layers": layout.TAG_LAYER_CURVATURE in t_tags,
                    "optimizer": variables,
                    "learning_rate": layout.TAG_LEARNING_RATE in s_tags,
                    "early_stopping": layout.TAG_EARLY_STOPPING_MONITOR in s_tags
                    or layout.TAG_EARLY_STOPPING_EVENT in t_tags,
                    "max_step": _max_step([*s_tags.values(), *t_tags.values()]),
                    "run_info": info.get(run),
                }
            )
        return result

    def _run_info(self) -> dict[str, str]:
        """The markdown each run logged under ``kerasnotes/run_info`` (its last value)."""
        read = self._provider.read_tensors(
            self._ctx,
            experiment_id=self._eid,
            plugin_name=text_metadata.PLUGIN_NAME,
            run_tag_filter=tb_provider.RunTagFilter(tags=[layout.TAG_RUN_INFO]),
            downsample=1,
        )
        result = {}
        for run, tags in read.items():
            for datum in tags.get(layout.TAG_RUN_INFO, [])[-1:]:
                text = decode_text(datum.numpy)
                if text is not None:
                    result[run] = text
        return result

    def _require_run(self, run: str) -> tuple[dict[str, Any], dict[str, Any]]:
        scalars = self._scalar_index([run]).get(run, {})
        tensors = self._tensor_index([run]).get(run, {})
        if not scalars and not tensors:
            raise query.NotFound(
                f"run {run!r} has no kerasnotes data (see /runs for the runs that do)"
            )
        return scalars, tensors

    # -- reading -----------------------------------------------------------------

    def _read_scalars(
        self, run: str, tags: Sequence[str], downsample: int, by_step: Sequence[str] = ()
    ) -> dict[str, dict]:
        if not tags:
            return {}
        read = self._provider.read_scalars(
            self._ctx,
            experiment_id=self._eid,
            plugin_name=scalar_metadata.PLUGIN_NAME,
            run_tag_filter=tb_provider.RunTagFilter(runs=[run], tags=list(tags)),
            downsample=downsample,
        )
        return {
            tag: scalar_series(data, epochs=tag not in by_step)
            for tag, data in read.get(run, {}).items()
        }

    def _read_tensors(self, run: str, tag: str, downsample: int) -> list[tb_provider.TensorDatum]:
        read = self._provider.read_tensors(
            self._ctx,
            experiment_id=self._eid,
            plugin_name=layout.PLUGIN_NAME,
            run_tag_filter=tb_provider.RunTagFilter(runs=[run], tags=[tag]),
            downsample=downsample,
        )
        return list(read.get(run, {}).get(tag, []))

    def _named_series(
        self, run: str, scalars: Mapping[str, Any], names: Mapping[str, str]
    ) -> dict[str, dict]:
        """Each ``name -> tag`` of ``names`` as its series, empty where the run lacks the tag."""
        read = self._read_scalars(
            run, [t for t in names.values() if t in scalars], query.MAX_POINTS
        )
        empty = ("steps", "epochs", "values")
        return {name: read.get(tag) or {key: [] for key in empty} for name, tag in names.items()}

    # -- views -------------------------------------------------------------------

    def curvature(self, run: str) -> dict[str, Any]:
        """Gradient norm, λmin, λmax and minimum ratio per epoch, with critical-point events."""
        scalars, tensors = self._require_run(run)
        series = self._named_series(run, scalars, CURVATURE_SCALARS)
        events: list[dict[str, Any]] = []
        skipped = 0
        if layout.TAG_CRITICAL_POINT in tensors:
            for datum in self._read_tensors(run, layout.TAG_CRITICAL_POINT, query.MAX_EVENTS):
                event = decode_critical_point(datum)
                if event is None:
                    skipped += 1
                else:
                    events.append(event)
        return {
            "run": run,
            "series": series,
            "events": events,
            "skipped": skipped,
            "rule": {"conditions": dict(classify.CONDITIONS), "text": classify.RULE},
        }

    def sharpness(self, run: str) -> dict[str, Any]:
        """SharpnessMonitor's sharpness, its stability threshold and HVPs per epoch (F17).

        ```
        sharpness: λmax(H) (SGD) or λmax(P^½ H P^½) (Adagrad, RMSprop, Adam)
        threshold: c/η or c, the value past which the step diverges on a quadratic
        ```

        Series are empty when the run has no SharpnessMonitor data.
        """
        scalars, _ = self._require_run(run)
        return {"run": run, "series": self._named_series(run, scalars, SHARPNESS_SCALARS)}

    def layers(self, run: str) -> dict[str, Any]:
        """The per-layer curvature table of every probed epoch (F18), oldest first.

        ```
        per layer l:  λmax(H_ll), tr(H_ll) ± stderr, its size and HVPs   (H_ll = ∂²L/∂θ_l²)
        ```

        Tables are empty when the run logged none (SaddlePointDetector without
        ``layer_curvature=True``); a step whose numbers or names are missing or
        malformed is skipped and counted.
        """
        _, tensors = self._require_run(run)
        tables: list[dict[str, Any]] = []
        skipped = 0
        if layout.TAG_LAYER_CURVATURE in tensors:
            names = {}
            if layout.TAG_LAYER_NAMES in tensors:
                for datum in self._read_tensors(run, layout.TAG_LAYER_NAMES, query.MAX_EVENTS):
                    names[int(datum.step)] = datum
            by_step: dict[int, dict[str, Any]] = {}
            for datum in self._read_tensors(run, layout.TAG_LAYER_CURVATURE, query.MAX_EVENTS):
                label = names.get(int(datum.step))
                table = None if label is None else decode_layer_table(datum, label)
                if table is None:
                    skipped += 1
                else:
                    by_step[table["step"]] = table  # a re-logged step keeps its last value
            tables = [by_step[step] for step in sorted(by_step)]
        return {"run": run, "tables": tables, "skipped": skipped}

    def spectrum(self, run: str, step: int | None) -> dict[str, Any]:
        """The spectral density logged at ``step`` (default: the last one) and all steps."""
        _, tensors = self._require_run(run)
        if layout.TAG_SPECTRAL_DENSITY not in tensors:
            raise query.NotFound(f"run {run!r} logged no {layout.TAG_SPECTRAL_DENSITY!r}")
        by_step: dict[int, np.ndarray] = {}
        skipped = 0
        for datum in self._read_tensors(run, layout.TAG_SPECTRAL_DENSITY, query.MAX_DENSITIES):
            array = decode_density(datum.numpy)
            if array is None:
                skipped += 1
            else:
                by_step[int(datum.step)] = array  # a re-logged step keeps its last value
        steps, step = query.chosen_step(run, by_step, step, "spectral density", skipped)
        grid, density = by_step[step]
        keep = query.display_indices(grid.size, query.MAX_GRID)
        lam = self._extremes_at(run, step, tensors)
        return {
            "run": run,
            "steps": steps,
            "step": step,
            "epochs": [as_keras_epoch(s) for s in steps],
            "epoch": as_keras_epoch(step),
            "grid": [float(g) for g in grid[keep]],
            "density": [float(d) for d in density[keep]],
            "grid_size": int(grid.size),
            "masses": self._masses_at(run, step, tensors),
            "lambda_min": lam[0],
            "lambda_max": lam[1],
            "skipped": skipped,
        }

    def _masses_at(self, run: str, step: int, tensors: Mapping[str, Any]) -> dict[str, Any] | None:
        """The masses logged beside the density at ``step`` (None if the run logged none)."""
        if layout.TAG_SPECTRAL_MASSES not in tensors:
            return None
        found = None
        for datum in self._read_tensors(run, layout.TAG_SPECTRAL_MASSES, query.MAX_DENSITIES):
            if int(datum.step) == step:
                found = decode_spectral_masses(datum)  # a re-logged step keeps its last value
        return found

    def _extremes_at(
        self, run: str, step: int, tensors: Mapping[str, Any]
    ) -> tuple[float | None, float | None]:
        """λmin, λmax measured at ``step`` (Lanczos, from the critical-point event)."""
        if layout.TAG_CRITICAL_POINT not in tensors:
            return None, None
        for datum in self._read_tensors(run, layout.TAG_CRITICAL_POINT, query.MAX_EVENTS):
            if int(datum.step) == step:
                event = decode_critical_point(datum)
                if event is not None:
                    return event["lambda_min"], event["lambda_max"]
        return None, None

    def landscape(self, run: str, step: int | None) -> dict[str, Any]:
        """LandscapeLogger's plane at ``step`` (default: the last), its path and all steps (F16).

        ```
        loss[i][j] = L(θ + a_i d₁ + b_j d₂),   trajectory: the weights projected on the plane
        ```
        """
        _, tensors = self._require_run(run)
        if layout.TAG_LANDSCAPE_SURFACE not in tensors:
            raise query.NotFound(f"run {run!r} logged no {layout.TAG_LANDSCAPE_SURFACE!r}")
        by_tag: dict[str, dict[int, Any]] = {}
        for tag in LANDSCAPE_TAGS:
            by_tag[tag] = {}
            if tag in tensors:  # a re-logged step keeps its last value
                for datum in self._read_tensors(run, tag, query.MAX_LANDSCAPES):
                    by_tag[tag][int(datum.step)] = datum.numpy
        decoded: dict[int, dict[str, Any]] = {}
        skipped = 0
        for s in sorted(by_tag[layout.TAG_LANDSCAPE_SURFACE]):
            parts = [by_tag[tag].get(s) for tag in LANDSCAPE_TAGS]
            one = None
            if parts[0] is not None and parts[1] is not None and parts[3] is not None:
                one = decode_landscape(*parts)
            if one is None:
                skipped += 1
            else:
                decoded[s] = one
        steps, step = query.chosen_step(run, decoded, step, "landscape", skipped)
        return {
            "run": run,
            "steps": steps,
            "epochs": [as_keras_epoch(s) for s in steps],
            "step": step,
            "epoch": as_keras_epoch(step),
            **decoded[step],
            "skipped": skipped,
        }

    def optimizer(self, run: str) -> dict[str, Any]:
        """Mean effective learning rate and update ratio per variable over epochs."""
        scalars, _ = self._require_run(run)
        variables = _optimizer_variables(scalars)
        # At least one point a series, and never more series than the budget holds
        # (a floor of 10 points sent 80,000 for 4,000 variables): past it, the
        # first variables in name order are sent and the rest counted.
        omitted = max(0, len(variables) - query.POINT_BUDGET // 2)
        variables = variables[: query.POINT_BUDGET // 2]
        tags = [
            prefix + name
            for name in variables
            for prefix in (layout.TAG_EFFECTIVE_LR_MEAN_PREFIX, layout.TAG_UPDATE_RATIO_PREFIX)
            if prefix + name in scalars
        ]
        per_series = max(1, min(query.MAX_POINTS, query.POINT_BUDGET // max(1, len(tags))))
        read = self._read_scalars(run, tags, per_series)
        empty = {"steps": [], "epochs": [], "values": []}
        return {
            "run": run,
            "omitted_variables": omitted,
            "variables": [
                {
                    "name": name,
                    "effective_lr_mean": read.get(
                        layout.TAG_EFFECTIVE_LR_MEAN_PREFIX + name, empty
                    ),
                    "update_ratio": read.get(layout.TAG_UPDATE_RATIO_PREFIX + name, empty),
                }
                for name in variables
            ],
        }

    def schedule(self, run: str) -> dict[str, Any]:
        """The learning rate, the early-stopping monitor and the early-stopping event."""
        scalars, tensors = self._require_run(run)
        tags = [
            t for t in (layout.TAG_LEARNING_RATE, layout.TAG_EARLY_STOPPING_MONITOR) if t in scalars
        ]
        # The learning rate's steps are epochs or batches (LearningRateDecay's per=).
        read = self._read_scalars(run, tags, query.MAX_POINTS, by_step=(layout.TAG_LEARNING_RATE,))
        monitor = scalars.get(layout.TAG_EARLY_STOPPING_MONITOR)
        early: dict[str, Any] | None = None
        skipped = 0
        if layout.TAG_EARLY_STOPPING_EVENT in tensors:
            data = self._read_tensors(run, layout.TAG_EARLY_STOPPING_EVENT, query.MAX_EVENTS)
            for datum in reversed(data):  # the last complete event wins
                early = decode_early_stopping(datum)
                if early is not None:
                    break
                skipped += 1
        return {
            "run": run,
            "learning_rate": read.get(layout.TAG_LEARNING_RATE, {"steps": [], "values": []}),
            "monitor": read.get(
                layout.TAG_EARLY_STOPPING_MONITOR, {"steps": [], "epochs": [], "values": []}
            ),
            "monitor_name": _monitor_name(monitor),
            "early_stopping": early,
            "skipped": skipped,
        }


def _max_step(series: Iterable[Any]) -> int | None:
    steps = [ts.max_step for ts in series if ts.max_step is not None]
    return int(max(steps)) if steps else None


def _optimizer_variables(scalar_tags: Mapping[str, Any]) -> list[str]:
    names = set()
    for tag in scalar_tags:
        for prefix in (layout.TAG_EFFECTIVE_LR_MEAN_PREFIX, layout.TAG_UPDATE_RATIO_PREFIX):
            if tag.startswith(prefix) and len(tag) > len(prefix):
                names.add(tag[len(prefix) :])
    return sorted(names)


def _monitor_name(series: Any) -> str | None:
    if series is None:
        return None
    return series.display_name or series.description or None
