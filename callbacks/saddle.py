"""Saddle-point detection during fit (notes F13, F14): gradient gate, Hessian analysis, escape."""

from __future__ import annotations

import math
import os
import time
import warnings
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, summary
from kerasnotes.curvature import flat

from ._common import (
    LoggingCallback,
    check_log_dir,
    loss_from_config,
    loss_to_config,
    probe_data,
    sample_from_config,
    sample_to_config,
)
from ._probe_args import (
    _check_bn_mode,
    _check_int,
    _check_loss,
    _check_number,
    write_layer_table,
)

#: Grid points of the spectral density written to TensorBoard.
DENSITY_GRID_SIZE = 400
#: Line search of the escape step: eta* times these factors, each with both signs.
ESCAPE_FACTORS = (2.0, 1.0, 0.5, 0.25, 0.125, 0.0625)
#: Hutch++ samples of each layer's trace (blocks of at most a third of this are exact).
LAYER_TRACE_SAMPLES = 100
_NAN = float("nan")


@keras.saving.register_keras_serializable(package="kerasnotes")
class SaddlePointDetector(LoggingCallback):
    """Classify where training stalls with the Hessian, and optionally escape saddles (F13, F14).

    Every ``every`` epochs (at the end of epochs ``every-1, 2·every-1, …``) on a
    fixed sample of the data, one gradient ``g = ∇L(θ)`` is the cheap gate; when
    ``‖g‖ ≤ grad_tol`` (or ``always_probe``) ``HessianProbe.analyze`` classifies
    the point by the one rule, ``kerasnotes.curvature.classify.RULE`` (F13, F14;
    stated in that module's docstring); otherwise the kind is "not_critical"
    without a Hessian probe. With ``gate_samples > 0`` the gate first tries a
    subsample and computes the full gradient only when the subsample cannot rule
    out ``‖g‖ ≤ grad_tol``.

    A "flat" point is never reported as a minimum: at the zero init of a
    three-layer linear network both ∇L and H vanish, yet the loss goes down along
    some directions at third order, so it is not a minimum; the second-order test
    simply cannot tell.

    With ``escape=True``, at a saddle the weights move along the unit eigenvector
    ``u`` of ``λ_min < 0`` (F13: ``uᵀHu = λ‖u‖² < 0``, so the loss falls to
    second order)::

        θ ← θ ± η u,   η = escape_step, or the best of η*·{2, 1, 1/2, …, 1/16}
        with η* = √(2 L(θ) / |λ_min|) (where L + ½λη² reaches 0),

    both signs tried, and the step is kept only if the loss on the sample drops;
    otherwise the weights are restored bit for bit. The optimizer's state
    (moments, iteration count) is never touched.

    Results go to ``history`` (one dict per probe: ``epoch, kind, grad_norm,
    lambda_min, lambda_max, minimum_ratio, minimum_ratio_stderr, escaped,
    loss_before, loss_after, seconds, num_hvp`` and, with ``density=True``,
    ``negative_fraction, zero_fraction, positive_fraction`` and their ``*_stderr``
    counted from the quadrature with the same ``τ``, and ``grad_norm_stderr``
    (``grad_norm`` is the full-sample norm when the gate computed it, with
    ``grad_norm_stderr`` 0, else the subsample's ``‖ĝ‖`` with its standard
    error); NaN when not measured; kind "error" plus ``error`` when a
    probe raised), to the epoch logs (``grad_norm``, and ``lambda_min``,
    ``lambda_max``, ``minimum_ratio`` when the full analysis ran) and, with a
    ``log_dir``, to TensorBoard (``kerasnotes/curvature/*`` scalars,
    ``kerasnotes/critical_point`` and, with ``density=True``, the
    ``kerasnotes/spectral_density`` and ``kerasnotes/spectral_masses`` of every
    full analysis, and with ``layer_curvature=True`` the per-layer table
    ``kerasnotes/layer_curvature`` with its ``kerasnotes/layer_curvature/names``; see
    ``kerasnotes.summary``). A probe that fails (non-finite loss, bad data, ...)
    is reported with a warning and training continues with the weights untouched.

    Keras has no built-in counterpart.

    Args:
        data: ``(x, y)`` arrays to probe on (Keras callbacks never see the training
            data), or a data source as ``HessianProbe(x, y=None)`` takes it
            (``tf.data.Dataset``, ``PyDataset``, ``DataLoader``, iterable of batches;
            not a 2-element list or tuple, read as ``(x, y)``): streamed on every
            probe, ``steps`` batches at most, ``num_samples`` and ``gate_samples`` unused.
        every: probe every this many epochs.
        num_samples: size of the fixed sample drawn once from ``data``.
        grad_tol: gradient-norm threshold of a critical point.
        curvature_tol: relative eigenvalue threshold (see ``HessianProbe.analyze``).
        always_probe: run the full analysis even when ``‖g‖ > grad_tol``.
        density: add the spectral density (stochastic Lanczos quadrature) per analysis.
        escape: step out of saddles along the negative-curvature direction.
        escape_step: fixed ``η``; None means the small line search above.
        log_dir: TensorBoard run directory, or None.
        verbose: 1 prints one line per full analysis (and per failure).
        seed: seed of the sample drawn from ``data``.
        batch_size: micro-batch size of the probe (None: the whole sample at once).
        loss: the loss probed, as ``HessianProbe``'s ``loss=``: None uses the
            model's compiled loss; pass one for a model compiled with a loss per output.
        bn_mode: as ``HessianProbe``'s: "inference" (moving statistics) or
            "batch" (BatchNormalization normalises with the sample's statistics,
            as in training). The gate, the analysis and the escape all use it.
        layer_curvature: at every full analysis also measure each layer's diagonal
            Hessian block (``HessianProbe.layer_curvature``, F18: its λmax and
            trace ± standard error); the history entry gets ``layers``, a list of
            ``LayerCurvature``, and ``layer_seconds``; its HVPs count in
            ``num_hvp``, and TensorBoard gets the table per probed epoch.
        gate_samples: rows of the gate's first stage, drawn afresh each epoch
            (``SubsampleGate``: it never misses ``‖g‖ < grad_tol/2`` where all
            rows' gradients agree, e.g. vanish, and elsewhere with probability
            below 0.3%); 0 (the default) or None computes the full-sample
            gradient every epoch, which on samples of a few thousand rows is
            as cheap (see ``kerasnotes.curvature.gate.DEFAULT_SAMPLES``).
        steps: use the first ``steps`` batches of ``data`` only (None: all), as in ``evaluate``.

    Example:
        >>> import keras
        >>> from kerasnotes import datasets
        >>> from kerasnotes.callbacks import SaddlePointDetector
        >>> model, x, y, loss = datasets.product_saddle()       # (1 - w1 w2)², at w = 0
        >>> model.compile(keras.optimizers.SGD(0.1), loss)
        >>> detector = SaddlePointDetector((x, y), escape=True, verbose=0)
        >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[detector])
        >>> entry = detector.history[0]
        >>> entry["kind"], entry["escaped"], round(entry["lambda_min"], 4)
        ('saddle', True, -2.0)
    """

    #: The gate holds device tensors and the model: a deep copy builds its own.
    _not_copied = (*LoggingCallback._not_copied, "_gate")
    #: The sample is never written (clones can share it); a data source cannot be copied.
    _shared = ("x",)

    def __init__(
        self,
        data: tuple[Any, Any],
        every: int = 1,
        num_samples: int = 2048,
        grad_tol: float = 1e-3,
        curvature_tol: float = 1e-4,
        always_probe: bool = False,
        density: bool = False,
        escape: bool = False,
        escape_step: float | None = None,
        log_dir: str | os.PathLike | None = None,
        verbose: int = 1,
        *,
        seed: int = 0,
        batch_size: int | None = None,
        loss: Any = None,
        bn_mode: str = "inference",
        gate_samples: int | None = None,
        steps: int | None = None,
        layer_curvature: bool = False,
    ) -> None:
        self.every = _check_int("every", every, 1)
        self.num_samples = _check_int("num_samples", num_samples, 1)
        self.grad_tol = _check_number("grad_tol", grad_tol)
        self.curvature_tol = _check_number("curvature_tol", curvature_tol)
        self.escape_step = (
            None
            if escape_step is None
            else _check_number("escape_step", escape_step, positive=True)
        )
        self.seed = _check_int("seed", seed, 0)
        self.batch_size = None if batch_size is None else _check_int("batch_size", batch_size, 1)
        self.loss = _check_loss(loss)
        self.bn_mode = _check_bn_mode(bn_mode)
        self.gate_samples = (
            None if gate_samples is None else _check_int("gate_samples", gate_samples, 0)
        )
        if self.gate_samples is not None and 0 < self.gate_samples < 16:
            raise ValueError(
                _validation.message(
                    "gate_samples",
                    gate_samples,
                    "None, 0 or at least 16 (one row for each of the gate's 16 groups)",
                )
            )
        self.steps = None if steps is None else _check_int("steps", steps, 1)
        super().__init__(check_log_dir(log_dir))
        self.x, self.y = probe_data(data, self.num_samples, self.seed, self.gate_samples)
        self.always_probe = bool(always_probe)
        self.density = bool(density)
        self.layer_curvature = _validation.boolean("layer_curvature", layer_curvature)
        self.escape = bool(escape)
        self.verbose = verbose
        self.history: list[dict[str, Any]] = []
        self._gate = None

    # ------------------------------------------------------------------ helpers
    def _probe(self, model: keras.Model):
        from kerasnotes.curvature import HessianProbe

        return HessianProbe(
            model,
            self.x,
            self.y,
            loss=self.loss,
            batch_size=self.batch_size,
            bn_mode=self.bn_mode,
            steps=self.steps,
            verbose=0,
        )

    def _gate_for(self, model: keras.Model):
        """The two-stage gradient gate of ``model``, built on its first probe and kept.

        It keeps the sample on the device and its compiled functions, so an
        epoch's gate costs one subsample gradient (``gate_samples`` rows), and
        the full-sample gradient only when the subsample cannot rule out
        ``‖g‖ ≤ grad_tol``.
        """
        from kerasnotes.curvature.gate import SubsampleGate

        if self._gate is None or self._gate.model is not model:
            self._gate = SubsampleGate(
                model,
                self.x,
                self.y,
                grad_tol=self.grad_tol,
                samples=self.gate_samples or 0,
                seed=self.seed,
                loss=self.loss,
                batch_size=self.batch_size,
                bn_mode=self.bn_mode,
                steps=self.steps,
            )
        return self._gate

    # The flat-vector <-> weights conversion is the probe's (kerasnotes.curvature.flat).
    @staticmethod
    def _weights(model: keras.Model) -> list[np.ndarray]:
        return flat.read_weights(model.trainable_variables)

    @staticmethod
    def _assign(model: keras.Model, arrays: list[np.ndarray]) -> None:
        flat.assign_weights(model.trainable_variables, arrays)

    @staticmethod
    def _shifted(arrays: list[np.ndarray], direction: np.ndarray, step: float) -> list[np.ndarray]:
        return flat.FlatLayout.of(arrays).shifted(arrays, direction, step)

    def _try_escape(self, model: keras.Model, loss_before: float, point: Any) -> dict[str, Any]:
        """Line search along ±u on the probe loss; keep the best step only if the loss drops.

        Each trial step is evaluated by the gate: the probe's objective, already
        compiled and with the sample already on the device, at the weights as
        assigned (a new HessianProbe per step would copy the weights and data again).
        """
        gate = self._gate_for(model)
        original = self._weights(model)
        if self.escape_step is not None:
            steps = [self.escape_step]
        else:
            base = loss_before if loss_before > 0 else 1.0
            eta = math.sqrt(2.0 * base / abs(point.lambda_min))
            steps = [eta * factor for factor in ESCAPE_FACTORS]
        best_loss, best_weights = loss_before, None
        try:
            for step in steps:
                for sign in (1.0, -1.0):
                    trial = self._shifted(original, point.escape_direction, sign * step)
                    self._assign(model, trial)
                    value, _ = gate.full_sample()
                    if math.isfinite(value) and value < best_loss:
                        best_loss, best_weights = value, trial
        finally:
            # Leave the model either at the accepted step or exactly where it was.
            self._assign(model, best_weights if best_weights is not None else original)
        return {
            "escaped": best_weights is not None,
            "loss_before": loss_before,
            "loss_after": best_loss,
        }

    # --------------------------------------------------------------- one probe
    def _run_probe(self, epoch: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "epoch": epoch,
            "kind": "not_critical",
            "grad_norm": _NAN,
            "lambda_min": _NAN,
            "lambda_max": _NAN,
            "minimum_ratio": _NAN,
            "minimum_ratio_stderr": _NAN,
            **{field: _NAN for field in summary.SPECTRAL_MASSES_FIELDS[:6]},
            "escaped": False,
            "loss_before": _NAN,
            "loss_after": _NAN,
            "seconds": _NAN,
            "num_hvp": 0,
            "grad_norm_stderr": _NAN,
        }
        start = time.perf_counter()
        density = layers = None
        model = self.model  # under JAX this syncs the trainer's state into the variables
        try:
            gate = self._gate_for(model)()
            loss, grad_norm = gate.loss, gate.grad_norm
            entry["grad_norm"] = grad_norm
            entry["grad_norm_stderr"] = gate.grad_norm_stderr
            if not math.isfinite(grad_norm) or not math.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite loss ({loss}) or gradient norm ({grad_norm}) on the probe sample"
                )
            if gate.critical or self.always_probe:
                probe = self._probe(model)
                point = probe.analyze(grad_tol=self.grad_tol, curvature_tol=self.curvature_tol)
                layers_start = time.perf_counter()
                entry.update(
                    kind=point.kind,
                    lambda_min=point.lambda_min,
                    lambda_max=point.lambda_max,
                    minimum_ratio=point.minimum_ratio,
                    minimum_ratio_stderr=point.minimum_ratio_stderr,
                    num_hvp=point.num_hvp,
                )
                if self.density:
                    # The runs analyze() made (SLQ path) are reused: no new HVP.
                    from kerasnotes.curvature import probe as probe_module

                    density = probe.spectral_density(
                        num_runs=probe.analysis_runs or probe_module.ANALYZE_RUNS_PER_ROUND,
                        num_steps=probe_module.ANALYZE_STEPS,
                        grid_size=DENSITY_GRID_SIZE,
                        curvature_tol=self.curvature_tol,
                    )
                    entry.update(
                        {
                            field: getattr(density, field)
                            for field in summary.SPECTRAL_MASSES_FIELDS[:6]
                        }
                    )
                    if probe.analysis_runs is None:  # dense path: the quadrature is new
                        entry["num_hvp"] += density.num_hvp
                if self.layer_curvature:
                    # Before any escape step: the table describes the point analysed.
                    layers = probe.layer_curvature(num_samples=LAYER_TRACE_SAMPLES)
                    entry["layers"] = layers
                    entry["num_hvp"] += sum(layer.num_hvp for layer in layers)
                    entry["layer_seconds"] = time.perf_counter() - layers_start
                if self.escape and point.kind == "saddle":
                    entry.update(self._try_escape(model, probe.loss(), point))
        except Exception as error:  # a probe must never end the user's fit
            entry["kind"] = "error"
            entry["error"] = f"{type(error).__name__}: {error}"
            warnings.warn(
                f"SaddlePointDetector: the probe at epoch {epoch} failed and was skipped "
                f"({entry['error']}); training continues with the weights unchanged.",
                stacklevel=3,
            )
        entry["seconds"] = time.perf_counter() - start
        self._write(entry, density, layers)
        return entry

    def _write(self, entry: dict[str, Any], density: Any, layers: list | None = None) -> None:
        if self._writer is None:
            return
        epoch = entry["epoch"]
        if math.isfinite(entry["grad_norm"]):
            self._writer.scalar(summary.TAG_GRAD_NORM, entry["grad_norm"], epoch)
        for tag, key in (
            (summary.TAG_LAMBDA_MIN, "lambda_min"),
            (summary.TAG_LAMBDA_MAX, "lambda_max"),
            (summary.TAG_MINIMUM_RATIO, "minimum_ratio"),
            (summary.TAG_MINIMUM_RATIO_STDERR, "minimum_ratio_stderr"),
        ):
            if math.isfinite(entry[key]):
                self._writer.scalar(tag, entry[key], epoch)
        values = [
            float(summary.KIND_CODES[entry["kind"]])
            if field == "kind_code"
            else float(entry[field])
            for field in summary.CRITICAL_POINT_FIELDS
        ]
        self._writer.tensor(
            summary.TAG_CRITICAL_POINT,
            values,
            epoch,
            description="[" + ", ".join(summary.CRITICAL_POINT_FIELDS) + "]",
        )
        if density is not None:
            self._writer.tensor(
                summary.TAG_SPECTRAL_DENSITY, np.stack([density.grid, density.density]), epoch
            )
            self._writer.tensor(
                summary.TAG_SPECTRAL_MASSES,
                [float(getattr(density, field)) for field in summary.SPECTRAL_MASSES_FIELDS],
                epoch,
                description="[" + ", ".join(summary.SPECTRAL_MASSES_FIELDS) + "]",
            )
        if layers:
            write_layer_table(self._writer, layers, entry["layer_seconds"], epoch)
        self._writer.flush()

    # ---------------------------------------------------------- training hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._open_writer()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every:
            return
        entry = self._run_probe(epoch)
        self.history.append(entry)
        if logs is not None:
            for key in (
                "grad_norm",
                "grad_norm_stderr",
                "lambda_min",
                "lambda_max",
                "minimum_ratio",
            ):
                if math.isfinite(entry[key]):
                    logs[key] = entry[key]
        if self.verbose > 0 and (entry["kind"] != "not_critical" or self.always_probe):
            line = (
                f"\nEpoch {epoch + 1}: SaddlePointDetector: {entry['kind']} "
                f"(|grad|={entry['grad_norm']:.3g}, lambda_min={entry['lambda_min']:.3g}, "
                f"lambda_max={entry['lambda_max']:.3g}, minimum_ratio={entry['minimum_ratio']:.3g}"
            )
            if self.escape and entry["kind"] == "saddle":
                line += (
                    f", escaped={entry['escaped']}: loss {entry['loss_before']:.4g} -> "
                    f"{entry['loss_after']:.4g}"
                )
            print(line + f", {entry['num_hvp']} HVPs, {entry['seconds']:.2f}s)")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; ``data`` is the fixed sample as nested lists (None: a source)."""
        return {
            "data": None if self.y is None else sample_to_config(self.x, self.y),
            "every": self.every,
            "num_samples": self.num_samples,
            "grad_tol": self.grad_tol,
            "curvature_tol": self.curvature_tol,
            "always_probe": self.always_probe,
            "density": self.density,
            "escape": self.escape,
            "escape_step": self.escape_step,
            "log_dir": None if self.log_dir is None else os.fspath(self.log_dir),
            "verbose": self.verbose,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "loss": loss_to_config(self.loss),
            "bn_mode": self.bn_mode,
            "gate_samples": self.gate_samples,
            "steps": self.steps,
            "layer_curvature": self.layer_curvature,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SaddlePointDetector:
        """Rebuild from ``get_config()`` (the sample is taken as the data, unchanged)."""
        config = dict(config)
        data = config.pop("data")
        if data is None:  # a source: from_config({**config, "data": source})
            raise ValueError(_validation.message("data", data, "(x, y) or a data source"))
        if isinstance(data, list):  # the sample as get_config writes it
            data = sample_from_config(data)
        config["loss"] = loss_from_config(config.get("loss"))
        return cls(data, **config)
