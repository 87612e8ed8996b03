"""``NotesHyperModel``: a keras-tuner ``HyperModel`` over the notes' optimizers, decays and norms.

The space itself (its choices and how each hyperparameter is declared) is in
``kerasnotes.tuning.space``; the argument checks in ``kerasnotes.tuning._checks``;
each trial's TensorBoard run is written by
``kerasnotes.callbacks.trial_logger.TrialLogger``, and the HParams experiment by
``kerasnotes.summary.hparams``.

Example:
    >>> import keras_tuner as kt
    >>> from kerasnotes.tuning.hypermodel import NotesHyperModel
    >>> NotesHyperModel((64,), 10, depth=1).build(kt.HyperParameters()).output_shape
    (None, 10)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from typing import Any

import keras
import keras_tuner
import numpy as np

from kerasnotes import _validation
from kerasnotes.summary.hparams import loggable
from kerasnotes.tuning import space
from kerasnotes.tuning._checks import (
    RangeSpec,
    _choices,
    _input_shape,
    _range,
    _widths,
)
from kerasnotes.tuning.space import DECAYS, NORMALIZATIONS, OPTIMIZERS

__all__ = ["NotesHyperModel"]


def _trial_id(callbacks: Sequence[Any], values: dict[str, Any]) -> str:
    """The keras-tuner trial being fitted, or a hash of the values outside a search."""
    for callback in callbacks:
        trial = getattr(callback, "trial", None)
        if getattr(trial, "trial_id", None) is not None:
            return str(trial.trial_id)
    text = json.dumps(loggable(values), sort_keys=True)
    return "fit_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _accepts_batch_size(x: Any) -> bool:
    """Whether ``model.fit`` takes ``batch_size`` with this ``x`` (arrays yes, datasets no)."""
    if isinstance(x, (np.ndarray, list, tuple, dict)):
        return True
    return hasattr(x, "shape") and hasattr(x, "dtype")


@keras.saving.register_keras_serializable(package="kerasnotes")
class NotesHyperModel(keras_tuner.HyperModel):
    """An MLP classifier whose search space is the notes' optimizers, decays, batches and norms.

    The hyperparameters (names as keras-tuner and the HParams dashboard show them):

    ```
    optimizer      sgd           θ ← θ − α∇L                                        (F1)
                   momentum      v ← βv − α∇L, θ ← θ + v                            (F2k)
                   momentum_ema  v ← βv + (1−β)∇L, θ ← θ − αv                       (F2)
                   adagrad       g ← g + (∇L)², θ ← θ − α∇L/√(g+ε)                  (F3)
                   rmsprop       E ← ρE + (1−ρ)(∇L)², θ ← θ − α∇L/√(E+ε)            (F4)
                   adam          momentum + RMSprop with bias correction            (F5)
    learning_rate  α, log scale                        (every optimizer)
    momentum       β, dense near 1                     (only momentum, momentum_ema)
    rho            ρ, dense near 1                     (only rmsprop)
    beta_1, beta_2 β₁, β₂, dense near 1                (only adam)
    lr_decay       none | exponential α_t = α·e^{−γt} (F6) | step α_t = α·drop^⌊t/every⌋ (F7),
                   t in epochs
    decay_rate     γ, log scale                        (only exponential)
    decay_drop     drop; decay_every: every            (only step)
    batch_size     mini-batch size                     (chosen in fit)
    normalization  none | batch (F11) | layer | group (F12), between Dense and activation
    groups         channel groups                      (only group)
    depth, width   hidden Dense layers and their units (width: min, 2·min, 4·min, ... <= max)
    ```

    Each argument fixes its hyperparameter (a single value) or bounds it (a
    sequence of choices, or a ``(min, max)`` pair); keras-tuner's own
    ``HyperParameters`` passed to a tuner with ``tune_new_entries=False``
    override the rest. Conditional hyperparameters are declared only for the
    allowed choices that use them. The model outputs logits and trains with
    ``kerasnotes.losses.SparseCategoricalCrossentropy(from_logits=True)`` and
    the ``accuracy`` metric; the decay runs through
    ``kerasnotes.callbacks.LearningRateDecay(per="epoch")`` added in ``fit``.

    With ``log_dir`` set, every ``fit`` (one trial execution) logs to
    ``<log_dir>/trial_<id>/execution<k>`` through ``kerasnotes.summary.Writer``:
    the HParams session start (the trial's active values), ``epoch_<metric>``
    scalars, ``epoch_learning_rate`` and the session end (failure when a metric
    turned NaN or Inf, or fit raised); ``<log_dir>`` itself gets the HParams
    experiment (every hyperparameter with its domain). ``histories`` keeps each
    trial's per-epoch metrics (trial id -> one history dict per execution).
    An execution run that already holds events (an interrupted trial re-run by
    a resumed search, or a retried one) starts clean: the old files are moved
    to ``<run>/interrupted/`` (see ``kerasnotes.callbacks.trial_logger.set_aside_earlier_events``).

    Args:
        input_shape: shape of one sample, e.g. ``(64,)``; inputs of rank > 1 are flattened.
        num_classes: number of classes, >= 2 (labels are ints in [0, num_classes)).
        optimizers: allowed names from ``OPTIMIZERS``, or one name to fix it.
        learning_rate: α: a float > 0 or a ``(min, max)`` log-scale range.
        momentum: β of both momentum forms, in [0, 1), fixed or a range.
        rho: ρ of RMSprop, in [0, 1), fixed or a range.
        beta_1: β₁ of Adam, in [0, 1), fixed or a range.
        beta_2: β₂ of Adam, in [0, 1), fixed or a range.
        decays: allowed names from ``DECAYS``, or one name.
        decay_rate: γ of the exponential decay (per epoch), > 0, fixed or a log range.
        decay_drop: factor of the step decay, in (0, 1], fixed or a range.
        decay_every: epochs between steps of the step decay, int >= 1, fixed or a range.
        normalizations: allowed names from ``NORMALIZATIONS``, or one name.
        groups: group counts for group normalization (each must divide every width).
        depth: hidden layers, int >= 1, fixed or a range.
        width: units per hidden layer, int >= 1, fixed or a ``(min, max)`` range of doublings.
        batch_sizes: allowed mini-batch sizes (positive ints), or one size.
        activation: activation of the hidden layers (a Keras activation name).
        log_dir: root directory of the TensorBoard runs, or None for no logging.
        name: name of the hypermodel.
        tunable: whether keras-tuner may add this model's hyperparameters to the space.

    Difference from keras-tuner's ``HyperModel``: a complete, validated search
    space over the notes' components; ``fit`` picks the batch size and the
    decay and logs each trial for the HParams dashboard without TensorFlow.

    Example:
        >>> import keras_tuner as kt
        >>> hypermodel = NotesHyperModel((64,), 10, optimizers="momentum_ema",
        ...                              learning_rate=0.05, normalizations="batch", depth=2)
        >>> hp = kt.HyperParameters()
        >>> model = hypermodel.build(hp)
        >>> hp.values["optimizer"], hp.values["momentum"] > 0.5, len(model.layers)
        ('momentum_ema', True, 8)
    """

    def __init__(
        self,
        input_shape: int | Sequence[int],
        num_classes: int,
        *,
        optimizers: str | Sequence[str] = OPTIMIZERS,
        learning_rate: RangeSpec = (1e-4, 0.3),
        momentum: RangeSpec = (0.5, 0.99),
        rho: RangeSpec = (0.8, 0.999),
        beta_1: RangeSpec = (0.8, 0.95),
        beta_2: RangeSpec = (0.99, 0.9999),
        decays: str | Sequence[str] = DECAYS,
        decay_rate: RangeSpec = (0.01, 0.5),
        decay_drop: RangeSpec = (0.2, 0.8),
        decay_every: RangeSpec = (2, 10),
        normalizations: str | Sequence[str] = NORMALIZATIONS,
        groups: int | Sequence[int] = (2, 4, 8),
        depth: RangeSpec = (1, 3),
        width: RangeSpec = (32, 256),
        batch_sizes: int | Sequence[int] = (16, 32, 64, 128, 256),
        activation: str = "relu",
        log_dir: str | os.PathLike | None = None,
        name: str | None = None,
        tunable: bool = True,
    ) -> None:
        super().__init__(name=name, tunable=tunable)
        self.input_shape = _input_shape(input_shape)
        # A classifier needs two classes.
        _validation.integer("num_classes", num_classes, minimum=2)
        self.num_classes = int(num_classes)
        self.optimizers = _choices("optimizers", optimizers, OPTIMIZERS)
        self.learning_rate = _range("learning_rate", learning_rate, 0.0, math.inf, open_low=True)
        self.momentum = _range("momentum", momentum, 0.0, 1.0, open_high=True)
        self.rho = _range("rho", rho, 0.0, 1.0, open_high=True)
        self.beta_1 = _range("beta_1", beta_1, 0.0, 1.0, open_high=True)
        self.beta_2 = _range("beta_2", beta_2, 0.0, 1.0, open_high=True)
        self.decays = _choices("decays", decays, DECAYS)
        self.decay_rate = _range("decay_rate", decay_rate, 0.0, math.inf, open_low=True)
        self.decay_drop = _range("decay_drop", decay_drop, 0.0, 1.0, open_low=True)
        self.decay_every = _range("decay_every", decay_every, 1, 1_000_000, integer=True)
        self.normalizations = _choices("normalizations", normalizations, NORMALIZATIONS)
        self.groups = _choices("groups", groups)
        self.depth = _range("depth", depth, 1, 1_000, integer=True)
        self.width = _range("width", width, 1, 1_000_000, integer=True)
        self.batch_sizes = _choices("batch_sizes", batch_sizes)
        if not isinstance(activation, str):
            raise TypeError(
                _validation.message("activation", activation, "a Keras activation name")
            )
        try:
            keras.activations.get(activation)
        except (ValueError, TypeError) as error:
            raise ValueError(
                _validation.message("activation", activation, "a Keras activation name")
            ) from error
        self.activation = activation
        if "group" in self.normalizations:
            for g in self.groups:
                bad = [w for w in _widths(self.width) if w % g]
                if bad:
                    raise ValueError(
                        _validation.message(
                            "groups",
                            list(self.groups),
                            f"divisors of every width, but {g} does not divide {bad[0]} "
                            f"(width={width!r}); pick widths that are multiples of the groups",
                        )
                    )
        self.log_dir = _validation.path("log_dir", log_dir, optional=True)
        self.histories: dict[str, list[dict[str, list[float]]]] = {}
        self._experiment_written = False

    def _choose(self, hp) -> dict[str, Any]:
        """Declare every hyperparameter on ``hp`` and return this trial's choices."""
        return space.choose(hp, self)

    # -- keras-tuner's HyperModel interface -------------------------------------------------

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Build and compile the model for one trial's hyperparameters.

        ```
        x → [Dense(width, no bias if normalized) → normalization → activation] × depth
          → Dense(num_classes) → logits
        loss = −1/N Σ_i log softmax(z_i)[y_i]          (F9, F10)
        ```

        Args:
            hp: the trial's ``keras_tuner.HyperParameters``.

        Returns:
            A compiled ``keras.Model`` producing logits.

        Example:
            >>> import keras_tuner as kt
            >>> model = NotesHyperModel((8, 8), 10, depth=1).build(kt.HyperParameters())
            >>> model.input_shape
            (None, 8, 8)
        """
        chosen = self._choose(hp)
        from kerasnotes import layers as kn_layers
        from kerasnotes import losses

        inputs = keras.Input(shape=self.input_shape, name="inputs")
        x = keras.layers.Flatten(name="flatten")(inputs) if len(self.input_shape) > 1 else inputs
        normalization = chosen["normalization"]
        for i in range(chosen["depth"]):
            # A normalization's β shift replaces the Dense bias (F11: y = γx̂ + β).
            x = keras.layers.Dense(
                chosen["width"], use_bias=normalization == "none", name=f"dense_{i}"
            )(x)
            if normalization == "batch":
                x = kn_layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            elif normalization == "layer":
                x = kn_layers.LayerNormalization(name=f"layer_norm_{i}")(x)
            elif normalization == "group":
                x = kn_layers.GroupNormalization(groups=chosen["groups"], name=f"group_norm_{i}")(x)
            x = keras.layers.Activation(self.activation, name=f"activation_{i}")(x)
        outputs = keras.layers.Dense(self.num_classes, name="logits")(x)
        model = keras.Model(inputs, outputs, name="notes_mlp")
        model.compile(
            optimizer=self._optimizer(chosen),
            loss=losses.SparseCategoricalCrossentropy(from_logits=True),
            # An object, not the name "accuracy", and the optimizer's slots made now:
            # a variable first created inside the training step makes TensorFlow
            # trace that step twice (0.15-0.35 s more per trial). Same logs, same key.
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        model.optimizer.build(model.trainable_variables)
        return model

    @staticmethod
    def _optimizer(chosen: dict[str, Any]) -> keras.optimizers.Optimizer:
        # The one name -> optimizer mapping; the choice's own hyperparameters are its settings.
        from kerasnotes import optimizers

        name = chosen["optimizer"]
        settings = {key: chosen[key] for key in space.OPTIMIZER_HYPERPARAMETERS.get(name, ())}
        return optimizers.get(name, learning_rate=chosen["learning_rate"], **settings)

    @staticmethod
    def _decay_callback(chosen: dict[str, Any]) -> keras.callbacks.Callback | None:
        if chosen["lr_decay"] == "none":
            return None
        from kerasnotes import callbacks, schedules

        if chosen["lr_decay"] == "exponential":
            schedule = schedules.ExponentialDecay(
                chosen["learning_rate"], gamma=chosen["decay_rate"], steps_per_unit=1
            )
        elif chosen["lr_decay"] == "step":
            schedule = schedules.StepDecay(
                chosen["learning_rate"],
                drop=chosen["decay_drop"],
                every=chosen["decay_every"],
                steps_per_unit=1,
            )
        return callbacks.LearningRateDecay(schedule, per="epoch")

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args, **kwargs):
        """Train one trial: its batch size and decay, plus a TensorBoard run when ``log_dir`` is set.

        ```
        model.fit(x, y, batch_size=hp["batch_size"],
                  callbacks=callbacks + [LearningRateDecay(schedule, per="epoch")], ...)
        ```

        A ``batch_size`` passed to ``tuner.search`` wins over the
        hyperparameter (and is what the trial's run records); datasets that
        batch themselves get none.

        Args:
            hp: the trial's hyperparameters (the ones ``build`` used).
            model: the model ``build`` returned.
            *args: ``model.fit`` positional arguments (``x``, ``y``).
            **kwargs: ``model.fit`` keyword arguments; ``callbacks`` holds the
                search's (deep-copied) callbacks and keras-tuner's own.

        Returns:
            The ``History`` of ``model.fit``.

        Example:
            >>> import keras_tuner as kt, numpy as np
            >>> hypermodel = NotesHyperModel((4,), 3, depth=1, width=8, normalizations="none",
            ...                              groups=2, decays="step", decay_every=1)
            >>> hp = kt.HyperParameters()
            >>> model = hypermodel.build(hp)
            >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
            >>> len(hypermodel.fit(hp, model, x, y, epochs=2, verbose=0).history["loss"])
            2
        """
        from kerasnotes.callbacks import trial_logger

        chosen = self._choose(hp)
        kwargs = dict(kwargs)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        x = args[0] if args else kwargs.get("x")
        if "batch_size" in kwargs:
            chosen["batch_size"] = kwargs["batch_size"]
        elif x is not None and _accepts_batch_size(x):
            kwargs["batch_size"] = chosen["batch_size"]
        decay = self._decay_callback(chosen)
        if decay is not None:
            callbacks.insert(0, decay)  # set the epoch's rate before anything reads it
        trial_id = _trial_id(callbacks, hp.values)
        logger = None
        if self.log_dir is not None:
            self._write_experiment(hp)
            execution = len(self.histories.get(trial_id, ()))
            values = {**loggable(hp.values), "batch_size": chosen["batch_size"]}
            run_dir = os.path.join(self.log_dir, f"trial_{trial_id}", f"execution{execution}")
            # This process has not run this execution yet (``execution`` counts its
            # completed ones), so any events there are an interrupted attempt's.
            trial_logger.set_aside_earlier_events(run_dir)
            logger = trial_logger.TrialLogger(run_dir, trial_id, values)
            callbacks.append(logger)
        try:
            history = model.fit(*args, callbacks=callbacks, **kwargs)
        except BaseException:
            if logger is not None:
                logger.finish(success=False)
            raise
        self.histories.setdefault(trial_id, []).append(
            {key: [float(v) for v in values] for key, values in history.history.items()}
        )
        return history

    def _write_experiment(self, hp) -> None:
        if self._experiment_written:
            return
        from kerasnotes.summary import Writer
        from kerasnotes.summary.hparams import hparams_experiment_summary

        # Its own file in the root run: every process of a distributed search
        # writes the same experiment, and TensorBoard reads any one of them.
        with Writer(self.log_dir, filename_suffix=".hparams") as writer:
            writer.summary(hparams_experiment_summary(hp), step=0)
        self._experiment_written = True

    # -- serialization ---------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as plain JSON values (``from_config`` rebuilds an equal space).

        Example:
            >>> config = NotesHyperModel((64,), 10).get_config()
            >>> NotesHyperModel.from_config(config).get_config() == config
            True
        """

        def plain(value):
            return list(value) if isinstance(value, tuple) else value

        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "optimizers": plain(self.optimizers),
            "learning_rate": plain(self.learning_rate),
            "momentum": plain(self.momentum),
            "rho": plain(self.rho),
            "beta_1": plain(self.beta_1),
            "beta_2": plain(self.beta_2),
            "decays": plain(self.decays),
            "decay_rate": plain(self.decay_rate),
            "decay_drop": plain(self.decay_drop),
            "decay_every": plain(self.decay_every),
            "normalizations": plain(self.normalizations),
            "groups": plain(self.groups),
            "depth": plain(self.depth),
            "width": plain(self.width),
            "batch_sizes": plain(self.batch_sizes),
            "activation": self.activation,
            "log_dir": self.log_dir,
            "name": self.name,
            "tunable": self.tunable,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> NotesHyperModel:
        """Rebuild a hypermodel from ``get_config``'s output.

        Args:
            config: the dict ``get_config`` returned (JSON round trips are fine).
        """
        return cls(**config)
