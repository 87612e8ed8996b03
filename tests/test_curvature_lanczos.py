"""Lanczos eigenvalues, Hutch++ trace and SLQ density against dense eigendecompositions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.density import broadened_density, slq
from kerasnotes.curvature.lanczos import lanczos
from kerasnotes.curvature.trace import hutchpp

rng = np.random.default_rng


def random_symmetric(n: int, seed: int, distinct: int | None = None) -> np.ndarray:
    q, _ = np.linalg.qr(rng(seed).normal(size=(n, n)))
    values = rng(seed + 1).normal(size=n)
    if distinct is not None:  # few distinct eigenvalues: the Krylov space breaks down early
        values = np.resize(np.arange(distinct) - 1.0, n)
    return (q * values) @ q.T


@pytest.mark.backend_independent
def test_full_lanczos_recovers_every_eigenvalue_even_after_breakdown():
    for distinct in (None, 3):
        a = random_symmetric(40, seed=0, distinct=distinct)
        run = lanczos(lambda v, a=a: a @ v, rng(2).normal(size=40), 40, rng(3))
        theta, s = run.ritz()
        np.testing.assert_allclose(theta, np.linalg.eigvalsh(a), atol=1e-10)
        assert run.num_matvec == 40
        q = run.basis
        np.testing.assert_allclose(q.T @ q, np.eye(40), atol=1e-10)


@pytest.mark.backend_independent
def test_hutchpp_and_slq_on_a_matrix():
    a = random_symmetric(200, seed=4)
    a = a @ a.T / 10 + 0.1 * np.diag(np.linspace(0, 5, 200) ** 3)  # PSD, decaying spectrum
    estimate, stderr, used = hutchpp(lambda v: a @ v, 200, 99, rng(5))
    assert used == 99
    assert estimate == pytest.approx(np.trace(a), rel=0.05)
    assert abs(estimate - np.trace(a)) <= 5 * stderr
    quad = slq(lambda v: a @ v, 200, num_runs=4, num_steps=30, rng=rng(6))
    assert quad.weights.sum() == pytest.approx(1.0)
    grid, density, sigma = broadened_density(quad, 1000, None)
    assert np.trapezoid(density, grid) == pytest.approx(1.0)
    assert grid[0] < quad.nodes.min() - 4 * sigma


def cross_entropy_mlp(hidden: int = 12):
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(hidden, activation="tanh"), keras.layers.Dense(3)]
    )
    x = rng(0).normal(size=(80, 8)).astype("float32")
    y = rng(1).integers(0, 3, 80)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return HessianProbe(model, x, y, loss=loss, batch_size=40)


def test_lanczos_matches_eigh_at_both_ends():
    probe = cross_entropy_mlp()  # 147 parameters
    h = probe.dense_hessian()
    exact = np.linalg.eigvalsh(h)
    before = probe._num_hvp
    result = probe.eigenvalues(k=2, which="both", tol=1e-4)
    assert result.converged
    assert result.num_hvp == probe._num_hvp - before < probe.num_parameters
    np.testing.assert_allclose(result.values, exact[[0, 1, -2, -1]], rtol=1e-4)
    scale = np.max(np.abs(exact))
    for value, vector, residual in zip(
        result.values, result.vectors.T, result.residuals, strict=True
    ):
        assert np.linalg.norm(vector) == pytest.approx(1.0)
        true_residual = np.linalg.norm(h @ vector - value * vector)
        assert true_residual <= 1e-4 * scale
        assert residual == pytest.approx(true_residual, rel=0.1, abs=1e-5 * scale)
    largest = probe.eigenvalues(k=1, which="largest", v0=result.vectors[:, -1])
    assert largest.values[0] == pytest.approx(exact[-1], rel=1e-4)
    assert largest.num_hvp <= 3  # warm start from the answer converges at once
    smallest = probe.eigenvalues(k=1, which="smallest")
    assert smallest.values[0] == pytest.approx(exact[0], rel=1e-4)


def test_lanczos_reports_non_convergence_within_max_iter():
    probe = cross_entropy_mlp()
    result = probe.eigenvalues(k=1, which="smallest", tol=1e-8, max_iter=5)
    assert not result.converged
    assert result.num_hvp == 5


def regression_mlp():
    # MSE, not softmax cross-entropy: no exact zero eigenvalues (softmax's shift
    # invariance makes some), which SLQ cannot tell from the small bulk beside them.
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(12, activation="tanh"), keras.layers.Dense(3)]
    )
    x = rng(0).normal(size=(80, 8)).astype("float32")
    y = rng(1).normal(size=(80, 3)).astype("float32")
    return HessianProbe(model, x, y, loss="mse", batch_size=40)


def test_trace_and_density_against_the_dense_spectrum():
    probe = regression_mlp()  # 147 parameters
    exact = np.linalg.eigvalsh(probe.dense_hessian())
    trace = probe.trace(num_samples=100)
    assert trace.num_hvp == 100
    assert trace.estimate == pytest.approx(exact.sum(), rel=0.05)
    assert 0 < abs(trace.estimate - exact.sum()) <= 4 * trace.stderr
    # Sampling error of the count ~ sqrt(2 f (1 − f) / (n R)) = 0.018 for n = 147, R = 10.
    density = probe.spectral_density(num_runs=10, num_steps=80)
    assert density.num_hvp == 10 * 80
    assert np.trapezoid(density.density, density.grid) == pytest.approx(1.0, abs=0.01)
    assert density.grid[0] < exact[0] and density.grid[-1] > exact[-1]
    negative = np.mean(exact < -1e-6 * np.max(np.abs(exact)))
    assert abs(density.negative_fraction - negative) <= 0.05


def test_solver_arguments_are_checked():
    probe = cross_entropy_mlp(hidden=2)
    with pytest.raises(ValueError, match="num_samples"):
        probe.trace(num_samples=2)
    with pytest.raises(ValueError, match="grid_size"):
        probe.spectral_density(grid_size=1)
    with pytest.raises(ValueError, match="tol"):
        probe.eigenvalues(tol=0.0)
    with pytest.raises(ValueError, match="v0"):
        probe.eigenvalues(v0=np.zeros(probe.num_parameters))
