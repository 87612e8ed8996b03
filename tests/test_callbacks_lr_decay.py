"""LearningRateDecay: the rate each update actually used, logs, TensorBoard, errors."""

from __future__ import annotations

import copy
import math

import keras
import numpy as np
import pytest
from _events import read as read_events

from kerasnotes import schedules, summary
from kerasnotes.callbacks import LearningRateDecay

STEPS_PER_EPOCH = 3


def _unit_gradient_model(optimizer=None) -> keras.Model:
    """w -> mean(w * x) with x = 1: dL/dw = 1, so plain SGD moves w by exactly the rate."""
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(
        optimizer or keras.optimizers.SGD(learning_rate=1.0),
        loss=lambda y_true, y_pred: keras.ops.mean(y_pred),
    )
    return model


def _data():
    x = np.ones((4 * STEPS_PER_EPOCH, 1), "float32")
    return x, np.zeros_like(x)


class _StepSizes(keras.callbacks.Callback):
    """Records |w_after - w_before| of every update."""

    def on_train_begin(self, logs=None):
        self.sizes = []
        self._before = float(self.model.get_weights()[0][0, 0])

    def on_train_batch_end(self, batch, logs=None):
        after = float(self.model.get_weights()[0][0, 0])
        self.sizes.append(self._before - after)
        self._before = after


def _fit(model, callbacks, epochs=3):
    x, y = _data()
    return model.fit(
        x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks
    )


def _halving(t):
    return 0.1 * 0.5**t


def test_per_epoch_every_update_of_an_epoch_uses_that_epochs_rate():
    model = _unit_gradient_model()
    sizes = _StepSizes()
    history = _fit(model, [LearningRateDecay(_halving, per="epoch"), sizes])
    expected = np.repeat([_halving(e) for e in range(3)], STEPS_PER_EPOCH)
    np.testing.assert_allclose(sizes.sizes, expected, rtol=1e-5, atol=3e-8)
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05, 0.025], rtol=1e-7)


def test_per_step_the_next_update_uses_the_new_rate():
    model = _unit_gradient_model()
    sizes = _StepSizes()
    decay = LearningRateDecay(_halving, per="step")
    history = _fit(model, [decay, sizes], epochs=2)
    expected = [_halving(t) for t in range(2 * STEPS_PER_EPOCH)]
    np.testing.assert_allclose(sizes.sizes, expected, rtol=1e-5, atol=3e-8)
    assert history.history["learning_rate"][-1] == pytest.approx(expected[-1])
    # a second fit continues from the optimizer's iteration count
    _fit(model, [decay, sizes], epochs=1)
    np.testing.assert_allclose(
        sizes.sizes, [_halving(t) for t in range(6, 6 + STEPS_PER_EPOCH)], rtol=1e-5, atol=3e-8
    )


def test_keras_schedule_object_is_called_with_the_counter():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)
    model = _unit_gradient_model()
    sizes = _StepSizes()
    _fit(model, [LearningRateDecay(schedule, per="epoch"), sizes], epochs=2)
    np.testing.assert_allclose(
        sizes.sizes, np.repeat([0.2, 0.1], STEPS_PER_EPOCH), rtol=1e-5, atol=3e-8
    )


def test_kerasnotes_schedules_exponential_and_step_decay():
    for schedule, formula in [
        (schedules.ExponentialDecay(0.1, gamma=0.3), lambda t: 0.1 * math.exp(-0.3 * t)),
        (schedules.StepDecay(0.1, drop=0.5, every=2), lambda t: 0.1 * 0.5 ** (t // 2)),
    ]:
        model = _unit_gradient_model()
        sizes = _StepSizes()
        history = _fit(model, [LearningRateDecay(schedule), sizes], epochs=4)
        want = [formula(e) for e in range(4)]
        np.testing.assert_allclose(history.history["learning_rate"], want, rtol=1e-6)
        np.testing.assert_allclose(
            sizes.sizes, np.repeat(want, STEPS_PER_EPOCH), rtol=1e-5, atol=3e-8
        )


def test_optimizer_built_with_a_schedule_is_refused_before_training():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = _unit_gradient_model(keras.optimizers.SGD(learning_rate=schedule))
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="float learning_rate"):
        _fit(model, [LearningRateDecay(_halving)])
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_bad_schedule_value_is_refused_before_any_assignment():
    model = _unit_gradient_model(keras.optimizers.SGD(learning_rate=0.3))
    with pytest.raises(ValueError, match=r"schedule\(0\) returned -1.0"):
        _fit(model, [LearningRateDecay(lambda t: -1.0)])
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.3)
    np.testing.assert_array_equal(model.get_weights()[0], 0.0)


def test_tensorboard_scalar_per_step(tmp_path):
    model = _unit_gradient_model()
    _fit(model, [LearningRateDecay(_halving, per="step", log_dir=tmp_path)], epochs=2)
    points = read_events(tmp_path)[summary.TAG_LEARNING_RATE]
    assert [p.step for p in points] == list(range(6))
    np.testing.assert_allclose(
        [p.value for p in points], [_halving(t) for t in range(6)], rtol=1e-6
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"schedule": 0.1}, TypeError, "schedule=0.1"),
        ({"schedule": _halving, "per": "batch"}, ValueError, "per='batch'"),
        ({"schedule": _halving, "log_dir": ""}, TypeError, "log_dir=''"),
    ],
)
def test_wrong_arguments_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        LearningRateDecay(**kwargs)


def test_config_round_trip_and_deep_copy(tmp_path):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=10, decay_rate=0.9)
    decay = LearningRateDecay(schedule, per="step", log_dir=str(tmp_path / "a"), verbose=1)
    config = decay.get_config()
    again = LearningRateDecay.from_config(config)
    assert again.per == "step" and again.log_dir == str(tmp_path / "a") and again.verbose == 1
    assert again.schedule.get_config() == schedule.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(decay))
    assert restored.schedule.get_config() == schedule.get_config()
    model = _unit_gradient_model()
    _fit(model, [decay], epochs=1)
    clone = copy.deepcopy(decay)
    assert clone.model is None and clone.learning_rate == decay.learning_rate
