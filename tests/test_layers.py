"""kerasnotes.layers: F11/F12 against Keras's layers and float64 references."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
from keras import ops

from kerasnotes import layers

BACKEND = keras.backend.backend()
TWINS = {
    layers.BatchNormalization: keras.layers.BatchNormalization,
    layers.LayerNormalization: keras.layers.LayerNormalization,
    layers.GroupNormalization: keras.layers.GroupNormalization,
}


def to_np(x) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def make_pair(cls, input_shape, rng, **kwargs):
    """Our layer and its Keras twin, built, with the same random γ, β and moving statistics."""
    ours, theirs = cls(**kwargs), TWINS[cls](**kwargs)
    theirs.build(input_shape)
    ours.build(input_shape)
    for w in theirs.weights:
        base = 1.0 if ("variance" in w.name or "stddev" in w.name) else 0.0
        w.assign(base + 0.3 * rng.random(w.shape).astype("float32"))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


CASES = [
    (layers.BatchNormalization, (16, 6), {"momentum": 0.6}),
    (layers.BatchNormalization, (4, 5, 5, 8), {"momentum": 0.6}),
    (layers.BatchNormalization, (4, 8, 5, 5), {"axis": 1, "center": False}),
    (
        layers.BatchNormalization,
        (4, 5, 5, 8),
        {"renorm": True, "renorm_clipping": {"rmax": 1.2, "dmax": 0.3}, "momentum": 0.5},
    ),
    (layers.LayerNormalization, (16, 6), {}),
    (layers.LayerNormalization, (4, 5, 5, 8), {"axis": [1, 3], "scale": False}),
    (layers.GroupNormalization, (16, 6), {"groups": 3}),
    (layers.GroupNormalization, (4, 5, 5, 8), {"groups": 4}),
    (layers.GroupNormalization, (4, 8, 5, 5), {"groups": -1, "axis": 1}),
]


@pytest.mark.parametrize("cls,shape,kwargs", CASES)
def test_calls_match_keras_in_training_and_inference(cls, shape, kwargs):
    rng = np.random.default_rng(0)
    ours, theirs = make_pair(cls, shape, rng, **kwargs)
    for step in range(4):
        x = (rng.normal(size=shape) * 2 + 1).astype("float32")
        training = step != 2
        np.testing.assert_allclose(
            to_np(ours(x, training=training)), to_np(theirs(x, training=training)), atol=1e-5
        )
        for a, b in zip(ours.weights, theirs.weights, strict=True):
            np.testing.assert_allclose(to_np(a), to_np(b), atol=1e-5, err_msg=a.name)


def test_batch_norm_mask_matches_keras():
    rng = np.random.default_rng(1)
    ours, theirs = make_pair(layers.BatchNormalization, (8, 5, 3), rng, momentum=0.5)
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    mask = rng.random((8, 5)) < 0.6
    for training in (True, False):
        np.testing.assert_allclose(
            to_np(ours(x, training=training, mask=mask)),
            to_np(theirs(x, training=training, mask=mask)),
            atol=1e-5,
        )
    # Masked positions really are left out of the statistics.
    kept = x[mask]
    fresh = layers.BatchNormalization(momentum=0.0, epsilon=1e-6)
    fresh(x, training=True, mask=mask)
    np.testing.assert_allclose(to_np(fresh.moving_mean), kept.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_np(fresh.moving_variance), kept.var(0), rtol=1e-4, atol=1e-6)


def test_batch_norm_matches_f11_in_float64():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(32, 4)) * 3 - 2).astype("float32")
    gamma, beta = rng.random(4) + 0.5, rng.normal(size=4)
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-3)
    bn.build(x.shape)
    bn.gamma.assign(gamma.astype("float32"))
    bn.beta.assign(beta.astype("float32"))
    x64 = x.astype(np.float64)
    mu, var = x64.mean(0), x64.var(0)
    expected = gamma * (x64 - mu) / np.sqrt(var + 1e-3) + beta
    np.testing.assert_allclose(to_np(bn(x, training=True)), expected, atol=1e-5)
    np.testing.assert_allclose(to_np(bn.moving_mean), 0.9 * 0 + 0.1 * mu, atol=1e-6)
    np.testing.assert_allclose(to_np(bn.moving_variance), 0.9 * 1 + 0.1 * var, atol=1e-5)
    mm, mv = 0.1 * mu, 0.9 + 0.1 * var
    expected = gamma * (x64 - mm) / np.sqrt(mv + 1e-3) + beta
    np.testing.assert_allclose(to_np(bn(x, training=False)), expected, atol=1e-5)


def test_layer_and_group_norm_match_f12_in_float64():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(3, 4, 4, 6)) * 2 + 5).astype("float32")
    x64 = x.astype(np.float64)
    ln = layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5)
    mu = x64.mean(axis=(1, 2, 3), keepdims=True)
    var = x64.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(to_np(ln(x)), (x64 - mu) / np.sqrt(var + 1e-5), atol=1e-5)
    gn = layers.GroupNormalization(groups=2, epsilon=1e-5)
    grouped = x64.reshape(3, 4, 4, 2, 3)
    mu = grouped.mean(axis=(1, 2, 4), keepdims=True)
    var = grouped.var(axis=(1, 2, 4), keepdims=True)
    expected = ((grouped - mu) / np.sqrt(var + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(to_np(gn(x)), expected, atol=1e-5)
    # groups=-1 is instance normalization: each channel of each sample on its own.
    inst = layers.GroupNormalization(groups=-1, epsilon=1e-5)
    mu = x64.mean(axis=(1, 2), keepdims=True)
    var = x64.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(to_np(inst(x)), (x64 - mu) / np.sqrt(var + 1e-5), atol=1e-5)


def _model(norm, input_shape=(6,)):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Dense(8),
            norm,
            keras.layers.Activation("relu"),
            keras.layers.Dense(3),
        ]
    )


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (layers.BatchNormalization, {"momentum": 0.8}),
        (layers.LayerNormalization, {}),
        (layers.GroupNormalization, {"groups": 2}),
    ],
)
def test_fit_matches_keras_including_moving_statistics(cls, kwargs):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(96, 6)) * 3 + 1).astype("float32")
    y = rng.integers(0, 3, size=96)
    results = []
    for layer_cls in (TWINS[cls], cls):
        keras.utils.set_random_seed(5)
        model = _model(layer_cls(**kwargs))
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        results.append((model.get_weights(), to_np(model.predict(x, verbose=0))))
    (w_keras, p_keras), (w_ours, p_ours) = results
    assert len(w_ours) == len(w_keras)
    for a, b in zip(w_ours, w_keras, strict=True):  # includes moving mean/variance
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(p_ours, p_keras, atol=1e-5)


def test_inference_on_one_sample_equals_full_batch_after_fit():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 3, size=64)
    model = _model(layers.BatchNormalization())
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    full = to_np(model(x, training=False))
    singles = np.concatenate([to_np(model(x[i : i + 1], training=False)) for i in range(8)])
    np.testing.assert_allclose(singles, full[:8], atol=1e-6)
    # In training mode the output depends on the batch (that is what BN does).
    assert not np.allclose(to_np(model(x[:2], training=True)), to_np(model(x, training=True))[:2])


def test_frozen_batch_norm_runs_in_inference_mode_like_keras():
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(32, 6)) * 2 + 3).astype("float32")
    y = rng.integers(0, 3, size=32)
    results = []
    for layer_cls in (keras.layers.BatchNormalization, layers.BatchNormalization):
        keras.utils.set_random_seed(8)
        bn = layer_cls()
        model = _model(bn)
        model(x[:1])
        bn.moving_mean.assign(np.full(8, 0.5, "float32"))
        before = [to_np(w) for w in bn.weights]
        bn.trainable = False
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        for a, b in zip(bn.weights, before, strict=True):
            np.testing.assert_array_equal(to_np(a), b)  # γ, β and moving stats frozen
        assert len(bn.trainable_weights) == 0
        hidden = model.layers[0](x)
        np.testing.assert_allclose(
            to_np(bn(hidden, training=True)), to_np(bn(hidden, training=False))
        )
        results.append(model.get_weights())
    for a, b in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_masked_sequence_model_matches_keras():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(8, 6, 3)).astype("float32")
    x[:, 4:] = 0.0
    y = rng.normal(size=(8, 6, 3)).astype("float32")
    results = []
    for layer_cls in (keras.layers.BatchNormalization, layers.BatchNormalization):
        keras.utils.set_random_seed(10)
        model = keras.Sequential(
            [keras.Input((6, 3)), keras.layers.Masking(0.0), layer_cls(momentum=0.5)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (layers.BatchNormalization, {}),
        (layers.LayerNormalization, {}),
        (layers.GroupNormalization, {"groups": 4}),
    ],
)
def test_mixed_float16_computes_statistics_in_float32(cls, kwargs):
    # Inputs near 300: x² ≈ 9e4 overflows float16 (max 65504), so float16
    # statistics would give inf/NaN. Compare with Keras's mixed-precision layer.
    rng = np.random.default_rng(11)
    x = (300 + 4 * rng.normal(size=(16, 8))).astype("float16")
    policy = keras.DTypePolicy("mixed_float16")
    ours, theirs = cls(dtype=policy, **kwargs), TWINS[cls](dtype=policy, **kwargs)
    out_ours = ours(x, training=True)
    out_theirs = theirs(x, training=True)
    assert keras.backend.standardize_dtype(out_ours.dtype) == "float16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in ours.weights)
    a, b = to_np(out_ours), to_np(out_theirs)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, atol=2e-3)
    x64 = x.astype(np.float64)
    if cls is layers.BatchNormalization:
        mu, var = x64.mean(0), x64.var(0)
        np.testing.assert_allclose(to_np(ours.moving_mean), 0.01 * mu, rtol=1e-5)
        np.testing.assert_allclose(to_np(ours.moving_variance), 0.99 + 0.01 * var, rtol=1e-5)
    elif cls is layers.LayerNormalization:
        mu, var = x64.mean(1, keepdims=True), x64.var(1, keepdims=True)
        np.testing.assert_allclose(a, (x64 - mu) / np.sqrt(var + 1e-3), atol=2e-3)


# ------------------------------------------------------------------ errors, arguments


def test_group_norm_channels_not_divisible_is_a_clear_error():
    with pytest.raises(ValueError, match=r"channels \(6.*groups=4"):
        layers.GroupNormalization(groups=4)(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match="groups=0"):
        layers.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="groups=-2"):
        layers.GroupNormalization(groups=-2)


@pytest.mark.parametrize("epsilon", [float("inf"), float("-inf"), float("nan"), np.float32("inf")])
@pytest.mark.parametrize("name", ["BatchNormalization", "LayerNormalization", "GroupNormalization"])
def test_non_finite_epsilon_is_refused(name, epsilon):
    # ε = inf used to be accepted and turned every output into β.
    kwargs = {"groups": 2} if name == "GroupNormalization" else {}
    with pytest.raises(ValueError, match=r"finite number > 0.*Received: epsilon="):
        getattr(layers, name)(epsilon=epsilon, **kwargs)
    # A finite ε is still accepted and normalizes (the output is not β everywhere).
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    layer = getattr(layers, name)(epsilon=1e-3, **kwargs)
    out = np.asarray(ops.convert_to_numpy(layer(x, training=True)))
    assert np.all(np.isfinite(out)) and np.std(out) > 0.5


@pytest.mark.backend_independent
def test_bad_arguments_fail_at_construction():
    with pytest.raises(ValueError, match="momentum=1.5"):
        layers.BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon=0"):
        layers.LayerNormalization(epsilon=0)
    with pytest.raises(TypeError, match="axis"):
        layers.BatchNormalization(axis=[1, 2])
    with pytest.raises(TypeError, match="axis"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(TypeError, match="center"):
        layers.GroupNormalization(center="yes")
    with pytest.raises(ValueError, match="renorm_clipping"):
        layers.BatchNormalization(renorm=True, renorm_clipping={"rmax": 0.5, "rmin": 2.0})
    with pytest.raises(ValueError, match="rms_scaling"):
        layers.LayerNormalization(rms_scaling=True)


def test_axis_out_of_range_and_bad_mask():
    with pytest.raises(ValueError, match="axis=3"):
        layers.BatchNormalization(axis=3)(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="mask"):
        layers.BatchNormalization()(
            np.zeros((2, 3, 4), "float32"), training=True, mask=np.ones((2, 3, 4), bool)
        )


@pytest.mark.skipif(BACKEND == "tensorflow", reason="synchronized statistics exist on TensorFlow")
def test_synchronized_needs_tensorflow():
    with pytest.raises(ValueError, match="synchronized"):
        layers.BatchNormalization(synchronized=True)


@pytest.mark.backend_independent
def test_signatures_and_defaults_match_keras():
    for ours, theirs in TWINS.items():
        a = inspect.signature(ours.__init__).parameters
        b = inspect.signature(theirs.__init__).parameters
        assert list(a) == list(b), ours.__name__
        assert all(a[k].default == b[k].default for k in a if k not in ("self", "kwargs"))


# --------------------------------------------------------------------- serialization


@pytest.mark.parametrize(
    "layer",
    [
        lambda: layers.BatchNormalization(
            momentum=0.9, epsilon=1e-4, gamma_regularizer="l2", beta_constraint="non_neg"
        ),
        lambda: layers.BatchNormalization(renorm=True, renorm_clipping={"rmax": 2.0}),
        lambda: layers.LayerNormalization(axis=[1, 2], center=False),
        lambda: layers.GroupNormalization(groups=-1, gamma_initializer="random_normal"),
    ],
)
def test_config_and_keras_file_round_trip(layer, tmp_path):
    layer = layer()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, 3, 4)).astype("float32")
    model = keras.Sequential([keras.Input((3, 4)), layer])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[0]) is type(layer)
    assert loaded.layers[0].get_config() == layer.get_config()
    np.testing.assert_allclose(to_np(loaded(x)), to_np(model(x)), atol=1e-6)


def test_keras_config_loads_into_ours():
    # A saved Keras layer's config builds the same layer here (drop-in replacement).
    for cls, kwargs in [
        (layers.BatchNormalization, {"momentum": 0.7}),
        (layers.LayerNormalization, {"axis": -1}),
        (layers.GroupNormalization, {"groups": 2}),
    ]:
        config = TWINS[cls](**kwargs).get_config()
        layer = cls.from_config(config)
        for key, value in kwargs.items():
            assert getattr(layer, key) == value


@pytest.mark.skipif(BACKEND == "jax", reason="JAX has no float64 without jax_enable_x64")
def test_float64_layers_compute_statistics_in_float64():
    # On torch, Keras's mean and layer_normalization of float64 ran in float32
    # (errors ~3e-5 here, where |μ| ≫ σ); the docstring promises float32 only for
    # half precision.
    from kerasnotes.layers._common import statistics_dtype

    assert [statistics_dtype(d) for d in ("float16", "bfloat16", "float32", "float64")] == [
        "float32",
        "float32",
        "float32",
        "float64",
    ]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 4, 6)) * 3 + 1e3
    mu, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    expected_ln = (x - mu) / np.sqrt(var + 1e-5)
    grouped = x.reshape(8, 4, 2, 3)
    mu, var = grouped.mean(axis=(1, 3), keepdims=True), grouped.var(axis=(1, 3), keepdims=True)
    expected_gn = ((grouped - mu) / np.sqrt(var + 1e-5)).reshape(x.shape)
    mu, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
    expected_bn = (x - mu) / np.sqrt(var + 1e-5)
    cases = [
        (layers.LayerNormalization(axis=[1, 2], epsilon=1e-5, dtype="float64"), expected_ln),
        (layers.LayerNormalization(axis=-1, epsilon=1e-5, dtype="float64"), None),
        (layers.GroupNormalization(groups=2, epsilon=1e-5, dtype="float64"), expected_gn),
        (layers.BatchNormalization(epsilon=1e-5, dtype="float64"), expected_bn),
    ]
    mu, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    cases[1] = (cases[1][0], (x - mu) / np.sqrt(var + 1e-5))
    for layer, expected in cases:
        out = layer(ops.convert_to_tensor(x, "float64"), training=True)
        assert ops.convert_to_numpy(out).dtype == np.float64
        np.testing.assert_allclose(to_np(out), expected, rtol=0, atol=1e-11, err_msg=layer.name)
