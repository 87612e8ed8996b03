"""EarlyStopping: Keras parity on logged sequences, bit-exact restore, state, TensorBoard."""

from __future__ import annotations

import copy
import warnings

import keras
import numpy as np
import pytest
from _events import read as read_events

from kerasnotes import summary
from kerasnotes.callbacks import EarlyStopping


def _model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return model


def _data(n: int = 32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    return x, y


class _Inject(keras.callbacks.Callback):
    """Puts a scripted value under ``key`` into the epoch logs (runs before EarlyStopping)."""

    def __init__(self, values, key="score"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class _Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w, copy=True) for w in self.model.get_weights()])


def _drive(callback, model, values, key="val_loss"):
    """Feed the logged values epoch by epoch, as fit would."""
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {key: value})
        if model.stop_training:
            break
    callback.on_train_end()


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"patience": 2},
        {"patience": 3, "min_delta": 0.05},
        {"patience": 1, "baseline": 0.6},
        {"patience": 2, "start_from_epoch": 3},
        {"patience": 2, "mode": "max"},
        {"patience": 4, "min_delta": -0.02, "mode": "max", "baseline": 0.4},
    ],
)
def test_same_decisions_as_keras_on_random_sequences(kwargs):
    model = _model()
    rng = np.random.default_rng(7)
    for _ in range(15):
        values = list(np.round(rng.uniform(0, 1, size=12), 2))
        ours, theirs = EarlyStopping(**kwargs), keras.callbacks.EarlyStopping(**kwargs)
        _drive(ours, model, values)
        _drive(theirs, model, values)
        assert ours.stopped_epoch == theirs.stopped_epoch, values
        assert ours.best_epoch == theirs.best_epoch, values
        assert ours.wait == theirs.wait, values
        assert ours.best == pytest.approx(float(theirs.best), abs=0), values


def test_restores_the_best_epochs_weights_bit_for_bit():
    x, y = _data()
    model = _model()
    scores = [5.0, 3.0, 4.0, 2.0, 6.0, 7.0, 8.0, 9.0]
    snapshots = _Snapshots()
    stop = EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    history = model.fit(
        x, y, epochs=8, batch_size=8, verbose=0, callbacks=[_Inject(scores), snapshots, stop]
    )
    assert len(history.history["loss"]) == 6
    assert (stop.best_epoch, stop.best, stop.stopped_epoch) == (3, 2.0, 5)
    restored = model.get_weights()
    for got, want in zip(restored, snapshots.weights[3], strict=True):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    assert not all(
        np.array_equal(a, b) for a, b in zip(restored, snapshots.weights[5], strict=True)
    )


def test_without_restore_the_last_weights_stay():
    x, y = _data()
    model = _model()
    snapshots = _Snapshots()
    stop = EarlyStopping(monitor="score", mode="min", patience=1)
    model.fit(
        x, y, epochs=5, verbose=0, callbacks=[_Inject([1.0, 2.0, 3.0, 4.0, 5.0]), snapshots, stop]
    )
    assert stop.stopped_epoch == 1 and stop.best_epoch == 0
    for got, want in zip(model.get_weights(), snapshots.weights[-1], strict=True):
        np.testing.assert_array_equal(got, want)


def test_state_is_reset_on_each_fit():
    x, y = _data()
    model = _model()
    stop = EarlyStopping(monitor="score", mode="min", patience=0)
    model.fit(x, y, epochs=4, verbose=0, callbacks=[_Inject([1.0, 2.0, 0.0, 0.0]), stop])
    assert (stop.stopped_epoch, stop.best, stop.best_epoch) == (1, 1.0, 0)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[_Inject([9.0, 8.0, 7.0]), stop])
    assert (stop.stopped_epoch, stop.best, stop.best_epoch, stop.wait) == (0, 7.0, 2, 0)


