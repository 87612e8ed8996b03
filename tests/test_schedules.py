"""kerasnotes.schedules against numpy float64, inside fit, and through serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerasnotes as kn

STEPS = np.arange(0, 400)


def _tensor_values(schedule, steps=STEPS):
    return np.array([float(keras.ops.convert_to_numpy(schedule(_int_steps(s)))) for s in steps])


@pytest.mark.parametrize("gamma,steps_per_unit", [(0.01, 1), (0.7, 25), (0.3, 2.5)])
def test_exponential_decay_matches_numpy(gamma, steps_per_unit):
    schedule = kn.schedules.ExponentialDecay(0.2, gamma=gamma, steps_per_unit=steps_per_unit)
    expected = 0.2 * np.exp(-gamma * STEPS.astype(np.float64) / steps_per_unit)
    # float32 rounds the exponent by ~6e-8 relative, which exp turns into an
    # error of ~6e-8 * |exponent| in the result.
    exponent = gamma * STEPS / steps_per_unit
    error = np.abs(_tensor_values(schedule) - expected) / expected
    assert np.all(error <= 3e-7 * (1 + exponent)), error.max()
    python = np.array([schedule(int(s)) for s in STEPS])
    np.testing.assert_allclose(python, expected, rtol=1e-12)
    assert isinstance(schedule(3), float) and isinstance(schedule(3.5), float)


@pytest.mark.parametrize(
    "drop,every,steps_per_unit", [(0.5, 10, 1), (0.1, 3, 7), (0.9, 2.5, 4), (0.8, 1.5, 2.5)]
)
def test_step_decay_matches_numpy_on_every_step(drop, every, steps_per_unit):
    schedule = kn.schedules.StepDecay(0.3, drop=drop, every=every, steps_per_unit=steps_per_unit)
    t = STEPS.astype(np.float64) / steps_per_unit
    drops = np.floor(t / every + 1e-12)
    expected = 0.3 * drop**drops
    # float32(drop) is off by up to 6e-8 relative; drop**k carries k times that.
    error = np.abs(_tensor_values(schedule) - expected) / expected
    assert np.all(error <= 1.2e-7 * (1 + drops)), error.max()
    np.testing.assert_allclose([schedule(int(s)) for s in STEPS], expected, rtol=1e-12)


def test_step_decay_drops_exactly_on_the_boundary_with_large_steps():
    schedule = kn.schedules.StepDecay(1.0, drop=0.5, every=3, steps_per_unit=1_000_003)
    period = 3 * 1_000_003
    steps = [period - 1, period, 2 * period - 1, 2 * period]
    np.testing.assert_array_equal(_tensor_values(schedule, steps), [1.0, 0.5, 0.5, 0.25])
    assert [schedule(s) for s in steps] == [1.0, 0.5, 0.5, 0.25]


BAD = [
    (kn.schedules.ExponentialDecay, {"initial_learning_rate": -1.0, "gamma": 0.1}, ValueError),
    (kn.schedules.ExponentialDecay, {"initial_learning_rate": 0.1, "gamma": -0.1}, ValueError),
    (
        kn.schedules.ExponentialDecay,
        {"initial_learning_rate": 0.1, "gamma": float("nan")},
        ValueError,
    ),
    (
        kn.schedules.ExponentialDecay,
        {"initial_learning_rate": 0.1, "gamma": 0.1, "steps_per_unit": 0},
        ValueError,
    ),
    (kn.schedules.StepDecay, {"initial_learning_rate": float("inf")}, ValueError),
    (kn.schedules.StepDecay, {"initial_learning_rate": 0.1, "drop": 0.0}, ValueError),
    (kn.schedules.StepDecay, {"initial_learning_rate": 0.1, "drop": 1.5}, ValueError),
    (kn.schedules.StepDecay, {"initial_learning_rate": 0.1, "every": -2}, ValueError),
    (kn.schedules.StepDecay, {"initial_learning_rate": 0.1, "every": "10"}, TypeError),
]


@pytest.mark.backend_independent
@pytest.mark.parametrize("cls,kwargs,error", BAD)
def test_bad_arguments_name_the_argument(cls, kwargs, error):
    with pytest.raises(error) as info:
        cls(**kwargs)
    # The offending argument is the one whose value is not the valid 0.1.
    (bad_name,) = [k for k, v in kwargs.items() if v != 0.1]
    assert f"`{bad_name}`" in str(info.value)
    assert f"{bad_name}={kwargs[bad_name]!r}" in str(info.value)


@pytest.mark.parametrize(
    "schedule",
    [
        kn.schedules.ExponentialDecay(0.1, gamma=0.25, steps_per_unit=4),
        kn.schedules.StepDecay(0.1, drop=0.2, every=3, steps_per_unit=2),
    ],
    ids=["exponential", "step"],
)
def test_serialization_round_trip(schedule):
    config = schedule.get_config()
    assert type(schedule).from_config(config).get_config() == config
    serialized = keras.optimizers.schedules.serialize(schedule)
    assert serialized["registered_name"] == f"kerasnotes>{type(schedule).__name__}"
    restored = keras.optimizers.schedules.deserialize(serialized)
    assert type(restored) is type(schedule)
    assert restored(17) == schedule(17)


def _fit_weights(optimizer, callbacks=()):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = x @ rng.normal(size=(4, 1)).astype("float32")
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    # 4 batches an epoch, so with steps_per_unit=4 a unit of t is an epoch.
    model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=list(callbacks))
    return model


SCHEDULE_TWINS = {
    # ours, the Keras schedule with the same values
    "step": (
        lambda: kn.schedules.StepDecay(0.1, drop=0.5, every=2, steps_per_unit=4),
        lambda: keras.optimizers.schedules.ExponentialDecay(
            0.1, decay_steps=8, decay_rate=0.5, staircase=True
        ),
    ),
    "exponential": (
        lambda: kn.schedules.ExponentialDecay(0.1, gamma=0.4, steps_per_unit=4),
        lambda: keras.optimizers.schedules.ExponentialDecay(
            0.1, decay_steps=4, decay_rate=float(np.exp(-0.4))
        ),
    ),
}


@pytest.mark.parametrize(
    "kind,optimizer",
    [
        ("step", "momentum"),
        ("exponential", "adam"),
        pytest.param("step", "adam", marks=pytest.mark.slow),
        pytest.param("exponential", "momentum", marks=pytest.mark.slow),
    ],
)
def test_schedule_drives_an_optimizer_in_fit(kind, optimizer, tmp_path):
    ours, theirs = SCHEDULE_TWINS[kind]
    seen = []
    model = None

    def record(epoch, logs):
        iterations = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        seen.append((iterations, float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))

    opt = kn.optimizers.get(optimizer, learning_rate=ours())
    callback = keras.callbacks.LambdaCallback(on_epoch_end=record)

    class Bind(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            nonlocal model
            model = self.model

    trained = _fit_weights(opt, callbacks=[Bind(), callback])
    twin = _fit_weights(kn.optimizers.get(optimizer, learning_rate=theirs()))
    for a, b in zip(trained.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    schedule = ours()
    for iterations, rate in seen:
        assert rate == pytest.approx(schedule(iterations), rel=1e-6)
    assert [i for i, _ in seen] == [4, 8, 12, 16, 20]

    path = tmp_path / "m.keras"
    trained.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer._learning_rate) is type(schedule)
    assert float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate)) == pytest.approx(
        schedule(20), rel=1e-6
    )


def _int_steps(steps):
    # optimizer.iterations is int64, except on JAX without x64, where it is int32.
    dtype = "int32" if keras.backend.backend() == "jax" else "int64"
    return keras.ops.convert_to_tensor(np.asarray(steps), dtype)


def _drops_of(rates):
    # With α₀ = 1 and drop = 0.5 the rate is exactly 2^-drops (no float rounding).
    return -np.log2(np.asarray(rates, dtype=np.float64))


EVERY = [0.1, 0.3, 0.7, 1.1, 1.3, 2.2, 2.5, 3.3, 1 / 3, 2 / 3, 1.05, 0.55, 7.7]


@pytest.mark.parametrize("steps_per_unit", [1, 3, 2.5, 0.4])
def test_step_decay_python_and_graph_agree_with_exact_arithmetic(steps_per_unit):
    from fractions import Fraction

    for every in EVERY:
        schedule = kn.schedules.StepDecay(1.0, drop=0.5, every=every, steps_per_unit=steps_per_unit)
        # Keep the count under 120 drops so 2^-drops stays a normal float32.
        steps = np.arange(0, min(400, int(120 * every * steps_per_unit)))
        # The reference: real arithmetic on the decimals as written (1/3, 2/3 exactly).
        every_exact = (
            Fraction(1, 3) if every == 1 / 3 else Fraction(2, 3) if every == 2 / 3 else None
        )
        period = (every_exact or Fraction(repr(every))) * Fraction(repr(steps_per_unit))
        expected = np.array([int(Fraction(int(s)) // period) for s in steps], dtype=np.float64)
        python = _drops_of([schedule(int(s)) for s in steps])
        graph = _drops_of(keras.ops.convert_to_numpy(schedule(_int_steps(steps))))
        floats = _drops_of(
            keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(steps, "float32")))
        )
        np.testing.assert_array_equal(python, expected, err_msg=f"every={every}")
        np.testing.assert_array_equal(graph, expected, err_msg=f"every={every}")
        np.testing.assert_array_equal(floats, expected, err_msg=f"every={every}")


def test_step_decay_every_1_1_drops_30_times_at_epoch_33():
    # float64 33 / 1.1 is 29.999999999999996; in real arithmetic it is 30.
    schedule = kn.schedules.StepDecay(1.0, drop=0.5, every=1.1)
    assert schedule(33) == 2.0**-30 and schedule(32) == 2.0**-29
    assert schedule(33.0) == 2.0**-30
    rates = keras.ops.convert_to_numpy(schedule(_int_steps([32, 33])))
    np.testing.assert_array_equal(rates, [2.0**-29, 2.0**-30])


def test_step_decay_int32_steps_do_not_overflow():
    # (step % n)·d stays inside int32, and tiny periods do not wrap the count negative.
    schedule = kn.schedules.StepDecay(1.0, drop=0.5, every=2.5, steps_per_unit=3.7)
    steps = [2**31 - 1, 2**31 - 2, 925_000_000]
    rates = keras.ops.convert_to_numpy(schedule(keras.ops.convert_to_tensor(steps, "int32")))
    np.testing.assert_array_equal(rates, [schedule(s) for s in steps])
    tiny = kn.schedules.StepDecay(1.0, drop=0.5, every=1e-6)
    rates = keras.ops.convert_to_numpy(tiny(keras.ops.convert_to_tensor([0, 2**31 - 1], "int32")))
    np.testing.assert_array_equal(rates, [1.0, 0.0])


def test_schedules_in_an_optimizer_do_not_warn_about_int64():
    # JAX (without x64) warned "Explicitly requested dtype int64 ... truncated" at every call.
    import warnings

    for schedule in (
        kn.schedules.StepDecay(0.1, drop=0.5, every=1.5),
        kn.schedules.StepDecay(0.1, drop=0.5, every=3),
        kn.schedules.ExponentialDecay(0.1, gamma=0.5),
    ):
        optimizer = kn.optimizers.SGD(learning_rate=schedule)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*int64.*")
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        assert rate == pytest.approx(0.1)


@pytest.mark.parametrize(
    "cls,kwargs,names",
    [
        (
            kn.schedules.ExponentialDecay,
            {"gamma": 1, "steps_per_unit": 1e-40},
            "gamma=1, steps_per_unit=1e-40",
        ),
        (kn.schedules.ExponentialDecay, {"gamma": 1e30, "steps_per_unit": 1e-10}, "gamma=1e+30"),
        (
            kn.schedules.ExponentialDecay,
            {"initial_learning_rate": 1e39, "gamma": 0.1},
            "initial_learning_rate=1e+39",
        ),
        (kn.schedules.StepDecay, {"initial_learning_rate": 1e39}, "initial_learning_rate=1e+39"),
    ],
)
def test_parameters_that_make_the_rate_non_finite_are_refused(cls, kwargs, names):
    # ExponentialDecay(0.1, 1, steps_per_unit=1e-40) was accepted and gave NaN at step 0.
    kwargs = {"initial_learning_rate": 0.1, **kwargs}
    with pytest.raises(ValueError, match="finite in float32") as info:
        cls(**kwargs)
    assert f"Received: {names}" in str(info.value)
    # The largest γ/steps_per_unit allowed gives a finite rate at step 0 in-graph.
    edge = kn.schedules.ExponentialDecay(0.1, gamma=3e38, steps_per_unit=1)
    rates = keras.ops.convert_to_numpy(edge(_int_steps([0, 1])))
    np.testing.assert_array_equal(rates, np.float32([0.1, 0.0]))
