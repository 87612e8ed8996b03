"""kerasnotes.losses: parity with keras.losses and with float64 F8/F9, stability, errors, saving."""

from __future__ import annotations

import itertools
import warnings

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras import ops

from kerasnotes import activations, losses

BACKEND = keras.backend.backend()
EPS = 1e-7  # keras.backend.epsilon(), the probability clip
CLASSES = [
    (losses.BinaryCrossentropy, keras.losses.BinaryCrossentropy),
    (losses.CategoricalCrossentropy, keras.losses.CategoricalCrossentropy),
    (losses.SparseCategoricalCrossentropy, keras.losses.SparseCategoricalCrossentropy),
]
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None]


def to_np(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def value_and_grad(fn, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loss value and d loss / d x on the active backend (tests may use it directly)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = fn(v)
        return to_np(y), to_np(tape.gradient(y, v))
    if BACKEND == "jax":
        import jax

        y, g = jax.value_and_grad(lambda v: fn(v))(jax.numpy.asarray(x))
        return to_np(y), to_np(g)
    import torch

    v = torch.tensor(x, requires_grad=True)
    y = fn(v)
    y.backward()
    return to_np(y.detach()), to_np(v.grad)


def random_case(kind: str, from_logits: bool, rng: np.random.Generator, shape=(24, 5)):
    logits = (rng.normal(size=shape) * 3.0).astype("float32")
    if kind == "binary":
        y_true = (rng.random(shape) < 0.5).astype("float32")
        y_pred = logits if from_logits else (1.0 / (1.0 + np.exp(-logits))).astype("float32")
        return y_true, y_pred
    e = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (e / e.sum(-1, keepdims=True)).astype("float32")
    ids = rng.integers(0, shape[-1], size=shape[:-1])
    y_pred = logits if from_logits else probs
    if kind == "categorical":
        return np.eye(shape[-1], dtype="float32")[ids], y_pred
    return ids.astype("int32"), y_pred


KINDS = {
    losses.BinaryCrossentropy: "binary",
    losses.CategoricalCrossentropy: "categorical",
    losses.SparseCategoricalCrossentropy: "sparse",
}


# ------------------------------------------------------------------ parity with Keras


@pytest.mark.parametrize("ours_cls,keras_cls", CLASSES)
@pytest.mark.parametrize("from_logits", [False, True])
def test_class_matches_keras(ours_cls, keras_cls, from_logits):
    rng = np.random.default_rng(7)
    y_true, y_pred = random_case(KINDS[ours_cls], from_logits, rng)
    weights = rng.random(len(y_true)).astype("float32")
    extra = {} if ours_cls is losses.SparseCategoricalCrossentropy else {"label_smoothing": 0.1}
    for reduction, sw in itertools.product(REDUCTIONS, (None, weights)):
        ours = ours_cls(from_logits=from_logits, reduction=reduction, **extra)
        theirs = keras_cls(from_logits=from_logits, reduction=reduction, **extra)
        a = to_np(ours(y_true, y_pred, sample_weight=sw))
        b = to_np(theirs(y_true, y_pred, sample_weight=sw))
        # float32 rounding of −log ŷ for ŷ ≈ 1 is ~1e-7 absolute: the relative
        # bound is 1e-6 everywhere the loss is not itself ~1e-2 or below.
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
def test_ignore_class_matches_keras(from_logits, reduction):
    rng = np.random.default_rng(3)
    y_true, y_pred = random_case("sparse", from_logits, rng, shape=(6, 7, 4))
    y_true[0, :3] = -1
    y_true[2, 5] = -1
    weights = rng.random((6, 7)).astype("float32")
    kw = {"from_logits": from_logits, "ignore_class": -1, "reduction": reduction}
    for sw in (None, weights):
        a = to_np(losses.SparseCategoricalCrossentropy(**kw)(y_true, y_pred, sample_weight=sw))
        b = to_np(
            keras.losses.SparseCategoricalCrossentropy(**kw)(y_true, y_pred, sample_weight=sw)
        )
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("axis", [1, -1])
def test_functions_match_keras_on_rank3(axis):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(4, 3, 6)).astype("float32") * 2
    ids = rng.integers(0, logits.shape[axis], size=(4, 6) if axis == 1 else (4, 3))
    one_hot = np.moveaxis(np.eye(logits.shape[axis], dtype="float32")[ids], -1, axis)
    binary = (rng.random(logits.shape) < 0.3).astype("float32")
    pairs = [
        (losses.categorical_crossentropy, keras.losses.categorical_crossentropy, one_hot),
        (losses.binary_crossentropy, keras.losses.binary_crossentropy, binary),
    ]
    for ours, theirs, labels in pairs:
        for from_logits in (False, True):
            y_pred = logits if from_logits else np.asarray(ops.softmax(logits, axis=axis))
            np.testing.assert_allclose(
                to_np(ours(labels, y_pred, from_logits=from_logits, axis=axis)),
                to_np(theirs(labels, y_pred, from_logits=from_logits, axis=axis)),
                rtol=1e-6,
                atol=1e-7,
            )
    if axis == -1:  # Keras's TensorFlow sparse loss only supports the last axis
        np.testing.assert_allclose(
            to_np(losses.sparse_categorical_crossentropy(ids, logits, from_logits=True)),
            to_np(keras.losses.sparse_categorical_crossentropy(ids, logits, from_logits=True)),
            rtol=1e-6,
            atol=1e-7,
        )


@pytest.mark.parametrize("axis", [2, 5, -3])
def test_sparse_out_of_range_axis_is_refused(axis):
    # axis=2 on a rank-2 y_pred used to wrap to axis 0 and return a number.
    ids = np.array([0, 1, 2])
    logits = np.random.default_rng(0).normal(size=(3, 3)).astype("float32")
    with pytest.raises(ValueError, match=rf"Received: axis={axis}"):
        losses.sparse_categorical_crossentropy(ids, logits, from_logits=True, axis=axis)
    with pytest.raises(ValueError, match=rf"Received: axis={axis}"):
        losses.SparseCategoricalCrossentropy(from_logits=True, axis=axis)(ids, logits)
    # The in-range negative spelling of the same axis is still accepted.
    np.testing.assert_allclose(
        to_np(losses.sparse_categorical_crossentropy(ids, logits, from_logits=True, axis=-2)),
        to_np(losses.sparse_categorical_crossentropy(ids, logits.T, from_logits=True)),
        rtol=1e-6,
    )


def test_sparse_class_axis_1_equals_moved_axis():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(3, 4, 5)).astype("float32")
    ids = rng.integers(0, 4, size=(3, 5))
    a = to_np(losses.sparse_categorical_crossentropy(ids, logits, from_logits=True, axis=1))
    b = to_np(
        losses.sparse_categorical_crossentropy(ids, np.moveaxis(logits, 1, -1), from_logits=True)
    )
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_label_shape_alignment_matches_keras():
    # (N,) labels with (N, 1) predictions, and (N, 1) sparse labels: Keras aligns the ranks.
    rng = np.random.default_rng(2)
    y = (rng.random(10) < 0.5).astype("float32")
    p = rng.random((10, 1)).astype("float32")
    np.testing.assert_allclose(
        to_np(losses.BinaryCrossentropy()(y, p)),
        to_np(keras.losses.BinaryCrossentropy()(y, p)),
        rtol=1e-6,
    )
    ids = rng.integers(0, 3, size=(10, 1))
    probs = rng.random((10, 3)).astype("float32")
    np.testing.assert_allclose(
        to_np(losses.SparseCategoricalCrossentropy()(ids, probs)),
        to_np(keras.losses.SparseCategoricalCrossentropy()(ids, probs)),
        rtol=1e-6,
    )


