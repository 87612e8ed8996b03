"""Landscapes (F16), per-layer curvature (F18) and the Gauss–Newton product (F19).

References are closed forms (the product saddle L = (1 − w₁w₂)²), a dense
Hessian's diagonal blocks, the model evaluated directly at displaced weights,
and a float64 numpy model whose output Jacobian is taken by central differences.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerasnotes as kn
from kerasnotes.curvature import HessianProbe, Landscape, LayerCurvature
from kerasnotes.curvature.flat import assign_flat, to_flat

rng = np.random.default_rng


def dense_operator(product, n: int) -> np.ndarray:
    columns = np.column_stack([product(e) for e in np.eye(n)])
    return 0.5 * (columns + columns.T)


# ------------------------------------------------------------------ F16 landscapes
def test_product_saddle_line_along_u_is_the_closed_form():
    model, x, y, loss = kn.datasets.product_saddle()
    probe = HessianProbe(model, x, y, loss=loss)
    u = np.array([1.0, 1.0]) / np.sqrt(2)
    s = probe.landscape(u, span=2.0, num=41)
    assert isinstance(s, Landscape) and s.b is None and s.loss.shape == (41,)
    np.testing.assert_allclose(s.a, np.linspace(-2, 2, 41))
    np.testing.assert_allclose(s.loss, (1 - s.a**2 / 2) ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.directions[:, 0], u)
    assert s.center_loss == pytest.approx(1.0) and s.num_hvp == 0
    assert s.eigenvalues is None  # only "extreme" directions carry their eigenvalues
    # F16: L(a u) ≈ L₀ + ½ λ a² near the saddle, λ = −2 along u.
    h = s.a[1] - s.a[0]
    curvature = (s.loss[19] - 2 * s.loss[20] + s.loss[21]) / h**2
    assert curvature == pytest.approx(-2.0, abs=0.02)


def test_product_saddle_plane_along_given_vectors_equals_the_formula():
    model, x, y, loss = kn.datasets.product_saddle(w1=0.5, w2=1.0)
    probe = HessianProbe(model, x, y, loss=loss)
    d1, d2 = np.array([0.3, -1.2]), np.array([0.7, 0.4])
    s = probe.landscape(np.stack([d1, d2]), span=1.5, num=7)
    a, b = np.meshgrid(s.a, s.b, indexing="ij")
    w1, w2 = 0.5 + a * d1[0] + b * d2[0], 1.0 + a * d1[1] + b * d2[1]
    assert s.loss.shape == (7, 7)
    np.testing.assert_allclose(s.loss, (1 - w1 * w2) ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.directions, np.column_stack([d1, d2]))


def test_extreme_directions_of_the_saddle_are_its_eigenvectors():
    model, x, y, loss = kn.datasets.product_saddle()
    probe = HessianProbe(model, x, y, loss=loss)
    s = probe.landscape("extreme", span=1.0, num=21)
    r2 = np.sqrt(0.5)
    # u_min ∝ [1, 1] (λ = −2), u_max ∝ [1, −1] (λ = +2); largest entry (the first) positive.
    np.testing.assert_allclose(s.directions, [[r2, r2], [r2, -r2]], atol=1e-6)
    a, b = np.meshgrid(s.a, s.b, indexing="ij")
    np.testing.assert_allclose(s.loss, (1 - (a**2 - b**2) / 2) ** 2, rtol=1e-5, atol=1e-6)
    assert s.num_hvp > 0
    # The eigenvalue of each direction, for the quadratic model ½λa² of a viewer.
    np.testing.assert_allclose(s.eigenvalues, [-2.0, 2.0], atol=1e-5)
    h = s.a[1] - s.a[0]
    along_min = (s.loss[9, 10] - 2 * s.loss[10, 10] + s.loss[11, 10]) / h**2
    along_max = (s.loss[10, 9] - 2 * s.loss[10, 10] + s.loss[10, 11]) / h**2
    assert along_min == pytest.approx(-2.0, abs=0.02)
    assert along_max == pytest.approx(2.0, abs=0.02)


def _conv_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((5, 5, 2)),
            keras.layers.Conv2D(3, 2, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="tanh"),
            keras.layers.Dense(2),
        ]
    )
    return model


def test_random_directions_are_filter_normalised_and_the_loss_is_the_models():
    model = _conv_model()
    x = rng(0).normal(size=(6, 5, 5, 2)).astype("float32")
    y = rng(1).integers(0, 2, size=(6,))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    probe = HessianProbe(model, x, y, loss=loss)
    s = probe.landscape("random", span=0.5, num=3, seed=3)
    assert s.directions.shape == (probe.num_parameters, 2) and s.num_hvp == 0
    theta = to_flat(model.trainable_variables)
    start = 0
    for v in model.trainable_variables:
        size = int(np.prod(v.shape))
        w = theta[start : start + size].reshape(v.shape)
        for k in range(2):
            d = s.directions[start : start + size, k].reshape(v.shape)
            if len(v.shape) <= 1:  # biases and BN gamma/beta are not perturbed
                assert not np.any(d), v.path
            else:  # one filter per output unit / channel: the last axis
                axes = tuple(range(len(v.shape) - 1))
                np.testing.assert_allclose(
                    np.linalg.norm(d.reshape(-1, v.shape[-1]), axis=0),
                    np.sqrt(np.sum(w**2, axis=axes)),
                    rtol=1e-6,
                )
        start += size
    assert s.directions[:, 0] @ s.directions[:, 1] != 0  # two different draws
    # Each grid point is the model's own loss at θ + a d₁ + b d₂.
    for i, j in [(0, 0), (0, 2), (2, 1), (1, 1)]:
        assign_flat(
            model.trainable_variables,
            theta + s.a[i] * s.directions[:, 0] + s.b[j] * s.directions[:, 1],
        )
        direct = float(keras.ops.convert_to_numpy(loss(y, model(x, training=False))))
        assert s.loss[i, j] == pytest.approx(direct, rel=1e-5, abs=1e-6)
    assign_flat(model.trainable_variables, theta)
    assert s.loss[1, 1] == pytest.approx(s.center_loss, rel=1e-6)
    # Micro-batches sum to the same full-data loss at every grid point.
    batched = HessianProbe(model, x, y, loss=loss, batch_size=4).landscape(
        s.directions.T, span=0.5, num=3
    )
    np.testing.assert_allclose(batched.loss, s.loss, rtol=1e-5, atol=1e-6)


def test_unit_and_raw_random_directions():
    model = _conv_model()
    x = rng(0).normal(size=(4, 5, 5, 2)).astype("float32")
    probe = HessianProbe(
        model, x, rng(1).integers(0, 2, size=(4,)), loss="sparse_categorical_crossentropy"
    )
    unit = probe.landscape("random", num=2, normalize="unit", seed=5)
    raw = probe.landscape("random", num=2, normalize=None, seed=5)
    np.testing.assert_allclose(np.linalg.norm(unit.directions, axis=0), [1.0, 1.0])
    np.testing.assert_allclose(
        unit.directions, raw.directions / np.linalg.norm(raw.directions, axis=0)
    )


def test_landscape_arguments_are_validated():
    model, x, y, loss = kn.datasets.product_saddle()
    probe = HessianProbe(model, x, y, loss=loss)
    bad = [
        ({"directions": "hessian"}, ValueError, "directions="),
        ({"directions": np.ones(3)}, ValueError, "directions"),
        ({"directions": np.ones((3, 2))}, ValueError, "directions"),
        ({"directions": np.zeros(2)}, ValueError, "non-zero"),
        ({"directions": 3}, TypeError, "directions"),
        ({"span": 0.0}, ValueError, "span=0.0"),
        ({"span": float("inf")}, ValueError, "span="),
        ({"span": "1"}, TypeError, "span="),
        ({"num": 1}, ValueError, "num=1"),
        ({"num": 2.5}, TypeError, "num=2.5"),
        ({"normalize": "layer"}, ValueError, "normalize='layer'"),
    ]
    for kwargs, error, text in bad:
        with pytest.raises(error, match=text.replace("(", r"\(")):
            probe.landscape(**kwargs)
    # The saddle's kernels are 1×1 and zero: filter normalisation leaves nothing to perturb.
    with pytest.raises(ValueError, match="normalize='unit'"):
        probe.landscape("random")


# ------------------------------------------------------------- F18 per-layer blocks
def _mlp() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="tanh", name="hidden"),
            keras.layers.Dense(3, name="logits"),
        ],
        name="mlp",
    )
    x = rng(0).normal(size=(16, 4)).astype("float32")
    y = rng(1).integers(0, 3, size=(16,))
    return model, x, y


LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _blocks(model: keras.Model, per_variable: bool) -> list[np.ndarray]:
    sizes = [int(np.prod(v.shape)) for v in model.trainable_variables]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    variables = [np.arange(starts[i], starts[i + 1]) for i in range(len(sizes))]
    if per_variable:
        return variables
    return [np.concatenate(variables[0:2]), np.concatenate(variables[2:4])]


@pytest.mark.parametrize("per_variable", [False, True])
def test_layer_blocks_exact_against_the_dense_hessian(per_variable):
    model, x, y = _mlp()
    dense = HessianProbe(model, x, y, loss=LOSS).dense_hessian()
    # 300 samples: every block (at most 40 parameters) is computed exactly.
    result = HessianProbe(model, x, y, loss=LOSS).layer_curvature(300, per_variable)
    names = (
        ["mlp/hidden/kernel", "mlp/hidden/bias", "mlp/logits/kernel", "mlp/logits/bias"]
        if per_variable
        else ["hidden", "logits"]
    )
    assert [c.name for c in result] == names
    assert all(isinstance(c, LayerCurvature) for c in result)
    for c, block in zip(result, _blocks(model, per_variable), strict=True):
        sub = dense[np.ix_(block, block)]
        assert c.num_parameters == len(block)
        assert c.num_hvp == len(block)
        assert c.lambda_max == pytest.approx(np.linalg.eigvalsh(sub)[-1], rel=1e-4, abs=1e-6)
        assert c.trace == pytest.approx(np.trace(sub), rel=1e-4, abs=1e-6)
        assert c.trace_stderr == 0.0
    assert sum(c.trace for c in result) == pytest.approx(np.trace(dense), rel=1e-4)


def test_layer_blocks_stochastic_trace_within_three_stderr():
    model, x, y = _mlp()
    dense = HessianProbe(model, x, y, loss=LOSS).dense_hessian()
    # 24 samples: blocks above 8 parameters use Lanczos + Hutch++, the bias blocks are exact.
    result = HessianProbe(model, x, y, loss=LOSS).layer_curvature(24, per_variable=True)
    for c, block in zip(result, _blocks(model, True), strict=True):
        sub = dense[np.ix_(block, block)]
        assert c.lambda_max == pytest.approx(np.linalg.eigvalsh(sub)[-1], rel=1e-3, abs=1e-6)
        if len(block) > 8:
            assert c.trace_stderr > 0
            assert abs(c.trace - np.trace(sub)) <= 3 * c.trace_stderr + 1e-6
        else:
            assert c.trace_stderr == 0.0
            assert c.trace == pytest.approx(np.trace(sub), rel=1e-4, abs=1e-6)


def test_layer_curvature_arguments_are_validated():
    model, x, y = _mlp()
    probe = HessianProbe(model, x, y, loss=LOSS)
    with pytest.raises(ValueError, match="num_samples=2"):
        probe.layer_curvature(2)
    with pytest.raises(TypeError, match="num_samples=10.0"):
        probe.layer_curvature(10.0)
    with pytest.raises(TypeError, match="per_variable='yes'"):
        probe.layer_curvature(per_variable="yes")
    with pytest.raises(ValueError, match="tol=0"):
        probe.layer_curvature(tol=0)


# -------------------------------------------------------------- F19 Gauss–Newton
def _numpy_logits(flat: np.ndarray, x: np.ndarray) -> np.ndarray:
    w1, b1 = flat[:32].reshape(4, 8), flat[32:40]
    w2, b2 = flat[40:64].reshape(8, 3), flat[64:67]
    return np.tanh(x @ w1 + b1) @ w2 + b2


def _reference_ggn(model, x, y, loss_name: str) -> np.ndarray:
    """Σ_i J_iᵀ H_ℓi J_i from a float64 numpy model: J by central differences."""
    theta = to_flat(model.trainable_variables)
    x64 = x.astype(np.float64)
    n, eps = len(theta), 1e-6
    f0 = _numpy_logits(theta, x64)  # (N, K)
    jac = np.empty((*f0.shape, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = eps
        jac[..., j] = (_numpy_logits(theta + e, x64) - _numpy_logits(theta - e, x64)) / (2 * eps)
    num, k = f0.shape
    total = np.zeros((n, n))
    for i in range(num):
        if loss_name == "ce":  # mean softmax cross-entropy on logits: (diag(p) − ppᵀ) / N
            p = np.exp(f0[i] - f0[i].max())
            p /= p.sum()
            h = (np.diag(p) - np.outer(p, p)) / num
        else:  # mean squared error over N·K entries: 2 I / (N K)
            h = 2 * np.eye(k) / (num * k)
        total += jac[i].T @ h @ jac[i]
    return total


@pytest.mark.parametrize("loss_name", ["ce", "mse"])
def test_ggn_equals_dense_jacobian_reference_and_is_psd(loss_name):
    model, x, labels = _mlp()
    if loss_name == "ce":
        y, loss = labels, LOSS
    else:
        y, loss = rng(2).normal(size=(16, 3)).astype("float32"), keras.losses.MeanSquaredError()
    probe = HessianProbe(model, x, y, loss=loss)
    n = probe.num_parameters
    ggn = dense_operator(probe.ggn_vp, n)
    reference = _reference_ggn(model, x, y, loss_name)
    assert np.linalg.norm(ggn - reference) <= 1e-4 * np.linalg.norm(reference)
    values = np.linalg.eigvalsh(ggn)
    assert values[0] >= -1e-6 * values[-1]
    top = probe.eigenvalues(k=1, operator="ggn")
    assert top.values[0] == pytest.approx(values[-1], rel=1e-4)
    # The Hessian differs from G by the residual term Σ_k (∂ℓ/∂f_k) ∇²f_k ≠ 0 here.
    hessian = probe.dense_hessian()
    assert np.linalg.norm(hessian - ggn) > 1e-3 * np.linalg.norm(ggn)


def test_linear_model_with_mse_has_ggn_equal_to_hessian():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = rng(0).normal(size=(10, 3)).astype("float32")
    y = rng(1).normal(size=(10, 2)).astype("float32")
    probe = HessianProbe(model, x, y, loss="mse", batch_size=4)  # three micro-batches
    ggn = dense_operator(probe.ggn_vp, probe.num_parameters)
    hessian = probe.dense_hessian()
    np.testing.assert_allclose(ggn, hessian, rtol=1e-5, atol=1e-6)
    # Closed form: each output unit's block (its kernel column and bias) is 2 [x 1]ᵀ[x 1] / (N K).
    xb = np.hstack([x, np.ones((10, 1))]).astype(np.float64)
    gram = 2 * xb.T @ xb / 20
    for unit in range(2):
        idx = [r * 2 + unit for r in range(3)] + [6 + unit]  # kernel (3, 2) row-major, bias
        np.testing.assert_allclose(ggn[np.ix_(idx, idx)], gram, rtol=1e-5, atol=1e-6)


def test_two_output_model_linear_in_its_weights_has_ggn_equal_to_hessian():
    # Each head is linear in its weights, so the network's own second derivatives
    # vanish and H = G for any loss on the outputs: here MSE on one head and
    # cross-entropy on the other, with loss weights, over three micro-batches.
    inputs = keras.Input((3,))
    regression = keras.layers.Dense(2, name="regression")(inputs)
    classes = keras.layers.Dense(3, name="classes")(inputs)
    model = keras.Model(inputs, [regression, classes])
    x = rng(0).normal(size=(10, 3)).astype("float32")
    y_regression = rng(1).normal(size=(10, 2)).astype("float32")
    y_classes = rng(2).integers(0, 3, size=(10,))
    loss = ["mse", keras.losses.SparseCategoricalCrossentropy(from_logits=True)]
    model.compile(loss=loss, loss_weights=[0.5, 2.0])
    probe = HessianProbe(model, x, [y_regression, y_classes], batch_size=4)
    ggn = dense_operator(probe.ggn_vp, probe.num_parameters)
    hessian = probe.dense_hessian()
    np.testing.assert_allclose(ggn, hessian, rtol=1e-4, atol=1e-6)
    assert np.linalg.norm(hessian) > 0.1  # both heads contribute


def test_hessian_minus_ggn_is_the_residual_of_the_product_saddle():
    # f = w₁w₂ (x = 1), ℓ = (f − 1)²: residual = 2(f − 1) ∇²f = 2(w₁w₂ − 1) [[0, 1], [1, 0]].
    w1, w2 = 0.2, 0.3
    model, x, y, loss = kn.datasets.product_saddle(w1=w1, w2=w2)
    probe = HessianProbe(model, x, y, loss=loss)
    ggn = dense_operator(probe.ggn_vp, 2)
    jac = np.array([w2, w1])
    np.testing.assert_allclose(ggn, 2 * np.outer(jac, jac), rtol=1e-5, atol=1e-7)
    residual = 2 * (w1 * w2 - 1) * np.array([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(probe.dense_hessian() - ggn, residual, rtol=1e-5, atol=1e-6)
    # The negative curvature is the residual's: H has a negative eigenvalue, G does not.
    h_eig = probe.eigenvalues(k=1, which="both").values
    g_eig = probe.eigenvalues(k=1, which="both", operator="ggn").values
    np.testing.assert_allclose(h_eig, np.linalg.eigvalsh(ggn + residual), atol=1e-5)
    np.testing.assert_allclose(g_eig, [0.0, 2 * (w1**2 + w2**2)], atol=1e-5)
    density_h = probe.spectral_density(operator="hessian")
    density_g = probe.spectral_density(operator="ggn")
    assert density_h.negative_fraction > 0.1  # SLQ's estimate of the true share 1/2
    assert density_g.negative_fraction == 0.0
    assert density_g.grid[-1] < density_h.grid[-1]  # λmax(G) = 0.26 < λmax(H) ≈ 1.89


def test_operator_is_validated():
    model, x, y, loss = kn.datasets.product_saddle()
    probe = HessianProbe(model, x, y, loss=loss)
    with pytest.raises(ValueError, match="operator='fisher'"):
        probe.eigenvalues(operator="fisher")
    with pytest.raises(ValueError, match="operator='fisher'"):
        probe.spectral_density(operator="fisher")
    with pytest.raises(ValueError, match="`v` must be a flat vector"):
        probe.ggn_vp(np.ones(3))
