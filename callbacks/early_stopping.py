"""Early stopping (notes F15): stop when the validation loss stops improving, keep the best weights."""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import keras
import numpy as np

from kerasnotes import summary

from ._common import LoggingCallback, check_log_dir, to_float

_MODES = ("auto", "min", "max")


def _metric_direction(model: keras.Model, name: str) -> str | None:
    """ "min" or "max" for a compiled metric called ``name``, from its ``_direction``."""
    pending = list(getattr(model, "metrics", []) or [])
    while pending:
        metric = pending.pop()
        pending.extend(getattr(metric, "metrics", []) or [])  # compile containers nest
        direction = getattr(metric, "_direction", None)
        if getattr(metric, "name", None) == name and direction in ("up", "down"):
            return "max" if direction == "up" else "min"
    return None


@keras.saving.register_keras_serializable(package="kerasnotes")
class EarlyStopping(LoggingCallback):
    """Stop training when a monitored quantity has stopped improving (notes F15).

    The notes' rule is "stop when the validation loss rises and keep the best
    weights". With ``d = |min_delta|`` and mode "min" (use ``-x`` for "max"),
    each epoch ``e >= start_from_epoch`` with a monitored value ``x_e`` does::

        wait += 1
        if best is None or x_e < best - d:          # an improvement
            best, best_epoch = x_e, e               # (and best_weights = weights)
            if baseline is None or x_e < baseline - d:
                wait = 0
        elif wait >= patience and e > 0:
            stop; stopped_epoch = e

    and at train end the weights of ``best_epoch`` are restored (bit for bit)
    when ``restore_best_weights``.

    Same arguments, defaults and semantics as ``keras.callbacks.EarlyStopping``
    (the first monitored value always becomes ``best``; the baseline only
    decides whether ``wait`` resets). Differences from the built-in:

    - ``best``, ``best_epoch`` and ``stopped_epoch`` (0 = did not stop, as in
      Keras) are public and reset at each ``fit``.
    - A monitor missing from the logs warns once per ``fit``, naming the keys
      that are available, instead of every epoch.
    - An unknown ``mode`` is a ``ValueError`` (Keras warns and uses "auto").
    - The best weights are copied out of the variables (under PyTorch
      ``get_weights`` returns views that later updates would overwrite).
    - ``log_dir`` writes the monitored value per epoch (scalar
      ``kerasnotes/early_stopping/monitor``) and, at train end, the tensor
      ``kerasnotes/early_stopping/event`` = ``[best_epoch, best, stopped_epoch]``
      with ``stopped_epoch = -1`` when training ran to the end.
    - It deep-copies (keras-tuner copies callbacks per trial) without the model.

    Args:
        monitor: name of the logged quantity, e.g. ``"val_loss"``.
        min_delta: smallest change that counts as an improvement (its sign is ignored).
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: "min", "max", or "auto" (from the name: losses are minimised,
            metrics follow their own direction).
        baseline: value the monitor must beat for ``wait`` to reset.
        restore_best_weights: put back the weights of the best epoch at train end.
        start_from_epoch: epochs to ignore before monitoring starts (warm-up).
        log_dir: TensorBoard run directory, or None.

    Example:
        >>> import numpy as np, keras
        >>> from kerasnotes.callbacks import EarlyStopping
        >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> stop = EarlyStopping(monitor="loss", patience=1, restore_best_weights=True)
        >>> _ = model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[stop])
        >>> stop.best_epoch in (0, 1, 2)
        True
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        log_dir: str | os.PathLike | None = None,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be a non-empty str; got monitor={monitor!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got mode={mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)):
            raise TypeError(f"min_delta must be a number; got min_delta={min_delta!r}")
        if not math.isfinite(float(min_delta)):
            raise ValueError(f"min_delta must be finite; got min_delta={min_delta!r}")
        for name, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an int >= 0; got {name}={value!r}")
        if baseline is not None and (
            isinstance(baseline, bool) or not isinstance(baseline, (int, float, np.number))
        ):
            raise TypeError(f"baseline must be None or a number; got baseline={baseline!r}")
        super().__init__(check_log_dir(log_dir))
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = mode
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self._direction: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None
        self._last_epoch: int | None = None
        self._warned_missing = False

    # -- direction -------------------------------------------------------
    def _resolve_direction(self) -> str | None:
        if self.mode != "auto":
            return self.mode
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return "min"
        return _metric_direction(self.model, name)

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._direction == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    # -- training hooks --------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()
        self._direction = self._resolve_direction()
        self._open_writer()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._last_epoch = epoch
        if self.monitor not in logs or logs[self.monitor] is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    f"EarlyStopping: monitor={self.monitor!r} is not in the logs; "
                    f"available keys: {sorted(logs)}. Early stopping does nothing "
                    "until it appears.",
                    stacklevel=2,
                )
            return
        current = to_float(logs[self.monitor])
        if self._writer is not None:
            self._writer.scalar(
                summary.TAG_EARLY_STOPPING_MONITOR,
                current,
                epoch,
                display_name=f"early stopping: {self.monitor}",
                description=f"The monitored quantity `{self.monitor}` per epoch.",
            )
        if epoch < self.start_from_epoch:
            return
        if self._direction is None:
            self._direction = self._resolve_direction()
            if self._direction is None:
                raise ValueError(
                    f"EarlyStopping cannot tell whether monitor={self.monitor!r} should "
                    "go down or up; pass mode='min' or mode='max'"
                )
        if self.restore_best_weights and self.best_weights is None:
            # Whatever happens later, the first monitored epoch's weights are kept.
            self.best_weights = self._copy_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._copy_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)
        if self._writer is not None and self._last_epoch is not None:
            event = [
                float(self.best_epoch) if self.best is not None else float("nan"),
                self.best if self.best is not None else float("nan"),
                float(self.stopped_epoch) if self.stopped_epoch > 0 else -1.0,
            ]
            self._writer.tensor(
                summary.TAG_EARLY_STOPPING_EVENT,
                event,
                self._last_epoch,
                description="[best_epoch, best_value, stopped_epoch (-1: ran to the end)]",
            )
            self._writer.flush()

    def _copy_weights(self) -> list[np.ndarray]:
        return [np.array(w, copy=True) for w in self.model.get_weights()]

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (state such as ``best`` is not configuration)."""
        return {
            "monitor": self.monitor,
            "min_delta": self.min_delta,
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "baseline": self.baseline,
            "restore_best_weights": self.restore_best_weights,
            "start_from_epoch": self.start_from_epoch,
            "log_dir": None if self.log_dir is None else os.fspath(self.log_dir),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EarlyStopping:
        """Rebuild from ``get_config()``."""
        return cls(**config)