def test_masked_predictions_reduce_like_keras():
    # A Masking layer marks padded time steps; Loss.__call__ must average over the rest.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    x[:, 3:] = 0.0
    x[0] = 0.0
    y = rng.integers(0, 4, size=(8, 5))
    inputs = keras.Input((5, 3))
    outputs = keras.layers.Dense(4)(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, outputs)
    results = []
    for loss in (
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        losses.SparseCategoricalCrossentropy(from_logits=True),
    ):
        model.compile(loss=loss)
        results.append(model.evaluate(x, y, batch_size=8, verbose=0))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    # And the masked value really differs from the unmasked mean.
    logits = to_np(model(x))
    unmasked = to_np(losses.sparse_categorical_crossentropy(y, logits, from_logits=True)).mean()
    assert abs(unmasked - results[1]) > 1e-3


@pytest.mark.parametrize("ours_cls,keras_cls", CLASSES)
def test_fit_matches_keras(ours_cls, keras_cls):
    # Softmax/sigmoid outputs: on TensorFlow both losses use the attached logits.
    rng = np.random.default_rng(0)
    kind = KINDS[ours_cls]
    x = rng.normal(size=(64, 6)).astype("float32")
    ids = rng.integers(0, 3, size=64)
    if kind == "binary":
        y, units, act = (ids == 0).astype("float32")[:, None], 1, "sigmoid"
    elif kind == "categorical":
        y, units, act = np.eye(3, dtype="float32")[ids], 3, "softmax"
    else:
        y, units, act = ids, 3, "softmax"
    weights = []
    for loss in (keras_cls(), ours_cls()):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(units)]
        )
        model.add(keras.layers.Activation(act))
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
        history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        weights.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(weights[1][0], weights[0][0], rtol=1e-5)
    for a, b in zip(weights[1][1], weights[0][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ float64 reference of F8/F9


def test_matches_float64_formulas():
    rng = np.random.default_rng(9)
    z = rng.normal(size=(20, 4)) * 4
    y_bin = (rng.random((20, 4)) < 0.5).astype(np.float64)
    ids = rng.integers(0, 4, size=20)
    y_cat = np.eye(4)[ids]
    sig = 1.0 / (1.0 + np.exp(-z))
    soft = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    f8 = -(y_bin * np.log(sig) + (1 - y_bin) * np.log(1 - sig)).mean(-1)
    f9 = -(y_cat * np.log(soft)).sum(-1)
    z32 = z.astype("float32")
    np.testing.assert_allclose(
        to_np(losses.binary_crossentropy(y_bin, z32, from_logits=True)), f8, rtol=2e-6
    )
    # From probabilities: the same formula on the float32 probabilities it is given.
    sig32 = sig.astype("float32")
    s64 = np.clip(sig32.astype(np.float64), EPS, 1 - EPS)
    f8p = -(y_bin * np.log(s64) + (1 - y_bin) * np.log(1 - s64)).mean(-1)
    np.testing.assert_allclose(to_np(losses.binary_crossentropy(y_bin, sig32)), f8p, rtol=2e-6)
    np.testing.assert_allclose(
        to_np(losses.categorical_crossentropy(y_cat, z32, from_logits=True)),
        f9,
        rtol=2e-6,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        to_np(losses.sparse_categorical_crossentropy(ids, z32, from_logits=True)),
        f9,
        rtol=2e-6,
        atol=1e-6,
    )
    # The mean over the batch (reduction "sum_over_batch_size") is F8's/F9's 1/N Σ.
    np.testing.assert_allclose(
        float(to_np(losses.CategoricalCrossentropy(from_logits=True)(y_cat, z32))),
        f9.mean(),
        rtol=2e-6,
    )
    # Label smoothing s: y ← y(1 − s) + s/C (categorical), y(1 − s) + s/2 (binary).
    s = 0.2
    f9s = -((y_cat * (1 - s) + s / 4) * np.log(soft)).sum(-1)
    np.testing.assert_allclose(
        to_np(losses.categorical_crossentropy(y_cat, z32, from_logits=True, label_smoothing=s)),
        f9s,
        rtol=2e-6,
    )
    yb = y_bin * (1 - s) + s / 2
    f8s = -(yb * np.log(sig) + (1 - yb) * np.log(1 - sig)).mean(-1)
    np.testing.assert_allclose(
        to_np(losses.binary_crossentropy(y_bin, z32, from_logits=True, label_smoothing=s)),
        f8s,
        rtol=2e-6,
    )


def test_probabilities_are_clipped_like_keras():
    # ŷ = 0 for the true class costs −log ε, not inf.
    loss = to_np(losses.categorical_crossentropy([[1.0, 0.0]], [[0.0, 1.0]]))
    np.testing.assert_allclose(loss, [-np.log(np.float32(EPS))], rtol=1e-5)
    loss = to_np(losses.binary_crossentropy([[1.0]], [[0.0]]))
    np.testing.assert_allclose(loss, [-np.log(np.float32(EPS))], rtol=1e-5)


# ------------------------------------------------------------------------- stability

big_logits = st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=5, max_size=5).map(
    lambda v: np.array(v, dtype="float32")
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(z=big_logits, data=st.data())
def test_logit_losses_and_gradients_are_finite(z, data):
    target = data.draw(st.integers(0, len(z) - 1))
    one_hot = np.eye(len(z), dtype="float32")[target][None]
    binary = np.array([data.draw(st.sampled_from([0.0, 1.0])) for _ in z], "float32")[None]
    cases = [
        lambda v: ops.sum(losses.categorical_crossentropy(one_hot, v[None], from_logits=True)),
        lambda v: ops.sum(
            losses.sparse_categorical_crossentropy(np.array([target]), v[None], from_logits=True)
        ),
        lambda v: ops.sum(losses.binary_crossentropy(binary, v[None], from_logits=True)),
    ]
    for fn in cases:
        value, grad = value_and_grad(fn, z)
        assert np.isfinite(value) and value >= 0
        assert np.all(np.isfinite(grad))
    # The categorical gradient is softmax(z) − y: each entry in [−1, 1], summing to 0.
    _, grad = value_and_grad(cases[0], z)
    assert np.all(np.abs(grad) <= 1 + 1e-6) and abs(grad.sum()) < 1e-5


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    p=st.lists(st.sampled_from([0.0, 1.0, 0.5, 1e-9, 1 - 1e-9]), min_size=4, max_size=4).map(
        lambda v: np.array(v, "float32")
    ),
    data=st.data(),
)
def test_probability_losses_finite_at_zero_and_one(p, data):
    binary = np.array([data.draw(st.sampled_from([0.0, 1.0])) for _ in p], "float32")[None]
    value, grad = value_and_grad(lambda v: ops.sum(losses.binary_crossentropy(binary, v[None])), p)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value <= -np.log(EPS) + 1e-3
    if p.sum() > 0:  # a distribution needs some mass to be renormalised
        target = data.draw(st.integers(0, len(p) - 1))
        one_hot = np.eye(len(p), dtype="float32")[target][None]
        value, grad = value_and_grad(
            lambda v: ops.sum(losses.categorical_crossentropy(one_hot, v[None])), p
        )
        assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_binary_keeps_the_small_loss_of_a_confident_hard_label():
    # ℓ = log(1 + e^{−|z|}) ≈ 9.4e-14 for a right label at |z| = 30, for y = 1 and
    # y = 0 alike: no cancellation of the large terms on any backend.
    z = np.array([[30.0, -30.0, 15.0, -15.0]], "float32")
    y = np.array([[1.0, 0.0, 1.0, 0.0]], "float32")
    expected = np.log1p(np.exp(-np.abs(z.astype(np.float64))))
    per_element = to_np(losses.binary_crossentropy(y[..., None], z[..., None], from_logits=True))
    np.testing.assert_allclose(per_element, expected, rtol=1e-5)


@pytest.mark.parametrize("y", [0.0, 1.0, 0.3])
def test_binary_gradient_at_zero_logit_is_sigmoid_minus_label(y):
    # d/dz [softplus(z) − z·y] = σ(z) − y; at z = 0 this is 0.5 − y (no subgradient slip).
    _, grad = value_and_grad(
        lambda v: ops.sum(
            losses.binary_crossentropy(np.array([y], "float32"), v, from_logits=True)
        ),
        np.array([0.0], "float32"),
    )
    np.testing.assert_allclose(grad, [0.5 - y], rtol=1e-6)


@pytest.mark.skipif(BACKEND == "jax", reason="JAX arrays cannot carry the cached logits")
def test_softmax_output_uses_attached_logits():
    # Saturated softmax: the probabilities round to 0, the logits still give the exact loss.
    logits = np.array([[60.0, 0.0, -60.0]], "float32")
    probs = activations.softmax(logits)
    loss = to_np(losses.categorical_crossentropy([[0.0, 0.0, 1.0]], probs))
    np.testing.assert_allclose(loss, [120.0], rtol=1e-5)
    with pytest.warns(UserWarning, match="from_logits=True"):
        loss = losses.sparse_categorical_crossentropy([2], probs, from_logits=True)
    np.testing.assert_allclose(to_np(loss), [120.0], rtol=1e-5)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: losses.binary_crossentropy(np.zeros((4, 3)), np.zeros((4, 2))),
            r"\(4, 3\).*\(4, 2\)",
        ),
        (
            lambda: losses.categorical_crossentropy(np.zeros(4), np.full((4, 3), 1 / 3)),
            "SparseCategoricalCrossentropy",
        ),
        (
            lambda: losses.sparse_categorical_crossentropy(np.eye(3), np.full((3, 3), 1 / 3)),
            "CategoricalCrossentropy",
        ),
        (
            lambda: losses.sparse_categorical_crossentropy(np.zeros(5), np.full((4, 3), 1 / 3)),
            r"\(5,\).*\(4, 3\)",
        ),
    ],
)
def test_wrong_shapes_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_wrong_label_values_raise():
    p = np.full((3, 2), 0.5, "float32")
    with pytest.raises(ValueError, match=r"\[0, 1\].*from -1.0 to 2.0"):
        losses.BinaryCrossentropy()(np.array([[0, 1], [2, 0], [-1, 1]]), p)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        losses.CategoricalCrossentropy()(np.array([[2.0, -1.0]] * 3), p)
    with pytest.raises(ValueError, match=r"0\.\.1.*\[2.0\]"):
        losses.SparseCategoricalCrossentropy()(np.array([0, 2, 1]), p)
    with pytest.raises(ValueError, match=r"\[-3.0\]"):
        losses.sparse_categorical_crossentropy(np.array([0, -3, 1]), p)
    # ignore_class values are allowed even outside [0, C).
    losses.SparseCategoricalCrossentropy(ignore_class=255)(np.array([0, 255, 1]), p)


