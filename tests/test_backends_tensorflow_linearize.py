"""The split TensorFlow HVP (primal part once, tangent part per product) against the unsplit one."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="splits TensorFlow graphs; JAX (jax.linearize) and torch (a kept autograd graph) "
    "linearize natively, tested through HessianProbe in test_curvature_hvp.py",
)

rng = np.random.default_rng


def _tf():
    import tensorflow as tf

    return tf


def _modules():
    from kerasnotes.backends import tensorflow as backend
    from kerasnotes.backends import tensorflow_linearize

    return backend, tensorflow_linearize


def _engine_parts(probe: HessianProbe):
    return probe._engine, (probe._trainable, probe._non_trainable, *probe._batches[0])


def _models():
    keras.utils.set_random_seed(0)
    mlp = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", kernel_regularizer="l2"),
            keras.layers.Dense(3),
        ]
    )
    conv = keras.Sequential(
        [
            keras.Input((5, 5, 1)),
            keras.layers.Conv2D(2, 3, activation="tanh"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.3),
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    return [
        (mlp, rng(0).normal(size=(30, 6)).astype("float32"), "inference"),
        (conv, rng(1).normal(size=(30, 5, 5, 1)).astype("float32"), "batch"),
        (conv, rng(1).normal(size=(30, 5, 5, 1)).astype("float32"), "inference"),
    ]


@pytest.mark.parametrize("case", range(3), ids=["mlp-l2", "conv-bn-batch", "conv-bn-inference"])
def test_split_product_equals_the_unsplit_product(case):
    tf = _tf()
    model, x, bn_mode = _models()[case]
    y = rng(2).integers(0, 3, len(x))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    probe = HessianProbe(model, x, y, loss=loss, bn_mode=bn_mode)
    engine, args = _engine_parts(probe)
    apply = engine.prepare_hvp(*args)
    for seed in (3, 4):
        v = rng(seed).normal(size=probe.num_parameters)
        vectors = probe._to_tensors(v)
        split = probe._to_flat(apply(vectors))
        unsplit = probe._to_flat(engine.hvp(*args, vectors))
        np.testing.assert_allclose(split, unsplit, rtol=2e-5, atol=1e-6 * np.abs(unsplit).max())
    # The tangent part is linear in v: H(2a - b) = 2 Ha - Hb.
    a, b = rng(5).normal(size=(2, probe.num_parameters))
    ha, hb, hab = (probe._to_flat(apply(probe._to_tensors(u))) for u in (a, b, 2 * a - b))
    np.testing.assert_allclose(hab, 2 * ha - hb, rtol=1e-4, atol=1e-5 * np.abs(hab).max())
    assert tf.executing_eagerly()


def _recording_splits(tensorflow_linearize):
    """A ``SplitHvp`` subclass that lists every instance built, and that list."""
    built = []

    class Recording(tensorflow_linearize.SplitHvp):
        def __init__(self, *args):
            super().__init__(*args)
            built.append(self)

    return Recording, built


def test_the_split_is_made_once_per_signature_and_really_splits():
    tf = _tf()
    _, tensorflow_linearize = _modules()
    Counting, built = _recording_splits(tensorflow_linearize)

    def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        # Hv for L = Σ (x w)² w_scale: the primal part is x and w, the tangent x(xv).
        with tf.GradientTape() as outer:
            outer.watch(trainable)
            with tf.GradientTape() as inner:
                inner.watch(trainable)
                loss = tf.reduce_sum(tf.square(tf.linalg.matvec(x, trainable[0]))) * weights
            grads = inner.gradient(loss, trainable)
            projected = tf.reduce_sum(grads[0] * vectors[0])
        return outer.gradient(projected, trainable)

    original = tensorflow_linearize.SplitHvp
    tensorflow_linearize.SplitHvp = Counting
    try:
        prepare = tensorflow_linearize.linearized(tf.function(hvp, autograph=False))
        x = tf.constant(rng(0).normal(size=(7, 3)), tf.float32)
        w = [tf.constant([0.5, -1.0, 2.0])]
        weight = tf.constant(0.25)
        first = prepare(w, [], x, None, None, weight)
        second = prepare([w[0] * 2], [], x, None, None, weight)  # same signature: no new split
        other = prepare(w, [], x[:4], None, None, weight)  # a new row count: a new split
    finally:
        tensorflow_linearize.SplitHvp = original
    assert len(built) == 2 and all(s.linearized for s in built), [s.reason for s in built]
    v = np.array([1.0, 0.0, -2.0], "float32")
    xn = x.numpy().astype(np.float64)
    expected = 2 * 0.25 * xn.T @ xn @ v  # H = 2·weight·XᵀX, independent of w
    np.testing.assert_allclose(first([tf.constant(v)])[0].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(second([tf.constant(v)])[0].numpy(), expected, rtol=1e-5)
    x4 = xn[:4]
    np.testing.assert_allclose(other([tf.constant(v)])[0].numpy(), 0.5 * x4.T @ x4 @ v, rtol=1e-5)


def test_a_weight_the_loss_is_linear_in_gets_a_zero_product():
    tf = _tf()
    _, tensorflow_linearize = _modules()

    def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        zero = tf.UnconnectedGradients.ZERO
        with tf.GradientTape() as outer:
            outer.watch(trainable)
            with tf.GradientTape() as inner:
                inner.watch(trainable)
                # linear in the first weight, quadratic in the second
                loss = tf.reduce_sum(x) * trainable[0] + 3.0 * tf.square(trainable[1])
            grads = inner.gradient(loss, trainable, unconnected_gradients=zero)
            projected = tf.add_n(
                [tf.reduce_sum(g * v) for g, v in zip(grads, vectors, strict=True)]
            )
        return outer.gradient(projected, trainable, unconnected_gradients=zero)

    w = [tf.constant(1.5), tf.constant(-0.5)]
    split = tensorflow_linearize.SplitHvp(
        tf.function(hvp, autograph=False),
        (w, [], tf.ones((4,)), None, None, None),
        [tf.zeros(()), tf.zeros(())],
    )
    assert split.linearized, split.reason
    apply = split.prepare((w, [], tf.ones((4,)), None, None, None))
    out = apply([tf.constant(2.0), tf.constant(1.0)])
    assert [float(t) for t in out] == [0.0, 6.0]


def test_a_captured_variable_falls_back_to_the_exact_unsplit_product():
    tf = _tf()
    _, tensorflow_linearize = _modules()
    scale = tf.Variable(3.0)  # read from outside the function: the split does not handle it

    def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        with tf.GradientTape() as outer:
            outer.watch(trainable)
            with tf.GradientTape() as inner:
                inner.watch(trainable)
                loss = scale * tf.reduce_sum(tf.square(trainable[0] * x))
            grads = inner.gradient(loss, trainable)
            projected = tf.reduce_sum(grads[0] * vectors[0])
        return outer.gradient(projected, trainable)

    w, x = [tf.constant([1.0, 2.0])], tf.constant([2.0, -1.0])
    with pytest.warns(RuntimeWarning, match="could not be made .*captures"):
        split = tensorflow_linearize.SplitHvp(
            tf.function(hvp, autograph=False), (w, [], x, None, None, None), [tf.zeros((2,))]
        )
    assert not split.linearized and "captures" in split.reason
    out = split.prepare((w, [], x, None, None, None))([tf.constant([1.0, 1.0])])
    np.testing.assert_allclose(out[0].numpy(), [24.0, 6.0])  # H = 2·scale·diag(x²)


def test_a_recurrent_and_a_two_input_model_split_too():
    keras.utils.set_random_seed(1)
    recurrent = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    left, right = keras.Input((3,), name="left"), keras.Input((2,), name="right")
    merged = keras.layers.Concatenate()([keras.layers.Dense(3, activation="tanh")(left), right])
    two_inputs = keras.Model({"left": left, "right": right}, keras.layers.Dense(1)(merged))
    cases = [
        (
            recurrent,
            rng(0).normal(size=(10, 5, 3)).astype("float32"),
            rng(1).integers(0, 2, 10),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ),
        (
            two_inputs,
            {
                "left": rng(2).normal(size=(8, 3)).astype("float32"),
                "right": rng(3).normal(size=(8, 2)).astype("float32"),
            },
            rng(4).normal(size=(8, 1)).astype("float32"),
            "mse",
        ),
    ]
    for model, x, y, loss in cases:
        probe = HessianProbe(model, x, y, loss=loss)
        engine, args = _engine_parts(probe)
        v = rng(5).normal(size=probe.num_parameters)
        vectors = probe._to_tensors(v)
        unsplit = probe._to_flat(engine.hvp(*args, vectors))
        np.testing.assert_allclose(
            probe.hvp(v), unsplit, rtol=2e-5, atol=1e-6 * np.abs(unsplit).max()
        )


def test_many_probes_do_not_set_off_the_retracing_warning():
    import logging

    tf = _tf()
    _, tensorflow_linearize = _modules()
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    tf.get_logger().addHandler(handler)
    try:
        compiled = _square_hvp()
        for rows in range(1, 9):  # a new signature, so a new split, each time
            x = tf.ones((rows,))
            apply = tensorflow_linearize.linearized(compiled)(
                [tf.ones((rows,))], [], x, None, None, None
            )
            np.testing.assert_allclose(apply([tf.ones((rows,))])[0].numpy(), 2.0 * np.ones(rows))
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [m for m in messages if "retracing" in m], messages


def _embedding_probe():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(10, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    x = rng(0).integers(0, 10, (8, 4))  # repeated indices: their gradients must add up
    y = rng(1).integers(0, 2, 8)
    return HessianProbe(model, x, y, loss=keras.losses.SparseCategoricalCrossentropy(True))


def _record_warnings():
    import warnings

    caught = warnings.catch_warnings(record=True)
    records = caught.__enter__()
    warnings.simplefilter("always")
    return caught, records


def test_a_gather_splits_without_a_warning_and_equals_the_unsplit_product():
    # Crashed before: "Node 'gradient_tape/embedding/Shape_1' expects to be colocated
    # with unknown node", and the gather's IndexedSlices gave three outputs, not one.
    _, tensorflow_linearize = _modules()
    Recording, built = _recording_splits(tensorflow_linearize)

    original = tensorflow_linearize.SplitHvp
    tensorflow_linearize.SplitHvp = Recording
    caught, records = _record_warnings()
    try:
        probe = _embedding_probe()
        engine, args = _engine_parts(probe)
        v = rng(3).normal(size=probe.num_parameters)
        split = probe.hvp(v)
    finally:
        caught.__exit__(None, None, None)
        tensorflow_linearize.SplitHvp = original
    assert len(built) == 1 and built[0].linearized, [s.reason for s in built]
    assert not [str(r.message) for r in records if "kerasnotes" in str(r.message)]
    unsplit = probe._to_flat(engine.hvp(*args, probe._to_tensors(v)))
    assert split.shape == (probe.num_parameters,)
    np.testing.assert_allclose(split, unsplit, rtol=2e-5, atol=1e-6 * np.abs(unsplit).max())


def _square_hvp():
    """``Hv`` of ``L = Σ (x w)²``: ``H = 2 diag(x²)``."""
    tf = _tf()

    def hvp(trainable, non_trainable, x, y, sample_weight, weights, vectors):
        with tf.GradientTape() as outer:
            outer.watch(trainable)
            with tf.GradientTape() as inner:
                inner.watch(trainable)
                loss = tf.reduce_sum(tf.square(x * trainable[0]))
            projected = tf.reduce_sum(inner.gradient(loss, trainable)[0] * vectors[0])
        return outer.gradient(projected, trainable)

    return tf.function(hvp, autograph=False)


def _run_linearized(hvp, times: int = 2):
    """``apply(v)`` of two prepares at one signature, and the warnings they gave."""
    tf = _tf()
    _, tensorflow_linearize = _modules()
    prepare = tensorflow_linearize.linearized(hvp)
    x, w, v = tf.constant([2.0, -1.0]), [tf.constant([1.0, 3.0])], [tf.constant([1.0, 1.0])]
    caught, records = _record_warnings()
    try:
        outs = [prepare(w, [], x, None, None, None)(v)[0].numpy() for _ in range(times)]
    finally:
        caught.__exit__(None, None, None)
    return outs, [str(r.message) for r in records if "kerasnotes" in str(r.message)]


@pytest.mark.parametrize("where", ["splitting", "running"])
def test_a_split_that_raises_falls_back_to_the_unsplit_product_with_one_warning(monkeypatch, where):
    _, tensorflow_linearize = _modules()
    real = tensorflow_linearize._split

    def broken(*args):
        if where == "splitting":
            raise RuntimeError("boom while splitting\nsecond line")
        primal, _ = real(*args)

        def tangent(*inputs):
            raise RuntimeError("boom while running")

        return primal, tangent

    monkeypatch.setattr(tensorflow_linearize, "_split", broken)
    outs, messages = _run_linearized(_square_hvp())
    for out in outs:
        np.testing.assert_allclose(out, [8.0, 2.0])  # 2 x² v
    assert len(messages) == 1, messages  # once per signature, not per product
    assert f"boom while {where}" in messages[0] and "\n" not in messages[0]
    assert ("could not be made" if where == "splitting" else "raised while running") in messages[0]


def test_a_split_that_is_wrong_falls_back_to_the_unsplit_product_with_one_warning(monkeypatch):
    _, tensorflow_linearize = _modules()
    real = tensorflow_linearize._split

    def off_by_a_little(*args):
        primal, tangent = real(*args)
        return primal, lambda *inputs: [t * (1 + 1e-4) for t in tangent(*inputs)]

    monkeypatch.setattr(tensorflow_linearize, "_split", off_by_a_little)
    outs, messages = _run_linearized(_square_hvp())
    for out in outs:
        np.testing.assert_allclose(out, [8.0, 2.0], rtol=1e-7)  # the exact unsplit product
    assert len(messages) == 1 and "differs from the unsplit product" in messages[0], messages
    assert "relative error 1.00e-04 > 1e-05" in messages[0]


def test_a_correct_split_gives_no_warning():
    outs, messages = _run_linearized(_square_hvp())
    assert messages == []
    for out in outs:
        np.testing.assert_allclose(out, [8.0, 2.0])


def test_products_run_with_grappler_on_inside_the_tours_short_lived_graphs(monkeypatch):
    # The tour switches Grappler off (short_lived_graphs); a probe's products switch it on
    # for their own calls (without its constant folding a BN gradient's int32 Transpose
    # reaches oneDNN, which logs an error line on CPUs without AVX-512), then restore it.
    tf = _tf()
    backend, tensorflow_linearize = _modules()
    seen = []
    original_init = tensorflow_linearize.SplitHvp.__init__

    def recording_init(self, hvp, args, vectors):
        def unsplit(*call_args):
            seen.append(("unsplit", _grappler_off(tf)))
            return hvp(*call_args)

        original_init(self, hvp, args, vectors)
        self._unsplit = unsplit
        if self.linearized:
            tangent = self._tangent

            def recording_tangent(*call_args):
                seen.append(("tangent", _grappler_off(tf)))
                return tangent(*call_args)

            self._tangent = recording_tangent

    monkeypatch.setattr(tensorflow_linearize.SplitHvp, "__init__", recording_init)
    model, x, bn_mode = _models()[1]
    y = rng(2).integers(0, 3, len(x))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with backend.short_lived_graphs():
        assert _grappler_off(tf)
        probe = HessianProbe(model, x, y, loss=loss, bn_mode=bn_mode)
        hv = probe.hvp(rng(3).normal(size=probe.num_parameters))
        assert _grappler_off(tf)  # the tour's setting is back after each product
    assert not _grappler_off(tf)
    assert {kind for kind, _ in seen} == {"unsplit", "tangent"}, seen
    assert not any(off for _, off in seen), seen
    assert np.all(np.isfinite(hv))


def _grappler_off(tf) -> bool:
    return bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer"))
