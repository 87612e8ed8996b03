"""The backend modules: one interface, and the tour's framework settings that always come back."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes import backends

BACKEND = keras.backend.backend()


def _grappler_disabled() -> bool:
    import tensorflow as tf

    return bool(tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer"))


def test_active_is_the_module_of_the_running_backend():
    module = backends.active()
    assert module.__name__ == f"kerasnotes.backends.{BACKEND}"
    for name in ("gradient_function", "hvp_function", "short_lived_graphs"):
        assert callable(getattr(module, name)), name


def test_short_lived_graphs_gives_the_same_numbers():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    y = np.zeros((16, 2), "float32")
    initial = model.get_weights()
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    expected = model.get_weights()
    model.set_weights(initial)
    model.compile(keras.optimizers.SGD(0.1), "mse")  # a fresh optimizer and a new trace
    with backends.active().short_lived_graphs():
        model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="Grappler is TensorFlow's; elsewhere a no-op")
def test_grappler_is_off_inside_and_restored_after_even_on_error():
    import tensorflow as tf

    settings = backends.active().short_lived_graphs
    assert not _grappler_disabled()
    with settings():
        assert _grappler_disabled()
    assert not _grappler_disabled()
    with pytest.raises(RuntimeError, match="inside"), settings():
        raise RuntimeError("inside")
    assert not _grappler_disabled()
    # A user who switched it off already keeps it off.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        with settings():
            assert _grappler_disabled()
        assert _grappler_disabled()
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})


@pytest.mark.skipif(BACKEND != "torch", reason="intra-op threads are set on torch only")
def test_torch_trains_on_one_thread_inside_and_gets_its_threads_back_even_on_error():
    import torch

    settings = backends.active().short_lived_graphs
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with settings():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="inside"), settings():
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_an_unknown_hvp_mode_is_named_in_keras_wording():
    module = backends.active()
    with pytest.raises(
        ValueError,
        match=r"^Argument `mode` must be one of \('reverse_over_reverse', "
        r"'forward_over_reverse'\)\. Received: mode='bad'$",
    ):
        module.hvp_function(lambda *args: 0.0, mode="bad")
