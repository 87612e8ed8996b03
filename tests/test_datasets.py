"""Synthetic landscapes: loss values and gradients against their closed forms, plus the loaders."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes import datasets


def _loss_and_gradients(landscape) -> tuple[float, list[np.ndarray]]:
    """Loss and gradients of the landscape at its current weights, via the backend's autodiff."""
    model, x, y, loss_fn = landscape
    # plain tensors copied from the variables, so every backend differentiates the same way
    variables = [keras.ops.convert_to_tensor(np.asarray(v)) for v in model.trainable_variables]
    non_trainable = [
        keras.ops.convert_to_tensor(np.asarray(v)) for v in model.non_trainable_variables
    ]
    backend = keras.backend.backend()

    def loss_of(trainable):
        y_pred, _ = model.stateless_call(trainable, non_trainable, x)
        return loss_fn(y, y_pred)

    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(variables)
            value = loss_of(variables)
        grads = tape.gradient(value, variables)
    elif backend == "jax":
        import jax

        value, grads = jax.value_and_grad(loss_of)(variables)
    elif backend == "torch":
        import torch

        leaves = [v.detach().clone().requires_grad_(True) for v in variables]
        value = loss_of(leaves)
        grads = torch.autograd.grad(value, leaves)
    else:  # pragma: no cover - Keras supports only the three above here
        pytest.skip(f"no autodiff helper for backend {backend!r}")
    return float(keras.ops.convert_to_numpy(value)), [
        np.asarray(keras.ops.convert_to_numpy(g), dtype=np.float64) for g in grads
    ]


def test_product_saddle_matches_closed_form():
    # Loops rather than parametrize: each test pays a Keras clear_session on teardown.
    for w1, w2 in [(0.0, 0.0), (0.5, 1.0), (-1.3, 0.7), (2.0, 0.5)]:
        _check_product_saddle(w1, w2)


def _check_product_saddle(w1: float, w2: float) -> None:
    landscape = datasets.product_saddle(w1=w1, w2=w2)
    value, (g1, g2) = _loss_and_gradients(landscape)
    assert value == pytest.approx((1 - w1 * w2) ** 2, rel=1e-6, abs=1e-7)
    residual = 1 - w1 * w2
    np.testing.assert_allclose(
        [g1.item(), g2.item()], [-2 * residual * w2, -2 * residual * w1], rtol=1e-5, atol=1e-6
    )


def test_product_saddle_hessian_at_origin_from_gradient_differences():
    # Central differences of the exact gradient recover H = [[0, -2], [-2, 0]] at the saddle.
    h = 1e-2  # the gradient is quadratic in w, so central differences are exact up to round-off
    columns = []
    for direction in np.eye(2):
        plus = _loss_and_gradients(datasets.product_saddle(*(h * direction)))[1]
        minus = _loss_and_gradients(datasets.product_saddle(*(-h * direction)))[1]
        columns.append([(p.item() - m.item()) / (2 * h) for p, m in zip(plus, minus, strict=True)])
    hessian = np.array(columns).T
    np.testing.assert_allclose(hessian, [[0.0, -2.0], [-2.0, 0.0]], atol=1e-4)
    eigenvalues, vectors = np.linalg.eigh(hessian)
    np.testing.assert_allclose(eigenvalues, [-2.0, 2.0], atol=1e-4)
    assert abs(abs(vectors[:, 0] @ np.array([1.0, 1.0]) / np.sqrt(2)) - 1) < 1e-6


def test_product_saddle_model_order_is_w1_then_w2():
    model = datasets.product_saddle(w1=0.25, w2=-4.0).model
    values = [float(keras.ops.convert_to_numpy(v).item()) for v in model.trainable_variables]
    assert values == [0.25, -4.0]


def test_ill_conditioned_quadratic_matches_half_w_a_w():
    for kappa, dim in [(100.0, 2), (10.0, 3), (1.0, 1)]:
        for rotate in (False, True):
            _check_quadratic(kappa, dim, rotate)


