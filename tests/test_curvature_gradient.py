"""The full-sample loss and gradient the probe and the gate share (kerasnotes.curvature.gradient)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.engine import prepared
from kerasnotes.curvature.flat import to_flat
from kerasnotes.curvature.gate import GradientNorm
from kerasnotes.curvature.gradient import flat_gradient, loss_and_gradient

BACKEND = keras.backend.backend()


def _weights(model):
    return (
        [keras.ops.convert_to_tensor(v.value) for v in model.trainable_variables],
        [keras.ops.convert_to_tensor(v.value) for v in model.non_trainable_variables],
    )


def _mlp(last_dtype=None):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(3, dtype=last_dtype),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 5)).astype("float32")
    y = rng.integers(0, 3, 37)
    return model, x, y


@pytest.mark.parametrize("last_dtype", [None, "float16"])
def test_one_vector_and_one_copy_per_variable_give_the_same_bits(last_dtype):
    # 37 rows in micro-batches of 10 (10, 10, 10, 7) with sample weights: four float64 sums;
    # a float16 last layer makes the gradient's dtypes differ (JAX widens them exactly).
    model, x, y = _mlp(last_dtype)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, 37)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    engine, batches, n = prepared(model, x, y, loss, 10, sw, "inference")
    assert (n, len(batches)) == (37, 4)
    flat = flat_gradient(engine)
    # JAX offers the one-vector function; on TensorFlow and torch it measured no faster.
    assert (flat is None) == (BACKEND != "jax")
    assert flat_gradient(engine) is flat  # built once per engine
    trainable, non_trainable = _weights(model)
    per_variable = loss_and_gradient(engine, trainable, non_trainable, batches, None)
    if flat is not None:
        one_vector = loss_and_gradient(engine, trainable, non_trainable, batches, flat)
        assert one_vector[0] == per_variable[0]
        np.testing.assert_array_equal(one_vector[1], per_variable[1])
    # The per-variable path is the plain sum of each micro-batch's (L_b, ∇L_b).
    expected_loss, expected_grad = 0.0, np.zeros(per_variable[1].size)
    for bx, by, bsw, w in batches:
        value, grads = engine.value_and_grad(trainable, non_trainable, bx, by, bsw, w)
        expected_loss += float(keras.ops.convert_to_numpy(value))
        expected_grad += to_flat(grads)
    assert per_variable[0] == expected_loss
    np.testing.assert_array_equal(per_variable[1], expected_grad)
    assert per_variable[1].dtype == np.float64 and per_variable[1].shape == (5 * 4 + 4 + 4 * 3 + 3,)
    # Against the loss Keras reports (weighted mean over all 37 rows).
    model.compile(loss=loss)
    reported = model.evaluate(x, y, sample_weight=sw, batch_size=37, verbose=0)
    tolerance = 1e-3 if last_dtype else 1e-6
    assert per_variable[0] == pytest.approx(reported, rel=tolerance)


def test_the_gate_and_the_probe_share_one_compiled_function_and_its_numbers():
    model, x, y = _mlp()
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    gate = GradientNorm(model, x, y, batch_size=16)
    probe = HessianProbe(model, x, y, batch_size=16)
    assert gate._flat is flat_gradient(probe._engine)
    loss, norm = gate()
    assert loss == probe.loss()
    assert norm == float(np.sqrt(np.einsum("i,i->", probe.gradient(), probe.gradient())))
    # The gate read through the per-variable path gives the same numbers.
    gate._flat = None
    assert gate() == (loss, norm)
