"""HessianProbe.analyze (notes F13, F14) on closed forms and against dense Hessians."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature import analysis as analysis_module


class ScalarProduct(keras.layers.Layer):
    """Outputs w₁·w₂·…·w_d for every sample: a deep linear net of width one."""

    def __init__(self, depth: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth

    def build(self, input_shape):
        self.factors = [
            self.add_weight(shape=(), initializer="zeros", name=f"w{i}") for i in range(self.depth)
        ]

    def call(self, x):
        out = ops.ones_like(x[:, :1])
        for w in self.factors:
            out = out * w
        return out


def squared_error(y_true, y_pred):
    return (y_true - y_pred) ** 2


def product_probe(depth: int, weights=None) -> HessianProbe:
    """A probe of L(w) = (1 − w₁·…·w_d)² at the given weights (zeros by default)."""
    model = keras.Sequential([keras.Input((1,)), ScalarProduct(depth)])
    if weights is not None:
        model.set_weights([np.array(w, "float32") for w in weights])
    return HessianProbe(
        model, np.ones((4, 1), "float32"), np.ones((4, 1), "float32"), loss=squared_error
    )


def test_two_weight_saddle_closed_form():
    probe = product_probe(2)
    np.testing.assert_allclose(probe.dense_hessian(), [[0.0, -2.0], [-2.0, 0.0]], atol=1e-6)
    eig = probe.eigenvalues(k=1, which="both")
    np.testing.assert_allclose(eig.values, [-2.0, 2.0], rtol=1e-6)
    assert eig.converged
    point = probe.analyze()
    assert point.kind == "saddle"
    assert point.grad_norm == pytest.approx(0.0, abs=1e-7)
    assert (point.lambda_min, point.lambda_max) == pytest.approx((-2.0, 2.0), rel=1e-6)
    assert point.minimum_ratio == 0.5
    np.testing.assert_allclose(np.abs(point.escape_direction), [2**-0.5, 2**-0.5], rtol=1e-6)
    # The escape direction lowers the loss: L(ηu) = (1 − η²/2)² < 1 = L(0).
    u = point.escape_direction
    assert u[0] * u[1] > 0


def test_three_layer_linear_net_at_zero_is_flat():
    point = product_probe(3).analyze()
    assert point.kind == "flat"
    assert point.lambda_min == pytest.approx(0.0, abs=1e-7)
    assert point.lambda_max == pytest.approx(0.0, abs=1e-7)
    assert point.escape_direction is None


def test_degenerate_minimum_and_maximum_and_non_critical():
    # At w = (1, 1): H = [[2, 2], [2, 2]], eigenvalues 0 and 4: a degenerate minimum.
    point = product_probe(2, weights=[1.0, 1.0]).analyze()
    assert point.kind == "local_minimum"
    assert (point.lambda_min, point.lambda_max) == pytest.approx((0.0, 4.0), abs=1e-5)
    assert point.minimum_ratio == 0.5
    # −MSE of a linear model at w = 0, y = 0: H = −2XᵀX/N, negative definite.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights([np.zeros((3, 1), "float32")])
    x = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    negated = HessianProbe(model, x, np.zeros((20, 1)), loss=lambda t, p: -((t - p) ** 2))
    point = negated.analyze()
    assert point.kind == "local_maximum"
    assert point.minimum_ratio == 0.0
    expected = np.linalg.eigvalsh(-2 * x.T.astype(np.float64) @ x / 20)
    assert (point.lambda_min, point.lambda_max) == pytest.approx(
        (expected[0], expected[-1]), rel=1e-5
    )
    # Same model, non-zero targets: the gradient is far from zero.
    moving = HessianProbe(model, x, np.ones((20, 1)), loss="mse").analyze(grad_tol=1e-3)
    assert moving.kind == "not_critical"
    assert moving.grad_norm > 0.1
    assert moving.lambda_min > 0


def test_large_model_path_matches_the_dense_spectrum(monkeypatch):
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(10, activation="tanh"), keras.layers.Dense(4)]
    )
    x = np.random.default_rng(0).normal(size=(60, 6)).astype("float32")
    y = np.random.default_rng(1).normal(size=(60, 4)).astype("float32")
    # MSE, not softmax cross-entropy: softmax's shift invariance gives exact zero
    # eigenvalues, which SLQ cannot tell from the small positive bulk beside them.
    loss = keras.losses.MeanSquaredError()
    dense = HessianProbe(model, x, y, loss=loss)
    values = np.linalg.eigvalsh(dense.dense_hessian())
    exact = dense.analyze(grad_tol=10.0)
    scale = np.max(np.abs(values))
    assert exact.minimum_ratio == pytest.approx(np.mean(values > 1e-4 * scale))
    monkeypatch.setattr(analysis_module, "DENSE_ANALYZE_LIMIT", 10)
    probe = HessianProbe(model, x, y, loss=loss)
    point = probe.analyze(grad_tol=10.0)
    assert point.kind == exact.kind == "saddle"
    assert point.lambda_max == pytest.approx(values[-1], rel=1e-4)
    assert point.lambda_min == pytest.approx(values[0], rel=1e-4)
    # The reported standard error is the spread across runs, about
    # sqrt(2 f (1 − f) / (n R)) for n = 114 parameters; allow 3 of them.
    assert exact.minimum_ratio_stderr == 0.0
    assert 0 < point.minimum_ratio_stderr <= analysis_module.ANALYZE_TARGET_STDERR
    assert abs(point.minimum_ratio - exact.minimum_ratio) <= 3 * point.minimum_ratio_stderr
    u = point.escape_direction
    h = dense.dense_hessian()
    assert np.linalg.norm(h @ u - point.lambda_min * u) <= 1e-3 * scale
    # The detector's follow-up density call reuses the cached quadrature.
    before = probe._num_hvp
    density = probe.spectral_density(
        num_runs=probe.analysis_runs, num_steps=analysis_module.ANALYZE_STEPS
    )
    assert probe._num_hvp == before
    assert density.positive_fraction == pytest.approx(point.minimum_ratio, abs=1e-12)


def test_bad_tolerances():
    probe = product_probe(2)
    with pytest.raises(ValueError, match="grad_tol"):
        probe.analyze(grad_tol=-1.0)
    with pytest.raises(ValueError, match="curvature_tol"):
        probe.analyze(curvature_tol="small")


# ---------------------------------------------------------------- SLQ masses
def _rotated(eigenvalues: np.ndarray, seed: int = 0) -> np.ndarray:
    """A dense symmetric matrix with exactly these eigenvalues (random eigenvectors)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((eigenvalues.size,) * 2))
    return (q * eigenvalues) @ q.T


