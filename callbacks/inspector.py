"""Watch the adaptive learning rates (notes C5): per-variable effective rates and update sizes."""

from __future__ import annotations

import math
import os
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation, summary

from ._common import LoggingCallback, check_log_dir

_SUPPORTED = "kerasnotes.optimizers.SGD, Adagrad, RMSprop or Adam"


def _unwrapped(optimizer: Any) -> Any:
    """The optimizer a ``LossScaleOptimizer`` (mixed precision) wraps, else ``optimizer``.

    The wrapper unscales the gradients before its inner optimizer applies them,
    so the inner optimizer's state and effective learning rate are the real ones.
    """
    while isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    return optimizer


def _mean_abs(array: np.ndarray) -> float:
    return float(np.mean(np.abs(array.astype(np.float64)))) if array.size else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return 0.0 if numerator == 0 else math.inf
    return numerator / denominator


@keras.saving.register_keras_serializable(package="kerasnotes")
class OptimizerInspector(LoggingCallback):
    """Log each variable's per-element effective learning rate and update/weight ratio (C5).

    Every ``every`` epochs (at the end of epochs ``every-1, 2·every-1, …``), for
    each trainable variable ``w`` (tags use ``w.path``)::

        r = optimizer.inspect(w)["effective_learning_rate"]   # per element, e.g.
            Adagrad: α / √(G + ε)    RMSprop: α / √(E[g²] + ε)    Adam: α / (√v̂ + ε)
        histogram of r  -> kerasnotes/optimizer/effective_lr/<path>
        mean(r)         -> kerasnotes/optimizer/effective_lr_mean/<path>
        mean|Δw| / mean|w|  -> kerasnotes/optimizer/update_ratio/<path>

    where ``Δw`` is the change made by the epoch's last training call (its last
    step; with ``steps_per_execution=k`` the last k steps). This is the picture
    behind claim C5: Adagrad's rates only shrink, RMSprop's and Adam's recover.

    The numbers also go to ``history`` (a list of ``{"epoch", "variables": {path:
    {"effective_lr_mean", "update_ratio"}}}``). Keras has no built-in
    counterpart; ``keras.callbacks.TensorBoard(histogram_freq=1)`` shows weights,
    not learning rates.

    Args:
        log_dir: TensorBoard run directory (required: this callback exists to log).
        every: log every this many epochs.

    Raises:
        ValueError: at train begin, when the model's optimizer is not a
            kerasnotes optimizer (only those expose ``inspect``). A
            ``keras.optimizers.LossScaleOptimizer`` (mixed precision) around a
            kerasnotes optimizer is fine: the inner optimizer is read.

    Example:
        >>> import tempfile, numpy as np, keras, kerasnotes as kn
        >>> from kerasnotes.callbacks import OptimizerInspector
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")],
        ...                          name="net")
        >>> model.compile(kn.optimizers.Adagrad(0.1), "mse")
        >>> inspector = OptimizerInspector(tempfile.mkdtemp())
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
        ...               callbacks=[inspector])
        >>> sorted(inspector.history[-1]["variables"])
        ['net/out/bias', 'net/out/kernel']
    """

    def __init__(self, log_dir: str | os.PathLike, every: int = 1) -> None:
        # A ValueError for a wrong type too, as this check has always raised.
        every = _validation.integer("every", every, minimum=1, wrong_type=ValueError)
        super().__init__(check_log_dir(log_dir, required=True))
        self.every = every
        self.history: list[dict[str, Any]] = []
        self._before: list[np.ndarray] | None = None
        self._epoch = 0
        self._steps_per_call = 1

    def _logs_epoch(self, epoch: int) -> bool:
        return (epoch + 1) % self.every == 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        from kerasnotes.optimizers import NotesOptimizer

        optimizer = _unwrapped(getattr(self.model, "optimizer", None))
        if not isinstance(optimizer, NotesOptimizer):
            name = f"{type(optimizer).__module__}.{type(optimizer).__name__}"
            raise ValueError(
                f"OptimizerInspector reads the optimizer's per-element learning rate, which "
                f"only the kerasnotes optimizers expose ({_SUPPORTED}). Compile with e.g. "
                "kerasnotes.optimizers.Adam(...) (same arguments and numbers as "
                f"keras.optimizers.Adam). Received: optimizer={name}"
            )
        # Read once: on JAX every ``self.model`` access syncs the trainer's whole state
        # into the variables, and a per-batch sync cost +80% of fit (issue #20).
        self._steps_per_call = max(int(getattr(self._model, "steps_per_execution", 1) or 1), 1)
        self._open_writer()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._before = None
        self._epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if not self._logs_epoch(self._epoch):
            return
        steps = self.params.get("steps") if self.params else None
        # Copy only before the epoch's last call when the step count is known; only
        # then is ``self.model`` read (on JAX the read syncs the weights: once an epoch).
        if steps is None or batch >= steps - self._steps_per_call:
            self._before = [np.array(v.numpy(), copy=True) for v in self.model.trainable_variables]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self._logs_epoch(epoch):
            return
        model = self.model  # under JAX this syncs the trainer's state into the variables
        optimizer = _unwrapped(model.optimizer)
        record: dict[str, Any] = {"epoch": epoch, "variables": {}}
        for index, variable in enumerate(model.trainable_variables):
            rates = np.asarray(optimizer.inspect(variable)["effective_learning_rate"])
            weights = np.asarray(variable.numpy())
            if self._before is not None:
                update = _mean_abs(weights.astype(np.float64) - self._before[index])
                update_ratio = _ratio(update, _mean_abs(weights))
            else:
                update_ratio = math.nan  # the epoch ran no training step
            path = variable.path
            record["variables"][path] = {
                "effective_lr_mean": float(np.mean(rates, dtype=np.float64)),
                "update_ratio": update_ratio,
            }
            self._writer.histogram(summary.effective_lr_histogram_tag(path), rates, epoch)
            self._writer.scalar(
                summary.effective_lr_mean_tag(path),
                record["variables"][path]["effective_lr_mean"],
                epoch,
                description="Mean per-element effective learning rate (optimizer.inspect).",
            )
            self._writer.scalar(
                summary.update_ratio_tag(path),
                update_ratio,
                epoch,
                description="mean |Δw| of the epoch's last step / mean |w|.",
            )
        self.history.append(record)
        self._before = None
        self._writer.flush()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {"log_dir": os.fspath(self.log_dir), "every": self.every}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OptimizerInspector:
        """Rebuild from ``get_config()``."""
        return cls(**config)
