"""The tour's verdict rule: per-seed effects, the chance-level guard, quick mode, HParams order."""

from __future__ import annotations

import math

import keras_tuner
import numpy as np
import pytest
from tensorboard.plugins.hparams import plugin_data_pb2

from kerasnotes import tuning
from kerasnotes.experiments import c0_features, c8_cross_entropy, measures
from kerasnotes.experiments.base import ClaimResult


def test_decide_reproduces_only_beyond_two_standard_errors():
    # mean 1.0, std 0.1 -> stderr 0.0577: 17 standard errors
    clear = measures.decide([0.9, 1.0, 1.1])
    assert clear.reproduced is True
    assert clear.mean == pytest.approx(1.0)
    assert clear.stderr == pytest.approx(0.1 / math.sqrt(3))
    # mean 0.8 but one seed the other way: C0's old "+0.8 points from one seed" is not enough
    assert measures.decide([0.8, -0.2, 1.8]).reproduced is None
    # every seed positive but mean 0.4 < 2 × stderr (0.4 / √3 · 2 = 0.46 for std 0.4)
    spread = measures.decide([0.1, 0.3, 0.8])
    assert spread.mean < 2 * spread.stderr and spread.reproduced is None
    # k = 1 accepts the same seeds
    assert measures.decide([0.1, 0.3, 0.8], k=1.0).reproduced is True
    assert measures.decide([-1.0, -1.2, -0.9]).reproduced is False


def test_decide_needs_a_spread_and_finite_effects():
    assert measures.decide([5.0]).reproduced is None  # one seed has no spread
    assert measures.decide([1.0, float("nan"), 1.1]).reproduced is None
    assert measures.decide([1.0, 1.1, 1.2], smoke_test=True).reproduced is None
    assert measures.decide([0.0, 0.0, 0.0]).reproduced is None
    with pytest.raises(ValueError, match="effects"):
        measures.decide([])
    with pytest.raises(ValueError, match="k=0"):
        measures.decide([1.0, 2.0], k=0)


def test_chance_guard_and_seeds():
    assert not measures.above_chance(0.114, 10)  # quick mode's old "MLP 11.4% ... reproduced"
    assert not measures.above_chance(0.199, 10)
    assert measures.above_chance(0.20, 10)
    assert measures.above_chance(0.55, 2) is False and measures.above_chance(1.0, 2)
    with pytest.raises(ValueError, match="num_classes=1"):
        measures.above_chance(0.5, 1)
    assert measures.seeds("default", 3) == [3, 4, 5]
    assert len(measures.seeds("quick")) == 1
    with pytest.raises(ValueError, match="mode='fast'"):
        measures.seeds("fast")


def test_smoke_test_status_and_verdict():
    result = ClaimResult("C4", "", "", "", None, None, smoke_test=True)
    assert result.status == "undecided (smoke test)"
    assert ClaimResult("C4", "", "", "", None, None).status == "undecided"
    text = measures.smoke_test_verdict("C4: 1 vs 2 (reproduced: a; not reproduced: b)")
    assert text.startswith("C4: undecided (smoke test)")
    assert "reproduced" not in text.replace("undecided", "")


@pytest.mark.e2e
@pytest.mark.parametrize("module", [c0_features, c8_cross_entropy])
def test_quick_mode_is_a_smoke_test(module, quick_claims):
    result = quick_claims.result(module.CLAIM)  # trained once in the session
    assert result.reproduced is None
    assert result.status == "undecided (smoke test)"
    assert result.numbers["seeds"] == 1.0
    assert result.plot.read_bytes()[:4] == b"\x89PNG"


def test_hparams_experiment_lists_unconditional_hyperparameters_first():
    hp = keras_tuner.HyperParameters()
    tuning.NotesHyperModel((64,), 10).build(hp)
    summary = tuning.hparams_experiment_summary(hp)
    data = plugin_data_pb2.HParamsPluginData.FromString(
        summary.value[0].metadata.plugin_data.content
    )
    names = [info.name for info in data.experiment.hparam_infos]
    conditional = {p.name for p in hp.space if p.conditions}
    assert conditional >= {"beta_1", "beta_2"}
    first = names[: len(names) - len(conditional)]
    assert not set(first) & conditional
    assert set(names[len(first) :]) == conditional
    assert {"optimizer", "learning_rate", "batch_size", "depth", "width"} <= set(first)
    assert first.index("optimizer") < first.index("learning_rate")
    assert np.all([n in names for n in ("normalization", "lr_decay")])
