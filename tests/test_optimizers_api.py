"""inspect(), get(), argument checks and serialization of kerasnotes optimizers."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import kerasnotes as kn

ALL = {
    "SGD": {"learning_rate": 0.05, "momentum": 0.9, "momentum_form": "ema", "nesterov": True},
    "Adagrad": {"learning_rate": 0.1, "initial_accumulator_value": 0.0, "epsilon": 1e-6},
    "RMSprop": {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.3, "centered": True},
    "Adam": {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "amsgrad": True},
}


def _stepped(optimizer, steps: int = 3):
    """A variable and ``optimizer`` after ``steps`` updates with known gradients."""
    w = keras.Variable(np.array([[1.0, -2.0], [0.5, 3.0]], "float32"), name="w")
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(2, 2)).astype("float32") for _ in range(steps)]
    for g in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g)], [w])
    return w, grads


# inspect ---------------------------------------------------------------------------


def test_inspect_sgd_velocity_and_constant_rate():
    opt = kn.optimizers.SGD(learning_rate=0.05, momentum=0.9, momentum_form="ema")
    w, grads = _stepped(opt)
    state = opt.inspect(w)
    assert set(state) == {"velocity", "effective_learning_rate"}
    v = np.zeros((2, 2))
    for g in grads:
        v = 0.9 * v + 0.1 * g
    np.testing.assert_allclose(state["velocity"], v, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(state["effective_learning_rate"], np.full((2, 2), 0.05), rtol=1e-7)
    plain = kn.optimizers.SGD(learning_rate=0.2)
    w2, _ = _stepped(plain)
    assert set(plain.inspect(w2)) == {"effective_learning_rate"}


def test_inspect_adagrad_rate_decays_as_notes_say():
    opt = kn.optimizers.Adagrad(learning_rate=0.1, initial_accumulator_value=0.0)
    w, grads = _stepped(opt, steps=5)
    state = opt.inspect(w)
    accumulator = sum(g.astype(np.float64) ** 2 for g in grads)
    np.testing.assert_allclose(state["accumulator"], accumulator, rtol=1e-5)
    np.testing.assert_allclose(
        state["effective_learning_rate"], 0.1 / np.sqrt(accumulator + 1e-7), rtol=1e-5
    )
    before = state["effective_learning_rate"]
    opt.apply([keras.ops.ones((2, 2))], [w])
    assert np.all(opt.inspect(w)["effective_learning_rate"] < before)  # only ever shrinks


def test_inspect_rmsprop_centered_with_momentum():
    opt = kn.optimizers.RMSprop(**ALL["RMSprop"])
    w, grads = _stepped(opt)
    s = np.zeros((2, 2))
    a = np.zeros((2, 2))
    for g in grads:
        s = 0.8 * s + 0.2 * g.astype(np.float64) ** 2
        a = 0.8 * a + 0.2 * g
    state = opt.inspect(w)
    assert set(state) == {"velocity", "momentum", "average_gradient", "effective_learning_rate"}
    np.testing.assert_allclose(state["velocity"], s, rtol=1e-5)
    np.testing.assert_allclose(state["average_gradient"], a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        state["effective_learning_rate"], 0.01 / np.sqrt(s - a**2 + 1e-7), rtol=1e-4
    )


def test_inspect_adam_bias_corrected_rate_and_last_step():
    opt = kn.optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99)
    w, grads = _stepped(opt, steps=4)
    m = np.zeros((2, 2))
    v = np.zeros((2, 2))
    for g in grads:
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g.astype(np.float64) ** 2
    t = 4
    alpha = 0.01 * math.sqrt(1 - 0.99**t) / (1 - 0.8**t)
    expected = alpha / (np.sqrt(v) + 1e-7)
    state = opt.inspect(w)
    assert set(state) == {"momentum", "velocity", "effective_learning_rate"}
    np.testing.assert_allclose(state["momentum"], m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(state["velocity"], v, rtol=1e-5)
    np.testing.assert_allclose(state["effective_learning_rate"], expected, rtol=1e-4)
    # The rate times the first moment is the step the last update took.
    before = keras.ops.convert_to_numpy(w.value).copy()
    g = np.full((2, 2), 0.5, "float32")
    opt.apply([keras.ops.convert_to_tensor(g)], [w])
    after_state = opt.inspect(w)
    step = before - keras.ops.convert_to_numpy(w.value)
    np.testing.assert_allclose(
        step, after_state["effective_learning_rate"] * after_state["momentum"], rtol=1e-4
    )
    amsgrad = kn.optimizers.Adam(**ALL["Adam"])
    w2, _ = _stepped(amsgrad)
    state2 = amsgrad.inspect(w2)
    assert "velocity_hat" in state2
    assert np.all(state2["velocity_hat"] >= state2["velocity"])


def test_inspect_follows_a_schedule_and_accepts_paths():
    schedule = kn.schedules.StepDecay(0.1, drop=0.5, every=2)
    opt = kn.optimizers.SGD(learning_rate=schedule)
    w, _ = _stepped(opt, steps=3)  # iterations = 3 -> 0.1 * 0.5 ** 1
    np.testing.assert_allclose(opt.inspect(w)["effective_learning_rate"], 0.05, rtol=1e-6)
    np.testing.assert_array_equal(
        opt.inspect(w.path)["effective_learning_rate"], opt.inspect(w)["effective_learning_rate"]
    )


def test_inspect_returns_copies():
    opt = kn.optimizers.Adagrad(learning_rate=0.1)
    w, _ = _stepped(opt)
    state = opt.inspect(w)
    state["accumulator"][:] = -1.0
    assert np.all(opt.inspect(w)["accumulator"] > 0)


def test_inspect_unknown_or_unbuilt():
    opt = kn.optimizers.Adam()
    stranger = keras.Variable(np.zeros(3, "float32"), name="stranger")
    with pytest.raises(ValueError, match="not been built"):
        opt.inspect(stranger)
    _stepped(opt)
    with pytest.raises(ValueError, match="`variable` must be one of the 1 variables"):
        opt.inspect(stranger)
    with pytest.raises(ValueError, match="no/such/path"):
        opt.inspect("no/such/path")


def test_inspect_refuses_arrays_and_tensors_with_value_error():
    # TensorFlow raised AttributeError ("'numpy.ndarray' object has no attribute 'name'").
    opt = kn.optimizers.Adam()
    _stepped(opt)
    for wrong in (np.zeros(3, "float32"), keras.ops.zeros((3,)), 3.0):
        with pytest.raises(ValueError, match="`variable` must be one of the 1 variables"):
            opt.inspect(wrong)


# get -------------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_get_names_and_momentum_default():
    assert type(kn.optimizers.get("sgd")) is kn.optimizers.SGD
    assert kn.optimizers.get("SGD").momentum == 0.0
    momentum = kn.optimizers.get("momentum", learning_rate=0.02)
    assert type(momentum) is kn.optimizers.SGD and momentum.momentum == 0.9
    assert kn.optimizers.get("momentum", momentum=0.5, momentum_form="ema").momentum == 0.5
    assert type(kn.optimizers.get("adagrad")) is kn.optimizers.Adagrad
    assert type(kn.optimizers.get("rmsprop", rho=0.8)) is kn.optimizers.RMSprop
    adam = kn.optimizers.get("adam", learning_rate=0.003)
    assert type(adam) is kn.optimizers.Adam
    assert float(keras.ops.convert_to_numpy(adam.learning_rate)) == pytest.approx(0.003)
    with pytest.raises(ValueError, match=r"`name` must be one of .*'sgd'.*'adam'.*'nadam'"):
        kn.optimizers.get("nadam")
    # The notes' EMA momentum (F2) by name, as kerasnotes.tuning offers it.
    ema = kn.optimizers.get("momentum_ema", learning_rate=0.02)
    assert type(ema) is kn.optimizers.SGD and (ema.momentum, ema.momentum_form) == (0.9, "ema")
    same = kn.optimizers.get("momentum", learning_rate=0.02, momentum_form="ema").get_config()
    assert {k: v for k, v in ema.get_config().items() if k != "name"} == {
        k: v for k, v in same.items() if k != "name"
    }
    assert kn.optimizers.get("momentum_ema", momentum=0.5).momentum == 0.5
    with pytest.raises(ValueError, match="momentum_form='heavy_ball'"):
        kn.optimizers.get("momentum_ema", momentum_form="heavy_ball")


# argument checks -------------------------------------------------------------------

BAD_ARGUMENTS = [
    ("SGD", {"learning_rate": -0.1}, ValueError, "learning_rate=-0.1"),
    ("SGD", {"learning_rate": float("nan")}, ValueError, "learning_rate=nan"),
    ("Adam", {"learning_rate": float("inf")}, ValueError, "learning_rate=inf"),
    ("Adam", {"learning_rate": "fast"}, TypeError, "learning_rate='fast'"),
    ("SGD", {"momentum": 1.0}, ValueError, "momentum=1.0"),
    ("SGD", {"momentum": -0.5}, ValueError, "momentum=-0.5"),
    ("SGD", {"momentum_form": "nesterov"}, ValueError, "momentum_form='nesterov'"),
    ("SGD", {"nesterov": "yes"}, TypeError, "nesterov='yes'"),
    ("RMSprop", {"rho": 1.5}, ValueError, "rho=1.5"),
    ("RMSprop", {"momentum": 1.0}, ValueError, "momentum=1.0"),
    ("RMSprop", {"epsilon": 0.0}, ValueError, "epsilon=0.0"),
    ("Adagrad", {"epsilon": -1e-7}, ValueError, "epsilon=-1e-07"),
    ("Adagrad", {"initial_accumulator_value": -0.1}, ValueError, "initial_accumulator_value"),
    ("Adam", {"beta_1": 1.0}, ValueError, "beta_1=1.0"),
    ("Adam", {"beta_2": -0.1}, ValueError, "beta_2=-0.1"),
    ("Adam", {"epsilon": float("nan")}, ValueError, "epsilon=nan"),
    ("Adam", {"amsgrad": 1}, TypeError, "amsgrad=1"),
]


@pytest.mark.backend_independent
@pytest.mark.parametrize("name,kwargs,error,message", BAD_ARGUMENTS)
def test_bad_arguments_raise_at_construction(name, kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        getattr(kn.optimizers, name)(**kwargs)


@pytest.mark.backend_independent
def test_good_edge_arguments_are_accepted():
    assert kn.optimizers.SGD(learning_rate=0, momentum=0).momentum == 0.0
    assert kn.optimizers.SGD(momentum=0.9, nesterov=True, momentum_form="ema").nesterov
    assert kn.optimizers.Adagrad(initial_accumulator_value=0.0).initial_accumulator_value == 0.0
    assert kn.optimizers.Adam(learning_rate=np.float32(0.01)).epsilon == 1e-7
    assert kn.optimizers.RMSprop(learning_rate=lambda: 0.01).rho == 0.9


# serialization ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL))
def test_config_round_trip(name):
    opt = getattr(kn.optimizers, name)(clipnorm=1.5, **ALL[name])
    config = opt.get_config()
    clone = type(opt).from_config(config)
    assert clone.get_config() == config
    serialized = keras.optimizers.serialize(opt)
    assert serialized["registered_name"] == f"kerasnotes>{name}"
    restored = keras.optimizers.deserialize(serialized)
    assert type(restored) is type(opt) and restored.get_config() == config


def test_config_round_trip_with_schedule():
    schedule = kn.schedules.ExponentialDecay(0.1, gamma=0.5, steps_per_unit=10)
    opt = kn.optimizers.Adam(learning_rate=schedule)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert isinstance(restored._learning_rate, kn.schedules.ExponentialDecay)
    assert restored._learning_rate.get_config() == schedule.get_config()


@pytest.mark.parametrize(
    "name",
    [
        "Adam",
        "SGD",
        # Same saving machinery as the two above; kept for the slow run.
        pytest.param("Adagrad", marks=pytest.mark.slow),
        pytest.param("RMSprop", marks=pytest.mark.slow),
    ],
)
def test_saved_model_continues_training_identically(name, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, size=32)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]
    )
    model.compile(
        optimizer=getattr(kn.optimizers, name)(**ALL[name]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    kernel = model.layers[0].kernel
    for key, value in model.optimizer.inspect(kernel).items():
        np.testing.assert_array_equal(loaded.optimizer.inspect(loaded.layers[0].kernel)[key], value)
    for m in (model, loaded):
        m.train_on_batch(x[:8], y[:8])
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
