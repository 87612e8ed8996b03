"""Claim C13: batch norm and the sharpness. The stability check in closed form, the verdict
rule on made-up measurements, and the claim end to end in quick mode (trained once)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from kerasnotes import experiments, summary
from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.results import LayerCurvature
from kerasnotes.experiments import c13_batch_norm_sharpness as c13
from kerasnotes.experiments.base import ClaimFiles
from kerasnotes.experiments.claim import Context


def test_gradient_descent_ratio_on_a_quadratic_follows_two_over_lambda():
    # L = mean((x w)²) with x² = 4: L = 4w², λ = 8, so GD multiplies w by (1 − 8η):
    # stable (|1 − 8η| < 1) exactly while η < 2/λ = 0.25.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights([np.array([[1.0]], "float32")])
    probe = HessianProbe(model, np.full((4, 1), 2.0), np.zeros((4, 1)), loss="mse")
    for rate in (0.05, 0.2, 0.3, 0.5):
        factor = (1 - 8 * rate) ** 2  # per step, on the loss
        assert c13.gradient_descent_ratio(probe, rate, 3) == pytest.approx(factor**3, rel=1e-5)
    assert c13.gradient_descent_ratio(probe, 0.2, 3) < 1 < c13.gradient_descent_ratio(probe, 0.3, 3)
    # The model's weights are not moved by the check.
    np.testing.assert_array_equal(model.get_weights()[0], [[1.0]])
    assert c13.gradient_descent_ratio(probe, 1e20, 3) == math.inf


def _measured(lambda_max: float, layers=None, ratio: float = 0.5) -> dict:
    return {
        "lambda_max": lambda_max,
        "num_hvp": 10,
        "layers": layers,
        "stability": {rate: ratio for rate in c13.C9_RATES},
        "final_loss": 1.0,
    }


def _context(tmp_path, mode: str, seeds: list[int]) -> Context:
    return Context(mode, c13.SIZES[mode], seeds[0], seeds, ClaimFiles(tmp_path, "C13"))


@pytest.mark.backend_independent
def test_the_verdict_needs_every_seed_and_a_margin(tmp_path):
    layers = [
        LayerCurvature("dense", 10, 4.0, 9.0, 0.0),
        LayerCurvature("dense_1", 5, 1.0, 2.0, 0.0),
    ]
    sharp = [_measured(v, layers) for v in (20.0, 25.0, 18.0)]
    flat = [_measured(v, layers) for v in (1.0, 1.25, 1.1)]
    claim = c13.BatchNormSharpness()
    context = _context(tmp_path, "default", [0, 1, 2])
    judged = claim.judge(context, {"plain": sharp, "bn": flat})
    assert judged.reproduced is True and "reproduced" in judged.verdict
    assert judged.numbers["stable_lr_bn"] == pytest.approx(2.0 / np.mean([1.0, 1.25, 1.1]))
    assert judged.numbers["layer_lambda_max_plain_dense1"] == 4.0
    assert judged.plot.read_bytes()[:4] == b"\x89PNG"
    # BN sharper on every seed: not reproduced; the seeds disagreeing: undecided.
    assert claim.judge(context, {"plain": flat, "bn": sharp}).reproduced is False
    mixed = [_measured(v) for v in (20.0, 1.0, 18.0)]
    assert claim.judge(context, {"plain": mixed, "bn": flat}).reproduced is None
    # The stability check: each of C9's 2 rates on 3 seeds for 2 networks. Every run
    # here fell (ratio 0.5), as η < 2/λmax predicts for BN's λmax ≤ 1.25 at both rates
    # and for the plain net at η = 0.1 only where 2/λmax > 0.1 (λmax = 18, one seed).
    assert judged.numbers["c9_rate_checks"] == 12.0
    assert judged.numbers["c9_rate_checks_agreeing"] == 6.0 + 1.0
    quick = claim.judge(_context(tmp_path, "quick", [0]), {"plain": sharp[:1], "bn": flat[:1]})
    assert quick.reproduced is None and quick.verdict.startswith("C13: undecided (smoke test)")


@pytest.mark.e2e
def test_quick_run_measures_both_networks_and_logs_the_table(quick_claims):
    result = quick_claims.result("C13")  # trained once in the session
    assert experiments.REGISTRY["C13"] == c13.__name__
    assert result.claim == "C13" and result.reproduced is None
    assert result.status == "undecided (smoke test)" and "criterion" in result.verdict
    numbers = result.numbers
    assert numbers["seeds"] == 1.0
    for name in ("plain", "bn"):
        assert numbers[f"lambda_max_{name}"] > 0
        assert numbers[f"stable_lr_{name}"] == pytest.approx(2.0 / numbers[f"lambda_max_{name}"])
        depth = c13.SIZES["quick"].depth
        assert all(f"layer_lambda_max_{name}_dense{k}" in numbers for k in range(1, depth + 2))
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The logged run holds the sharpness against 2/η and the per-layer table.
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    (bn_run,) = [run for run in result.runs if run.name == "bn"]
    accumulator = pea.EventAccumulator(str(bn_run), size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    (sharpness,) = accumulator.Tensors(summary.TAG_SHARPNESS)
    assert float(np.asarray(sharpness.tensor_proto.float_val)[0]) == pytest.approx(
        numbers["lambda_max_bn"], rel=1e-6
    )
    (table,) = accumulator.Tensors(summary.TAG_LAYER_CURVATURE)
    (names,) = accumulator.Tensors(summary.TAG_LAYER_NAMES)
    assert table.tensor_proto.tensor_shape.dim[0].size == len(names.tensor_proto.string_val)
    dense = [n.decode() for n in names.tensor_proto.string_val if n.startswith(b"dense")]
    assert len(dense) == c13.SIZES["quick"].depth + 1


def test_the_claim_is_registered_for_the_tour():
    assert "C13" in experiments.registered() and "C13" in experiments.CLAIM_IDS
    assert experiments.parse_claims("c13, C9") == ["C9", "C13"]
