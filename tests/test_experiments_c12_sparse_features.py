"""C12 (sparse features): the task generator, the claim end to end, and its verdict rule.

The end-to-end test replays the session's one quick-mode training (conftest's
``quick_claims``); the generator is checked against its formula, the rule on
numbers built by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from _claims import check_numbers

from kerasnotes import experiments
from kerasnotes.experiments import c12_sparse_features as c12
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Context


@pytest.mark.backend_independent
def test_the_task_has_rare_features_at_their_frequencies_that_decide_the_label():
    x, y, carries = c12.sparse_task(40_000, seed=3)
    dense, rare = x[:, : c12.DENSE_FEATURES], x[:, c12.DENSE_FEATURES :]
    assert x.shape == (40_000, c12.DENSE_FEATURES + c12.RARE_FEATURES)
    assert set(np.unique(rare)) == {0.0, 1.0}
    frequency = rare.mean(axis=0)
    # binomial standard error of a frequency p over n rows: √(p(1 − p)/n)
    stderr = np.sqrt(c12.RARE_FREQUENCIES * (1 - c12.RARE_FREQUENCIES) / len(x))
    assert np.all(np.abs(frequency - c12.RARE_FREQUENCIES) < 5 * stderr)
    assert np.std(dense) == pytest.approx(c12.DENSE_SCALE, rel=0.02)
    np.testing.assert_array_equal(carries, rare.any(axis=1))
    # One rare feature (weight ±4) outweighs the dense part (weight std 0.15 × scale 2),
    # so on rows with exactly one rare feature the label is that feature's sign.
    truth = np.random.default_rng(3)
    truth.normal(0.0, c12.DENSE_WEIGHT, c12.DENSE_FEATURES)
    signs = truth.choice([-1.0, 1.0], c12.RARE_FEATURES)
    single = rare.sum(axis=1) == 1
    predicted = (rare[single] @ signs) > 0
    assert np.mean(predicted == (y[single] > 0.5)) > 0.95
    # The validation and test sets of one task share its true weights.
    a = c12.sparse_task(5, seed=7, weights_seed=3)
    b = c12.sparse_task(5, seed=7, weights_seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.e2e
def test_c12_runs_end_to_end_with_finite_figures_and_inspected_rates(tmp_path, replay_quick_claims):
    result = c12.run("quick", tmp_path)

    assert result.claim == "C12" and experiments.REGISTRY["C12"] == c12.__name__
    assert result.verdict.startswith("C12: undecided (smoke test)")
    assert "criterion" in result.verdict
    assert result.reproduced is None and result.status == "undecided (smoke test)"
    check_numbers(result.numbers)  # one seed: every _stderr is NaN (no spread)
    # Quick mode trains each optimizer once, at the middle of its sweep.
    assert [run.name for run in result.runs] == [
        f"{name}_lr{rates[len(rates) // 2]:g}" for name, rates in c12.SWEEP.items()
    ]
    for name, rates in c12.SWEEP.items():
        assert result.numbers[f"best_learning_rate_{name}"] == rates[len(rates) // 2]
        assert 0.0 <= result.numbers[f"rare_accuracy_{name}"] <= 1.0
    # inspect(): SGD's effective rate is its learning rate for every feature; Adagrad's
    # α/√(Σg²) is larger for the rare features, whose squared gradients sum to less.
    assert result.numbers["rate_slope_sgd"] == pytest.approx(0.0, abs=1e-9)
    assert result.numbers["rare_to_dense_rate_sgd"] == pytest.approx(1.0)
    assert result.numbers["rare_to_dense_rate_adagrad"] > 2.0
    assert result.numbers["rate_slope_adagrad"] < 0.0
    assert result.plot == tmp_path / "C12" / "c12_sparse_features.png"
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _run(rare: float) -> dict:
    frequency = np.concatenate([np.ones(c12.DENSE_FEATURES), c12.RARE_FREQUENCIES])
    return {
        "rate": 0.1,
        "val_accuracy": 0.8,
        "rare_accuracy": rare,
        "common_accuracy": 0.9,
        "effective_rates": 0.1 / np.sqrt(frequency),
        "frequency": frequency,
        "final_loss": 0.3,
    }


def _judge(tmp_path, accuracies: dict[str, list[float]]):
    seeds = list(range(len(accuracies["sgd"])))
    context = Context("default", c12.SIZES["default"], 0, seeds, ClaimFiles(tmp_path, "C12"))
    best = {name: [_run(a) for a in values] for name, values in accuracies.items()}
    sweep = {name: {0.1: runs[0]} for name, runs in best.items()}
    return c12.SparseFeatures().judge(context, {"sweep": sweep, "best": best})


@pytest.mark.backend_independent
def test_the_rule_needs_both_adaptive_optimizers_ahead_beyond_the_seed_spread(tmp_path):
    judged = _judge(
        tmp_path,
        {"sgd": [0.6, 0.62, 0.61], "adagrad": [0.8, 0.83, 0.81], "adam": [0.75, 0.74, 0.78]},
    )
    assert judged.reproduced is True
    assert judged.numbers["rare_gain_adagrad_mean"] == pytest.approx(0.2033, abs=1e-3)
    # effective rate 0.1/√frequency: a slope of −½ on log-log axes
    assert judged.numbers["rate_slope_adagrad"] == pytest.approx(-0.5)
    assert judged.plot.read_bytes()[:4] == b"\x89PNG"
    behind = _judge(
        tmp_path,
        {"sgd": [0.8, 0.82, 0.81], "adagrad": [0.6, 0.63, 0.61], "adam": [0.75, 0.74, 0.78]},
    )
    assert behind.reproduced is False
    noisy = _judge(
        tmp_path,
        {"sgd": [0.6, 0.62, 0.61], "adagrad": [0.8, 0.83, 0.81], "adam": [0.9, 0.55, 0.62]},
    )
    assert noisy.reproduced is None


@pytest.mark.backend_independent
def test_c12_is_registered_with_sizes_for_every_mode():
    module = experiments.load("C12")
    assert module is c12 and module.CLAIM == "C12" and module.TITLE
    assert set(module.SIZES) == set(experiments.MODES)
    assert experiments.parse_claims("C12,c11") == ["C11", "C12"]