def test_label_values_checked_in_eager_fit():
    x = np.zeros((8, 2), "float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="class ids"):
        model.fit(x, np.full(8, 7), verbose=0)
    if BACKEND == "jax":
        # Keras's JAX trainer detaches the variables' values for the duration of
        # fit and cannot reattach them when the first step raises (any error,
        # not only ours), so there is nothing left to compare on this backend.
        return
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)  # nothing was half-updated


@pytest.mark.backend_independent
def test_bad_arguments_fail_at_construction():
    with pytest.raises(TypeError, match="from_logits"):
        losses.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match="axis"):
        losses.CategoricalCrossentropy(axis=1.0)
    with pytest.raises(TypeError, match="ignore_class"):
        losses.SparseCategoricalCrossentropy(ignore_class="void")
    with pytest.raises(ValueError, match="reduction"):
        losses.BinaryCrossentropy(reduction="average")


def test_single_class_categorical_warns_like_keras():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses.categorical_crossentropy(np.ones((2, 1)), np.ones((2, 1)))
    assert any(issubclass(w.category, SyntaxWarning) for w in caught)


# ------------------------------------------------------------------- serialization


@pytest.mark.backend_independent
def test_signatures_and_defaults_match_keras():
    import inspect

    for ours_cls, keras_cls in CLASSES:
        a = inspect.signature(ours_cls.__init__).parameters
        b = inspect.signature(keras_cls.__init__).parameters
        assert list(a) == list(b)
        assert all(a[k].default == b[k].default for k in a if k != "self")
    for name in (
        "binary_crossentropy",
        "categorical_crossentropy",
        "sparse_categorical_crossentropy",
    ):
        a = inspect.signature(getattr(losses, name)).parameters
        b = inspect.signature(getattr(keras.losses, name)).parameters
        assert [(k, v.default) for k, v in a.items()] == [(k, v.default) for k, v in b.items()]


@pytest.mark.parametrize("ours_cls,keras_cls", CLASSES)
def test_config_round_trip(ours_cls, keras_cls):
    kw = {"from_logits": True, "reduction": "sum", "name": "mine", "axis": 1}
    kw.update(
        {"ignore_class": 0}
        if ours_cls is losses.SparseCategoricalCrossentropy
        else {"label_smoothing": 0.25}
    )
    loss = ours_cls(**kw)
    config = loss.get_config()
    assert {k: config[k] for k in kw} == kw
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is ours_cls and clone.get_config() == config


def test_keras_file_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.integers(0, 3, size=16)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2))
    before = model.evaluate(x, y, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, losses.SparseCategoricalCrossentropy)
    assert loaded.loss.ignore_class == 2 and loaded.loss.from_logits
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), before, rtol=1e-6)
