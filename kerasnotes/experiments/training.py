"""Train one configuration of a claim and keep everything the claim measures.

Every configuration of every claim goes through :func:`fit_run`: a
``model.fit`` with a :class:`RunRecorder` that keeps the loss of every update,
the logs and seconds of every epoch, and writes both to the configuration's
TensorBoard run through ``kerasnotes.summary.Writer``.

Example:
    >>> import tempfile
    >>> import kerasnotes as kn
    >>> from kerasnotes.experiments.training import digits_split, fit_run, mlp
    >>> (x, y), val = digits_split(train_samples=128)
    >>> run = fit_run(mlp(64, (16,), 10, seed=0), kn.optimizers.SGD(0.1),
    ...               kn.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...               (x, y), epochs=2, batch_size=32, log_dir=tempfile.mkdtemp())
    >>> len(run.update_losses), run.updates_per_epoch
    (8, 4)
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from kerasnotes import _compat, _validation, datasets, losses, summary

Arrays = tuple[np.ndarray, np.ndarray]

#: digits' 1,437 training rows cut to whole batches of 64 and 32 (22·64 = 44·32): a
#: partial last batch would make every new model compile a second training step.
WHOLE_BATCHES = 1408


@dataclasses.dataclass(frozen=True)
class DigitsSizes:
    """How much one mode of a digits claim trains; each claim's ``Sizes`` adds its own fields.

    Args:
        train_samples: training rows of digits (None: all 1,437; ``WHOLE_BATCHES``:
            the rows that make whole batches of 32 and 64).
        epochs: epochs of each training run (of each model, loss, schedule, ...).

    Example:
        >>> DigitsSizes(train_samples=128, epochs=2)
        DigitsSizes(train_samples=128, epochs=2)
    """

    train_samples: int | None
    epochs: int


def digits_split(train_samples: int | None = None, seed: int = 0) -> tuple[Arrays, Arrays]:
    """scikit-learn's digits, standardised, 80/20 split; optionally the first training rows only.

    Args:
        train_samples: keep this many training rows (all 1,437 when None).
        seed: seed of the split.

    Example:
        >>> (x, y), (xv, yv) = digits_split(train_samples=100)
        >>> x.shape, xv.shape
        ((100, 64), (359, 64))
    """
    (x_train, y_train), (x_val, y_val) = datasets.load_digits(seed=seed)
    if train_samples is not None:
        x_train, y_train = x_train[:train_samples], y_train[:train_samples]
    return (x_train, y_train), (x_val, y_val)


def mlp(
    input_dim: int,
    hidden: Sequence[int],
    num_classes: int,
    seed: int,
    output_activation: Any = None,
) -> keras.Sequential:
    """A ReLU MLP whose initial weights depend only on ``seed``.

    ```
    x -> Dense(h1, relu) -> ... -> Dense(num_classes, output_activation)
    ```

    Configurations compared within a claim are built with the same seed, so they
    start from the same weights and differ only in what the claim varies.

    Args:
        input_dim: features per sample.
        hidden: widths of the hidden layers; () gives logistic regression.
        num_classes: outputs.
        seed: seed of the initial weights.
        output_activation: activation of the last layer (None: logits).

    Example:
        >>> mlp(64, (32,), 10, seed=0).count_params()
        2410
    """
    _compat.set_random_seed(seed)
    layers: list[Any] = [keras.Input(shape=(input_dim,))]
    layers += [keras.layers.Dense(width, activation="relu") for width in hidden]
    layers.append(keras.layers.Dense(num_classes, activation=output_activation))
    return keras.Sequential(layers)


def _compiled_loss(model: keras.Model, x: Any, y: Any, predicted: Any) -> float:
    loss = model.compute_loss(x=x, y=y, y_pred=predicted, training=False)
    return float(keras.ops.convert_to_numpy(loss))


def inference_loss(model: keras.Model, x: Any, y: Any) -> float:
    """The compiled model's loss on ``(x, y)`` from one forward pass in inference mode.

    ```
    loss = compute_loss(y, model(x, training=False))   (compiled loss + regularisation)
    ```

    The number ``model.evaluate(x, y, batch_size=len(x))`` returns as "loss",
    without tracing a test step for a single batch.

    Example:
        >>> import numpy as np
        >>> model = mlp(4, (), 2, seed=0)
        >>> model.compile(loss="mse")
        >>> x, y = np.ones((3, 4), "float32"), np.zeros((3, 2), "float32")
        >>> bool(np.isclose(inference_loss(model, x, y), model.evaluate(x, y, verbose=0)))
        True
    """
    return _compiled_loss(model, x, y, model(x, training=False))


@keras.saving.register_keras_serializable(package="kerasnotes")
class BatchLoss(keras.metrics.Metric):
    """The loss of the latest batch alone, before its update (Keras's logs hold a running mean).

    ```
    batch_loss = loss(y_batch, model(x_batch))    (replaced, not averaged, every batch)
    ```

    Args:
        loss: the loss the model is compiled with.
        name: the key in the logs.

    Example:
        >>> import numpy as np, keras
        >>> metric = BatchLoss(keras.losses.MeanSquaredError())
        >>> metric.update_state(np.zeros((2, 1)), np.ones((2, 1)))
        >>> float(metric.result())
        1.0
    """

    def __init__(self, loss: Any, name: str = "batch_loss", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        if not callable(loss):
            raise TypeError(_validation.message("loss", loss, "a loss object or function"))
        self.loss = loss
        self.value = self.add_variable(shape=(), initializer="zeros", name="value")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "loss": keras.losses.serialize(self.loss)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchLoss:
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.value.assign(keras.ops.cast(self.loss(y_true, y_pred, sample_weight), self.dtype))

    def result(self) -> Any:
        return keras.ops.convert_to_tensor(self.value)

    def reset_state(self) -> None:
        self.value.assign(0.0)


class RunRecorder(keras.callbacks.Callback):
    """Keeps the loss of every update and the logs and seconds of every epoch.

    The loss of an update is the ``batch_loss`` of :class:`BatchLoss` (Keras's
    own ``loss`` log is a running mean over the epoch). The seconds of an epoch
    run from its start to its last training batch (the validation pass is not
    counted).

    With ``validation``, every epoch ends with one forward pass over it in
    inference mode, and ``val_loss`` (``model.compute_loss``: the compiled loss
    plus the model's regularisation losses) and ``val_<name>`` of each metric
    go into the epoch's logs before any later callback reads them::

        val_loss = compute_loss(y_val, model(x_val, training=False))

    These are the numbers ``fit(validation_data=..., validation_batch_size=N)``
    logs, without its compiled test step: on the tour's small models tracing
    and optimising that step (TensorFlow) and a new data iterator per epoch
    cost more than the pass itself (figures: ``benchmarks/README.md``).

    ``epoch_<key>`` and ``epoch_seconds`` are written at step = the 0-based
    epoch index, as ``keras.callbacks.TensorBoard`` and the kerasnotes callbacks
    write theirs, so one run's curves line up (Keras prints that epoch as
    step + 1).

    Args:
        writer: a ``kerasnotes.summary.Writer``; None writes nothing.
        log_updates: also write the loss of every update ("update_loss").
        validation: ``(x, y)`` evaluated at the end of every epoch, or None.
        metrics: metric objects computed on ``validation`` (fresh instances,
            not the ones the model is compiled with).

    Example:
        >>> recorder = RunRecorder()
        >>> recorder.update_losses
        []
    """

    def __init__(
        self,
        writer: summary.Writer | None = None,
        log_updates: bool = True,
        validation: Arrays | None = None,
        metrics: Sequence[keras.metrics.Metric] = (),
    ) -> None:
        super().__init__()
        self.writer = writer
        self.log_updates = log_updates
        self.validation = validation
        self.validation_metrics = list(metrics)
        self.update_losses: list[float] = []
        self.update_times: list[float] = []
        self.epoch_seconds: list[float] = []
        self.history: dict[str, list[float]] = {}
        self.first_epoch_start = 0.0
        self._epoch_start = 0.0
        self._last_batch_end = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = self._last_batch_end = time.perf_counter()
        if epoch == 0:
            self.first_epoch_start = self._epoch_start

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._last_batch_end = time.perf_counter()
        self.update_times.append(self._last_batch_end)
        loss = float((logs or {})["batch_loss"])
        self.update_losses.append(loss)
        if self.writer is not None and self.log_updates:
            self.writer.scalar("update_loss", loss, step=len(self.update_losses))

    def _validation_logs(self) -> dict[str, float]:
        x, y = self.validation
        predicted = self.model(x, training=False)
        logs = {"val_loss": _compiled_loss(self.model, x, y, predicted)}
        for metric in self.validation_metrics:
            metric.reset_state()
            metric.update_state(y, predicted)
            logs[f"val_{metric.name}"] = float(keras.ops.convert_to_numpy(metric.result()))
        return logs

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_seconds.append(self._last_batch_end - self._epoch_start)
        if self.validation is not None and logs is not None:
            # Into Keras's own logs dict: History and the callbacks after this one
            # (EarlyStopping on "val_loss") see the values as if fit had computed them.
            logs.update(self._validation_logs())
        for key, value in (logs or {}).items():
            if key.endswith("batch_loss"):
                continue  # the last batch's loss, already in update_loss
            self.history.setdefault(key, []).append(float(value))
            if self.writer is not None:
                self.writer.scalar(f"epoch_{key}", float(value), step=epoch)
        if self.writer is not None:
            self.writer.scalar("epoch_seconds", self.epoch_seconds[-1], step=epoch)
            self.writer.flush()


@dataclasses.dataclass
class Run:
    """What one configuration's training produced.

    Args:
        history: per-epoch logs ("loss", "val_loss", "accuracy", ...), epoch 1 first.
        update_losses: the training loss of every update, in order.
        epoch_seconds: training seconds of every epoch.
        updates_per_epoch: optimizer steps per epoch.
        model: the trained model.
        update_seconds: wall time between consecutive update ends (the first
            counts from the start of the first epoch, so it includes compilation).
    """

    history: dict[str, list[float]]
    update_losses: np.ndarray
    epoch_seconds: list[float]
    updates_per_epoch: int
    model: keras.Model
    update_seconds: np.ndarray

    @property
    def seconds_per_update(self) -> float:
        """Median wall time of one update, the first two (compilation) left out."""
        steady = self.update_seconds[2:] if self.update_seconds.size > 3 else self.update_seconds
        return float(np.median(steady)) if steady.size else float("nan")


def _metric_objects(metrics: Sequence[Any], model: keras.Model, labels: np.ndarray) -> list[Any]:
    """Metric names turned into metric objects, named as Keras would log them.

    Keras resolves ``"accuracy"`` inside the first trace of the training step,
    and a variable created there makes TensorFlow trace the whole step twice
    (a large share of a fit on the tour's small models; ``benchmarks/README.md``).
    An object made here has its
    variables already, so the step is traced once; the logs keep the key
    "accuracy" and the same numbers.

    Example:
        >>> model = mlp(64, (), 10, seed=0)
        >>> [type(m).__name__ for m in _metric_objects(["accuracy"], model, np.zeros(4))]
        ['SparseCategoricalAccuracy']
    """
    labels = np.asarray(labels)
    resolved = []
    for metric in metrics:
        if metric not in ("accuracy", "acc"):
            resolved.append(metric)
        elif model.output_shape[-1] == 1:
            resolved.append(keras.metrics.BinaryAccuracy(name=metric))
        elif labels.ndim == 1 or labels.shape[-1] == 1:
            resolved.append(keras.metrics.SparseCategoricalAccuracy(name=metric))
        else:
            resolved.append(keras.metrics.CategoricalAccuracy(name=metric))
    return resolved


def fit_digits(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    trial: Any,
    epochs: int,
    batch_size: int,
    *,
    loss: Any = None,
    metrics: Sequence[str] = ("accuracy",),
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Run:
    """:func:`fit_run` for one trial of a claim that classifies the digits.

    ``trial.data`` is ``(train, validation)`` and the run goes to
    ``trial.run_dir`` (a ``claim.Trial``); the model outputs logits unless a
    ``loss`` is given (default ``SparseCategoricalCrossentropy(from_logits=True)``);
    the per-update loss is not written (``log_updates=False``).
    """
    train, validation = trial.data
    if loss is None:
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    return fit_run(
        model,
        optimizer,
        loss,
        train,
        epochs,
        batch_size,
        log_dir=trial.run_dir,
        validation=validation,
        metrics=metrics,
        callbacks=callbacks,
        log_updates=False,
    )


def compile_for_run(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss: Any,
    metrics: Sequence[Any],
    labels: Any,
) -> None:
    """Compile ``model`` as :func:`fit_run` trains it: the metrics plus :class:`BatchLoss`."""
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[*_metric_objects(metrics, model, labels), BatchLoss(loss)],
        # XLA compiles each new model for longer than it then saves on these small
        # networks under TensorFlow; JAX always compiles (False would mean eager).
        jit_compile=False if keras.backend.backend() == "tensorflow" else "auto",
    )
    # Slots created now, not inside the first trace of the training step:
    # TensorFlow traces a function that creates variables a second time.
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def fit_run(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss: Any,
    train: Arrays,
    epochs: int,
    batch_size: int,
    log_dir: str | os.PathLike | None = None,
    validation: Arrays | None = None,
    metrics: Sequence[str] = (),
    callbacks: Sequence[keras.callbacks.Callback] = (),
    log_updates: bool = True,
    shuffle: bool = True,
) -> Run:
    """Compile and fit ``model`` once and return its recorded curves.

    Shuffling uses Keras's seeded generator, so a configuration repeats exactly
    under a fixed seed on one backend.

    Args:
        model: an uncompiled model, or one compiled with ``optimizer`` (by
            ``compiled.CompiledModels``), which is trained as it is.
        optimizer: a ``kerasnotes.optimizers`` instance.
        loss: a loss object or function.
        train: ``(x, y)`` training arrays.
        epochs: passes over ``train``.
        batch_size: samples per update.
        log_dir: the configuration's TensorBoard run directory (None: no logs).
        validation: ``(x, y)`` evaluated after every epoch (by the recorder: one
            forward pass, see :class:`RunRecorder`).
        metrics: Keras metric names, e.g. ("accuracy",).
        callbacks: further callbacks, run after the recorder.
        log_updates: write every update's loss to TensorBoard.
        shuffle: reshuffle the training rows every epoch.
    """
    writer = summary.Writer(log_dir) if log_dir is not None else None
    try:
        if not (getattr(model, "compiled", False) and model.optimizer is optimizer):
            compile_for_run(model, optimizer, loss, metrics, train[1])
        recorder = RunRecorder(
            writer,
            log_updates,
            validation=validation,
            metrics=_metric_objects(metrics, model, train[1]),
        )
        model.fit(
            train[0],
            train[1],
            epochs=epochs,
            batch_size=batch_size,
            shuffle=shuffle,
            callbacks=[recorder, *callbacks],
            verbose=0,
        )
        start = recorder.first_epoch_start
    finally:
        if writer is not None:
            writer.close()
    return Run(
        history=recorder.history,
        update_losses=np.asarray(recorder.update_losses, dtype=np.float64),
        epoch_seconds=recorder.epoch_seconds,
        updates_per_epoch=math.ceil(len(train[0]) / batch_size),
        model=model,
        update_seconds=np.diff(np.asarray([start, *recorder.update_times], dtype=np.float64)),
    )