def _slq_masses(h: np.ndarray, num_runs: int, num_steps: int, curvature_tol: float = 1e-4):
    from kerasnotes.curvature import classify
    from kerasnotes.curvature.density import slq

    quadrature = slq(lambda v: h @ v, h.shape[0], num_runs, num_steps, np.random.default_rng(0))
    tau = classify.threshold(quadrature.nodes.min(), quadrature.nodes.max(), curvature_tol)
    return quadrature, quadrature.masses(tau), tau


def test_psd_hessian_with_many_tiny_eigenvalues_has_no_negative_mass():
    from kerasnotes.curvature.density import broadened_density

    rng = np.random.default_rng(1)
    eigenvalues = np.concatenate([rng.uniform(0, 1e-6, 540), rng.uniform(0.1, 10, 60)])
    h = _rotated(eigenvalues)
    quadrature, masses, tau = _slq_masses(h, num_runs=5, num_steps=80)
    assert masses.negative <= 2 * masses.negative_stderr + 1e-12
    assert masses.zero == pytest.approx(0.9, abs=max(3 * masses.zero_stderr, 1e-3))
    assert masses.positive == pytest.approx(0.1, abs=max(3 * masses.positive_stderr, 1e-3))
    assert masses.negative + masses.zero + masses.positive == pytest.approx(1.0)
    # The smoothed curve of the same quadrature puts much of the zero cluster below
    # zero: that is why no mass may be read off the curve.
    grid, density, _ = broadened_density(quadrature, 1000, None)
    assert np.trapezoid(np.where(grid < 0, density, 0.0), grid) > 0.2


