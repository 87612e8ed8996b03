"""A probe under tf.distribute.MirroredStrategy on two logical CPUs gives one device's numbers.

The distributed case runs in a subprocess: TensorFlow fixes its logical devices
when it first initialises them, so ``tf.config.set_logical_device_configuration``
must run before anything else touches TensorFlow.
"""

from __future__ import annotations

import os
import textwrap

import keras
import numpy as np
import pytest
from _script import DIGITS_MLP, run_json

from kerasnotes.curvature import HessianProbe, placement

BACKEND = keras.backend.backend()

_SCRIPT = (
    textwrap.dedent(
        """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np, keras
    from kerasnotes.curvature import HessianProbe
    from kerasnotes.callbacks import SaddlePointDetector

    """
    )
    + DIGITS_MLP
    + textwrap.dedent(
        """
    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


    def measure(model, **kwargs):
        # three micro-batches of 128 and a last one of 97 rows: split 64/64 and 49/48
        probe = HessianProbe(model, x[:481], y[:481], batch_size=128, **kwargs)
        v = np.random.default_rng(1).standard_normal(probe.num_parameters)
        eig = probe.eigenvalues(k=1, which="both", tol=1e-8)
        density = probe.spectral_density(num_runs=2, num_steps=20, seed=0)
        return {
            "replicas": probe.num_replicas,
            "shards": [len(getattr(b[0], "values", [b[0]])) for b in probe._batches],
            "loss": probe.loss(), "gradient": probe.gradient().tolist(),
            "hvp": probe.hvp(v).tolist(), "eig": eig.values.tolist(),
            "trace": probe.trace(num_samples=20, seed=0).estimate,
            "masses": [density.negative_fraction, density.zero_fraction,
                       density.positive_fraction],
            "ggn": probe.ggn_vp(v).tolist(),
            "line": probe.landscape(v / np.linalg.norm(v), span=0.5, num=3).loss.tolist(),
            "weighted": weighted(model, **kwargs),
        }

    def weighted(model, **kwargs):
        # sample weights (zero on some rows) travel with the shards
        sw = np.random.default_rng(2).uniform(0, 2, 481) * (np.arange(481) % 5 != 0)
        probe = HessianProbe(model, x[:481], y[:481], batch_size=128, sample_weight=sw, **kwargs)
        return [probe.loss(), *probe.gradient().tolist()]

    if sys.argv[1] == "probe":
        model = build()
        weights = model.get_weights()
        single = measure(model)
        with strategy.scope():
            model = build()
        model.set_weights(weights)
        distributed = measure(model)                      # found from the model's variables
        passed = measure(build(), distribution=strategy)  # a strategy passed as distribution=
        # a data source: each batch read is cut into one shard per replica, as arrays are
        data = tf.data.Dataset.from_tensor_slices((x[:481], y[:481])).batch(128)
        with strategy.scope():
            streamed = HessianProbe(model, data, verbose=0)
            v = np.random.default_rng(1).standard_normal(streamed.num_parameters)
            stream = {
                "replicas": streamed.num_replicas, "loss": streamed.loss(),
                "gradient": streamed.gradient().tolist(), "hvp": streamed.hvp(v).tolist(),
                "shards": [len(getattr(b[0], "values", [b[0]])) for b in streamed._batches],
                "eig": streamed.eigenvalues(k=1, which="both", tol=1e-8).values.tolist(),
            }
        print(json.dumps({"single": single, "distributed": distributed, "passed": passed,
                          "stream": stream}))
        sys.exit()

    def fit(model):
        detector = SaddlePointDetector((x, y), num_samples=256, always_probe=True, batch_size=128,
                                       verbose=0)
        model.fit(x, y, epochs=2, batch_size=64, callbacks=[detector], verbose=0, shuffle=False)
        return [{k: e[k] for k in ("grad_norm", "lambda_min", "lambda_max", "kind")}
                for e in detector.history]

    model = build()
    on_one = fit(model)
    with strategy.scope():
        model = build()
        on_two = fit(model)
    print(json.dumps({"fit_one": on_one, "fit_two": on_two}))
    """
    )
)


def test_without_a_strategy_a_probe_has_one_replica():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.ones((4, 2), "float32")
    assert HessianProbe(model, x, x[:, :1], loss="mse").num_replicas == 1
    assert placement.replica_bounds(0, 97, 2) == [(0, 49), (49, 97)]


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the error is for the other backends")
def test_a_distribution_on_another_backend_is_a_clear_error():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.ones((4, 2), "float32")
    with pytest.raises(ValueError, match=f"Argument `distribution` must be None on the {BACKEND}"):
        HessianProbe(model, x, x[:, :1], loss="mse", distribution=object())


@pytest.mark.skipif(BACKEND != "tensorflow", reason="the error is TensorFlow's argument check")
def test_a_distribution_that_is_no_strategy_is_a_clear_error():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x = np.ones((4, 2), "float32")
    with pytest.raises(TypeError, match="Argument `distribution` must be None or a tf.distribute"):
        HessianProbe(model, x, x[:, :1], loss="mse", distribution="mirrored")


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute strategies are TensorFlow's")
def test_a_probe_under_mirrored_strategy_on_two_devices_equals_one_device(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    result = run_json([_SCRIPT, "probe"], env, timeout=600, cwd=tmp_path)
    single = result["single"]
    assert single["replicas"] == 1 and single["shards"] == [1, 1, 1, 1]
    stream = result["stream"]
    assert stream["replicas"] == 2 and stream["shards"] == [2, 2, 2, 2]
    assert stream["loss"] == pytest.approx(single["loss"], rel=1e-6)
    np.testing.assert_allclose(stream["gradient"], single["gradient"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stream["hvp"], single["hvp"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stream["eig"], single["eig"], rtol=1e-6)
    for distributed in (result["distributed"], result["passed"]):
        assert distributed["replicas"] == 2 and distributed["shards"] == [2, 2, 2, 2]
        assert distributed["loss"] == pytest.approx(single["loss"], rel=1e-6)
        np.testing.assert_allclose(
            distributed["gradient"], single["gradient"], rtol=1e-5, atol=1e-7
        )
        np.testing.assert_allclose(distributed["hvp"], single["hvp"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(distributed["eig"], single["eig"], rtol=1e-6)
        assert distributed["trace"] == pytest.approx(single["trace"], rel=1e-6)
        np.testing.assert_allclose(distributed["masses"], single["masses"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(distributed["ggn"], single["ggn"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(distributed["line"], single["line"], rtol=1e-6)
        np.testing.assert_allclose(
            distributed["weighted"], single["weighted"], rtol=1e-5, atol=1e-7
        )


@pytest.mark.slow  # two fits, each with a full Hessian analysis per epoch
@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute strategies are TensorFlow's")
def test_the_saddle_detector_inside_a_mirrored_fit_records_what_one_device_records(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    result = run_json([_SCRIPT, "fit"], env, timeout=600, cwd=tmp_path)
    one, two = result["fit_one"], result["fit_two"]
    assert len(one) == len(two) == 2 and all(np.isfinite(e["lambda_max"]) for e in one)
    for a, b in zip(one, two, strict=True):
        assert a["kind"] == b["kind"]
        for key in ("grad_norm", "lambda_min", "lambda_max"):
            np.testing.assert_allclose(b[key], a[key], rtol=1e-4, err_msg=key)
