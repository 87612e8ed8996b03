"""The private Keras and keras-tuner API kerasnotes relies on (kerasnotes._compat), one test per use.

Each test checks that the symbol exists on the installed version and behaves as
kerasnotes relies on; a failure names the symbol and the installed version, so a
new Keras release that changed it says what to fix. CI runs this file at the
lowest supported versions as well as the newest.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from importlib import metadata
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from kerasnotes import _compat

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def relied_on(symbol: str, package: str = "keras"):
    """Turn any failure inside the block into one that names the symbol and the version."""
    try:
        yield
    except Exception as error:  # an AssertionError, or whatever the changed API raised
        what = f"no longer behaves as relied on ({error!r})"
        pytest.fail(_compat.changed_message(symbol, what, package), pytrace=False)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _within(version: str, supported: str) -> bool:
    for clause in supported.split(","):
        operator, bound = re.fullmatch(r"(>=|<)([\d.]+)", clause.strip()).groups()
        have, limit = _version_tuple(version), _version_tuple(bound)
        if (operator == ">=" and have < limit) or (operator == "<" and have >= limit):
            return False
    return True


# --- the declared range --------------------------------------------------------------


def test_supported_ranges_are_the_ones_pyproject_declares_and_the_installed_versions_are_inside():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"keras{_compat.SUPPORTED_KERAS}" in dependencies
    assert f"keras-tuner{_compat.SUPPORTED_KERAS_TUNER}" in dependencies
    assert _within(keras.version(), _compat.SUPPORTED_KERAS), keras.version()
    tuner = metadata.version("keras-tuner")
    assert _within(tuner, _compat.SUPPORTED_KERAS_TUNER), tuner


def test_range_check_itself():
    assert _within("3.10.0", ">=3.10,<3.16") and _within("3.15.1", ">=3.10,<3.16")
    assert not _within("3.9.2", ">=3.10,<3.16") and not _within("3.16.0", ">=3.10,<3.16")


def test_message_names_the_symbol_the_version_and_the_range():
    message = _compat.changed_message("keras.src.x.y", "does not have")
    assert "keras.src.x.y" in message and f"keras {keras.version()} does not have" in message
    assert f"keras{_compat.SUPPORTED_KERAS}" in message


# --- one test per use ----------------------------------------------------------------


def test_in_stateless_scope_is_true_exactly_inside_a_stateless_scope():
    # optimizers/base.py: the torch in-place step is valid only outside one.
    with relied_on("keras.src.backend.common.stateless_scope.in_stateless_scope"):
        assert _compat.in_stateless_scope() is False
        with keras.StatelessScope():
            assert _compat.in_stateless_scope() is True
        assert _compat.in_stateless_scope() is False


def test_get_autocast_scope_is_set_exactly_while_a_mixed_precision_layer_runs():
    # optimizers/base.py: under autocast ``variable.value`` is a cast copy, not the store.
    seen = []

    class Probe(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            seen.append(_compat.get_autocast_scope())
            return x * self.w

    with relied_on("keras.src.backend.common.variables.get_autocast_scope"):
        assert _compat.get_autocast_scope() is None
        Probe(dtype="mixed_float16")(np.ones((2, 3), dtype="float32"))
        Probe(dtype="float32")(np.ones((2, 3), dtype="float32"))
        assert seen[0] is not None and seen[1] is None
        assert _compat.get_autocast_scope() is None


def test_keras_mask_is_read_back_and_weighs_the_loss_as_keras_reduces_it():
    # losses.py sets the mask of ignored elements; curvature/objective.py reads it.
    y_true = np.array([[1.0], [2.0], [3.0], [4.0]], dtype="float32")
    y_pred = np.zeros((4, 1), dtype="float32")
    valid = np.array([True, False, True, True])

    class MaskedSquares(keras.losses.Loss):
        def call(self, y_t, y_p):
            losses = ops.squeeze(ops.square(y_t - y_p), -1)
            _compat.set_keras_mask(losses, mask=ops.convert_to_tensor(valid))
            return losses

    loss = MaskedSquares(reduction="sum_over_batch_size")
    with relied_on("keras.src.backend.common.masking.set_keras_mask / get_keras_mask"):
        tensor = ops.convert_to_tensor(np.ones(3, dtype="float32"))
        _compat.set_keras_mask(tensor, mask=ops.convert_to_tensor([True, False, True]))
        np.testing.assert_array_equal(
            ops.convert_to_numpy(_compat.get_keras_mask(tensor)), [True, False, True]
        )
        assert _compat.get_keras_mask(ops.convert_to_tensor(np.ones(3))) is None
        # Masked elements drop out of the sum and of the count: (1 + 9 + 16) / 3.
        value = float(ops.convert_to_numpy(loss(y_true, y_pred)))
        np.testing.assert_allclose(value, 26.0 / 3.0, rtol=1e-6)


def test_optimizer_apply_calls_backend_update_step_with_grads_variables_and_rate():
    # optimizers/base.py overrides it for the eager torch fast path.
    calls = []

    class Spy(keras.optimizers.SGD):
        def _backend_update_step(self, grads, trainable_variables, learning_rate):
            calls.append(
                ([ops.convert_to_numpy(g) for g in grads], list(trainable_variables), learning_rate)
            )
            super()._backend_update_step(grads, trainable_variables, learning_rate)

    symbol = f"keras.optimizers.Optimizer.{_compat.BACKEND_UPDATE_STEP}"
    with relied_on(symbol):
        _compat.check_backend_update_step()
        variable = keras.Variable(np.array([1.0, 2.0], dtype="float32"))
        Spy(learning_rate=0.5).apply(
            [ops.convert_to_tensor(np.array([2.0, 4.0], "float32"))], [variable]
        )
        assert len(calls) == 1
        grads, variables, rate = calls[0]
        np.testing.assert_array_equal(grads[0], [2.0, 4.0])
        assert variables == [variable]
        np.testing.assert_allclose(float(ops.convert_to_numpy(rate)), 0.5)
        np.testing.assert_allclose(ops.convert_to_numpy(variable), [0.0, 0.0])


def test_check_backend_update_step_names_the_symbol_when_keras_lacks_it(monkeypatch):
    # Shadowed on the class (the method itself lives on a backend-specific base).
    monkeypatch.setattr(keras.optimizers.Optimizer, _compat.BACKEND_UPDATE_STEP, None)
    with pytest.raises(RuntimeError, match=rf"Optimizer\._backend_update_step.*{keras.version()}"):
        _compat.check_backend_update_step()

    def renamed(self, gradients, variables, learning_rate):
        pass

    monkeypatch.setattr(keras.optimizers.Optimizer, _compat.BACKEND_UPDATE_STEP, renamed)
    with pytest.raises(RuntimeError, match=r"arguments \('gradients', 'variables'"):
        _compat.check_backend_update_step()


def test_flatten_layers_walks_nested_models_depth_first():
    # curvature/layers.py groups variables by innermost owner; forward.py finds BN layers.
    with relied_on("keras.layers.Layer._flatten_layers"):
        inner = keras.Sequential([keras.layers.Dense(2, name="a")], name="inner")
        outer = keras.Sequential([inner, keras.layers.Dense(1, name="b")], name="outer")
        names = [layer.name for layer in _compat.flatten_layers(outer)]
        assert names == ["outer", "inner", "a", "b"]
        names = [layer.name for layer in _compat.flatten_layers(outer, include_self=False)]
        assert names == ["inner", "a", "b"]
        top = [layer.name for layer in _compat.flatten_layers(outer, recursive=False)]
        assert top == ["outer", "inner", "b"]


def test_flatten_layers_names_the_symbol_for_an_object_without_it():
    with pytest.raises(RuntimeError, match=r"Layer\._flatten_layers.*does not have"):
        _compat.flatten_layers(object())


def test_keras_tuner_distribute_reads_keras_tuners_environment(monkeypatch):
    # tuning.py: a distributed search never overwrites the shared project.
    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)
    with relied_on("keras_tuner.src.distribute.utils", package="keras-tuner"):
        utils = _compat.keras_tuner_distribute
        assert utils.has_chief_oracle() is False and utils.is_chief_oracle() is False
        monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
        assert utils.has_chief_oracle() is True and utils.is_chief_oracle() is True
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
        assert utils.has_chief_oracle() is True and utils.is_chief_oracle() is False


def test_a_missing_keras_symbol_becomes_a_stand_in_that_names_it():
    stand_in = _compat._stand_in("keras.src.gone.symbol")
    assert stand_in.__name__ == "symbol"
    with pytest.raises(RuntimeError, match=rf"keras\.src\.gone\.symbol.*keras {keras.version()}"):
        stand_in()


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        _compat.no_such_name  # noqa: B018


def test_unscale_loss_for_distribution_leaves_a_loss_alone_outside_a_strategy():
    # curvature/objective.py multiplies back what Loss.__call__ divides by under
    # tf.distribute (tests/test_curvature_distribute_tf.py checks it under a strategy).
    with relied_on("keras.src.losses.loss.unscale_loss_for_distribution"):
        value = ops.convert_to_tensor(np.float32(2.5))
        np.testing.assert_allclose(
            ops.convert_to_numpy(_compat.unscale_loss_for_distribution(value)), 2.5
        )


# --- set_random_seed: Keras's seeding, without loading TensorFlow on JAX and torch -----------


def _draws():
    """One draw from every generator Keras seeds, and the initial weights of a new layer."""
    import random

    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    values = [random.random(), float(np.random.rand())]
    values += ops.convert_to_numpy(keras.random.normal((2,))).tolist()  # the global generator
    if keras.backend.backend() == "torch":
        import torch

        values.append(float(torch.rand(())))
    return values, ops.convert_to_numpy(layer.kernel)


def test_set_random_seed_seeds_as_keras_does():
    with relied_on("keras.src.backend.common.global_state (global_random_seed, SeedGenerator)"):
        _compat.set_random_seed(7)
        got, got_kernel = _draws()
        _compat.set_random_seed(7)  # seeding again repeats every draw, on every Keras
        again, again_kernel = _draws()
        assert again == got and len(got) >= 4
        np.testing.assert_array_equal(again_kernel, got_kernel)
        # Keras's own function, from a fresh global generator (3.10's keeps an old one)
        _compat._global_state.set_global_attribute(_compat._SEED_GENERATOR, None)
        keras.utils.set_random_seed(7)
        want, want_kernel = _draws()
        assert got == want
        np.testing.assert_array_equal(got_kernel, want_kernel)
        assert keras.src.utils.rng_utils.get_random_seed() == 7
        _compat.set_random_seed(8)
        assert _draws()[0] != want


def test_set_random_seed_refuses_a_non_integer_seed():
    with pytest.raises(ValueError, match="seed"):
        _compat.set_random_seed(1.5)


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="on TensorFlow Keras has loaded it already"
)
def test_set_random_seed_leaves_tensorflow_unloaded_on_other_backends():
    import subprocess
    import sys

    code = (
        "import sys, keras; from kerasnotes import _compat; _compat.set_random_seed(1); "
        "print('tensorflow' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "False"