def _check_quadratic(kappa: float, dim: int, rotate: bool) -> None:
    start = np.linspace(-1.0, 2.0, dim)
    landscape = datasets.ill_conditioned_quadratic(
        kappa, dim=dim, start=start, rotate=rotate, seed=3
    )
    x = landscape.x.astype(np.float64)
    a = 2 * x.T @ x / dim
    eigenvalues = np.linalg.eigvalsh(a)
    np.testing.assert_allclose(eigenvalues, datasets.quadratic_eigenvalues(kappa, dim), rtol=1e-5)
    if not rotate:
        np.testing.assert_allclose(
            a, np.diag(datasets.quadratic_eigenvalues(kappa, dim)), atol=1e-5
        )
    value, (grad,) = _loss_and_gradients(landscape)
    assert value == pytest.approx(0.5 * start @ a @ start, rel=1e-5)
    np.testing.assert_allclose(grad.reshape(-1), a @ start, rtol=1e-5, atol=1e-5)


def test_quadratic_eigenvalues_are_geometric_from_one_to_kappa():
    np.testing.assert_allclose(datasets.quadratic_eigenvalues(100.0, 3), [1.0, 10.0, 100.0])
    np.testing.assert_allclose(datasets.quadratic_eigenvalues(1000.0, 4), [1, 10, 100, 1000])


def _linear_network_reference(landscape):
    """numpy float64 loss and per-kernel gradients from the docstring's closed forms."""
    model, x, y, _ = landscape
    kernels = [
        np.asarray(keras.ops.convert_to_numpy(v), dtype=np.float64)
        for v in model.trainable_variables
    ]
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    n, m = y.shape
    product = np.linalg.multi_dot(kernels) if len(kernels) > 1 else kernels[0]
    residual = x @ product - y
    loss = np.sum(residual**2) / (n * m)
    d_product = 2 * x.T @ residual / (n * m)
    grads = []
    for k in range(len(kernels)):
        left = np.eye(kernels[0].shape[0])
        for kernel in kernels[:k]:
            left = left @ kernel
        right = np.eye(kernels[k].shape[1])
        for kernel in kernels[k + 1 :]:
            right = right @ kernel
        grads.append(left.T @ d_product @ right.T)
    return loss, grads


def test_linear_network_matches_closed_form():
    for depth in (1, 2, 3):
        for init_scale in (0.0, 0.3):
            _check_linear_network(depth, init_scale)


def _check_linear_network(depth: int, init_scale: float) -> None:
    landscape = datasets.linear_network(depth=depth, init_scale=init_scale, num_samples=32, seed=5)
    assert len(landscape.model.trainable_variables) == depth
    value, grads = _loss_and_gradients(landscape)
    expected_loss, expected_grads = _linear_network_reference(landscape)
    assert value == pytest.approx(expected_loss, rel=1e-5)
    for got, want in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    if init_scale == 0.0 and depth >= 2:
        assert all(np.all(g == 0) for g in grads)  # the zero init is a critical point


def test_linear_network_depth2_saddle_hessian_spectrum():
    # At the zero init of a depth-2 net, uᵀHu = -(4/(N·m))·tr(YᵀX D1 D2) for u = (D1, D2):
    # check it on a random direction with a second difference of the exact loss.
    landscape = datasets.linear_network(depth=2, input_dim=3, hidden_dim=2, output_dim=2, seed=1)
    x, y = landscape.x.astype(np.float64), landscape.y.astype(np.float64)
    n, m = y.shape
    rng = np.random.default_rng(0)
    d1, d2 = rng.standard_normal((3, 2)), rng.standard_normal((2, 2))
    t = 1e-2

    def loss_at(scale):
        landscape.model.set_weights(
            [(scale * d1).astype(np.float32), (scale * d2).astype(np.float32)]
        )
        model, xx, yy, loss_fn = landscape
        return float(keras.ops.convert_to_numpy(loss_fn(yy, model(xx))))

    curvature = (loss_at(t) - 2 * loss_at(0.0) + loss_at(-t)) / t**2
    expected = -(4 / (n * m)) * np.trace(y.T @ x @ d1 @ d2)
    assert curvature == pytest.approx(expected, rel=2e-2)


def test_landscapes_are_seeded_and_float32():
    a = datasets.linear_network(depth=3, init_scale=0.1, seed=7)
    b = datasets.linear_network(depth=3, init_scale=0.1, seed=7)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    for va, vb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_array_equal(va, vb)
    assert a.x.dtype == np.float32 and a.y.dtype == np.float32
    c = datasets.linear_network(depth=3, init_scale=0.1, seed=8)
    assert not np.array_equal(a.x, c.x)


