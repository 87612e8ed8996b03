"""SharpnessMonitor (F17): exact λmax on a quadratic, thresholds, preconditioning, warm start."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from _events import read as read_events
from _probe_callbacks import (
    COMMON_BAD_ARGUMENTS,
    check_config_round_trip,
    check_data_must_be_a_pair,
)

import kerasnotes as kn
from kerasnotes import summary
from kerasnotes.callbacks import SharpnessMonitor
from kerasnotes.callbacks.sharpness import stability_threshold

N, D = 128, 6


def _regression():
    """Linear regression with MSE: H = 2 AᵀA / N with A = [X 1] (kernel rows, then bias)."""
    rng = np.random.default_rng(0)
    # Distinct column scales: a spread spectrum with a clear top eigenvalue.
    x = (rng.normal(size=(N, D)) * np.linspace(0.3, 1.5, D)).astype("float32")
    y = (x @ rng.normal(size=(D, 1)) + 0.1 * rng.normal(size=(N, 1))).astype("float32")
    a = np.hstack([x.astype(np.float64), np.ones((N, 1))])
    return x, y, 2.0 * a.T @ a / N


def _model(optimizer):
    model = keras.Sequential([keras.Input((D,)), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    return model


def _fit(optimizer, epochs=3, **kwargs):
    x, y, h = _regression()
    model = _model(optimizer)
    monitor = SharpnessMonitor((x, y), **kwargs)
    history = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[monitor])
    return model, monitor, h, history


def _lr(optimizer):
    return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))


@pytest.mark.parametrize(
    "make, factor",
    [
        (lambda: keras.optimizers.SGD(0.05), lambda b: 2.0),
        (lambda: kn.optimizers.SGD(0.05), lambda b: 2.0),
        (lambda: keras.optimizers.SGD(0.02, momentum=0.9), lambda b: 2 + 2 * b),
        (lambda: kn.optimizers.SGD(0.02, momentum=0.8), lambda b: 2 + 2 * b),
        (
            lambda: kn.optimizers.SGD(0.02, momentum=0.8, momentum_form="ema"),
            lambda b: (2 + 2 * b) / (1 - b),
        ),
    ],
)
def test_gradient_descent_sharpness_is_the_exact_top_eigenvalue(make, factor):
    optimizer = make()
    model, monitor, h, _ = _fit(optimizer)
    top = np.linalg.eigvalsh(h)[-1]
    assert len(monitor.history) == 3
    for entry in monitor.history:
        assert entry["preconditioned"] is False
        assert entry["converged"]
        np.testing.assert_allclose(entry["sharpness"], top, rtol=1e-4)
        np.testing.assert_allclose(
            entry["threshold"], factor(float(optimizer.momentum)) / _lr(optimizer), rtol=1e-6
        )


def test_threshold_follows_a_learning_rate_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.5)
    optimizer = keras.optimizers.SGD(schedule)
    _, monitor, _, _ = _fit(optimizer, epochs=2)
    # 128 rows / 32 = 4 steps an epoch: after epoch e the rate is 0.05 · 0.5^(e+1).
    for entry in monitor.history:
        eta = 0.05 * 0.5 ** (entry["epoch"] + 1)
        np.testing.assert_allclose(entry["threshold"], 2.0 / eta, rtol=1e-5)


@pytest.mark.parametrize(
    "make, threshold",
    [
        (lambda: kn.optimizers.Adagrad(0.1), 2.0),
        (lambda: kn.optimizers.RMSprop(0.01), 2.0),
        (lambda: kn.optimizers.RMSprop(0.01, momentum=0.5), 3.0),
        (lambda: kn.optimizers.Adam(0.01), 38.0),
        (lambda: kn.optimizers.Adam(0.01, beta_1=0.5), 6.0),
    ],
)
def test_adaptive_sharpness_is_preconditioned_by_the_effective_learning_rate(make, threshold):
    model, monitor, h, _ = _fit(make(), epochs=2)
    # After fit the optimizer's state is the state at the last epoch's end.
    p = np.concatenate(
        [
            np.asarray(model.optimizer.inspect(v)["effective_learning_rate"], np.float64).ravel()
            for v in model.trainable_variables
        ]
    )
    root = np.sqrt(p)
    expected = np.linalg.eigvalsh(root[:, None] * h * root[None, :])[-1]
    last = monitor.history[-1]
    assert last["preconditioned"] is True
    np.testing.assert_allclose(last["sharpness"], expected, rtol=1e-4)
    np.testing.assert_allclose(last["threshold"], threshold, rtol=1e-12)
    # P is not a multiple of I here: the plain λmax(H)·mean(P) would be a different number.
    assert not np.isclose(last["sharpness"], np.linalg.eigvalsh(h)[-1] * p.mean(), rtol=1e-2)


@pytest.mark.parametrize("preconditioned", [False, True])
def test_warm_start_spends_fewer_hvps_after_the_first_epoch(preconditioned):
    optimizer = kn.optimizers.RMSprop(0.01) if preconditioned else keras.optimizers.SGD(0.05)
    _, monitor, _, _ = _fit(optimizer, epochs=4)
    counts = [entry["num_hvp"] for entry in monitor.history]
    assert all(c >= 1 for c in counts)
    assert max(counts[1:]) < counts[0], counts


def test_thresholds_are_where_each_sgd_form_diverges_on_a_quadratic():
    # L = ½ λ w²: below the threshold the iterate shrinks, above it grows.
    cases = [
        dict(momentum=0.0),
        dict(momentum=0.7),
        dict(momentum=0.7, nesterov=True),
        dict(momentum=0.7, momentum_form="ema"),
        dict(momentum=0.7, momentum_form="ema", nesterov=True),
    ]
    eta = 0.1
    for case in cases:
        limit, preconditioned = stability_threshold(kn.optimizers.SGD(eta, **case))
        assert preconditioned is False
        for scale, grows in ((0.97, False), (1.03, True)):
            lam = scale * limit
            w = keras.Variable(np.ones(1, "float32"))
            optimizer = kn.optimizers.SGD(eta, **case)
            for _ in range(400):
                optimizer.apply([keras.ops.convert_to_tensor(lam * w.numpy())], [w])
                size = abs(float(np.asarray(w.numpy())[0]))
                if size > 1e6:  # diverged; stop before float32 overflows
                    break
            assert (size > 1.0) is grows, (case, scale, size)


def test_logs_tensorboard_and_verbose_line(tmp_path, capsys):
    _, monitor, h, history = _fit(keras.optimizers.SGD(0.05), epochs=2, log_dir=tmp_path, verbose=1)
    top = np.linalg.eigvalsh(h)[-1]
    np.testing.assert_allclose(history.history["sharpness"], [top, top], rtol=1e-4)
    np.testing.assert_allclose(history.history["sharpness_threshold"], [40.0, 40.0], rtol=1e-6)
    assert "SharpnessMonitor: λmax(H)=" in capsys.readouterr().out
    summary.Writer.for_log_dir(tmp_path).flush()

    run = read_events(tmp_path)
    values = [d.value for d in run[summary.TAG_SHARPNESS]]
    np.testing.assert_allclose(values, [top, top], rtol=1e-4)
    assert [d.step for d in run[summary.TAG_SHARPNESS_THRESHOLD]] == [0, 1]
    np.testing.assert_allclose([d.value for d in run[summary.TAG_SHARPNESS_THRESHOLD]], 40.0)
    counts = [d.value for d in run[summary.TAG_SHARPNESS_NUM_HVP]]
    assert counts == [e["num_hvp"] for e in monitor.history]


def test_every_skips_epochs():
    _, monitor, _, _ = _fit(keras.optimizers.SGD(0.05), epochs=4, every=2)
    assert [e["epoch"] for e in monitor.history] == [1, 3]


@pytest.mark.parametrize(
    "make",
    [lambda: keras.optimizers.Adam(0.01), lambda: keras.optimizers.RMSprop(0.01)],
)
def test_keras_adaptive_optimizer_is_refused_at_train_begin(make):
    x, y, _ = _regression()
    model = _model(make())
    before = [np.array(v.numpy()) for v in model.trainable_variables]
    with pytest.raises(TypeError, match="kerasnotes.optimizers"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[SharpnessMonitor((x, y))])
    for old, variable in zip(before, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(old, variable.numpy())


def test_unknown_optimizer_is_refused():
    with pytest.raises(TypeError, match="optimizer=.*Adadelta"):
        stability_threshold(keras.optimizers.Adadelta(0.1))


def test_a_failed_measurement_warns_and_training_goes_on():
    x, y, _ = _regression()
    bad = x.copy()
    bad[0, 0] = np.nan  # a NaN input makes H (2AᵀA/N) NaN; a NaN label would not
    model = _model(keras.optimizers.SGD(0.05))
    monitor = SharpnessMonitor((bad, y))
    with pytest.warns(UserWarning, match="SharpnessMonitor: the measurement at epoch 0 failed"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    assert len(monitor.history) == 2
    assert all(math.isnan(e["sharpness"]) and "error" in e for e in monitor.history)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        (dict(every=0), ValueError, "every=0"),
        (dict(tol=0.0), ValueError, "tol=0.0"),
        (dict(tol=1.5), ValueError, "tol=1.5"),
        (dict(tol="small"), TypeError, "tol='small'"),
    ]
    + COMMON_BAD_ARGUMENTS,
)
def test_arguments_are_checked(kwargs, error, text):
    x, y, _ = _regression()
    with pytest.raises(error, match=text.replace("(", r"\(").replace(".", r"\.")):
        SharpnessMonitor((x, y), **kwargs)


def test_data_must_be_a_pair():
    x, _, _ = _regression()
    check_data_must_be_a_pair(SharpnessMonitor, x)


def test_config_round_trip(tmp_path):
    x, y, _ = _regression()
    monitor = SharpnessMonitor(
        (x, y), every=2, log_dir=tmp_path, num_samples=50, tol=1e-4, seed=3, loss="mse"
    )
    config = check_config_round_trip(monitor)
    assert SharpnessMonitor.from_config(config).x.shape == (50, D)
