"""What every kerasnotes callback shares: its TensorBoard writer, run info, copying."""

from __future__ import annotations

import copy
import json
import os
import warnings
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, summary


def check_log_dir(log_dir: Any, *, required: bool = False) -> str | None:
    """Validate a ``log_dir`` argument at construction; the directory is made at train begin."""
    return _validation.path("log_dir", log_dir, optional=not required)


def fixed_sample(data: Any, num_samples: int, seed: int) -> tuple[Any, Any]:
    """Copy ``num_samples`` rows of ``(x, y)`` chosen once by ``seed`` (all rows if fewer)."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            "Argument `data` must be a pair (x, y) of arrays or a data source (Keras callbacks "
            "never see the training data, so pass it here). Received: data of type "
            f"{type(data).__name__}"
        )
    try:
        leaves = [np.asarray(a) for a in keras.tree.flatten(data)]
    except Exception as error:
        raise TypeError(f"data must hold arrays: {error}") from None
    lengths = {a.shape[0] if a.ndim else None for a in leaves}
    if len(lengths) != 1 or None in lengths or 0 in lengths:
        raise ValueError(
            "Argument `data` must be (x, y) of non-empty arrays with one common number of "
            f"samples. Received: data with sample counts {sorted(str(n) for n in lengths)}"
        )
    total = lengths.pop()
    if total <= num_samples:
        rows = np.arange(total)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(total, num_samples, replace=False))
    x, y = data
    pick = lambda a: np.array(np.asarray(a)[rows], copy=True)  # noqa: E731
    return keras.tree.map_structure(pick, x), keras.tree.map_structure(pick, y)


def probe_data(data: Any, num_samples: int, seed: int, gate_samples: Any = None) -> tuple:
    """``(x, y)`` a probing callback keeps: a fixed sample of arrays, or ``(source, None)``.

    A pair ``(x, y)`` is array data (``fixed_sample``); anything else that
    ``kerasnotes.curvature.sources.is_source`` accepts is kept as it is and
    streamed on every probe (no subsample gate: it draws rows of arrays).
    """
    from kerasnotes.curvature import sources

    if isinstance(data, (tuple, list)) and len(data) == 2 or not sources.is_source(data):
        return fixed_sample(data, num_samples, seed)
    if gate_samples:
        raise ValueError(
            _validation.message("gate_samples", gate_samples, "None or 0 when data is a source")
        )
    return data, None


def sample_to_config(x: Any, y: Any) -> list:
    """A callback's fixed data sample ``(x, y)`` as nested lists, for ``get_config``."""

    def as_lists(nested: Any) -> Any:
        if isinstance(nested, dict):
            return {key: as_lists(value) for key, value in nested.items()}
        return np.asarray(nested).tolist()

    return [as_lists(x), as_lists(y)]


def sample_from_config(data: Any) -> tuple[Any, Any]:
    """The ``(x, y)`` arrays back from ``sample_to_config`` (floats as float32, as Keras feeds)."""

    def to_array(nested: Any) -> Any:
        if isinstance(nested, dict):
            return {key: to_array(value) for key, value in nested.items()}
        array = np.asarray(nested)
        return array.astype(np.float32) if array.dtype.kind == "f" else array

    x, y = data
    return to_array(x), to_array(y)


def loss_to_config(loss: Any) -> Any:
    """A ``loss=`` argument for ``get_config``: None and names as they are, objects serialized."""
    if loss is None or isinstance(loss, str):
        return loss
    return keras.saving.serialize_keras_object(loss)


def loss_from_config(loss: Any) -> Any:
    """The inverse of ``loss_to_config``."""
    return keras.saving.deserialize_keras_object(loss) if isinstance(loss, dict) else loss


