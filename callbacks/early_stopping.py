"""Early stopping (notes F15): stop when the validation loss stops improving, keep the best weights.

``EarlyStopping`` is ``keras.callbacks.EarlyStopping`` (the decision rule, the
``best``/``wait``/``stopped_epoch`` bookkeeping and the restore at train end
are Keras's own code) plus what kerasnotes adds: validation at construction,
TensorBoard logging, a bit-exact copy of the best weights and a deep copy
without the model. Where a kerasnotes behaviour differs from the built-in it is
kept by overriding the smallest piece, and the reason is written here:

- ``__init__``: an unknown ``mode`` is a ``ValueError`` (Keras warns and uses
  "auto"); the other arguments are checked for type and range.
- ``get_monitor_value`` (a public hook of the Keras class): a missing monitor
  warns once per ``fit`` naming the available keys (Keras warns every epoch),
  and the value is returned as a Python float so ``best`` is one.
- ``on_epoch_end``: Keras resolves the direction ("min"/"max") at the first
  epoch end even when the monitor is missing or still in warm-up, and its
  error for an unknown direction does not say which argument fixes it; here
  those epochs are skipped before Keras sees them (the same early return Keras
  does, taken before instead of after resolving the direction) and the error
  names ``mode='min' or mode='max'``. Keras's ``get_weights`` snapshot is then
  copied: under PyTorch it returns views of the variables that the next
  training step overwrites, so the restore would not be the best epoch's.
- ``_direction`` reads the public ``monitor_op`` that Keras sets (``ops.less``
  or ``ops.greater``); nothing private of Keras is read.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, summary

from ._common import LoggingCallback, check_log_dir, to_float

_MODES = ("auto", "min", "max")


@keras.saving.register_keras_serializable(package="kerasnotes")
class EarlyStopping(LoggingCallback, keras.callbacks.EarlyStopping):
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

    A subclass of ``keras.callbacks.EarlyStopping`` with the same arguments,
    defaults and decisions (the first monitored value always becomes ``best``;
    the baseline only decides whether ``wait`` resets). Differences from the
    built-in:

    - ``best`` is a Python float; ``best``, ``best_epoch`` and
      ``stopped_epoch`` (0 = did not stop, as in Keras) reset at each ``fit``.
    - A monitor missing from the logs warns once per ``fit``, naming the keys
      that are available, instead of every epoch.
    - An unknown ``mode`` is a ``ValueError`` (Keras warns and uses "auto").
    - The best weights are copied out of the variables (under PyTorch
      ``get_weights`` returns views that later updates would overwrite).
    - ``log_dir`` writes the monitored value per epoch (scalar
      ``kerasnotes/early_stopping/monitor``) and, at train end, the tensor
      ``kerasnotes/early_stopping/event`` = ``[best_epoch, best, stopped_epoch]``
      with ``stopped_epoch = -1`` when training ran to the end.
    - It deep-copies (keras-tuner copies callbacks per trial) without the model,
      and round-trips through ``get_config``.

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
        >>> isinstance(stop, keras.callbacks.EarlyStopping)
        True
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
        # TypeError for "" too (not _validation.string's ValueError): released behaviour.
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(_validation.message("monitor", monitor, "a non-empty string"))
        _validation.one_of("mode", mode, _MODES)
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float, np.number)):
            raise TypeError(_validation.message("min_delta", min_delta, "a finite number"))
        if not math.isfinite(float(min_delta)):
            raise ValueError(_validation.message("min_delta", min_delta, "a finite number"))
        # ValueError also for a wrong type: the released behaviour, kept for callers that catch it.
        for name, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            _validation.integer(name, value, minimum=0, wrong_type=ValueError)
        if baseline is not None and (
            isinstance(baseline, bool) or not isinstance(baseline, (int, float, np.number))
        ):
            raise TypeError(_validation.message("baseline", baseline, "None or a number"))
        super().__init__(
            check_log_dir(log_dir),
            monitor=monitor,
            min_delta=float(min_delta),
            patience=int(patience),
            verbose=verbose,
            mode=mode,
            baseline=None if baseline is None else float(baseline),
            restore_best_weights=bool(restore_best_weights),
            start_from_epoch=int(start_from_epoch),
        )
        # Keras sets these at train begin; before the first fit they read as "nothing yet".
        self.best: float | None = None
        self.best_epoch = 0
        self._last_epoch: int | None = None
        self._warned_missing = False

    @property
    def _direction(self) -> str | None:
        """ "min" or "max" once Keras has chosen ``monitor_op``; None before."""
        if self.monitor_op is None:
            return None
        return "max" if self.monitor_op is keras.ops.greater else "min"

    # -- training hooks --------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self._last_epoch = None
        self._warned_missing = False
        self._open_writer()

    def get_monitor_value(self, logs: dict | None) -> float | None:
        """The monitored value as a float, or None (with one warning per ``fit``)."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            if not self._warned_missing:
                self._warned_missing = True
                warnings.warn(
                    f"EarlyStopping: monitor={self.monitor!r} is not in the logs; "
                    f"available keys: {sorted(logs)}. Early stopping does nothing "
                    "until it appears.",
                    stacklevel=3,
                )
            return None
        return to_float(value)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self._last_epoch = epoch
        current = self.get_monitor_value(logs)
        if current is not None and self._writer is not None:
            self._writer.scalar(
                summary.TAG_EARLY_STOPPING_MONITOR,
                current,
                epoch,
                display_name=f"early stopping: {self.monitor}",
                description=f"The monitored quantity `{self.monitor}` per epoch.",
            )
        if current is None or epoch < self.start_from_epoch:
            return  # Keras's own early return, before it would resolve the direction
        snapshot = self.best_weights
        try:
            super().on_epoch_end(epoch, logs)
        except ValueError as error:
            if self.monitor_op is not None:
                raise
            raise ValueError(
                _validation.message(
                    "mode",
                    self.mode,
                    f"'min' or 'max' here: EarlyStopping cannot tell whether "
                    f"monitor={self.monitor!r} should go down or up; pass mode='min' or mode='max'",
                )
            ) from error
        if self.best_weights is not None and self.best_weights is not snapshot:
            # Keras just took ``model.get_weights()``; no step has run since, so
            # copying now keeps exactly this epoch's weights on every backend.
            self.best_weights = [np.array(w, copy=True) for w in self.best_weights]

    def on_train_end(self, logs: dict | None = None) -> None:
        super().on_train_end(logs)
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

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (state such as ``best`` is not configuration)."""
        return {
            "monitor": self.monitor,
            # Keras stores min_delta negated once the direction is "min".
            "min_delta": abs(float(self.min_delta)),
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
