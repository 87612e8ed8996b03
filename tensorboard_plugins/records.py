"""One logged record as the JSON the kerasnotes tab sends: scalar series and decoded tensors.

The tensor layouts are the contract of ``kerasnotes.summary.layout``:

```
kerasnotes/critical_point     (10,)  [kind_code, grad_norm, lambda_min, lambda_max,
                                      minimum_ratio, escaped, loss_before, loss_after,
                                      num_hvp, seconds]
kerasnotes/spectral_density   (2, G) [grid; Gaussian-smoothed density on the grid]
kerasnotes/spectral_masses    (10,) [negative, zero, positive fraction, their stderrs,
                                     threshold τ, sigma, num_runs, num_steps]
kerasnotes/early_stopping/event (3,) [best_epoch, best_value, stopped_epoch]
kerasnotes/landscape/surface  (num, num) loss[i, j] at a_i, b_j = linspace(−span, span, num)
kerasnotes/landscape/directions (2, 4)  per direction [eigenvalue, curvature, slope, norm]
kerasnotes/landscape/trajectory (T, 4)  per recorded epoch [step, a, b, off_plane]
kerasnotes/landscape/info     (7,)  [span, num, center_loss, directions_code, num_hvp,
                                     num_parameters, seconds]
kerasnotes/layer_curvature    (L, 6) per layer [num_parameters, lambda_max, trace,
                                                trace_stderr, num_hvp, seconds]
kerasnotes/layer_curvature/names (L,) the layers' names (UTF-8 strings), row for row
```

NaN and infinities become ``None`` (JSON has no NaN), and series are columnar
(``{"steps": [...], "values": [...]}``) to keep responses small. A malformed
record (a tensor of the wrong shape or type) decodes to ``None``, which the
reader counts as skipped.

Epochs: every epoch-stepped record is logged at the 0-based epoch index (the
event step, as ``keras.callbacks.TensorBoard`` writes it), while people read
the number Keras prints ("Epoch 16/50"). The JSON carries both, under fixed
names: ``step``/``steps`` are the event steps as logged (and what ``?step=``
takes), ``epoch``/``epochs``/``best_epoch``/``stopped_epoch`` are the epoch
numbers as Keras prints them (step + 1). The frontend draws and writes only the
latter on anything labelled "epoch"::

    epoch (as Keras prints) = step + 1
    best_epoch    = M of "Restoring model weights from the end of the best epoch: M."
    stopped_epoch = N of "Epoch N: early stopping"

Example:
    >>> from tensorboard.data.provider import ScalarDatum
    >>> scalar_series([ScalarDatum(step=15, wall_time=0.0, value=float("nan"))])
    {'steps': [15], 'epochs': [16], 'values': [None]}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from tensorboard.data import provider as tb_provider

from kerasnotes.summary import layout


def finite_or_none(value: float) -> float | None:
    """Return ``value`` as a float, or ``None`` when it is NaN or infinite (JSON has no NaN).

    ```
    finite_or_none(x) = x if x is finite else None       (NaN marks "not measured")
    ```

    Args:
        value: a real number.

    Example:
        >>> finite_or_none(0.5), finite_or_none(float("nan"))
        (0.5, None)
    """
    value = float(value)
    return value if math.isfinite(value) else None


def as_keras_epoch(step: int) -> int:
    """The epoch number Keras prints for a record logged at the 0-based epoch index ``step``.

    ```
    epoch = step + 1          (step 15 is "Epoch 16/50")
    ```

    Example:
        >>> as_keras_epoch(15)
        16
    """
    return int(step) + 1


def scalar_series(data: Sequence[tb_provider.ScalarDatum], epochs: bool = True) -> dict[str, list]:
    """A scalar series as columns: its steps, their Keras epoch numbers, its values.

    ```
    {"steps": [s...], "epochs": [s + 1...], "values": [v or None...]}   (no "epochs" if epochs=False)
    ```

    Args:
        data: the ``ScalarDatum`` list the data provider read for one tag.
        epochs: False for series whose steps may count batches
            (``LearningRateDecay(per="step")``): no epoch numbers then.
    """
    steps = [int(d.step) for d in data]
    values = [finite_or_none(d.value) for d in data]
    if not epochs:  # steps that may count batches (LearningRateDecay(per="step"))
        return {"steps": steps, "values": values}
    return {"steps": steps, "epochs": [as_keras_epoch(s) for s in steps], "values": values}


def decode_critical_point(datum: tb_provider.TensorDatum) -> dict[str, Any] | None:
    """One ``kerasnotes/critical_point`` tensor as a dict, or ``None`` if malformed.

    ```
    [kind_code, grad_norm, lambda_min, lambda_max, minimum_ratio, escaped,
     loss_before, loss_after, num_hvp, seconds]  ->  {"step", "epoch", "kind", "grad_norm", ...}
    ```

    ``step`` is the 0-based epoch index logged, ``epoch = step + 1`` the number Keras prints.

    Args:
        datum: a ``TensorDatum`` read from the data provider.

    Example:
        >>> from tensorboard.data.provider import TensorDatum
        >>> values = np.array([3, 1e-4, -2, 2, 0.5, 1, 1, 0.2, 40, 0.1])
        >>> event = decode_critical_point(TensorDatum(step=4, wall_time=0.0, numpy=values))
        >>> event["kind"], event["lambda_min"], event["escaped"]
        ('saddle', -2.0, True)
    """
    values = np.asarray(datum.numpy)
    if values.shape != (len(layout.CRITICAL_POINT_FIELDS),) or not np.issubdtype(
        values.dtype, np.number
    ):
        return None
    fields = dict(
        zip(layout.CRITICAL_POINT_FIELDS, values.astype(np.float64).tolist(), strict=True)
    )
    code = fields.pop("kind_code")
    # 3.7 is no kind: int() would read it as 3 ("saddle"), so non-integers are malformed.
    kind = layout.KIND_NAMES.get(int(code)) if float(code).is_integer() else None
    if kind is None:
        return None
    step = int(datum.step)
    event: dict[str, Any] = {"step": step, "epoch": as_keras_epoch(step), "kind": kind}
    for name, value in fields.items():
        event[name] = finite_or_none(value)
    event["escaped"] = bool(event["escaped"]) if event["escaped"] is not None else None
    if event["num_hvp"] is not None:
        event["num_hvp"] = int(event["num_hvp"])
    return event


def decode_early_stopping(datum: tb_provider.TensorDatum) -> dict[str, Any] | None:
    """One ``kerasnotes/early_stopping/event`` tensor as a dict, or ``None`` if malformed.

    ```
    [best_epoch, best_value, stopped_epoch]  (stopped_epoch = -1: training ran to the end)
    ->  best_epoch = logged + 1, stopped_epoch = logged + 1 (or None): as Keras prints them
        best_step, stopped_step = the 0-based epoch indices as logged
    ```

    The tensor holds ``EarlyStopping``'s 0-based attributes; the dict's
    ``best_epoch`` and ``stopped_epoch`` are the numbers Keras prints ("Epoch N:
    early stopping", "Restoring model weights from the end of the best epoch: M.").

    Args:
        datum: a ``TensorDatum`` read from the data provider.

    Example:
        >>> from tensorboard.data.provider import TensorDatum
        >>> datum = TensorDatum(step=9, wall_time=0.0, numpy=np.array([6.0, 0.25, -1.0]))
        >>> decode_early_stopping(datum)  # doctest: +NORMALIZE_WHITESPACE
        {'step': 9, 'best_step': 6, 'best_epoch': 7, 'best_value': 0.25,
         'stopped_step': None, 'stopped_epoch': None}
    """
    values = np.asarray(datum.numpy)
    if values.shape != (len(layout.EARLY_STOPPING_FIELDS),) or not np.issubdtype(
        values.dtype, np.number
    ):
        return None
    best_epoch, best_value, stopped_epoch = values.astype(np.float64).tolist()
    if not (math.isfinite(best_epoch) and math.isfinite(stopped_epoch)):
        return None
    stopped = int(stopped_epoch) if stopped_epoch >= 0 else None
    return {
        "step": int(datum.step),
        "best_step": int(best_epoch),
        "best_epoch": as_keras_epoch(int(best_epoch)),
        "best_value": finite_or_none(best_value),
        "stopped_step": stopped,
        "stopped_epoch": None if stopped is None else as_keras_epoch(stopped),
    }


def decode_text(array: Any) -> str | None:
    """A text record's string (the first of its values), or ``None`` if it holds no bytes."""
    values = np.asarray(array).reshape(-1)
    if values.size == 0 or not isinstance(values[0], bytes):
        return None
    return values[0].decode("utf-8", errors="replace")


def decode_density(array: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """A ``kerasnotes/spectral_density`` tensor as ``(grid, density)``, or ``None`` if malformed.

    The grid must be finite and strictly increasing; non-finite densities read as 0.
    """
    values = np.asarray(array)
    if values.ndim != 2 or values.shape[0] != 2 or values.shape[1] < 2:
        return None
    if not np.issubdtype(values.dtype, np.number):
        return None
    grid, density = values.astype(np.float64)
    if not (np.all(np.isfinite(grid)) and np.all(np.diff(grid) > 0)):
        return None
    return grid, np.where(np.isfinite(density), density, 0.0)


def decode_spectral_masses(datum: tb_provider.TensorDatum) -> dict[str, Any] | None:
    """One ``kerasnotes/spectral_masses`` tensor as a dict, or ``None`` if malformed.

    ```
    [negative_fraction, zero_fraction, positive_fraction, negative_fraction_stderr,
     zero_fraction_stderr, positive_fraction_stderr, threshold, sigma, num_runs, num_steps]
    ```

    Args:
        datum: a ``TensorDatum`` read from the data provider.

    Example:
        >>> from tensorboard.data.provider import TensorDatum
        >>> values = np.array([0.0, 0.9, 0.1, 0.0, 0.004, 0.004, 1e-3, 0.05, 5, 80])
        >>> masses = decode_spectral_masses(TensorDatum(step=2, wall_time=0.0, numpy=values))
        >>> masses["negative_fraction"], masses["zero_fraction_stderr"], masses["num_runs"]
        (0.0, 0.004, 5)
    """
    values = np.asarray(datum.numpy)
    size = len(layout.SPECTRAL_MASSES_FIELDS)
    if values.shape != (size,) or not np.issubdtype(values.dtype, np.number):
        return None
    masses: dict[str, Any] = {
        name: finite_or_none(value)
        for name, value in zip(
            layout.SPECTRAL_MASSES_FIELDS, values.astype(np.float64).tolist(), strict=True
        )
    }
    for name in ("num_runs", "num_steps"):
        if masses[name] is not None:
            masses[name] = int(masses[name])
    return masses


def _numeric(array: Any, shape: tuple[int | None, ...]) -> np.ndarray | None:
    """``array`` as float64 when it is numeric with ``shape`` (None: any length), else None."""
    values = np.asarray(array)
    if values.ndim != len(shape) or not np.issubdtype(values.dtype, np.number):
        return None
    if any(want is not None and got != want for got, want in zip(values.shape, shape, strict=True)):
        return None
    return values.astype(np.float64)


def decode_landscape(
    surface: Any, directions: Any, trajectory: Any | None, info: Any
) -> dict[str, Any] | None:
    """One logged landscape (the four ``kerasnotes/landscape/*`` tensors of a step), or None.

    ```
    a = b = linspace(−span, span, num),  loss[i][j] = L(θ + a_i d₁ + b_j d₂)  (None: not finite)
    axes[k] = {eigenvalue, curvature, slope, norm} of d_k; model along d_k:
              L(θ) + slope·norm·t + ½·curvature·norm²·t²   (½λt² for a unit eigenvector)
    trajectory = [{step, epoch, a, b, off_plane}]   epoch = step + 1 (0: before training)
    ```

    ``trajectory`` may be None (logged with ``trajectory=False``); any other
    part missing or malformed makes the whole landscape None (skipped).

    Example:
        >>> info = np.array([1.0, 3, 1.0, 0, 12, 2, 0.05])
        >>> surface = np.array([[1.0, 4.0, 1.0], [0.25, 1.0, 0.25], [1.0, 4.0, 1.0]])
        >>> axes = np.array([[-2.0, -2.0, 0.0, 1.0], [2.0, 2.0, 0.0, 1.0]])
        >>> out = decode_landscape(surface, axes, np.array([[-1.0, 0.5, 0.0, 0.0]]), info)
        >>> out["a"], out["directions"], out["axes"][0]["eigenvalue"], out["trajectory"][0]["epoch"]
        ([-1.0, 0.0, 1.0], 'extreme', -2.0, 0)
    """
    fields = _numeric(info, (len(layout.LANDSCAPE_INFO_FIELDS),))
    if fields is None:
        return None
    values = dict(zip(layout.LANDSCAPE_INFO_FIELDS, fields.tolist(), strict=True))
    span, num = values["span"], values["num"]
    if not (math.isfinite(span) and span > 0 and float(num).is_integer() and num >= 2):
        return None
    num = int(num)
    loss = _numeric(surface, (num, num))
    rows = _numeric(directions, (2, len(layout.LANDSCAPE_DIRECTION_FIELDS)))
    if loss is None or rows is None:
        return None
    path: list[dict[str, Any]] = []
    if trajectory is not None:
        points = _numeric(trajectory, (None, len(layout.LANDSCAPE_TRAJECTORY_FIELDS)))
        if points is None:
            return None
        for step, a, b, off in points.tolist():
            if not math.isfinite(step):
                return None
            path.append(
                {
                    "step": int(step),
                    "epoch": as_keras_epoch(int(step)),
                    "a": finite_or_none(a),
                    "b": finite_or_none(b),
                    "off_plane": finite_or_none(off),
                }
            )
    names = {code: name for name, code in layout.LANDSCAPE_DIRECTION_CODES.items()}
    code = values["directions_code"]
    axis = np.linspace(-span, span, num).tolist()
    return {
        "a": axis,
        "b": list(axis),
        "loss": [[finite_or_none(v) for v in row] for row in loss.tolist()],
        "center_loss": finite_or_none(values["center_loss"]),
        "directions": names.get(int(code)) if float(code).is_integer() else None,
        "axes": [
            {
                name: finite_or_none(v)
                for name, v in zip(layout.LANDSCAPE_DIRECTION_FIELDS, row, strict=True)
            }
            for row in rows.tolist()
        ],
        "trajectory": path,
        "span": span,
        "num": num,
        "num_hvp": int(values["num_hvp"]) if math.isfinite(values["num_hvp"]) else None,
        "num_parameters": int(values["num_parameters"])
        if math.isfinite(values["num_parameters"])
        else None,
        "seconds": finite_or_none(values["seconds"]),
    }


def decode_layer_table(
    values: tb_provider.TensorDatum, names: tb_provider.TensorDatum
) -> dict[str, Any] | None:
    """One probe's per-layer curvature table (F18), or ``None`` if malformed.

    ```
    kerasnotes/layer_curvature (L, 6) + kerasnotes/layer_curvature/names (L,) at one step
    ->  {"step", "epoch", "seconds", "layers": [{"name", "num_parameters", "lambda_max",
                                                  "trace", "trace_stderr", "num_hvp"}, ...]}
    ```

    The rows and the names must agree in number; NaN becomes ``None``.

    Args:
        values: the ``kerasnotes/layer_curvature`` datum.
        names: the ``kerasnotes/layer_curvature/names`` datum of the same step.

    Example:
        >>> from tensorboard.data.provider import TensorDatum
        >>> rows = np.array([[2080, 3.5, 40.0, 1.5, 130, 0.25], [330, 0.5, 2.0, 0.0, 110, 0.25]])
        >>> names = np.array([b"dense", b"dense_1"], dtype=object)
        >>> table = decode_layer_table(
        ...     TensorDatum(step=4, wall_time=0.0, numpy=rows),
        ...     TensorDatum(step=4, wall_time=0.0, numpy=names),
        ... )
        >>> table["epoch"], table["layers"][0]["name"], table["layers"][1]["lambda_max"]
        (5, 'dense', 0.5)
    """
    rows = np.asarray(values.numpy)
    labels = np.asarray(names.numpy)
    width = len(layout.LAYER_CURVATURE_FIELDS)
    if rows.ndim != 2 or rows.shape[1] != width or not np.issubdtype(rows.dtype, np.number):
        return None
    if labels.shape != (rows.shape[0],) or not all(isinstance(n, bytes) for n in labels.tolist()):
        return None
    layers = []
    for name, row in zip(labels.tolist(), rows.astype(np.float64).tolist(), strict=True):
        fields = dict(zip(layout.LAYER_CURVATURE_FIELDS, row, strict=True))
        count, hvp = fields["num_parameters"], fields["num_hvp"]
        layers.append(
            {
                "name": name.decode("utf-8", errors="replace"),
                "num_parameters": int(count) if math.isfinite(count) else None,
                "lambda_max": finite_or_none(fields["lambda_max"]),
                "trace": finite_or_none(fields["trace"]),
                "trace_stderr": finite_or_none(fields["trace_stderr"]),
                "num_hvp": int(hvp) if math.isfinite(hvp) else None,
            }
        )
    step = int(values.step)
    seconds = finite_or_none(rows[0, -1]) if rows.shape[0] else None
    return {"step": step, "epoch": as_keras_epoch(step), "seconds": seconds, "layers": layers}
