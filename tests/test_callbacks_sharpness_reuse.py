"""SharpnessMonitor prepares its probe once per model (issue #15): same numbers, less set-up."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerasnotes as kn
from kerasnotes.callbacks import SharpnessMonitor
from kerasnotes.curvature import HessianProbe

N, D = 96, 5


def _data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(N, D)).astype("float32")
    y = np.tanh(x @ rng.normal(size=(D, 2))).astype("float32")
    return x, y


def _mlp(seed=0, width=6):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((D,)), keras.layers.Dense(width, activation="tanh"), keras.layers.Dense(2)]
    )
    model.compile(kn.optimizers.SGD(0.1), "mse")
    return model


def _top(model, x, y):
    """λmax of a probe built from scratch at the model's weights now (dense: exact)."""
    return float(np.linalg.eigvalsh(HessianProbe(model, x, y).dense_hessian())[-1])


def test_a_measurement_after_training_equals_a_fresh_probe_and_prepares_once():
    x, y = _data()
    model = _mlp()
    monitor = SharpnessMonitor((x, y), tol=1e-7)
    model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[monitor])
    assert monitor.num_preparations == 1
    values = [h["sharpness"] for h in monitor.history]
    assert len(values) == 4 and len(set(values)) == 4  # the weights moved between epochs
    np.testing.assert_allclose(values[-1], _top(model, x, y), rtol=1e-5)
    # The probe it uses now gives a fresh probe's products, bit for bit.
    v = np.random.default_rng(2).normal(size=monitor._probe.num_parameters)
    np.testing.assert_array_equal(
        monitor._probe_now(model).hvp(v), HessianProbe(model, x, y).hvp(v)
    )
    assert monitor.num_preparations == 1
    # The kept probe never runs a product, so it holds no linearisation between epochs.
    assert monitor._probe._products.kept == 0


def test_another_model_or_a_new_compiled_loss_prepares_a_new_probe():
    x, y = _data()
    monitor = SharpnessMonitor((x, y), tol=1e-7)
    first, second = _mlp(0), _mlp(1, width=4)
    first.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[monitor])
    second.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.num_preparations == 2
    np.testing.assert_allclose(monitor.history[-1]["sharpness"], _top(second, x, y), rtol=1e-5)
    # The same model again, recompiled with another loss: the objective changed.
    second.compile(kn.optimizers.SGD(0.1), keras.losses.MeanAbsoluteError())
    second.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.num_preparations == 3
    # MAE of a linear output: its Hessian is only the network's curvature times sign(r).
    probe = HessianProbe(second, x, y)
    want = float(np.linalg.eigvalsh(probe.dense_hessian())[-1])
    np.testing.assert_allclose(monitor.history[-1]["sharpness"], want, rtol=1e-5)


def test_at_current_weights_equals_a_new_probe_and_leaves_the_old_one():
    x, y = _data()
    model = _mlp()
    probe = HessianProbe(model, x, y, batch_size=40)  # three micro-batches
    before = probe.gradient()
    weights = model.get_weights()
    model.set_weights([w * 1.5 for w in weights])
    moved = probe.at_current_weights()
    fresh = HessianProbe(model, x, y, batch_size=40)
    np.testing.assert_array_equal(moved.gradient(), fresh.gradient())
    v = np.random.default_rng(3).normal(size=probe.num_parameters)
    np.testing.assert_array_equal(moved.hvp(v), fresh.hvp(v))
    assert moved.loss() == fresh.loss() and moved._num_hvp == 1
    np.testing.assert_array_equal(probe.gradient(), before)
    assert not np.allclose(before, fresh.gradient())


def test_at_current_weights_refuses_a_model_whose_variables_changed_shape():
    x, y = _data()
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(2)])
    probe = HessianProbe(model, x, y, loss="mse")
    model.layers[0].kernel.assign(np.zeros((D, 2), "float32"))  # same shape: fine
    assert probe.at_current_weights().loss() == pytest.approx(float(np.mean(y**2)), rel=1e-6)
    model.add(keras.layers.Dense(3))  # Sequential.add rebuilds with a new variable
    model.build((None, D))
    with pytest.raises(ValueError, match="trainable variables changed"):
        probe.at_current_weights()
