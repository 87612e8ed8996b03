"""The landscape grid's batched evaluation (``kerasnotes/curvature/landscape.py``).

Every backend batches the grid (``jax.vmap``, ``torch.func.vmap``,
``tf.vectorized_map``); the reference is the same grid point by point
(``batch=False``) and the model itself called at displaced weights.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature import landscape as grid
from kerasnotes.curvature.flat import assign_flat

rng = np.random.default_rng


def _bn_dropout_probe(batch_size=None):
    """Dense → BatchNormalization (non-trivial moving statistics) → Dropout(0.5) → Dense."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(3),
        ]
    )
    bn = model.layers[1]
    bn.moving_mean.assign(rng(1).normal(size=8).astype("float32") * 0.3)
    bn.moving_variance.assign(rng(2).uniform(0.5, 2.0, size=8).astype("float32"))
    x = rng(3).normal(size=(20, 6)).astype("float32")
    y = rng(4).integers(0, 3, size=(20,))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return model, x, y, loss, HessianProbe(model, x, y, loss=loss, batch_size=batch_size)


def _grid(num):
    a = np.linspace(-0.7, 0.7, num)
    aa, bb = np.meshgrid(a, a, indexing="ij")
    return np.column_stack([aa.ravel(), bb.ravel()])


def test_every_backend_has_a_batched_loss():
    *_, probe = _bn_dropout_probe()
    _, batched = grid.compiled_loss(probe._engine)
    assert batched is not None, keras.backend.backend()


@pytest.mark.parametrize("batch_size", [None, 8])
def test_batched_grid_equals_point_by_point_with_bn_and_dropout(batch_size):
    model, x, y, loss, probe = _bn_dropout_probe(batch_size)
    directions = rng(5).normal(size=(probe.num_parameters, 2)) * 0.2
    # 6×6 = 36 points: one full chunk of 32 and one of 4 padded to 32.
    coefficients = _grid(6)
    assert len(coefficients) % grid.CHUNK != 0
    batched = grid.evaluate_grid(probe, coefficients, directions)
    pointwise = grid.evaluate_grid(probe, coefficients, directions, batch=False)
    np.testing.assert_allclose(batched, pointwise, rtol=1e-6, atol=0)
    assert np.ptp(batched) > 0.1  # the plane is not flat: the comparison means something
    # The model itself, in inference (dropout off, BN on its moving statistics).
    theta = probe._to_flat(probe._trainable)
    for p in (0, 21, 35):
        assign_flat(model.trainable_variables, theta + directions @ coefficients[p])
        direct = float(keras.ops.convert_to_numpy(loss(y, model(x, training=False))))
        assert batched[p] == pytest.approx(direct, rel=1e-5)
    assign_flat(model.trainable_variables, theta)


def test_landscape_plane_uses_the_batched_grid():
    *_, probe = _bn_dropout_probe()
    s = probe.landscape("random", span=0.5, num=5, seed=2)  # 25 points, one padded chunk
    a = np.linspace(-0.5, 0.5, 5)
    aa, bb = np.meshgrid(a, a, indexing="ij")
    expected = grid.evaluate_grid(
        probe, np.column_stack([aa.ravel(), bb.ravel()]), s.directions, batch=False
    )
    np.testing.assert_allclose(s.loss.ravel(), expected, rtol=1e-6, atol=0)
    assert s.loss[2, 2] == pytest.approx(s.center_loss, rel=1e-6)


def test_a_batched_loss_that_fails_falls_back_to_point_by_point():
    *_, probe = _bn_dropout_probe()
    loss_fn, _ = grid.compiled_loss(probe._engine)

    def cannot_vectorise(*args):
        raise NotImplementedError("no batching rule for this op")

    probe._engine.loss_only = (loss_fn, cannot_vectorise)
    directions = rng(6).normal(size=(probe.num_parameters, 1)) * 0.1
    coefficients = np.linspace(-1.0, 1.0, 5)[:, None]
    with pytest.warns(UserWarning, match="point by point"):
        values = grid.evaluate_grid(probe, coefficients, directions)
    assert probe._engine.loss_only == (loss_fn, None)  # not retried on the next grid
    np.testing.assert_allclose(
        values, grid.evaluate_grid(probe, coefficients, directions, batch=False), rtol=0
    )
