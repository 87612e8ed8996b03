"""SubsampleGate: its statistics against numpy, and its guarantee near critical points."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes import datasets
from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.gate import SubsampleGate


def _logistic(converged: bool):
    (x, y), _ = datasets.load_breast_cancer()
    y = y.astype("float32")[:, None]
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    if converged:
        model.fit(np.tile(x, (60, 1)), np.tile(y, (60, 1)), batch_size=len(x), epochs=8, verbose=0)
    return model, x, y


def test_subsample_statistics_match_per_group_gradients():
    model, x, y = _logistic(converged=False)
    gate = SubsampleGate(model, x, y, grad_tol=1e-3, samples=64, groups=16, z=4.0)
    rows = np.random.default_rng(1).integers(0, len(x), size=(16, 4))
    loss, norm, stderr, lower = gate.subsample(rows)
    grads = np.stack(
        [HessianProbe(model, x[r], y[r]).gradient() for r in rows]
    )  # float64 reference, one probe per group
    mean = grads.mean(0)
    assert norm == pytest.approx(np.linalg.norm(mean), rel=1e-4)
    ref_se = np.sqrt(((grads - mean) ** 2).sum() / (16 * 15))
    assert stderr == pytest.approx(ref_se, rel=1e-4)
    u = grads[:8].mean(0) / np.linalg.norm(grads[:8].mean(0))
    p = grads[8:] @ u
    assert lower == pytest.approx(p.mean() - 4.0 * p.std(ddof=1) / np.sqrt(8), rel=1e-3, abs=1e-5)
    assert loss == pytest.approx(
        np.mean([HessianProbe(model, x[r], y[r]).loss() for r in rows]), rel=1e-5
    )


@pytest.mark.parametrize("case", ["product_saddle", "linear_network"])
def test_never_misses_where_every_row_gradient_vanishes(case):
    if case == "product_saddle":
        model, x, y, loss = datasets.product_saddle()
        x, y = np.repeat(x, 100, 0), np.repeat(y, 100, 0)  # 100 identical rows
    else:
        model, x, y, loss = datasets.linear_network(depth=2, num_samples=256)
    for seed in range(5):
        gate = SubsampleGate(model, x, y, loss=loss, grad_tol=1e-3, samples=32, seed=seed)
        result = gate()
        assert result.exact and result.critical and result.grad_norm == 0.0


def test_converged_logistic_regression_is_never_missed_over_many_seeds():
    model, x, y = _logistic(converged=True)
    full = np.linalg.norm(HessianProbe(model, x, y).gradient())
    grad_tol = 2.5 * full  # so that ‖g‖ < grad_tol / 2
    assert full < grad_tol / 2
    gate = SubsampleGate(model, x, y, grad_tol=grad_tol, samples=128, seed=0)
    results = [gate() for _ in range(200)]  # fresh rows on every call
    assert all(r.exact and r.critical for r in results)


def test_far_from_critical_the_subsample_decides_alone():
    # the gate is not trivially exact: at a fixed non-critical point it answers from stage 1
    model, x, y, loss = datasets.product_saddle(0.5, 1.0)
    x, y = np.repeat(x, 100, 0), np.repeat(y, 100, 0)
    gate = SubsampleGate(model, x, y, loss=loss, grad_tol=1e-3, samples=32)
    result = gate()
    assert not result.exact and not result.critical
    assert result.grad_norm == pytest.approx(np.sqrt(1.25), rel=1e-6)
    assert result.grad_norm_lower == pytest.approx(np.sqrt(1.25), rel=1e-5)


def test_wrong_arguments():
    model, x, y, loss = datasets.product_saddle()
    with pytest.raises(ValueError, match="`groups` must be even"):
        SubsampleGate(model, x, y, loss=loss, grad_tol=1e-3, groups=5)
    with pytest.raises(ValueError, match="samples=3"):
        SubsampleGate(model, x, y, loss=loss, grad_tol=1e-3, samples=3)
    with pytest.raises(ValueError, match="grad_tol"):
        SubsampleGate(model, x, y, loss=loss, grad_tol=-1.0)
