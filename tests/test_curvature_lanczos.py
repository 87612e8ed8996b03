"""Lanczos eigenvalues, Hutch++ trace and SLQ density against dense eigendecompositions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe, spectrum
from kerasnotes.curvature.density import broadened_density, slq
from kerasnotes.curvature.lanczos import block_lanczos, lanczos
from kerasnotes.curvature.spectrum import SpectrumMethods
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


def three_output_regression():
    """Dense(3), MSE, random x: H = I₃ ⊗ G, every eigenvalue of G three times."""
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    x = rng(7).normal(size=(50, 6)).astype("float32")
    y = rng(8).normal(size=(50, 3)).astype("float32")
    return HessianProbe(model, x, y, loss="mse")


@pytest.mark.parametrize("which", ["largest", "smallest"])
def test_repeated_eigenvalues_are_found_with_their_multiplicity(which):
    probe = three_output_regression()  # 21 parameters, 7 distinct eigenvalues
    h = probe.dense_hessian()
    exact = np.linalg.eigvalsh(h)
    wanted = exact[-3:] if which == "largest" else exact[:3]
    assert np.ptp(wanted) <= 1e-5 * np.max(np.abs(exact))  # one value, three times
    result = probe.eigenvalues(k=3, which=which, tol=1e-5)
    assert result.converged
    np.testing.assert_allclose(result.values, wanted, rtol=1e-5)
    # Three independent eigenvectors of the repeated value, not one found thrice.
    np.testing.assert_allclose(result.vectors.T @ result.vectors, np.eye(3), atol=1e-6)
    scale = np.max(np.abs(exact))
    for value, vector in zip(result.values, result.vectors.T, strict=True):
        assert np.linalg.norm(h @ vector - value * vector) <= 1e-5 * scale


def clustered_quadratic():
    """L(w) = mean((Xw)²) with H = 2XᵀX/N = V diag(λ) Vᵀ: 1.0, 0.999, 0.998 above a bulk."""
    bulk = np.linspace(0.05, 0.8, 37)
    values = np.concatenate([bulk, [0.998, 0.999, 1.0]])
    n = len(values)
    v, _ = np.linalg.qr(rng(9).normal(size=(n, n)))
    x = np.sqrt(n / 2.0) * (np.sqrt(values)[:, None] * v.T)  # N = n rows
    model = keras.Sequential([keras.Input((n,)), keras.layers.Dense(1, use_bias=False)])
    return HessianProbe(model, x.astype("float32"), np.zeros((n, 1), "float32"), loss="mse")


def test_clustered_eigenvalues_are_all_found():
    probe = clustered_quadratic()
    exact = np.linalg.eigvalsh(probe.dense_hessian())
    np.testing.assert_allclose(exact[-3:], [0.998, 0.999, 1.0], atol=1e-5)
    result = probe.eigenvalues(k=3, which="largest", tol=1e-6)
    assert result.converged
    np.testing.assert_allclose(result.values, exact[-3:], atol=1e-6)
    both = probe.eigenvalues(k=3, which="both", tol=1e-6)
    assert both.converged
    np.testing.assert_allclose(both.values, exact[[0, 1, 2, -3, -2, -1]], atol=1e-6)


def test_block_lanczos_reports_non_convergence_within_max_iter():
    probe = clustered_quadratic()
    result = probe.eigenvalues(k=3, which="largest", tol=1e-6, max_iter=6)
    assert not result.converged
    assert result.num_hvp <= 6
    exact = np.linalg.eigvalsh(probe.dense_hessian())
    h = probe.dense_hessian()
    scale = np.max(np.abs(exact))
    for value, vector, residual in zip(
        result.values, result.vectors.T, result.residuals, strict=True
    ):
        true_residual = np.linalg.norm(h @ vector - value * vector)
        assert residual == pytest.approx(true_residual, rel=1e-3, abs=1e-6 * scale)
    assert np.max(result.residuals) > 1e-6 * scale


@pytest.mark.backend_independent
def test_block_lanczos_sees_multiplicity_and_deflates_rank_deficient_blocks():
    q, _ = np.linalg.qr(rng(10).normal(size=(30, 30)))
    values = np.concatenate([[4.0] * 3, [-2.0] * 3, np.linspace(-1, 1, 24)])
    a = (q * values) @ q.T
    # A single vector sees 4.0 once, however long it runs.
    single = lanczos(lambda v: a @ v, rng(11).normal(size=30), 20, rng(12))
    assert np.sum(np.abs(single.ritz()[0] - 4.0) < 1e-8) == 1
    # Start block with a repeated column (rank 2 of 3): deflated and refilled.
    start = rng(13).normal(size=(30, 3))
    start[:, 2] = start[:, 0]
    run = block_lanczos(lambda v: a @ v, start, 30, rng(14))
    assert run.num_matvec == 30
    np.testing.assert_allclose(run.basis.T @ run.basis, np.eye(30), atol=1e-10)
    np.testing.assert_allclose(run.ritz()[0], np.sort(values), atol=1e-10)
    # Few distinct eigenvalues: the block space becomes invariant after two steps
    # (rank-deficient residual block); the run continues in fresh directions.
    b = (q * np.resize([1.0, 2.0], 30)) @ q.T
    run = block_lanczos(lambda v: b @ v, rng(15).normal(size=(30, 3)), 30, rng(16))
    np.testing.assert_allclose(run.ritz()[0], np.sort(np.resize([1.0, 2.0], 30)), atol=1e-10)
    np.testing.assert_allclose(run.basis.T @ run.basis, np.eye(30), atol=1e-10)
    # Stopped early: the residual formula equals the true residual of every Ritz pair.
    run = block_lanczos(lambda v: a @ v, rng(17).normal(size=(30, 3)), 12, rng(18))
    theta, s = run.ritz()
    vectors = run.basis @ s
    true = np.linalg.norm(a @ vectors - vectors * theta, axis=0)
    np.testing.assert_allclose(run.residuals(s), true, atol=1e-12)
    assert run.num_matvec == 12 and true.max() > 1e-3
    np.testing.assert_allclose(theta[-3:], [4.0] * 3, atol=5e-3)  # three copies of 4 emerge


def test_repeated_eigenvalues_not_converged_when_max_iter_is_too_small():
    probe = three_output_regression()
    result = probe.eigenvalues(k=3, which="largest", tol=1e-8, max_iter=3)
    assert result.num_hvp == 3
    assert not result.converged
    h = probe.dense_hessian()
    for value, vector, residual in zip(
        result.values, result.vectors.T, result.residuals, strict=True
    ):
        assert residual == pytest.approx(np.linalg.norm(h @ vector - value * vector), rel=1e-3)


class DenseSpectrum(SpectrumMethods):
    """``eigenvalues`` on an explicit matrix, its products counted."""

    def __init__(self, a: np.ndarray) -> None:
        self.a, self.num_parameters, self.count = a, len(a), 0

    def _operator(self, name: str):
        def matvec(v):
            self.count += 1
            return self.a @ v

        return matvec

    def _counted(self) -> int:
        return self.count

    def _check_vector(self, v, name):
        return np.asarray(v, dtype=np.float64)


def clustered_low_end(n: int = 300) -> np.ndarray:
    """λmin = −0.2 at the edge of a cluster of 40 below 0.3, a bulk in [0, 1), and 4, 5 on top."""
    q, _ = np.linalg.qr(rng(0).normal(size=(n, n)))
    low = -0.2 + 0.5 * rng(1).random(40) ** 2
    values = np.concatenate([[-0.2], low, rng(2).random(n - 43), [4.0, 5.0]])
    return (q * values) @ q.T


@pytest.mark.backend_independent
def test_refined_ritz_pair_has_the_smaller_true_residual():
    a = clustered_low_end()
    run = lanczos(lambda v: a @ v, rng(3).normal(size=300), 30, rng(4))
    theta, s = run.ritz()
    for i in (0, -1):
        y, rho, residual = run.refined(theta[i])
        u = run.basis @ y
        assert np.linalg.norm(u) == pytest.approx(1.0)
        assert rho == pytest.approx(u @ a @ u, abs=1e-12)
        assert residual == pytest.approx(np.linalg.norm(a @ u - rho * u), rel=1e-6, abs=1e-12)
        assert residual <= run.residuals(s[:, [i]])[0] + 1e-12  # both at rounding when converged
    y, rho, residual = run.refined(theta[0])
    assert residual < 0.7 * run.residuals(s[:, [0]])[0]  # the clustered end gains most


@pytest.mark.backend_independent
def test_refined_pairs_stop_both_ends_earlier_at_the_same_tolerance(monkeypatch):
    a = clustered_low_end()
    exact = np.linalg.eigvalsh(a)[[0, -1]]
    counts = {}
    for window in (spectrum.REFINE_WINDOW, 0.0):  # 0: the Ritz residuals alone decide
        monkeypatch.setattr(spectrum, "REFINE_WINDOW", window)
        for tol in (1e-3, 1e-4):
            result = DenseSpectrum(a).eigenvalues(k=1, which="both", tol=tol, seed=0)
            assert result.converged
            counts[window, tol] = result.num_hvp
            for value, vector, residual, true in zip(
                result.values, result.vectors.T, result.residuals, exact, strict=True
            ):
                true_residual = np.linalg.norm(a @ vector - value * vector)
                assert residual == pytest.approx(true_residual, rel=1e-6, abs=1e-12)
                assert true_residual <= tol * 5.0
                assert abs(value - true) <= true_residual + 1e-12  # symmetric: |θ − λ| ≤ ‖r‖
    # Measured: 21 against 24 products at tol 1e-3, 51 against 56 at 1e-4.
    assert counts[10.0, 1e-3] <= counts[0.0, 1e-3] - 2
    assert counts[10.0, 1e-4] <= counts[0.0, 1e-4] - 3


def test_both_ends_with_one_vector_match_the_dense_hessian():
    probe = cross_entropy_mlp()
    h = probe.dense_hessian()
    exact = np.linalg.eigvalsh(h)
    result = probe.eigenvalues(k=1, which="both", tol=1e-5)
    assert result.converged
    scale = np.max(np.abs(exact))
    np.testing.assert_allclose(result.values, exact[[0, -1]], rtol=1e-4, atol=1e-5 * scale)
    for value, vector, residual in zip(
        result.values, result.vectors.T, result.residuals, strict=True
    ):
        true_residual = np.linalg.norm(h @ vector - value * vector)
        assert true_residual <= 1e-5 * scale * 1.01
        assert residual == pytest.approx(true_residual, rel=0.1, abs=1e-6 * scale)


def hidden_top(n: int = 300, component: float = 1e-3, seed: int = 0) -> np.ndarray:
    """λmax = 4.14 beside λ₂ = 4.07, its eigenvector at ``component`` of ``seed``'s random start.

    The shape of the trained digits MLP's top (4.1411 and 4.0694): from a start
    that barely sees λmax the second eigenvalue meets the tolerance first.
    """
    start = rng(seed).standard_normal(n)  # the start eigenvalues(seed=seed) draws
    start /= np.linalg.norm(start)
    other = rng(99).normal(size=n)
    other -= (other @ start) * start
    top = np.sqrt(1.0 - component**2) * other / np.linalg.norm(other) + component * start
    q, _ = np.linalg.qr(np.column_stack([top, rng(98).normal(size=(n, n - 1))]))
    values = np.concatenate([[4.14, 4.07], 3.2 * rng(97).random(n - 2) - 0.1])
    return (q * values) @ q.T


@pytest.mark.backend_independent
def test_a_random_start_is_not_stopped_before_the_minimum_krylov_dimension():
    a = hidden_top()
    # Without the guard the residual test accepts the second eigenvalue, "converged".
    early = DenseSpectrum(a).eigenvalues(k=1, tol=1e-3, seed=0, min_iter=1)
    assert early.converged and early.num_hvp < spectrum.MIN_KRYLOV_DIM
    assert early.values[0] == pytest.approx(4.07, abs=1e-3)
    guarded = DenseSpectrum(a).eigenvalues(k=1, tol=1e-3, seed=0)
    assert guarded.converged and guarded.num_hvp == spectrum.MIN_KRYLOV_DIM == 20
    assert guarded.values[0] == pytest.approx(4.14, rel=1e-5)
    both = DenseSpectrum(a).eigenvalues(k=1, which="both", tol=1e-3, seed=0)
    assert both.num_hvp >= 20 and both.values[1] == pytest.approx(4.14, rel=1e-5)
    # Blocks: a basis of at least max(20, 2·wanted + 1) vectors, in whole blocks.
    block = DenseSpectrum(a).eigenvalues(k=4, which="both", tol=1e-3, seed=0)
    assert block.num_hvp >= 20 and block.num_hvp % 4 == 0
    assert block.values[-1] == pytest.approx(4.14, rel=1e-5)
    # A given v0 is a warm start: it may stop at once.
    warm = DenseSpectrum(a).eigenvalues(k=1, tol=1e-3, v0=guarded.vectors[:, 0])
    assert warm.num_hvp <= 3 and warm.values[0] == pytest.approx(4.14, rel=1e-5)
    # The guard never asks for more than max_iter or the dimension.
    small = DenseSpectrum(np.diag([1.0, 2.0, 3.0])).eigenvalues(k=1, tol=1e-3)
    assert small.num_hvp == 3 and small.values[0] == pytest.approx(3.0)
    capped = DenseSpectrum(a).eigenvalues(k=1, tol=1e-3, max_iter=12)
    assert capped.num_hvp <= 12


@pytest.mark.backend_independent
def test_min_iter_is_checked():
    probe = DenseSpectrum(np.diag(np.arange(1.0, 31.0)))
    with pytest.raises(TypeError, match="min_iter"):
        probe.eigenvalues(min_iter=2.5)
    with pytest.raises(ValueError, match="min_iter"):
        probe.eigenvalues(min_iter=0)
    with pytest.raises(ValueError, match="min_iter"):
        probe.eigenvalues(max_iter=10, min_iter=11)
