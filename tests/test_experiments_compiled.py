"""CompiledModels: a kept model restarted for a seed trains exactly as a new model would."""

from __future__ import annotations

import numpy as np
import pytest

from kerasnotes import losses, optimizers, schedules
from kerasnotes.experiments.compiled import CompiledModels
from kerasnotes.experiments.training import fit_run, mlp

X = np.random.default_rng(0).normal(size=(48, 6)).astype("float32")
Y = np.arange(48) % 3


def _loss():
    return losses.SparseCategoricalCrossentropy(from_logits=True)


def _adam_with_decay():
    # a schedule of the step count and Adam's moments: both must start again
    return optimizers.Adam(schedules.ExponentialDecay(0.05, gamma=0.5, steps_per_unit=3))


def _fit(model, optimizer):
    return fit_run(
        model, optimizer, _loss(), (X, Y), epochs=2, batch_size=16, metrics=("accuracy",)
    )


def test_restarted_model_repeats_a_new_models_run():
    models = CompiledModels()
    first = models.get("net", mlp(6, (5,), 3, seed=0), _adam_with_decay, _loss(), ("accuracy",), Y)
    _fit(first, first.optimizer)
    assert int(np.asarray(first.optimizer.iterations)) == 6
    again = models.get("net", mlp(6, (5,), 3, seed=1), _adam_with_decay, _loss(), ("accuracy",), Y)
    assert again is first and len(models) == 1
    assert int(np.asarray(again.optimizer.iterations)) == 0
    # the schedule back at step 0: α₀
    np.testing.assert_allclose(float(np.asarray(again.optimizer.learning_rate)), 0.05, rtol=1e-6)
    kept = _fit(again, again.optimizer)
    new = _fit(mlp(6, (5,), 3, seed=1), _adam_with_decay())
    np.testing.assert_allclose(kept.update_losses, new.update_losses, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        kept.history["accuracy"], new.history["accuracy"], rtol=1e-6, atol=1e-7
    )
    for a, b in zip(kept.model.get_weights(), new.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # after 6 steps (2 units of 3): α₀·e^{−0.5·2}
    np.testing.assert_allclose(
        float(np.asarray(again.optimizer.learning_rate)), 0.05 * np.exp(-1.0), rtol=1e-5
    )


def test_keys_keep_separate_models():
    models = CompiledModels()
    a = models.get("a", mlp(6, (5,), 3, seed=0), lambda: optimizers.SGD(0.1), _loss())
    b = models.get("b", mlp(6, (5,), 3, seed=0), lambda: optimizers.SGD(0.2), _loss())
    assert a is not b and len(models) == 2
    _fit(b, b.optimizer)
    b_again = models.get("b", mlp(6, (5,), 3, seed=1), lambda: optimizers.SGD(0.2), _loss())
    # a constant rate is one of the optimizer's variables: restored, never zeroed
    assert float(np.asarray(b_again.optimizer.learning_rate)) == pytest.approx(0.2)


def test_weights_of_another_shape_are_a_value_error():
    models = CompiledModels()
    models.get("net", mlp(6, (5,), 3, seed=0), lambda: optimizers.SGD(0.1), _loss())
    with pytest.raises(ValueError, match="seeded"):
        models.get("net", mlp(6, (4,), 3, seed=0), lambda: optimizers.SGD(0.1), _loss())


def test_unshuffled_restart_keeps_the_optimizer_and_repeats_a_new_run():
    # C11's case: no shuffling, so on every backend the optimizer state is put back, not rebuilt
    models = CompiledModels()
    first = models.get("net", mlp(6, (5,), 3, seed=0), _adam_with_decay, _loss(), shuffle=False)
    optimizer = first.optimizer
    fit_run(first, optimizer, _loss(), (X, Y), epochs=2, batch_size=16, shuffle=False)
    again = models.get("net", mlp(6, (5,), 3, seed=2), _adam_with_decay, _loss(), shuffle=False)
    assert again is first and again.optimizer is optimizer
    kept = fit_run(again, optimizer, _loss(), (X, Y), epochs=2, batch_size=16, shuffle=False)
    new = fit_run(
        mlp(6, (5,), 3, seed=2), _adam_with_decay(), _loss(), (X, Y), 2, 16, shuffle=False
    )
    np.testing.assert_allclose(kept.update_losses, new.update_losses, rtol=1e-6, atol=1e-7)
