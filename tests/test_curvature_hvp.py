"""HessianProbe's Hessian-vector products against independent references.

References: the backend's own Jacobian of the gradient (computed here, not by
kerasnotes), a float64 numpy model with an analytic gradient, and closed forms.
"""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest
from _autodiff import backend_hessian

import kerasnotes as kn
from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.flat import to_flat
from kerasnotes.curvature.probe import GradientNorm, gradient_norm

BACKEND = keras.backend.backend()
rng = np.random.default_rng


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def reference_hessian(model, x, y, loss_fn, training: bool) -> np.ndarray:
    """d²loss/dθ² with the backend's own autodiff, float32, on a flat parameter vector."""
    shapes = [tuple(v.shape) for v in model.trainable_variables]
    sizes = [int(np.prod(s)) for s in shapes]
    flat0 = to_flat(model.trainable_variables).astype("float32")
    ntv = [v.value for v in model.non_trainable_variables]
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)

    def loss_of(flat, split):
        params = [keras.ops.reshape(p, s) for p, s in zip(split(flat), shapes, strict=True)]
        out, _ = model.stateless_call(params, ntv, xt, training=training)
        return loss_fn(yt, out)

    return backend_hessian(loss_of, flat0, sizes)


def conv_bn_models():
    """A Conv2D + BN + Dropout model and the same layers without the Dropout."""
    conv = keras.layers.Conv2D(2, 3, activation="tanh")
    bn = keras.layers.BatchNormalization()
    flatten, dense = keras.layers.Flatten(), keras.layers.Dense(3)
    inputs = keras.Input((4, 4, 1))
    model = keras.Sequential([inputs, conv, bn, keras.layers.Dropout(0.5), flatten, dense])
    reference = keras.Sequential([inputs, conv, bn, flatten, dense])
    x = rng(0).normal(size=(24, 4, 4, 1)).astype("float32")
    y = rng(1).integers(0, 3, 24)
    model.predict(x, verbose=0)
    # Give BN non-trivial moving statistics so inference and batch mode differ.
    bn.moving_mean.assign(np.array([0.3, -0.2], "float32"))
    bn.moving_variance.assign(np.array([0.5, 2.0], "float32"))
    return model, reference, x, y


CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_mlp_softmax_cross_entropy_matches_backend_jacobian():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3)]
    )
    x = rng(0).normal(size=(40, 4)).astype("float32")
    y = rng(1).integers(0, 3, 40)
    probe = HessianProbe(model, x, y, loss=CE)
    expected = reference_hessian(model, x, y, CE, training=False)
    assert rel_err(probe.dense_hessian(), expected) <= 1e-5
    v = rng(2).normal(size=probe.num_parameters)
    assert rel_err(probe.hvp(v), expected @ v) <= 1e-5