def test_thirty_percent_negative_within_three_stderr():
    rng = np.random.default_rng(2)
    eigenvalues = np.concatenate(
        [rng.uniform(-2, -0.05, 180), rng.uniform(-1e-6, 1e-6, 120), rng.uniform(0.05, 10, 300)]
    )
    h = _rotated(eigenvalues, seed=3)
    _, masses, tau = _slq_masses(h, num_runs=10, num_steps=analysis_module.ANALYZE_STEPS)
    exact = [np.mean(eigenvalues < -tau), np.mean(np.abs(eigenvalues) <= tau)]
    assert exact == pytest.approx([0.3, 0.2])
    assert 0 < masses.negative_stderr < 0.05
    assert abs(masses.negative - 0.3) <= 3 * masses.negative_stderr
    assert abs(masses.zero - 0.2) <= 3 * max(masses.zero_stderr, 0.005)


def test_mass_stderr_is_the_spread_of_the_per_run_masses():
    rng = np.random.default_rng(4)
    h = _rotated(rng.uniform(-1, 3, 200), seed=5)
    quadrature, masses, tau = _slq_masses(h, num_runs=6, num_steps=200)
    per_run = quadrature.run_masses(tau)
    assert per_run.shape == (6, 3)
    np.testing.assert_allclose(per_run.sum(axis=1), 1.0)
    assert np.ptp(per_run[:, 0]) > 0  # independent start vectors give different masses
    np.testing.assert_allclose(
        [masses.negative, masses.zero, masses.positive], per_run.mean(axis=0)
    )
    np.testing.assert_allclose(
        [masses.negative_stderr, masses.zero_stderr, masses.positive_stderr],
        per_run.std(axis=0, ddof=1) / np.sqrt(6),
    )
    # Full-length runs (steps = n) make each run's quadrature exact for its start
    # vector, so only the start vectors' randomness is left.
    exact = np.mean(np.linalg.eigvalsh(h) < -tau)
    assert abs(masses.negative - exact) <= 3 * masses.negative_stderr
    _, single, _ = _slq_masses(h, num_runs=1, num_steps=10)
    assert np.isnan(single.negative_stderr)


def test_spectral_density_masses_match_the_dense_spectrum():
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(10, activation="tanh"), keras.layers.Dense(4)]
    )
    x = np.random.default_rng(0).normal(size=(60, 6)).astype("float32")
    y = np.random.default_rng(1).normal(size=(60, 4)).astype("float32")
    probe = HessianProbe(model, x, y, loss=keras.losses.MeanSquaredError())
    values = np.linalg.eigvalsh(probe.dense_hessian())
    density = probe.spectral_density(num_runs=10, num_steps=probe.num_parameters)
    tau = density.threshold
    assert tau == pytest.approx(1e-4 * np.max(np.abs(values)), rel=1e-6)
    exact = [np.mean(values < -tau), np.mean(np.abs(values) <= tau), np.mean(values > tau)]
    measured = [density.negative_fraction, density.zero_fraction, density.positive_fraction]
    stderr = [
        density.negative_fraction_stderr,
        density.zero_fraction_stderr,
        density.positive_fraction_stderr,
    ]
    for value, reference, error in zip(measured, exact, stderr, strict=True):
        assert abs(value - reference) <= 3 * error + 1e-9
    assert density.num_runs == 10 and density.num_steps == probe.num_parameters
    with pytest.raises(ValueError, match="curvature_tol"):
        probe.spectral_density(curvature_tol=-1.0)
