"""kerasnotes.activations: F10 softmax and the sigmoid, exact and finite for any logit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops
from scipy.special import expit

from kerasnotes import activations

BACKEND = keras.backend.backend()


def to_np(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def jacobian_vector(fn, x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """d <fn(x), v> / dx on the active backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        var = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(fn(var) * v)
        return to_np(tape.gradient(y, var))
    if BACKEND == "jax":
        import jax

        return to_np(jax.grad(lambda a: jax.numpy.sum(fn(a) * v))(jax.numpy.asarray(x)))
    import torch

    var = torch.tensor(x, requires_grad=True)
    (fn(var) * torch.tensor(v)).sum().backward()
    return to_np(var.grad)


def softmax64(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [-1, 0, 1, (1, 2)])
def test_softmax_matches_f10_and_keras(axis):
    z = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32") * 4
    ours = to_np(activations.softmax(z, axis=axis))
    np.testing.assert_allclose(ours, softmax64(z, axis), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours, to_np(keras.activations.softmax(z, axis=axis)), atol=1e-7)


def test_sigmoid_matches_float64_and_keras():
    z = np.linspace(-30, 30, 121).astype("float32")
    ours = to_np(activations.sigmoid(z))
    np.testing.assert_allclose(ours, expit(z.astype(np.float64)), rtol=1e-6)
    np.testing.assert_allclose(ours, to_np(keras.activations.sigmoid(z)), rtol=1e-6, atol=1e-7)


huge = st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=4, max_size=4).map(
    lambda v: np.array(v, "float32")
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(z=huge, shift=st.sampled_from([0.0, 1e4, -1e4, 3e38]))
def test_softmax_of_huge_logits_is_finite_and_sums_to_one(z, shift):
    z = (z.astype(np.float64) + shift).clip(-3.4e38, 3.4e38).astype("float32")
    p = to_np(activations.softmax(z[None]))[0]
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    assert abs(p.sum() - 1.0) < 1e-6
    np.testing.assert_allclose(p, softmax64(z), atol=1e-6)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(z=huge)
def test_gradients_are_finite_for_huge_logits(z):
    v = np.array([1.0, -2.0, 0.5, 3.0], "float32")
    g = jacobian_vector(lambda a: activations.softmax(a), z, v)
    p = softmax64(z)
    # J^T v = p ⊙ (v − <p, v>) for the softmax Jacobian.
    np.testing.assert_allclose(g, p * (v - p @ v), atol=1e-5)
    g = jacobian_vector(activations.sigmoid, z, v)
    s = expit(z.astype(np.float64))
    np.testing.assert_allclose(g, v * s * (1 - s), atol=1e-6)


def test_sigmoid_extremes_exact():
    out = to_np(activations.sigmoid(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], "float32")))
    np.testing.assert_array_equal(out[[0, 2, 3, 4]], [0.0, 0.5, 1.0, 1.0])
    assert 0.0 <= out[1] < 1e-40


@pytest.mark.skipif(BACKEND == "jax", reason="JAX arrays accept no attributes to carry logits")
def test_outputs_carry_their_logits():
    z = np.array([[1.0, 2.0]], "float32")
    for fn in (activations.softmax, activations.sigmoid):
        np.testing.assert_array_equal(to_np(fn(z)._keras_logits), z)


@pytest.mark.backend_independent
def test_bad_axis_is_a_type_error():
    with pytest.raises(TypeError, match="axis=1.5"):
        activations.softmax(np.zeros((2, 2)), axis=1.5)


def test_dense_with_our_softmax_saves_and_loads(tmp_path):
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation=activations.softmax)]
    )
    x = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.layers[0].activation is activations.softmax
    np.testing.assert_allclose(to_np(loaded(x)), to_np(model(x)), rtol=1e-6)
