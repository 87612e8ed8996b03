"""The flat float64 vector over a model's trainable variables, and back (kerasnotes.curvature.flat)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.flat import (
    FlatLayout,
    assign_flat,
    assign_weights,
    gradient_norm,
    read_weights,
    to_flat,
)


def _model(dtype: str = "float32") -> keras.Model:
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, dtype=dtype), keras.layers.Dense(2, dtype=dtype)]
    )
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape).astype(dtype) for w in model.get_weights()])
    return model


def test_layout_of_a_model_counts_and_orders_its_variables():
    model = _model()
    layout = FlatLayout.of(model.trainable_variables)
    assert layout.shapes == [(3, 4), (4,), (4, 2), (2,)]
    assert layout.dtypes == ["float32"] * 4
    assert layout.offsets.tolist() == [12, 16, 24]
    assert layout.size == 26 == model.count_params()


def test_round_trip_is_exact_and_follows_the_variables_order():
    model = _model()
    variables = model.trainable_variables
    layout = FlatLayout.of(variables)
    theta = layout.to_flat(variables)
    assert theta.dtype == np.float64 and theta.shape == (26,)
    expected = np.concatenate([np.ravel(w) for w in model.get_weights()]).astype(np.float64)
    np.testing.assert_array_equal(theta, expected)
    tensors = layout.to_tensors(theta)
    for tensor, variable in zip(tensors, variables, strict=True):
        assert keras.backend.standardize_dtype(tensor.dtype) == variable.dtype
        np.testing.assert_array_equal(ops.convert_to_numpy(tensor), variable.numpy())
    np.testing.assert_array_equal(to_flat(tensors), theta)


def test_to_arrays_casts_each_piece_to_its_own_dtype():
    layout = FlatLayout([(2,), (1, 2)], ["float16", "float64"])
    first, second = layout.to_arrays(np.array([1.0, 2.0, 3.0, 4.0]))
    assert first.dtype == np.float16 and second.dtype == np.float64
    np.testing.assert_array_equal(first, [1.0, 2.0])
    np.testing.assert_array_equal(second, [[3.0, 4.0]])


def test_shifted_steps_along_the_direction_and_keeps_each_dtype():
    arrays = [np.array([1.0, 1.0], "float32"), np.array([[2.0]], "float32")]
    layout = FlatLayout.of(arrays)
    out = layout.shifted(arrays, np.array([1.0, -1.0, 0.5]), 3.0)
    np.testing.assert_array_equal(out[0], np.array([4.0, -2.0], "float32"))
    np.testing.assert_array_equal(out[1], np.array([[3.5]], "float32"))
    assert [a.dtype for a in out] == [np.float32, np.float32]
    np.testing.assert_array_equal(arrays[0], [1.0, 1.0])  # the inputs are not changed


def test_read_and_assign_weights_copy_and_restore():
    model = _model()
    saved = read_weights(model.trainable_variables)
    before = to_flat(saved)
    model.trainable_variables[0].assign(np.zeros((3, 4), "float32"))
    np.testing.assert_array_equal(to_flat(saved), before)  # a copy, not a view
    assign_weights(model.trainable_variables, saved)
    np.testing.assert_array_equal(to_flat(model.trainable_variables), before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assign_flat_is_the_inverse_of_to_flat(dtype):
    model = _model(dtype)
    theta = to_flat(model.trainable_variables)
    assign_flat(model.trainable_variables, np.zeros_like(theta))
    assert not to_flat(model.trainable_variables).any()
    assign_flat(model.trainable_variables, theta)
    np.testing.assert_array_equal(to_flat(model.trainable_variables), theta)
    assert {v.dtype for v in model.trainable_variables} == {dtype}
    with pytest.raises(ValueError, match=r"`flat` must be a flat vector of shape \(26,\)"):
        assign_flat(model.trainable_variables, theta[:-1])


def test_assign_weights_refuses_a_wrong_count_before_writing_anything():
    model = _model()
    before = to_flat(model.trainable_variables)
    with pytest.raises(
        ValueError,
        match=r"`arrays` must hold one array per variable \(4\)\. Received: arrays with 1 ",
    ):
        assign_weights(model.trainable_variables, [np.zeros((3, 4), "float32")])
    np.testing.assert_array_equal(to_flat(model.trainable_variables), before)


def test_check_names_the_argument_and_the_expected_shape():
    layout = FlatLayout([(2, 2)], ["float32"])
    np.testing.assert_array_equal(layout.check([1, 2, 3, 4]), [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"`v0` must be a flat vector of shape \(4,\).*\(2, 2\)"):
        layout.check(np.zeros((2, 2)), "v0")


def test_layout_refuses_mismatched_shapes_and_dtypes():
    with pytest.raises(
        ValueError,
        match=r"`dtypes` must have one entry per variable, as `shapes` \(2\)\. Received: dtypes with 1 ",
    ):
        FlatLayout([(1,), (2,)], ["float32"])


def test_gradient_norm_is_the_euclidean_norm():
    g = np.random.default_rng(1).standard_normal(1000)
    np.testing.assert_allclose(gradient_norm(g), np.linalg.norm(g), rtol=1e-12)


def test_probe_and_its_layout_agree():
    # The probe's vectors are this layout's: its gradient splits into the per-variable
    # gradients of the loss, in the order of model.trainable_variables.
    model = _model()
    x = np.random.default_rng(2).standard_normal((8, 3)).astype("float32")
    y = np.random.default_rng(3).standard_normal((8, 2)).astype("float32")
    probe = HessianProbe(model, x, y, loss="mse")
    layout = FlatLayout.of(model.trainable_variables)
    assert probe.num_parameters == layout.size
    grads = layout.to_arrays(probe.gradient())
    w1, b1, w2, b2 = model.get_weights()
    hidden = x @ w1 + b1
    d_out = 2.0 * (hidden @ w2 + b2 - y) / y.size
    np.testing.assert_allclose(grads[3], d_out.sum(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads[2], hidden.T @ d_out, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads[0], x.T @ (d_out @ w2.T), rtol=1e-4, atol=1e-6)
