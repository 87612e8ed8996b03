"""kerasnotes.curvature.placement: a probe under a Keras distribution gives one device's numbers.

The distributed case runs in a subprocess: JAX fixes its device count when it
loads, and ``--xla_force_host_platform_device_count=4`` gives four CPU devices.
"""

from __future__ import annotations

import os
import textwrap

import keras
import numpy as np
import pytest
from _script import DIGITS_MLP, run_json

from kerasnotes.curvature import placement

BACKEND = keras.backend.backend()

_SCRIPT = (
    textwrap.dedent(
        """
    import json, os, sys
    import numpy as np, keras
    from kerasnotes.curvature import HessianProbe, placement
    from kerasnotes.callbacks import SaddlePointDetector

    """
    )
    + DIGITS_MLP
    + textwrap.dedent(
        """


    def measure(model):
        # three micro-batches of 128 split over 4 devices, and a last one of 98 rows kept whole
        probe = HessianProbe(model, x[:482], y[:482], batch_size=128)
        v = np.random.default_rng(1).standard_normal(probe.num_parameters)
        eig = probe.eigenvalues(k=1, which="both", tol=1e-8)
        shards = [len(b[0].sharding.device_set) if hasattr(b[0], "sharding") else 1
                  for b in probe._batches]
        return {
            "loss": probe.loss(), "gradient": probe.gradient().tolist(),
            "hvp": probe.hvp(v).tolist(), "eig": eig.values.tolist(),
            "trace": probe.trace(num_samples=20, seed=0).estimate, "devices": shards,
        }

    model = build()
    weights = model.get_weights()
    single = measure(model)
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model = build()
    model.set_weights(weights)
    distributed = measure(model)
    # the detector inside a distributed fit
    detector = SaddlePointDetector((x, y), num_samples=256, grad_tol=1e-9, verbose=0)
    model.fit(x, y, epochs=2, batch_size=64, callbacks=[detector], verbose=0)
    print(json.dumps({
        "count": placement.batch_devices(), "single": single, "distributed": distributed,
        "detector": [e["grad_norm"] for e in detector.history],
    }))
    """
    )
)


def test_without_a_distribution_a_batch_is_one_tensor_on_one_device():
    assert placement.batch_devices() == 1
    array = np.arange(12, dtype="float32").reshape(6, 2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(placement.batch_tensor(array)), array)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution's DataParallel runs on JAX")
def test_a_probe_under_data_parallel_on_four_devices_equals_one_device(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax")
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    result = run_json([_SCRIPT], env, timeout=600, cwd=tmp_path)
    assert result["count"] == 4
    single, distributed = result["single"], result["distributed"]
    assert single["devices"] == [1, 1, 1, 1]
    assert distributed["devices"] == [4, 4, 4, 1]  # 98 rows do not split four ways: kept whole
    assert distributed["loss"] == pytest.approx(single["loss"], rel=1e-6)
    np.testing.assert_allclose(distributed["gradient"], single["gradient"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(distributed["hvp"], single["hvp"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(distributed["eig"], single["eig"], rtol=1e-6)
    assert distributed["trace"] == pytest.approx(single["trace"], rel=1e-6)
    assert len(result["detector"]) == 2 and all(np.isfinite(result["detector"]))
