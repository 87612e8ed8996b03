"""HessianProbe on a convolutional net with BatchNormalization: a tiny CIFAR-style ResNet.

The model is ``datasets.cifar_resnet`` at depth 8 (three residual blocks, seven
BN layers) on eight 8x8 images, small enough for a dense Hessian: width 1 (1/2/4
channels, 382 parameters) runs by default; width 2 (2/4/8 channels, 1,357
parameters) is marked slow, as its dense Hessian costs 1,357 products per mode
(20-40 ms each on PyTorch on the loaded 2-core machine, where a product of this
small net is mostly Keras's per-op dispatch). References: the probe's own dense Hessian (one product per column) for
the products and Lanczos, and (slow) the backend's own autodiff Hessian, which
runs none of kerasnotes' HVP code.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
from _autodiff import backend_hessian

from kerasnotes import datasets
from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.forward import is_batch_normalization

BACKEND = keras.backend.backend()
CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
BN_MODES = ("inference", "batch")


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def tiny_resnet(width: int = 1, num_samples: int = 8):
    """ResNet-8 with 3 classes on 8x8 images; BN statistics away from (0, 1)."""
    model, x, y = datasets.cifar_resnet(
        depth=8, width=width, num_samples=num_samples, image_size=8, num_classes=3, seed=1
    )
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if is_batch_normalization(layer):
            # Moving statistics unlike the batch's, so "inference" and "batch" differ.
            shape = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0.0, 0.3, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
    return model, x, y


@functools.cache
def _model(width: int):
    return tiny_resnet(width)


@functools.cache
def _dense(width: int, bn_mode: str):
    """(probe, its dense Hessian), built once per module (one HVP per column)."""
    model, x, y = _model(width)
    probe = HessianProbe(model, x, y, loss=CE, bn_mode=bn_mode)
    return probe, probe.dense_hessian()


@pytest.fixture(scope="module", autouse=True)
def _forget_the_models():
    yield
    _dense.cache_clear()
    _model.cache_clear()


# (width, bn_mode): width 1 by default, width 2 slow.
CASES = [(1, mode) for mode in BN_MODES] + [
    pytest.param(2, mode, marks=pytest.mark.slow) for mode in BN_MODES
]


@pytest.mark.parametrize("width, count", [(1, 382), pytest.param(2, 1_357, marks=pytest.mark.slow)])
def test_tiny_resnet_is_small_enough_for_a_dense_hessian(width, count):
    probe, hessian = _dense(width, "inference")
    assert probe.num_parameters == count
    assert hessian.shape == (count, count)
    assert np.all(np.isfinite(hessian))
    # The two BN modes are two different objectives on this model.
    assert rel_err(_dense(width, "batch")[1], hessian) > 1e-2


@pytest.mark.parametrize("width, bn_mode", CASES)
def test_hvp_matches_the_dense_hessian(width, bn_mode):
    probe, hessian = _dense(width, bn_mode)
    rng = np.random.default_rng(3)
    for _ in range(3):
        v = rng.normal(size=probe.num_parameters)
        assert rel_err(probe.hvp(v), hessian @ v) <= 1e-5
    # Every product is the same linear map: H(a·u + v) = a·Hu + Hv.
    u, v = rng.normal(size=(2, probe.num_parameters))
    combined = probe.hvp(2.5 * u + v)
    assert rel_err(combined, 2.5 * probe.hvp(u) + probe.hvp(v)) <= 1e-5


@pytest.mark.parametrize("width, bn_mode", CASES)
def test_lambda_max_and_min_match_eigvalsh(width, bn_mode):
    probe, hessian = _dense(width, bn_mode)
    exact = np.linalg.eigvalsh(hessian)
    top = probe.eigenvalues(k=1, which="largest", tol=1e-6)
    assert top.converged
    assert top.values[-1] == pytest.approx(exact[-1], rel=1e-5)
    # The eigenvector is the dense one's, up to sign.
    _, vectors = np.linalg.eigh(hessian)
    assert abs(float(top.vectors[:, -1] @ vectors[:, -1])) == pytest.approx(1.0, abs=1e-4)
    both = probe.eigenvalues(k=1, which="both", tol=1e-6, max_iter=probe.num_parameters - 1)
    assert both.values[0] == pytest.approx(exact[0], rel=1e-4, abs=1e-6 * exact[-1])
    assert both.values[-1] == pytest.approx(exact[-1], rel=1e-5)


@pytest.mark.slow  # on JAX it compiles a gradient and an HVP for a second batch shape
def test_inference_mode_micro_batches_give_the_full_data_products():
    # With moving statistics every sample is independent, so two micro-batches of
    # 4 images must reproduce the one-batch loss, gradient and HVP.
    model, x, y = _model(1)
    whole = HessianProbe(model, x, y, loss=CE)
    split = HessianProbe(model, x, y, loss=CE, batch_size=4)
    assert split.loss() == pytest.approx(whole.loss(), rel=1e-5)
    assert rel_err(split.gradient(), whole.gradient()) <= 1e-5
    v = np.random.default_rng(4).normal(size=whole.num_parameters)
    assert rel_err(split.hvp(v), whole.hvp(v)) <= 1e-5


def _tensorflow_moments_differentiated_through_the_mean(patch) -> None:
    """Keras's TF moments without ``tf.nn.moments``' ``stop_gradient`` on the mean.

    That ``stop_gradient`` keeps the gradient exact but drops second-derivative
    terms, so TensorFlow's own Jacobian of the gradient would be a wrong
    reference for batch statistics (the probe itself uses exact moments).
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as tf_nn

    def exact(x, axes, keepdims):
        mean = tf.reduce_mean(x, axes, keepdims=True)
        variance = tf.reduce_mean(tf.square(x - mean), axes, keepdims=keepdims)
        return (mean if keepdims else tf.squeeze(mean, axes)), variance

    patch.setattr(tf_nn, "_compute_moments", exact)


@pytest.mark.slow
@pytest.mark.parametrize("bn_mode", BN_MODES)
def test_dense_hessian_matches_the_backend_autodiff_hessian(bn_mode, monkeypatch):
    # Slow: the backend's Hessian costs one reverse pass per parameter on torch
    # and a large Jacobian graph on TensorFlow.
    probe, hessian = _dense(1, bn_mode)
    model, x, y = _model(1)
    variables = model.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(s)) for s in shapes]
    flat0 = np.concatenate([np.asarray(v.numpy()).ravel() for v in variables]).astype("float32")
    ntv = [v.value for v in model.non_trainable_variables]
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)

    def loss_of(flat, split):
        params = [keras.ops.reshape(p, s) for p, s in zip(split(flat), shapes, strict=True)]
        out, _ = model.stateless_call(params, ntv, xt, training=bn_mode == "batch")
        return CE(yt, out)

    with monkeypatch.context() as patch:
        if BACKEND == "tensorflow" and bn_mode == "batch":
            _tensorflow_moments_differentiated_through_the_mean(patch)
        expected = backend_hessian(loss_of, flat0, sizes)
    expected = 0.5 * (expected + expected.T)
    assert rel_err(hessian, expected) <= 1e-4
    assert np.linalg.eigvalsh(hessian)[-1] == pytest.approx(
        np.linalg.eigvalsh(expected)[-1], rel=1e-4
    )
