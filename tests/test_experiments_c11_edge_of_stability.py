"""C11 (the edge of stability): the claim runs end to end, its measures match numpy, its rule decides.

The end-to-end test replays the session's one quick-mode training (conftest's
``quick_claims``); the measures and the verdict rule are checked on numbers
built by hand, so the rule is tested without training.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _claims import check_numbers
from _events import float_scalars

from kerasnotes import experiments, summary
from kerasnotes.experiments import c11_edge_of_stability as c11
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Context


@pytest.mark.e2e
def test_c11_runs_end_to_end_with_finite_figures_and_the_curvature_view_data(
    tmp_path, replay_quick_claims
):
    result = c11.run("quick", tmp_path)

    assert result.claim == "C11" and experiments.REGISTRY["C11"] == c11.__name__
    assert result.verdict.startswith("C11: undecided (smoke test)")
    assert "criterion" in result.verdict
    assert result.reproduced is None and result.status == "undecided (smoke test)"
    assert result.numbers["seeds"] == 1.0
    check_numbers(result.numbers)  # one seed: every _stderr is NaN (no spread)
    assert result.numbers["learning_rate"] == c11.LEARNING_RATE
    assert result.numbers["threshold"] == pytest.approx(2.0 / c11.LEARNING_RATE)
    assert result.numbers["grad_norm_end"] > 0 and result.numbers["num_hvp_edge"] >= 1
    assert result.plot == tmp_path / "C11" / "c11_edge_of_stability.png"
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [run.name for run in result.runs] == [c11.EDGE, c11.SMALLER, c11.ADAM]

    sizes = c11.SIZES["quick"]
    epochs = sizes.steps // sizes.steps_per_epoch
    for run_dir in result.runs:
        scalars = float_scalars(run_dir)
        assert len(scalars["epoch_loss"]) == epochs
        assert len(scalars["update_loss"]) == sizes.steps  # every full-batch step
        assert [step for step, _ in scalars[summary.TAG_GRAD_NORM]] == list(range(epochs))
        assert all(math.isfinite(v) and v > 0 for _, v in scalars[summary.TAG_GRAD_NORM])
    # The Curvature view: sharpness and its threshold on one axis, at every epoch of the
    # run at the edge; gradient descent's threshold is 2/η, Adam's (2 + 2β₁)/(1 − β₁) = 38.
    edge = float_scalars(tmp_path / "C11" / c11.EDGE)
    assert [step for step, _ in edge[summary.TAG_SHARPNESS]] == list(range(epochs))
    for _, threshold in edge[summary.TAG_SHARPNESS_THRESHOLD]:
        assert threshold == pytest.approx(2.0 / c11.LEARNING_RATE, rel=1e-6)
    quarter = float_scalars(tmp_path / "C11" / c11.SMALLER)[summary.TAG_SHARPNESS_THRESHOLD]
    assert quarter[0][1] == pytest.approx(8.0 / c11.LEARNING_RATE, rel=1e-6)
    adam = float_scalars(tmp_path / "C11" / c11.ADAM)[summary.TAG_SHARPNESS_THRESHOLD]
    assert adam[0][1] == pytest.approx(38.0, rel=1e-6)


@pytest.mark.backend_independent
def test_efficiency_is_one_for_small_steps_on_a_quadratic_and_rising_share_counts_rises():
    # L = ½λw², gradient λw, GD: w ← (1 − ηλ)w. Per step the decrease is
    # ½λw²(1 − (1 − ηλ)²) = η(λw)²(1 − ηλ/2): efficiency 1 − ηλ/2 with ‖∇L‖ taken at the
    # start of each step (the measure samples it between steps: close for a small step).
    lam, eta, steps = 2.0, 0.01, 400
    w = 1.0 * (1 - eta * lam) ** np.arange(steps + 1)
    losses = 0.5 * lam * w[:-1] ** 2
    norms = lam * w[:-1]
    assert c11.efficiency(losses, norms, eta) == pytest.approx(1 - eta * lam / 2, rel=0.03)
    # At ηλ = 2 exactly the weight flips sign every step: the loss stays, the gradient too.
    bounce = 0.5 * lam * np.ones(steps)
    assert c11.efficiency(bounce, lam * np.ones(steps), 2 / lam) == 0.0
    assert c11.rising_share(np.array([9.0, 1.0, 2.0, 1.5, 3.0, 2.0, 1.0])) == pytest.approx(1 / 3)
    assert c11.rising_share(np.exp(-np.arange(10.0))) == 0.0


def _result(ratio: float, rising: bool, efficiency: float, decrease: float, rate: float) -> dict:
    """One run's numbers as ``train`` returns them, built so the measures give these values."""
    steps = 40
    losses = np.geomspace(1.0, math.exp(-decrease), steps // 2)
    losses = np.concatenate([np.ones(steps // 2), losses])
    if rising:  # a rise on every fourth step of the second half, same end points
        losses[steps // 2 + 1 : -1 : 4] *= 1.3
    drop = losses[steps // 2] - losses[-1]
    norm = math.sqrt(drop / (rate * (steps - steps // 2) * efficiency))
    return {
        "rate": rate,
        "losses": losses,
        "norms": np.full(4, norm),
        "epochs": np.arange(4),
        "ratio": np.full(4, ratio),
        "sharpness": np.full(4, ratio * 2 / rate),
        "threshold": 2 / rate,
        "num_hvp": 10.0,
        "monitor_seconds": 0.1,
        "fit_seconds": 0.2,
    }


def _judge(tmp_path, edge: list[tuple], mode: str = "default"):
    """C11's judge on three seeds: the run at the edge as given, η/4 and Adam going on."""
    seeds = list(range(len(edge)))
    context = Context(mode, c11.SIZES[mode], 0, seeds, ClaimFiles(tmp_path, "C11"))
    rate = c11.LEARNING_RATE
    results = {
        c11.EDGE: [_result(*args, rate=rate) for args in edge],
        c11.SMALLER: [_result(0.3, False, 0.95 + 0.01 * s, 0.3, rate / 4) for s in seeds],
        c11.ADAM: [_result(0.4, False, 1.0, 0.8 + 0.01 * s, 0.01) for s in seeds],
    }
    return c11.EdgeOfStability().judge(context, results)


@pytest.mark.backend_independent
def test_the_rule_reproduces_only_at_the_edge_with_a_stalled_loss(tmp_path):
    at_edge = [(1.02, True, 0.02, 0.3), (1.05, True, 0.01, 0.32), (0.98, True, 0.03, 0.29)]
    judged = _judge(tmp_path, at_edge)
    assert judged.reproduced is True
    assert judged.numbers["seeds_at_edge"] == 3.0
    assert judged.numbers["efficiency_edge"] == pytest.approx(0.02, rel=1e-6)
    assert judged.numbers["edge_ratio"] == pytest.approx(np.mean([1.02, 1.05, 0.98]))
    assert "C11: full-batch GD" in judged.verdict and "reproduced" in judged.verdict
    assert judged.plot.read_bytes()[:4] == b"\x89PNG"

    # Below the threshold, descending as the gradient promises: not reproduced.
    stable = [(0.6, False, 0.97, 0.3), (0.62, False, 0.96, 0.3), (0.61, False, 0.95, 0.3)]
    assert _judge(tmp_path, stable).reproduced is False
    # One seed short of the edge: undecided, not reproduced.
    mixed = [(1.02, True, 0.02, 0.3), (1.05, True, 0.01, 0.32), (0.7, False, 0.03, 0.29)]
    assert _judge(tmp_path, mixed).reproduced is None
    # Quick mode decides nothing, whatever the numbers.
    quick = _judge(tmp_path, at_edge[:1], mode="quick")
    assert quick.reproduced is None and quick.verdict.startswith("C11: undecided (smoke test)")


@pytest.mark.backend_independent
def test_c11_is_registered_with_sizes_for_every_mode():
    module = experiments.load("C11")
    assert module is c11 and module.CLAIM == "C11" and module.TITLE
    assert set(module.SIZES) == set(experiments.MODES)
    for sizes in module.SIZES.values():
        assert sizes.steps % sizes.steps_per_epoch == 0
    assert experiments.parse_claims("c11, C2") == ["C2", "C11"]
