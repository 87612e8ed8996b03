"""HessianProbe's products on common layer types against a dense reference Hessian.

```
TensorFlow:   H[:, j] ≈ (g(θ + h e_j) − g(θ − h e_j)) / 2h,   g = the probe's own gradient
JAX, torch:   H = jax.hessian(L) / torch.autograd.functional.hessian(L), L the probe's objective
```

On TensorFlow the reference uses first derivatives only, so it is independent
of every HVP code path (the graph split, reverse over reverse); the models run
in float64, where the central difference with ``h = 1e-5`` is exact to about
1e-9 relative (truncation ``O(h²)``, rounding ``O(ε/h)``). Keras 3.15's
``ops.matmul`` rounds float64 to about 1e-7 on torch and JAX, too coarse for
finite differences, so there the reference is the framework's own dense
Hessian of the objective in float32, which shares none of the probe's HVP code
(``jax.linearize``, the kept torch graph, the micro-batch loop). Activations
are smooth (tanh, sigmoid, softmax), so no step crosses a kink. Models have 18
to 200 parameters, so a reference costs a few hundred gradients.

The two-output model has one loss per output (a list, summed as ``compile``
sums them), so its reference covers the multi-output objective too.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe

BACKEND = keras.backend.backend()
rng = np.random.default_rng
CE = "sparse_categorical_crossentropy_logits"


#: TensorFlow honours float64 end to end; Keras 3.15's ``ops.matmul`` on torch
#: (and JAX) rounds float64 products to about 1e-7, which spoils finite differences.
FLOAT64 = BACKEND == "tensorflow"


@pytest.fixture(autouse=True)
def _floatx():
    previous = keras.config.floatx()
    keras.config.set_floatx("float64" if FLOAT64 else "float32")
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


def _loss(name):
    """The loss as a callable returning its mean (the same in float32 and float64); a list per output.

    Keras's own losses reduce with ``ops.divide_no_nan``, which returns float32
    for float64 input on JAX and torch (Keras 3.15). A scalar return skips
    that reduction.
    """
    from keras import ops

    if isinstance(name, list):
        return [_loss(each) for each in name]
    if name == CE:

        def cross_entropy(y_true, logits):
            labels = ops.reshape(ops.cast(y_true, "int32"), (-1, 1))
            picked = ops.take_along_axis(ops.log_softmax(logits), labels, -1)
            return -ops.mean(picked)

        return cross_entropy

    def mean_squared_error(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred))

    return mean_squared_error


def _dense():
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3)]
    )
    return model, rng(0).normal(size=(12, 5)), rng(1).integers(0, 3, 12), CE


def _conv_bn():
    bn = keras.layers.BatchNormalization()
    model = keras.Sequential(
        [
            keras.Input((5, 5, 1)),
            keras.layers.Conv2D(2, 3, activation="tanh"),
            bn,
            keras.layers.Flatten(),
            keras.layers.Dense(3),
        ]
    )
    # Moving statistics away from (0, 1), so "inference" and "batch" differ.
    bn.moving_mean.assign(np.array([0.3, -0.2], keras.config.floatx()))
    bn.moving_variance.assign(np.array([0.5, 2.0], keras.config.floatx()))
    return model, rng(2).normal(size=(12, 5, 5, 1)), rng(3).integers(0, 3, 12), CE


def _embedding_flatten():
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(10, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="tanh"),
            keras.layers.Dense(3),
        ]
    )
    # Repeated indices: the gather's gradient must add their contributions.
    return model, rng(4).integers(0, 10, (12, 4)), rng(5).integers(0, 3, 12), CE


def _embedding_gru():
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(8, 3),
            keras.layers.GRU(3),
            keras.layers.Dense(3),
        ]
    )
    return model, rng(6).integers(0, 8, (10, 4)), rng(7).integers(0, 3, 10), CE


def _lstm():
    model = keras.Sequential([keras.Input((4, 3)), keras.layers.LSTM(3), keras.layers.Dense(2)])
    return model, rng(8).normal(size=(10, 4, 3)), rng(9).integers(0, 2, 10), CE


def _attention():
    inputs = keras.Input((3, 4))
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=2)(inputs, inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(attended))
    model = keras.Model(inputs, outputs)
    return model, rng(10).normal(size=(10, 3, 4)), rng(11).integers(0, 2, 10), CE


def _two_inputs():
    left, right = keras.Input((3,), name="left"), keras.Input((2,), name="right")
    merged = keras.layers.Concatenate()([keras.layers.Dense(3, activation="tanh")(left), right])
    model = keras.Model({"left": left, "right": right}, keras.layers.Dense(1)(merged))
    x = {"left": rng(12).normal(size=(10, 3)), "right": rng(13).normal(size=(10, 2))}
    return model, x, rng(14).normal(size=(10, 1)), "mse"


def _two_outputs():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, activation="tanh")(inputs)
    value = keras.layers.Dense(1, name="value")(hidden)
    label = keras.layers.Dense(3, name="label")(hidden)
    model = keras.Model(inputs, [value, label])
    y = [rng(16).normal(size=(10, 1)), rng(17).integers(0, 3, 10)]
    return model, rng(15).normal(size=(10, 4)), y, ["mse", CE]


MODELS = {
    "dense": (_dense, "inference"),
    "conv2d-bn-inference": (_conv_bn, "inference"),
    "conv2d-bn-batch": (_conv_bn, "batch"),
    "embedding-flatten": (_embedding_flatten, "inference"),
    "embedding-gru": (_embedding_gru, "inference"),
    "lstm": (_lstm, "inference"),
    "multi-head-attention": (_attention, "inference"),
    "two-inputs": (_two_inputs, "inference"),
    "two-outputs": (_two_outputs, "inference"),
}


def finite_difference_hessian(probe: HessianProbe, h: float = 1e-5) -> np.ndarray:
    """Central differences of the probe's gradient along each basis vector, symmetrised."""
    batches = probe._batches
    engine = probe._engine
    theta = probe._to_flat(probe._trainable)

    def gradient(flat):
        total = np.zeros(probe.num_parameters)
        for x, y, sw, w in batches:
            _, grads = engine.value_and_grad(
                probe._to_tensors(flat), probe._non_trainable, x, y, sw, w
            )
            total += probe._to_flat(grads)
        return total

    n = probe.num_parameters
    columns = np.empty((n, n))
    for j in range(n):
        step = np.zeros(n)
        step[j] = h
        columns[:, j] = (gradient(theta + step) - gradient(theta - step)) / (2 * h)
    return columns, 0.5 * (columns + columns.T)