def probe_config(callback: Any, **own: Any) -> dict[str, Any]:
    """``get_config`` of a probing callback: the fixed sample as lists, its own keys, the rest.

    The probing callbacks (``LandscapeLogger``, ``SharpnessMonitor``) share ``data``,
    ``log_dir``, ``num_samples``, ``seed``, ``batch_size``, ``loss`` and ``verbose``.
    """
    log_dir = callback.log_dir
    return {
        "data": sample_to_config(callback.x, callback.y),
        **own,
        "log_dir": None if log_dir is None else os.fspath(log_dir),
        "num_samples": callback.num_samples,
        "seed": callback.seed,
        "batch_size": callback.batch_size,
        "loss": loss_to_config(callback.loss),
        "verbose": callback.verbose,
    }


def probe_from_config(cls: type, config: dict[str, Any]) -> Any:
    """The inverse of ``probe_config``: ``cls(data, **rest)`` (the sample is taken as the data)."""
    config = dict(config)
    data = sample_from_config(config.pop("data"))
    config["loss"] = loss_from_config(config.get("loss"))
    return cls(data, **config)


def skip_failed_measurement(entry: dict[str, Any], error: Exception, what: str) -> None:
    """Record ``error`` in ``entry`` and warn that ``what`` failed: a probe never ends a fit."""
    entry["error"] = f"{type(error).__name__}: {error}"
    # stacklevel 4: this helper, the callback's measurement, its hook, Keras' caller.
    warnings.warn(f"{what} failed and was skipped ({entry['error']}).", stacklevel=4)


def to_float(value: Any) -> float:
    """A Python float from a number, numpy scalar or backend tensor of one element."""
    return float(np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64).reshape(()))


def run_info_markdown(model: keras.Model) -> str:
    """The ``kerasnotes/run_info`` text: backend, model size, optimizer and its config."""
    lines = [f"**backend** `{keras.backend.backend()}`"]
    try:
        count = int(sum(np.prod(v.shape) for v in model.trainable_variables))
        lines.append(f"**model** `{model.name}`: {count} trainable parameters")
    except Exception:  # an unbuilt model has no variables yet; the run info is optional
        lines.append(f"**model** `{model.name}`")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        name = f"{type(optimizer).__module__}.{type(optimizer).__name__}"
        try:
            config = json.dumps(optimizer.get_config(), default=str, indent=1)
        except Exception:  # a custom optimizer without get_config still gets its name logged
            config = "{}"
        lines.append(f"**optimizer** `{name}`\n\n```json\n{config}\n```")
    return "\n\n".join(lines)


class LoggingCallback(keras.callbacks.Callback):
    """Base of the kerasnotes callbacks: a shared ``summary.Writer`` and safe deep copies."""

    #: Attributes a deep copy resets to None instead of copying.
    _not_copied: tuple[str, ...] = ("_model", "_writer")
    #: Attributes a deep copy shares with the original (a data source is read, never copied).
    _shared: tuple[str, ...] = ()

    def __init__(self, log_dir: str | os.PathLike | None = None, **kwargs: Any) -> None:
        # Cooperative: a subclass that also derives from a Keras callback (EarlyStopping)
        # passes that callback's arguments on through ``kwargs``.
        super().__init__(**kwargs)
        self.log_dir = log_dir
        self._writer: summary.Writer | None = None

    def _open_writer(self) -> summary.Writer | None:
        """Get the run's shared writer and write the run info once (at train begin)."""
        if self.log_dir is None:
            self._writer = None
            return None
        self._writer = summary.Writer.for_log_dir(self.log_dir)
        if not self._writer.has_written(summary.TAG_RUN_INFO):
            self._writer.text(summary.TAG_RUN_INFO, run_info_markdown(self.model), step=0)
        return self._writer

    def _flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def __deepcopy__(self, memo: dict) -> LoggingCallback:
        # keras-tuner deep-copies callbacks for each trial: the copy gets the
        # configuration and state but neither the model (set again by fit) nor
        # a second handle on the event file.
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            if key in self._not_copied:
                clone.__dict__[key] = None
            elif key in self._shared:
                clone.__dict__[key] = value
            else:
                clone.__dict__[key] = copy.deepcopy(value, memo)
        return clone
