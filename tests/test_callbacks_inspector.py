"""OptimizerInspector: effective learning rates and update ratios against float64 references."""

from __future__ import annotations

import copy
import math

import keras
import numpy as np
import pytest
from _events import read as read_events

import kerasnotes as kn
from kerasnotes import summary
from kerasnotes.callbacks import OptimizerInspector

STEPS = 3


def _unit_gradient_model(optimizer) -> keras.Model:
    """w -> mean(w * x) with x = 1: the gradient is exactly 1 at every step."""
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer, loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
    return model


def _fit(model, callbacks, epochs):
    x = np.ones((4 * STEPS, 1), "float32")
    return model.fit(
        x, x, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks
    )


def test_adagrad_rates_shrink_as_the_notes_say(tmp_path):
    lr, eps = 0.1, 1e-7
    model = _unit_gradient_model(
        kn.optimizers.Adagrad(lr, initial_accumulator_value=0.0, epsilon=eps)
    )
    inspector = OptimizerInspector(tmp_path)
    _fit(model, [inspector], epochs=3)
    path = model.trainable_variables[0].path
    # G_t = t (g = 1), rate_t = α/√(G_t + ε); w_t = -Σ_{s≤t} α/√(s + ε)
    steps = np.arange(1, 3 * STEPS + 1, dtype=np.float64)
    rate = lr / np.sqrt(steps + eps)
    weights = -np.cumsum(rate)
    got = [r["variables"][path] for r in inspector.history]
    for epoch, entry in enumerate(got):
        t = STEPS * (epoch + 1) - 1
        assert entry["effective_lr_mean"] == pytest.approx(rate[t], rel=1e-5)
        assert entry["update_ratio"] == pytest.approx(rate[t] / abs(weights[t]), rel=1e-4)
    assert got[0]["effective_lr_mean"] > got[1]["effective_lr_mean"] > got[2]["effective_lr_mean"]
    means = read_events(tmp_path, "scalars", "scalars")[summary.effective_lr_mean_tag(path)]
    assert [p.step for p in means] == [0, 1, 2]
    np.testing.assert_allclose([p.value for p in means], rate[STEPS - 1 :: STEPS], rtol=1e-5)
    ratios = read_events(tmp_path, "scalars", "scalars")[summary.update_ratio_tag(path)]
    np.testing.assert_allclose(
        [p.value for p in ratios], [e["update_ratio"] for e in got], rtol=1e-6
    )


def test_a_loss_scale_optimizer_around_a_kerasnotes_optimizer_is_unwrapped(tmp_path):
    # Mixed precision wraps the optimizer; it used to be refused as "not kerasnotes".
    lr, eps = 0.1, 1e-7
    inner = kn.optimizers.Adagrad(lr, initial_accumulator_value=0.0, epsilon=eps)
    model = _unit_gradient_model(keras.optimizers.LossScaleOptimizer(inner))
    inspector = OptimizerInspector(tmp_path)
    _fit(model, [inspector], epochs=2)
    path = model.trainable_variables[0].path
    # The wrapper unscales exactly (a power of two), so G_t = t as without it.
    steps = np.arange(1, 2 * STEPS + 1, dtype=np.float64)
    rate = lr / np.sqrt(steps + eps)
    got = [r["variables"][path]["effective_lr_mean"] for r in inspector.history]
    np.testing.assert_allclose(got, rate[STEPS - 1 :: STEPS], rtol=1e-5)


def test_histograms_per_variable_match_inspect(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = rng.integers(0, 3, size=64)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(
        kn.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    inspector = OptimizerInspector(tmp_path, every=2)
    model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[inspector])
    assert [r["epoch"] for r in inspector.history] == [1, 3]
    histograms = read_events(tmp_path, "tensors", "histograms")
    for variable in model.trainable_variables:
        rates = model.optimizer.inspect(variable)["effective_learning_rate"].astype(np.float64)
        (first, last) = histograms[summary.effective_lr_histogram_tag(variable.path)]
        assert (first.step, last.step) == (1, 3)
        table = last.numpy
        assert table.shape == (30, 3) and table[:, 2].sum() == rates.size
        assert table[0, 0] == pytest.approx(rates.min(), rel=1e-6)
        assert table[-1, 1] == pytest.approx(rates.max(), rel=1e-6)
        entry = inspector.history[-1]["variables"][variable.path]
        assert entry["effective_lr_mean"] == pytest.approx(rates.mean(), rel=1e-6)
        assert math.isfinite(entry["update_ratio"]) and entry["update_ratio"] > 0


def test_a_keras_optimizer_is_refused_before_training(tmp_path):
    model = _unit_gradient_model(keras.optimizers.Adam(0.1))
    with pytest.raises(
        ValueError, match=r"kerasnotes.optimizers.SGD, Adagrad, RMSprop or Adam.*keras"
    ):
        _fit(model, [OptimizerInspector(tmp_path)], epochs=1)
    np.testing.assert_array_equal(model.get_weights()[0], 0.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"log_dir": None}, TypeError, "log_dir=None"),
        ({"log_dir": "runs", "every": 0}, ValueError, "every=0"),
        ({"log_dir": "runs", "every": 1.0}, ValueError, "every=1.0"),
    ],
)
def test_wrong_arguments_fail_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        OptimizerInspector(**kwargs)


def test_config_round_trip_and_deep_copy(tmp_path):
    inspector = OptimizerInspector(tmp_path, every=3)
    again = OptimizerInspector.from_config(inspector.get_config())
    assert again.get_config() == {"log_dir": str(tmp_path), "every": 3}
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(inspector))
    assert restored.get_config() == inspector.get_config()
    model = _unit_gradient_model(kn.optimizers.SGD(0.1))
    _fit(model, [inspector], epochs=3)
    clone = copy.deepcopy(inspector)
    assert clone.model is None and clone.history == inspector.history
    assert clone.history is not inspector.history
    assert [r["epoch"] for r in clone.history] == [2]
    entry = clone.history[0]["variables"][model.trainable_variables[0].path]
    # SGD: rate = α everywhere; after 9 steps w = -0.9, last update 0.1
    assert entry["effective_lr_mean"] == pytest.approx(0.1)
    assert entry["update_ratio"] == pytest.approx(0.1 / 0.9, rel=1e-5)


def test_the_model_is_read_once_an_epoch_not_once_a_step(tmp_path):
    # Under JAX each read of ``callback.model`` syncs the trainer's state into the
    # variables; read once a step, it cost +80% of fit (issue #20).
    reads = []

    class Counting(OptimizerInspector):
        @property
        def model(self):
            reads.append(1)
            return super().model

    model = _unit_gradient_model(kn.optimizers.SGD(0.1))
    inspector = Counting(tmp_path)
    x = np.ones((4 * 10, 1), "float32")
    model.fit(x, x, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[inspector])
    # Two at train begin (the optimizer check, the run info), then two an epoch: the
    # copy before the last step and the epoch's end; 10 steps an epoch read it no more.
    assert len(reads) == 2 + 3 * 2
    assert len(inspector.history) == 3
    assert inspector.history[-1]["variables"]["sequential/dense/kernel"]["update_ratio"] > 0