def autodiff_hessian(probe: HessianProbe) -> np.ndarray:
    """The backend's own dense Hessian of the probe's objective (JAX, torch), float32.

    ``jax.hessian`` (forward over reverse) and ``torch.autograd.functional.hessian``
    of ``θ ↦ L(θ)`` on one flat parameter vector: none of the probe's HVP code
    (``jax.linearize``, the kept torch graph, the micro-batch loop) is used.
    """
    from kerasnotes.curvature.objective import make_objective

    # The probe's loss spec (one loss, or one per output) in a freshly built objective.
    objective = make_objective(probe._model, probe._engine.loss, probe.bn_mode)
    shapes = [tuple(s) for s in probe._shapes]
    sizes = [int(np.prod(s)) for s in shapes]
    theta = probe._to_flat(probe._trainable).astype("float32")
    batches = probe._batches

    def loss_of(flat, split):
        params = [keras.ops.reshape(p, s) for p, s in zip(split(flat), shapes, strict=True)]
        return sum(objective(params, probe._non_trainable, *batch) for batch in batches)

    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        bounds = np.cumsum(sizes)[:-1].tolist()
        hess = jax.hessian(lambda f: loss_of(f, lambda v: jnp.split(v, bounds)))(jnp.asarray(theta))
        return np.asarray(hess, np.float64)
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def loss(flat):
        return loss_of(flat, lambda v: torch.split(v, sizes))

    with sdpa_kernel([SDPBackend.MATH]):  # the fused attention kernels are differentiable once
        hess = torch.autograd.functional.hessian(loss, torch.tensor(theta))
    return hess.numpy().astype(np.float64)


@pytest.mark.parametrize("name", list(MODELS))
def test_hvp_equals_the_dense_reference_hessian_times_v(name):
    build, bn_mode = MODELS[name]
    keras.utils.set_random_seed(0)
    model, x, y, loss = build()
    assert model.trainable_variables[0].dtype == keras.config.floatx()
    # float64 finite differences agree to ~1e-9; float32 autodiff Hessians to ~1e-6.
    tol = 1e-7 if FLOAT64 else 2e-5
    with warnings.catch_warnings():
        # A split that fell back (TensorFlow) warns; here every split must hold.
        warnings.filterwarnings("error", message="kerasnotes: the TensorFlow HVP split")
        probe = HessianProbe(model, x, y, loss=_loss(loss), bn_mode=bn_mode)
        assert 10 <= probe.num_parameters <= 250, probe.num_parameters
        if FLOAT64:
            raw, reference = finite_difference_hessian(probe)
        else:
            raw = autodiff_hessian(probe)
            reference = 0.5 * (raw + raw.T)
        scale = np.linalg.norm(reference)
        # The reference itself: symmetric to its accuracy.
        assert np.linalg.norm(raw - raw.T) <= tol * scale
        for seed in (0, 1):
            v = rng(100 + seed).normal(size=probe.num_parameters)
            expected = reference @ v
            got = probe.hvp(v)
            assert np.linalg.norm(got - expected) <= tol * np.linalg.norm(expected)
        dense = probe.dense_hessian()  # one product per basis vector
        assert np.linalg.norm(dense - reference) <= tol * scale
    if bn_mode == "inference":  # micro-batches: the products recomputed per batch, no split
        num_samples = len(keras.tree.flatten(y)[0])
        half = HessianProbe(model, x, y, loss=_loss(loss), batch_size=num_samples // 2 + 1)
        v = rng(102).normal(size=probe.num_parameters)
        expected = reference @ v
        assert np.linalg.norm(half.hvp(v) - expected) <= tol * np.linalg.norm(expected)
