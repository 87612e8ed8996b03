"""Loss landscapes during fit (notes F16): the plane through the weights, with the path taken."""

from __future__ import annotations

import os
import time
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, summary

from ._common import (
    LoggingCallback,
    check_log_dir,
    probe_config,
    probe_from_config,
    skip_failed_measurement,
)
from ._common import fixed_sample as _fixed_sample
from ._probe_args import _check_loss

_NAN = float("nan")
DIRECTIONS = tuple(summary.LANDSCAPE_DIRECTION_CODES)
NORMALIZE = ("filter", "unit", None)


def _check_at(at: Any) -> str | tuple[int, ...]:
    """``at`` as ``"end"`` or a sorted tuple of 1-based epoch numbers."""
    expected = '"end", an epoch number >= 1 (as Keras prints it) or a non-empty list of them'
    if isinstance(at, str):
        if at != "end":
            raise ValueError(_validation.message("at", at, expected))
        return at
    if _validation.is_integer(at):
        values = [at]
    elif isinstance(at, (list, tuple)) and at:
        values = list(at)
    else:
        raise TypeError(_validation.message("at", at, expected))
    if not all(_validation.is_integer(v) for v in values):
        raise TypeError(_validation.message("at", at, expected))
    if any(v < 1 for v in values):
        raise ValueError(_validation.message("at", at, expected))
    return tuple(sorted({int(v) for v in values}))