def _tensorflow_moments_differentiated_through_the_mean(monkeypatch) -> None:
    """Keras's TF moments without ``tf.nn.moments``'s ``stop_gradient`` on the mean.

    That ``stop_gradient`` keeps the gradient exact but drops terms of the
    second derivative, so TensorFlow's own Jacobian of the gradient would be
    a wrong reference for batch statistics.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import nn as tf_nn

    def exact(x, axes, keepdims):
        mean = tf.reduce_mean(x, axes, keepdims=True)
        variance = tf.reduce_mean(tf.square(x - mean), axes, keepdims=keepdims)
        return (mean if keepdims else tf.squeeze(mean, axes)), variance

    monkeypatch.setattr(tf_nn, "_compute_moments", exact)


@pytest.mark.parametrize("bn_mode", ["inference", "batch"])
def test_conv_batchnorm_matches_backend_jacobian(bn_mode, monkeypatch):
    model, reference, x, y = conv_bn_models()
    probe = HessianProbe(model, x, y, loss=CE, bn_mode=bn_mode)
    # Independent route: the Dropout-free twin called in training mode (batch
    # statistics) or inference mode (moving statistics).
    with monkeypatch.context() as patch:
        if BACKEND == "tensorflow" and bn_mode == "batch":
            _tensorflow_moments_differentiated_through_the_mean(patch)
        expected = reference_hessian(reference, x, y, CE, training=bn_mode == "batch")
    v = rng(3).normal(size=probe.num_parameters)
    assert rel_err(probe.hvp(v), expected @ v) <= 1e-5
    assert probe.hvp(v).tobytes() == probe.hvp(v).tobytes()  # deterministic


def test_micro_batches_and_sample_weights_give_the_full_data_objective():
    model, _, x, y = conv_bn_models()
    weights = rng(4).uniform(0.1, 2.0, size=len(x))
    whole = HessianProbe(model, x, y, loss=CE, sample_weight=weights)
    split = HessianProbe(model, x, y, loss=CE, sample_weight=weights, batch_size=7)
    expected_loss = float(
        keras.ops.convert_to_numpy(CE(y, model.predict(x, verbose=0), sample_weight=weights))
    )
    assert whole.loss() == pytest.approx(expected_loss, rel=1e-5)
    assert split.loss() == pytest.approx(expected_loss, rel=1e-5)
    assert rel_err(split.gradient(), whole.gradient()) <= 1e-5
    v = rng(5).normal(size=whole.num_parameters)
    assert rel_err(split.hvp(v), whole.hvp(v)) <= 1e-5


def test_compiled_loss_and_regularizer_are_included():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.1), use_bias=False),
        ]
    )
    model.compile(loss="mse")
    x = rng(0).normal(size=(10, 4)).astype("float32")
    y = rng(1).normal(size=(10, 3)).astype("float32")
    probe = HessianProbe(model, x, y, batch_size=4)
    w = model.get_weights()[0].astype(np.float64)
    resid = x @ w - y
    assert probe.loss() == pytest.approx(np.mean(resid**2) + 0.1 * np.sum(w**2), rel=1e-5)
    # H of mean((xW − y)²) + 0.1‖W‖²: per output column, 2XᵀX/(N·3) + 0.2 I
    block = 2 * x.T.astype(np.float64) @ x / (10 * 3)
    expected = np.kron(block, np.eye(3)) + 0.2 * np.eye(12)
    assert rel_err(probe.dense_hessian(), expected) <= 1e-5


def breast_cancer_logistic(seed: int = 0):
    """Logistic regression on breast cancer with labels of shape (N,), one output column."""
    (x, y), _ = kn.datasets.load_breast_cancer()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1, activation="sigmoid")])
    return model, x, y.astype("float32")


@pytest.mark.parametrize(
    "loss",
    [
        "binary_crossentropy",
        "mse",
        "crossentropy",
        keras.losses.binary_crossentropy,
        keras.losses.BinaryCrossentropy(),
        kn.losses.BinaryCrossentropy(),
    ],
    ids=["bce-name", "mse-name", "crossentropy-name", "bce-function", "keras-bce", "kn-bce"],
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_flat_labels_against_one_output_column_give_the_loss_of_evaluate(loss, weighted):
    # compile squeezes or expands y_true (N,) against y_pred (N, 1): the probe must too.
    model, x, y = breast_cancer_logistic()
    assert y.shape == (len(x),) and model.output_shape == (None, 1)
    weights = rng(6).uniform(0.2, 3.0, len(x)).astype("float32") if weighted else None
    model.compile(keras.optimizers.SGD(0.1), loss)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)  # away from the initial weights
    expected = model.evaluate(x, y, sample_weight=weights, batch_size=len(x), verbose=0)
    compiled = HessianProbe(model, x, y, sample_weight=weights)
    explicit = HessianProbe(model, x, y, loss=loss, sample_weight=weights, batch_size=100)
    assert compiled.loss() == pytest.approx(expected, rel=1e-6)
    assert explicit.loss() == pytest.approx(expected, rel=1e-5)
    # the same rank rule in the gradient: the column labels give the same numbers
    column = HessianProbe(model, x, y[:, None], sample_weight=weights)
    assert rel_err(compiled.gradient(), column.gradient()) <= 1e-6


def test_gradient_norm_gate_equals_the_probe_and_follows_the_weights():
    model, x, y = breast_cancer_logistic()
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    gate = GradientNorm(model, x, y)
    split = GradientNorm(model, x, y, batch_size=100)
    for _ in range(2):
        probe = HessianProbe(model, x, y)
        loss, norm = gate()
        assert loss == probe.loss()
        assert norm == gradient_norm(probe.gradient())  # the same number, bit for bit
        assert norm == pytest.approx(float(np.linalg.norm(probe.gradient())), rel=1e-12)
        assert split() == pytest.approx((loss, norm), rel=1e-5)
        assert gate._engine is probe._engine  # one compiled gradient for both
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)  # the gate reads the new weights
    assert gate()[1] != norm
    with pytest.raises(ValueError, match="`y` must have as many samples as x"):
        GradientNorm(model, x, y[:3])


def test_linear_regression_hessian_is_two_xtx_over_n():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    x = rng(0).normal(size=(50, 3)).astype("float32")
    y = rng(1).normal(size=(50, 1)).astype("float32")
    probe = HessianProbe(model, x, y, loss=keras.losses.MeanSquaredError())
    xa = np.hstack([x, np.ones((50, 1))]).astype(np.float64)  # kernel rows, then the bias
    assert rel_err(probe.dense_hessian(), 2 * xa.T @ xa / 50) <= 1e-5


# --- a float64 numpy reference shared by all three backends -------------------
def numpy_mlp(params: np.ndarray, x: np.ndarray, labels: np.ndarray):
    """Loss and analytic gradient of a 3-4-3 tanh MLP with softmax cross-entropy."""
    w1, b1 = params[:12].reshape(3, 4), params[12:16]
    w2, b2 = params[16:28].reshape(4, 3), params[28:31]
    h = np.tanh(x @ w1 + b1)
    z = h @ w2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = len(x)
    loss = -np.mean(np.log(p[np.arange(n), labels]))
    dz = p.copy()
    dz[np.arange(n), labels] -= 1
    dz /= n
    da = (dz @ w2.T) * (1 - h**2)
    grad = np.concatenate([(x.T @ da).ravel(), da.sum(0), (h.T @ dz).ravel(), dz.sum(0)])
    return loss, grad


def numpy_hessian(params, x, labels, eps=1e-5):
    columns = []
    for j in range(len(params)):
        e = np.zeros_like(params)
        e[j] = eps
        columns.append(
            (numpy_mlp(params + e, x, labels)[1] - numpy_mlp(params - e, x, labels)[1]) / (2 * eps)
        )
    h = np.array(columns).T
    return 0.5 * (h + h.T)


def test_all_backends_agree_with_one_float64_numpy_reference():
    params = np.round(rng(7).normal(scale=0.8, size=31), 3).astype(np.float32)
    x = np.round(rng(8).normal(size=(16, 3)), 3).astype(np.float32)
    labels = np.arange(16) % 3
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3)]
    )
    model.set_weights(
        [params[:12].reshape(3, 4), params[12:16], params[16:28].reshape(4, 3), params[28:31]]
    )
    probe = HessianProbe(model, x, labels, loss=CE)
    p64, x64 = params.astype(np.float64), x.astype(np.float64)
    loss, grad = numpy_mlp(p64, x64, labels)
    assert probe.loss() == pytest.approx(loss, rel=1e-6)
    assert rel_err(probe.gradient(), grad) <= 1e-5
    assert rel_err(probe.dense_hessian(), numpy_hessian(p64, x64, labels)) <= 1e-5


# --- safety and errors --------------------------------------------------------
def all_state(model: keras.Model) -> list[np.ndarray]:
    values = [np.array(v.numpy()) for v in model.variables]
    return values + [np.array(v.numpy()) for v in model.optimizer.variables]


def test_probing_never_changes_model_or_optimizer_state():
    model, _, x, y = conv_bn_models()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=CE)
    model.fit(x, y, epochs=1, batch_size=12, verbose=0)
    before = all_state(model)
    for bn_mode in ("batch", "inference"):
        probe = HessianProbe(model, x, y, bn_mode=bn_mode, batch_size=12)
        probe.gradient()
        probe.eigenvalues(k=1, which="both", max_iter=4)
        probe.hvp(np.ones(probe.num_parameters))
    after = all_state(model)
    assert len(before) == len(after)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_probe_keeps_a_copy_of_the_weights():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights([np.array([[2.0]], "float32")])
    probe = HessianProbe(model, np.ones((4, 1)), np.zeros((4, 1)), loss="mse")
    model.trainable_variables[0].assign(np.array([[5.0]], "float32"))
    np.testing.assert_allclose(probe.gradient(), [4.0])


def test_repeated_probes_share_compiled_functions_without_keeping_the_model_alive():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    x, y = np.ones((3, 2), "float32"), np.zeros((3, 2), "float32")
    loss = keras.losses.MeanSquaredError()
    first, second = HessianProbe(model, x, y, loss=loss), HessianProbe(model, x, y, loss=loss)
    assert first._engine is second._engine
    assert HessianProbe(model, x, y, loss=loss, bn_mode="batch")._engine is not first._engine
    first.hvp(np.ones(6))
    ref = weakref.ref(model)
    del model, first, second
    gc.collect()
    assert ref() is None


def test_bad_input_is_rejected_with_the_argument_named():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    with pytest.raises(ValueError, match="`y` must have as many samples as x"):
        HessianProbe(model, x, y[:3], loss="mse")
    with pytest.raises(ValueError, match="empty"):
        HessianProbe(model, x[:0], y[:0], loss="mse")
    with pytest.raises(ValueError, match="not built"):
        HessianProbe(keras.Sequential([keras.layers.Dense(1)]), x, y, loss="mse")
    frozen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    frozen.trainable = False
    with pytest.raises(ValueError, match="no trainable weights"):
        HessianProbe(frozen, x, y, loss="mse")
    with pytest.raises(ValueError, match="no compiled loss"):
        HessianProbe(model, x, y)
    with pytest.raises(TypeError, match="`model` must be a keras.Model"):
        HessianProbe("model", x, y, loss="mse")
    with pytest.raises(ValueError, match="bn_mode"):
        HessianProbe(model, x, y, loss="mse", bn_mode="train")
    with pytest.raises(ValueError, match="batch_size"):
        HessianProbe(model, x, y, loss="mse", batch_size=0)
    with pytest.raises(ValueError, match="sample_weight"):
        HessianProbe(model, x, y, loss="mse", sample_weight=np.ones(3))
    # A scalar x keeps its own message (a ValueError, not the generic TypeError of _as_numpy_tree).
    with pytest.raises(ValueError, match=r"^Argument `x` must be arrays with a sample axis"):
        HessianProbe(model, np.float32(1.0), y, loss="mse")
    with pytest.raises(TypeError, match=r"`batch_size` must be None or an integer >= 1"):
        HessianProbe(model, x, y, loss="mse", batch_size=2.0)
    # reduction=None is averaged as evaluate's loss tracker does: the mean of all values.
    unreduced = HessianProbe(model, x, y, loss=keras.losses.MeanSquaredError(reduction=None))
    assert unreduced.loss() == pytest.approx(HessianProbe(model, x, y, loss="mse").loss())
    probe = HessianProbe(model, x, y, loss="mse")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        probe.hvp(np.ones(2))
    with pytest.raises(ValueError, match="k=3 is too large"):
        probe.eigenvalues(k=3)
    with pytest.raises(ValueError, match="which"):
        probe.eigenvalues(which="middle")
    with pytest.raises(ValueError, match="max_parameters=2"):
        probe.dense_hessian(max_parameters=2)


def test_non_finite_loss_is_reported_then_raised_by_the_solvers():
    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dense(1)]
    )
    weights = model.get_weights()
    weights[0][0, 0] = np.nan
    model.set_weights(weights)
    probe = HessianProbe(model, np.ones((4, 2), "float32"), np.zeros((4, 1)), loss="mse")
    assert np.isnan(probe.loss())
    assert np.isnan(probe.hvp(np.ones(probe.num_parameters))).any()
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        probe.eigenvalues(k=1)
    with pytest.raises(FloatingPointError, match="NaN or Inf"):
        probe.eigenvalues(k=2)  # the block path checks its products too
    with pytest.raises(FloatingPointError, match="not finite"):
        probe.analyze()


def test_public_names():
    assert kn.curvature.HessianProbe is HessianProbe
    for name in ("EigenResult", "TraceResult", "Density", "CriticalPoint"):
        assert hasattr(kn.curvature, name)