WRONG_ARGUMENTS = [
    (lambda: datasets.product_saddle(w1="a"), TypeError, "w1"),
    (lambda: datasets.product_saddle(w2=float("nan")), ValueError, "w2"),
    (lambda: datasets.ill_conditioned_quadratic(0.5), ValueError, "condition_number"),
    (lambda: datasets.ill_conditioned_quadratic(10.0, dim=0), ValueError, "dim"),
    (lambda: datasets.ill_conditioned_quadratic(10.0, dim=2, start=[1.0]), ValueError, "start"),
    (lambda: datasets.linear_network(depth=0), ValueError, "depth"),
    (lambda: datasets.linear_network(depth=2.5), TypeError, "depth"),
    (lambda: datasets.linear_network(init_scale=-1.0), ValueError, "init_scale"),
    (lambda: datasets.cifar_resnet(depth=9), ValueError, "depth"),
    (lambda: datasets.cifar_resnet(depth=2), ValueError, "depth"),
    (lambda: datasets.cifar_resnet(width=0), ValueError, "width"),
    (lambda: datasets.cifar_resnet(num_samples=2.0), TypeError, "num_samples"),
]


@pytest.mark.backend_independent
def test_wrong_arguments_name_the_argument():
    for call, error, fragment in WRONG_ARGUMENTS:
        with pytest.raises(error, match=fragment):
            call()


@pytest.mark.backend_independent
def test_digits_loader_is_unchanged():
    (x_train, y_train), (x_val, y_val) = datasets.load_digits(validation_fraction=0.2)
    assert x_train.shape == (1438, 64) and x_val.shape == (359, 64)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-5)


def test_docstring_examples_of_the_landscapes_run():
    import doctest

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for function in (
        datasets.product_saddle,
        datasets.quadratic_eigenvalues,
        datasets.ill_conditioned_quadratic,
        datasets.linear_network,
    ):
        for test in finder.find(function, globs={}):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_landscape_models_survive_a_keras_save_and_load(tmp_path):
    for landscape in (
        datasets.product_saddle(w1=0.3, w2=-1.2),
        datasets.ill_conditioned_quadratic(10.0, dim=3, rotate=True),
        datasets.linear_network(depth=3, init_scale=0.2),
    ):
        model, x, y, loss = landscape
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        before = keras.ops.convert_to_numpy(loss(y, model(x)))
        after = keras.ops.convert_to_numpy(loss(y, loaded(x)))
        np.testing.assert_allclose(after, before, rtol=1e-6)
        rebuilt = keras.Sequential.from_config(model.get_config())  # initial weights come back
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(loss(y, rebuilt(x))), before, rtol=1e-6
        )


def _trainable_count(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_cifar_resnet20_has_the_papers_shape():
    model, x, y = datasets.cifar_resnet(num_samples=4)
    # He et al. (2016) give 0.27M for ResNet-20; the two 1x1 projections add 2,752.
    assert _trainable_count(model) == 272_474
    assert model.count_params() == 274_042  # with BN's moving statistics
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 21  # 19 3x3 convolutions, 2 projections (+ Dense: 20 weight layers)
    assert sorted({c.filters for c in convs}) == [16, 32, 64]
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 21
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32
    assert y.shape == (4,) and y.dtype == np.int32 and 0 <= y.min() and y.max() < 10
    assert model.output_shape == (None, 10)


def test_cifar_resnet_is_seeded():
    first = datasets.cifar_resnet(depth=8, width=2, num_samples=3, image_size=8, seed=5)
    again = datasets.cifar_resnet(depth=8, width=2, num_samples=3, image_size=8, seed=5)
    other = datasets.cifar_resnet(depth=8, width=2, num_samples=3, image_size=8, seed=6)
    np.testing.assert_array_equal(first[1], again[1])
    np.testing.assert_array_equal(first[2], again[2])
    assert not np.array_equal(first[1], other[1])
    for a, b in zip(first[0].trainable_weights, again[0].trainable_weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    # 6n + 2 layers: depth 14 has two blocks a stage.
    deeper, _, _ = datasets.cifar_resnet(depth=14, width=2, num_samples=1, image_size=8)
    assert sum(isinstance(la, keras.layers.Add) for la in deeper.layers) == 6