def test_real_validation_loss_and_auto_mode_for_accuracy():
    x, y = _data()
    model = _model()
    stop = EarlyStopping(patience=50, restore_best_weights=True)
    history = model.fit(x, y, validation_data=(x[:8], y[:8]), epochs=4, verbose=0, callbacks=[stop])
    val = history.history["val_loss"]
    assert stop.best == pytest.approx(min(val), rel=1e-6)
    assert stop.best_epoch == int(np.argmin(val))
    classifier = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    classifier.compile(
        "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    stop = EarlyStopping(monitor="accuracy", patience=50)
    history = classifier.fit(
        x, (y[:, 0] > 0).astype("int32"), epochs=3, verbose=0, callbacks=[stop]
    )
    assert stop._direction == "max"
    assert stop.best == pytest.approx(max(history.history["accuracy"]))


def test_unknown_direction_is_a_clear_error():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match="monitor='score'.*mode='min' or mode='max'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[_Inject([1.0]), EarlyStopping("score")])


def test_missing_monitor_warns_once_with_the_available_keys():
    x, y = _data()
    model = _model()
    stop = EarlyStopping(monitor="val_loss", patience=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=3, verbose=0, callbacks=[stop])
    ours = [w for w in caught if "EarlyStopping" in str(w.message)]
    assert len(ours) == 1
    assert "'loss'" in str(ours[0].message) and "'mae'" in str(ours[0].message)
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 0 and stop.best is None


def test_deep_copy_before_and_after_fit():
    x, y = _data()
    model = _model()
    stop = EarlyStopping(monitor="score", mode="min", patience=1, restore_best_weights=True)
    fresh = copy.deepcopy(stop)
    assert fresh.get_config() == stop.get_config()
    model.fit(x, y, epochs=4, verbose=0, callbacks=[_Inject([3.0, 1.0, 2.0, 2.0]), stop])
    clone = copy.deepcopy(stop)
    assert clone.model is None and stop.model is model
    assert (clone.best, clone.best_epoch, clone.stopped_epoch) == (1.0, 1, 2)
    for a, b in zip(clone.best_weights, stop.best_weights, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a is not b
    model.fit(x, y, epochs=2, verbose=0, callbacks=[_Inject([0.5, 0.25]), clone])
    assert clone.best == 0.25 and stop.best == 1.0


def test_config_round_trip_and_keras_serialization():
    stop = EarlyStopping(
        monitor="val_mae",
        min_delta=-0.1,
        patience=3,
        mode="min",
        baseline=0.5,
        restore_best_weights=True,
        start_from_epoch=2,
        log_dir="runs/x",
    )
    config = stop.get_config()
    assert config["min_delta"] == 0.1
    again = EarlyStopping.from_config(config)
    assert again.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stop))
    assert isinstance(restored, EarlyStopping) and restored.get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "lowest"}, ValueError, "mode='lowest'"),
        ({"patience": -1}, ValueError, "patience=-1"),
        ({"patience": 1.5}, ValueError, "patience=1.5"),
        ({"start_from_epoch": -2}, ValueError, "start_from_epoch=-2"),
        ({"min_delta": "0.1"}, TypeError, "min_delta='0.1'"),
        ({"min_delta": float("nan")}, ValueError, "min_delta=nan"),
        ({"baseline": "low"}, TypeError, "baseline='low'"),
        ({"monitor": ""}, TypeError, "monitor=''"),
        ({"log_dir": 3}, TypeError, "log_dir=3"),
    ],
)
def test_wrong_arguments_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        EarlyStopping(**kwargs)


def test_log_dir_records_monitor_and_stop_event(tmp_path):
    x, y = _data()
    model = _model()
    stop = EarlyStopping(monitor="score", mode="min", patience=1, log_dir=tmp_path)
    model.fit(x, y, epochs=6, verbose=0, callbacks=[_Inject([4.0, 2.0, 3.0, 5.0, 1.0, 1.0]), stop])
    monitor = read_events(tmp_path)[summary.TAG_EARLY_STOPPING_MONITOR]
    assert [(p.step, p.value) for p in monitor] == [(0, 4.0), (1, 2.0), (2, 3.0)]
    (event,) = read_events(tmp_path, "tensors", "kerasnotes")[summary.TAG_EARLY_STOPPING_EVENT]
    assert event.step == 2
    np.testing.assert_array_equal(event.numpy, [1.0, 2.0, 2.0])
    text = read_events(tmp_path, "tensors", "text")
    assert "optimizer" in text[summary.TAG_RUN_INFO][0].numpy.item().decode()