def flat_weights(model: keras.Model) -> np.ndarray:
    """The trainable weights as one flat array, in ``model.trainable_variables`` order."""
    return np.concatenate(
        [np.ravel(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
    )


def project_on_plane(
    points: np.ndarray, center: np.ndarray, directions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coordinates of ``points`` on the plane ``center + span(directions)``.

    ```
    (a_e, b_e) = argmin ‖θ_e − θ − a d₁ − b d₂‖          (D = [d₁ d₂], normal equations DᵀD c = DᵀΔ)
    off_plane_e = ‖θ_e − θ − a_e d₁ − b_e d₂‖            (0 when θ_e lies in the plane)
    ```

    For orthonormal directions (``"extreme"``: two eigenvectors) this is
    ``c = Dᵀ(θ_e − θ)``; filter-normalised random directions are neither unit
    nor orthogonal, hence the least squares.

    Args:
        points: ``(T, n)`` recorded weights.
        center: ``(n,)`` the plane's centre θ.
        directions: ``(n, k)`` the plane's directions as columns.

    Returns:
        ``(coordinates (T, k), off_plane (T,))``.

    Example:
        >>> d = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
        >>> c, off = project_on_plane(np.array([[1.0, 4.0, 3.0]]), np.zeros(3), d)
        >>> c.tolist(), off.tolist()
        ([[1.0, 2.0]], [3.0])
    """
    delta = np.asarray(points, np.float64) - np.asarray(center, np.float64)[None, :]
    matrix = np.asarray(directions, np.float64)
    coefficients, *_ = np.linalg.lstsq(matrix, delta.T, rcond=None)
    residual = delta.T - matrix @ coefficients
    return coefficients.T, np.linalg.norm(residual, axis=0)


@keras.saving.register_keras_serializable(package="kerasnotes")
class LandscapeLogger(LoggingCallback):
    """Log the loss on a plane through the weights, and the path training took across it (F16).

    At the chosen epochs, on a fixed sample of ``data``, a ``HessianProbe`` at
    the current weights θ evaluates (``HessianProbe.landscape``)::

        loss[i, j] = L(θ + a_i d₁ + b_j d₂),    a, b = linspace(−span, span, num)
        "extreme": d₁, d₂ = unit eigenvectors of λmin, λmax of H = ∇²L(θ)
        "random":  filter-normalised Gaussian directions (Li et al. 2018)
        along a unit eigenvector at a critical point: L(θ + t u) ≈ L(θ) + ½ λ t²

    For each direction it also measures the second-order model along it,
    ``L(θ) + s t + ½ c t²`` with slope ``s = ∇Lᵀd`` and curvature ``c = dᵀHd``
    (two HVPs), which is ``½ λ t²`` for an eigenvector at a critical point.
    With ``trajectory=True`` the weights are recorded before training and at
    the end of every epoch, and the path up to the logged epoch is projected
    on the plane, relative to its centre (least squares, ``project_on_plane``;
    the distance off the plane is kept too). That costs one copy of the
    weights per epoch in memory.

    Results go to ``history`` (one dict per logged landscape: ``epoch``
    (0-based), ``landscape`` (the ``Landscape``), ``trajectory`` (rows
    ``[step, a, b, off_plane]``, step −1 the initial weights, or None),
    ``curvature``, ``slope`` (per direction, per unit of ``‖d‖``), ``seconds``
    and, when it failed, ``error``) and, with a ``log_dir``, to the tensors
    ``kerasnotes/landscape/{surface,directions,trajectory,info}`` (layouts in
    ``kerasnotes.summary.layout``), drawn by the kerasnotes tab's Landscape
    view. A failed measurement is a warning, never the end of the fit. Keras
    has no built-in counterpart.

    Args:
        data: ``(x, y)`` to evaluate on (Keras callbacks never see the training data).
        at: ``"end"`` (after the last epoch, at train end), an epoch number as
            Keras prints it (1 is the first epoch) or a list of them; an epoch
            the fit never reaches (early stopping, fewer epochs) logs nothing.
        directions: ``"extreme"`` or ``"random"``.
        trajectory: record the weights each epoch and log their projection.
        span: the grid covers ``[−span, span]`` along each direction, > 0.
        num: grid points per axis, odd and ≥ 3 (the weights themselves are the
            centre point, so each slice passes through them).
        log_dir: TensorBoard run directory, or None.
        normalize: for ``"random"``: ``"filter"``, ``"unit"`` or ``None``.
        num_samples: size of the fixed sample drawn once from ``data``.
        seed: seed of the sample, the random directions and Lanczos' start.
        batch_size: micro-batch size of the probe (None: the whole sample).
        loss: the loss, as ``HessianProbe``'s ``loss=`` (None: the compiled loss).
        verbose: 1 prints one line per landscape.

    Example:
        >>> import keras, numpy as np
        >>> from kerasnotes import datasets
        >>> from kerasnotes.callbacks import LandscapeLogger
        >>> model, x, y, loss = datasets.product_saddle()       # L = (1 − w₁w₂)², saddle at 0
        >>> model.compile(keras.optimizers.SGD(0.0), loss)
        >>> logger = LandscapeLogger((x, y), num=5, span=2.0)
        >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
        >>> s = logger.history[0]["landscape"]
        >>> np.round(s.eigenvalues, 4).tolist()                   # λmin, λmax of H at 0
        [-2.0, 2.0]
        >>> np.round(s.loss[:, 2], 4).tolist()                    # along u ∝ [1, 1]: (1 − t²/2)²
        [1.0, 0.25, 1.0, 0.25, 1.0]
    """

    def __init__(
        self,
        data: tuple[Any, Any],
        at: str | int | list[int] = "end",
        directions: str = "extreme",
        trajectory: bool = True,
        span: float = 1.0,
        num: int = 21,
        log_dir: str | os.PathLike | None = None,
        *,
        normalize: str | None = "filter",
        num_samples: int = 2048,
        seed: int = 0,
        batch_size: int | None = None,
        loss: Any = None,
        verbose: int = 0,
    ) -> None:
        self.at = _check_at(at)
        self.directions = _validation.one_of("directions", directions, DIRECTIONS)
        self.trajectory = _validation.boolean("trajectory", trajectory)
        self.span = _validation.positive_number("span", span)
        self.num = _validation.integer("num", num, minimum=3)
        if self.num % 2 == 0:
            raise ValueError(
                _validation.message(
                    "num", num, "an odd integer >= 3 (the weights are the grid's centre point)"
                )
            )
        self.normalize = _validation.one_of("normalize", normalize, NORMALIZE)
        self.num_samples = _validation.integer("num_samples", num_samples, minimum=1)
        self.seed = _validation.integer("seed", seed, minimum=0)
        self.batch_size = (
            None if batch_size is None else _validation.integer("batch_size", batch_size, minimum=1)
        )
        self.loss = _check_loss(loss)
        self.verbose = _validation.integer("verbose", verbose, minimum=0)
        super().__init__(check_log_dir(log_dir))
        self.x, self.y = _fixed_sample(data, self.num_samples, self.seed)
        self.history: list[dict[str, Any]] = []
        self._path: list[tuple[int, np.ndarray]] = []
        self._last_epoch: int | None = None

    # ------------------------------------------------------------- one landscape
    def _measure(self, epoch: int) -> dict[str, Any]:
        from kerasnotes.curvature import HessianProbe

        entry: dict[str, Any] = {
            "epoch": epoch,
            "landscape": None,
            "trajectory": None,
            "curvature": np.full(2, _NAN),
            "slope": np.full(2, _NAN),
            "seconds": _NAN,
        }
        start = time.perf_counter()
        model = self.model  # under JAX this syncs the trainer's state into the variables
        try:
            probe = HessianProbe(model, self.x, self.y, loss=self.loss, batch_size=self.batch_size)
            surface = probe.landscape(
                self.directions, self.span, self.num, self.normalize, seed=self.seed
            )
            gradient = probe.gradient()
            norms = np.linalg.norm(surface.directions, axis=0)
            entry["curvature"] = np.array(
                [d @ probe.hvp(d) for d in surface.directions.T]
            ) / np.maximum(norms**2, 1e-300)
            entry["slope"] = surface.directions.T @ gradient / np.maximum(norms, 1e-300)
            entry["landscape"] = surface
            if self.trajectory and self._path:
                center = flat_weights(model)
                usable = [(s, w) for s, w in self._path if w.shape == center.shape]
                if usable:
                    steps = np.array([s for s, _ in usable], dtype=np.float64)
                    coords, off = project_on_plane(
                        np.stack([w for _, w in usable]), center, surface.directions
                    )
                    entry["trajectory"] = np.column_stack([steps, coords, off])
        except Exception as error:  # a measurement must never end the user's fit
            skip_failed_measurement(
                entry, error, f"LandscapeLogger: the landscape at epoch {epoch + 1}"
            )
        entry["seconds"] = time.perf_counter() - start
        return entry

    def _write(self, entry: dict[str, Any]) -> None:
        surface = entry["landscape"]
        if self._writer is None or surface is None:
            return
        step = entry["epoch"]
        loss = np.where(np.isfinite(surface.loss), surface.loss, _NAN)
        eigen = surface.eigenvalues if surface.eigenvalues is not None else np.full(2, _NAN)
        norms = np.linalg.norm(surface.directions, axis=0)
        rows = np.column_stack([eigen, entry["curvature"], entry["slope"], norms])
        self._writer.tensor(summary.TAG_LANDSCAPE_SURFACE, loss, step=step)
        self._writer.tensor(summary.TAG_LANDSCAPE_DIRECTIONS, rows, step=step)
        if entry["trajectory"] is not None:
            self._writer.tensor(summary.TAG_LANDSCAPE_TRAJECTORY, entry["trajectory"], step=step)
        info = [
            self.span,
            self.num,
            surface.center_loss,
            summary.LANDSCAPE_DIRECTION_CODES[self.directions],
            surface.num_hvp + 2,  # the landscape's HVPs and the two of the curvatures
            surface.directions.shape[0],
            entry["seconds"],
        ]
        self._writer.tensor(summary.TAG_LANDSCAPE_INFO, info, step=step)
        self._writer.flush()

    def _log(self, epoch: int) -> None:
        entry = self._measure(epoch)
        self.history.append(entry)
        self._write(entry)
        if self.verbose > 0 and entry["landscape"] is not None:
            surface = entry["landscape"]
            eigen = (
                ""
                if surface.eigenvalues is None
                else (f", λmin={surface.eigenvalues[0]:.4g}, λmax={surface.eigenvalues[1]:.4g}")
            )
            print(
                f"\nEpoch {epoch + 1}: LandscapeLogger: {self.num}×{self.num} {self.directions} "
                f"plane, L(θ)={surface.center_loss:.4g}{eigen} ({entry['seconds']:.2f}s)"
            )

    def _record(self, step: int) -> None:
        if self.trajectory and self.model.trainable_variables:
            self._path.append((step, flat_weights(self.model)))

    # ---------------------------------------------------------- training hooks
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._open_writer()
        self._path = []
        self._last_epoch = None
        if self.model.built:
            self._record(-1)  # step −1: the weights before the first update

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._last_epoch = epoch
        self._record(epoch)
        if self.at != "end" and epoch + 1 in self.at:
            self._log(epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.at == "end" and self._last_epoch is not None:
            self._log(self._last_epoch)
        self._path = []  # the copies of the weights are not needed any more
        self._flush()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; ``data`` is the fixed sample, as nested lists."""
        return probe_config(
            self,
            at=self.at if isinstance(self.at, str) else list(self.at),
            directions=self.directions,
            trajectory=self.trajectory,
            span=self.span,
            num=self.num,
            normalize=self.normalize,
        )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LandscapeLogger:
        """Rebuild from ``get_config()`` (the sample is taken as the data, unchanged)."""
        return probe_from_config(cls, config)
