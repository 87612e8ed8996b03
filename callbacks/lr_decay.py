"""Learning-rate decay (notes F6, F7): large steps early, small steps late."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import keras

from kerasnotes import _validation, summary

from ._common import LoggingCallback, check_log_dir, to_float

_PER = ("epoch", "step")


@keras.saving.register_keras_serializable(package="kerasnotes")
class LearningRateDecay(LoggingCallback):
    """Set the optimizer's learning rate from a schedule at each epoch or step (notes F6, F7).

    The notes' two decays, written as schedules of a counter ``t``::

        exponential (F6):  lr(t) = lr_0 * exp(-gamma * t)       kerasnotes.schedules.ExponentialDecay
        step (F7):         lr(t) = lr_0 * drop ** floor(t / every)  kerasnotes.schedules.StepDecay

    With ``per="epoch"``, ``t`` is the epoch index and ``lr(t)`` is assigned at
    the start of the epoch; with ``per="step"``, ``t`` is the optimizer's
    iteration count (the number of updates made so far, continuing across
    ``fit`` calls) and ``lr(t)`` is assigned before every training step (before
    every call of the train function: with ``steps_per_execution=k`` the rate
    changes every k steps). The value
    goes into ``logs["learning_rate"]`` (progress bar and ``History``) and, with
    a ``log_dir``, into the scalar ``kerasnotes/learning_rate`` (step = epoch or
    ``t``).

    The optimizer keeps a plain learning-rate variable and the callback
    assigns it, so the new rate is used by the very next step on every backend
    (under JAX the callback syncs the trainer's state before assigning).
    Compared with ``keras.callbacks.LearningRateScheduler``: it can update per
    step, accepts ``LearningRateSchedule`` objects (called with a Python
    number), validates the value (finite, >= 0) before touching the optimizer,
    refuses at train begin an optimizer whose learning rate is itself a
    schedule (instead of Keras's ``TypeError`` mid-epoch), and logs to TensorBoard.
    Unlike passing the schedule to the optimizer, the rate is visible and can
    follow epochs rather than steps.

    Args:
        schedule: a ``kerasnotes.schedules`` object, any
            ``keras.optimizers.schedules.LearningRateSchedule``, or a callable
            ``t -> lr`` taking a Python int.
        per: "epoch" or "step": what ``t`` counts.
        log_dir: TensorBoard run directory, or None.
        verbose: 1 prints the rate at each epoch start.

    Example:
        >>> import math, numpy as np, keras
        >>> from kerasnotes.callbacks import LearningRateDecay
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> decay = LearningRateDecay(lambda t: 0.1 * math.exp(-0.5 * t))
        >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
        ...                     callbacks=[decay])
        >>> [round(v, 4) for v in history.history["learning_rate"]]
        [0.1, 0.0607]
    """

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule | Callable[[int], float],
        per: str = "epoch",
        log_dir: str | os.PathLike | None = None,
        verbose: int = 0,
    ) -> None:
        if not callable(schedule):
            raise TypeError(
                _validation.message(
                    "schedule",
                    schedule,
                    "a kerasnotes/Keras LearningRateSchedule or a callable t -> learning rate",
                )
            )
        _validation.one_of("per", per, _PER)
        super().__init__(check_log_dir(log_dir))
        self.schedule = schedule
        self.per = per
        self.verbose = verbose
        self.learning_rate: float | None = None

    def _rate(self, t: int) -> float:
        """``schedule(t)`` as a float, refused (before any assignment) if not finite and >= 0."""
        value = to_float(self.schedule(t))
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"schedule({t}) returned {value!r}; a learning rate must be finite and >= 0 "
                f"(schedule={self.schedule!r})"
            )
        return value

    def _optimizer(self) -> keras.optimizers.Optimizer:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            raise ValueError("LearningRateDecay needs a compiled model with an optimizer")
        return optimizer

    def on_train_begin(self, logs: dict | None = None) -> None:
        optimizer = self._optimizer()
        current = getattr(optimizer, "learning_rate", None)
        if not isinstance(current, keras.Variable):
            raise ValueError(
                f"LearningRateDecay sets the optimizer's learning rate, but "
                f"{type(optimizer).__name__} was built with learning_rate={current!r} "
                "(a schedule or callable, not a number). Build the optimizer with a float "
                "learning_rate and pass the schedule to LearningRateDecay instead."
            )
        # Fail before the first step, not in the middle of an epoch.
        self._rate(int(to_float(optimizer.iterations)) if self.per == "step" else 0)
        self._open_writer()

    def _assign(self, t: int) -> float:
        value = self._rate(t)
        self._optimizer().learning_rate.assign(value)
        self.learning_rate = value
        if self._writer is not None:
            self._writer.scalar(
                summary.TAG_LEARNING_RATE,
                value,
                t,
                display_name="learning rate",
                description=f"Set by LearningRateDecay per {self.per}.",
            )
        return value

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.per == "epoch":
            value = self._assign(epoch)
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: LearningRateDecay setting learning rate to {value:.6g}."
                )

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self.per == "step":
            # Reading self.model syncs the JAX trainer's state, so the iteration
            # count is current and the assignment is seen by the next step.
            self._assign(int(to_float(self._optimizer().iterations)))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.per == "step" and logs is not None and self.learning_rate is not None:
            logs["learning_rate"] = self.learning_rate

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and self.learning_rate is not None:
            logs["learning_rate"] = self.learning_rate
        self._flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._flush()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments; the schedule is stored as a Keras-serialised object."""
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "per": self.per,
            "log_dir": None if self.log_dir is None else os.fspath(self.log_dir),
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateDecay:
        """Rebuild from ``get_config()``."""
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)
