"""kerasnotes optimizers against Keras's built-ins and against numpy float64 references."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerasnotes as kn

STEPS = 50
SHAPES = ((5, 3), (3,))


def _problem(seed: int = 0):
    """A noisy element-wise quadratic: g = c * (w - target) + noise_t (float64 arrays)."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=s) for s in SHAPES]
    curvature = [rng.uniform(0.5, 2.0, size=s) for s in SHAPES]
    target = [rng.normal(size=s) for s in SHAPES]
    noise = [[0.3 * rng.normal(size=s) for s in SHAPES] for _ in range(STEPS)]
    return start, curvature, target, noise


def _gradients(weights, curvature, target, noise_t):
    return [c * (w - t) + n for w, c, t, n in zip(weights, curvature, target, noise_t, strict=True)]


def _run_keras_optimizer(optimizer, steps: int = STEPS, seed: int = 0):
    """Trajectory of ``optimizer`` on the problem, float32 variables, eager ``apply``."""
    start, curvature, target, noise = _problem(seed)
    variables = [keras.Variable(s.astype("float32")) for s in start]
    trajectory = []
    for t in range(steps):
        weights = [np.asarray(keras.ops.convert_to_numpy(v.value), np.float64) for v in variables]
        grads = _gradients(weights, curvature, target, noise[t])
        optimizer.apply(
            [keras.ops.convert_to_tensor(g.astype("float32")) for g in grads], variables
        )
        trajectory.append([np.array(keras.ops.convert_to_numpy(v.value)) for v in variables])
    return trajectory, variables


# (kerasnotes class, Keras class, arguments shared by both)
PARITY_CASES = [
    ("SGD", {"learning_rate": 0.05}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "clipnorm": 0.5}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.0}),
    ("Adagrad", {"learning_rate": 0.1, "clipvalue": 0.2}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "global_clipnorm": 1.0}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "beta_1": 0.8}),
]


def _case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", PARITY_CASES, ids=[_case_id(c) for c in PARITY_CASES])
def test_trajectory_matches_keras_builtin(case, backend):
    name, kwargs = case
    ours, _ = _run_keras_optimizer(getattr(kn.optimizers, name)(**kwargs))
    theirs, _ = _run_keras_optimizer(getattr(keras.optimizers, name)(**kwargs))
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for x, y in zip(a, b, strict=True):
            # Identical operations on TF/JAX; on torch Keras swaps in fused
            # torch._foreach_* versions, which round differently.
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=f"step {step + 1}")
    # Not a trivial pass: the weights really moved.
    start = _problem()[0]
    assert np.abs(ours[-1][0] - start[0]).max() > 1e-2


# numpy float64 references of the docstring formulas ------------------------------


def _reference_sgd(lr, momentum=0.0, nesterov=False, momentum_form="heavy_ball"):
    def init(w):
        return {"v": np.zeros_like(w)}

    def step(w, g, s, t):
        if momentum == 0:
            return w - lr * g
        b = momentum
        if momentum_form == "heavy_ball":
            s["v"] = b * s["v"] - lr * g
            return w + (b * s["v"] - lr * g if nesterov else s["v"])
        s["v"] = b * s["v"] + (1 - b) * g
        return w - lr * ((b * s["v"] + (1 - b) * g) if nesterov else s["v"])

    return init, step


def _reference_adagrad(lr, initial_accumulator_value=0.1, epsilon=1e-7):
    def init(w):
        return {"G": np.full_like(w, initial_accumulator_value)}

    def step(w, g, s, t):
        s["G"] = s["G"] + g**2
        return w - lr / np.sqrt(s["G"] + epsilon) * g

    return init, step


def _reference_rmsprop(lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    def init(w):
        return {"s": np.zeros_like(w), "a": np.zeros_like(w), "m": np.zeros_like(w)}

    def step(w, g, s, t):
        s["s"] = rho * s["s"] + (1 - rho) * g**2
        if centered:
            s["a"] = rho * s["a"] + (1 - rho) * g
            d = np.sqrt(s["s"] - s["a"] ** 2 + epsilon)
        else:
            d = np.sqrt(s["s"] + epsilon)
        if momentum > 0:
            s["m"] = momentum * s["m"] + lr * g / d
            return w - s["m"]
        return w - lr * g / d

    return init, step


def _reference_adam(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    def init(w):
        return {"m": np.zeros_like(w), "v": np.zeros_like(w), "vh": np.zeros_like(w)}

    def step(w, g, s, t):
        s["m"] = beta_1 * s["m"] + (1 - beta_1) * g
        s["v"] = beta_2 * s["v"] + (1 - beta_2) * g**2
        v = s["v"]
        if amsgrad:
            s["vh"] = np.maximum(s["vh"], s["v"])
            v = s["vh"]
        alpha_t = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        return w - alpha_t * s["m"] / (np.sqrt(v) + epsilon)

    return init, step


REFERENCE_CASES = [
    ("SGD", _reference_sgd, {"lr": 0.05}),
    ("SGD", _reference_sgd, {"lr": 0.05, "momentum": 0.9}),
    ("SGD", _reference_sgd, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", _reference_sgd, {"lr": 0.05, "momentum": 0.9, "momentum_form": "ema"}),
    (
        "SGD",
        _reference_sgd,
        {"lr": 0.05, "momentum": 0.7, "momentum_form": "ema", "nesterov": True},
    ),
    ("Adagrad", _reference_adagrad, {"lr": 0.1}),
    ("Adagrad", _reference_adagrad, {"lr": 0.1, "initial_accumulator_value": 0.0}),
    ("RMSprop", _reference_rmsprop, {"lr": 0.01}),
    ("RMSprop", _reference_rmsprop, {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adam", _reference_adam, {"lr": 0.01}),
    ("Adam", _reference_adam, {"lr": 0.01, "amsgrad": True, "beta_2": 0.99}),
]


def _reference_trajectory(reference, kwargs):
    init, step = reference(**kwargs)
    start, curvature, target, noise = _problem()
    weights = [w.copy() for w in start]
    states = [init(w) for w in weights]
    trajectory = []
    for t in range(STEPS):
        grads = _gradients(weights, curvature, target, noise[t])
        weights = [step(w, g, s, t + 1) for w, g, s in zip(weights, grads, states, strict=True)]
        trajectory.append([w.copy() for w in weights])
    return trajectory


@pytest.mark.parametrize(
    "case", REFERENCE_CASES, ids=[_case_id((c[0], c[2])) for c in REFERENCE_CASES]
)
def test_trajectory_matches_float64_reference(case):
    name, reference, kwargs = case
    ours_kwargs = {("learning_rate" if k == "lr" else k): v for k, v in kwargs.items()}
    ours, _ = _run_keras_optimizer(getattr(kn.optimizers, name)(**ours_kwargs))
    expected = _reference_trajectory(reference, kwargs)
    for step, (a, b) in enumerate(zip(ours, expected, strict=True)):
        for x, y in zip(a, b, strict=True):
            # float32 arithmetic against float64 over 50 coupled steps.
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5, err_msg=f"step {step + 1}")


def test_ema_momentum_is_heavy_ball_with_scaled_learning_rate():
    # F2 vs F2k: v_ema = b v + (1-b) g with step lr is heavy ball with step lr (1-b).
    ema, _ = _run_keras_optimizer(
        kn.optimizers.SGD(learning_rate=0.1, momentum=0.8, momentum_form="ema")
    )
    heavy, _ = _run_keras_optimizer(kn.optimizers.SGD(learning_rate=0.1 * 0.2, momentum=0.8))
    np.testing.assert_allclose(ema[-1][0], heavy[-1][0], rtol=1e-4, atol=1e-5)
    plain, _ = _run_keras_optimizer(kn.optimizers.SGD(learning_rate=0.1))
    assert np.abs(ema[-1][0] - plain[-1][0]).max() > 1e-3


def _mlp(seed: int = 3) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dense(3),
        ]
    )


SLOW = pytest.mark.slow  # the update rule is already covered by the apply() parity above

FIT_CASES = [
    # (class name, our arguments, the Keras built-in's arguments for the same rule)
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, None),
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_overwrite_frequency": 3}, None),
    ("RMSprop", {"learning_rate": 0.01, "gradient_accumulation_steps": 3}, None),
    # F2 is F2k with the learning rate scaled by 1 - momentum.
    pytest.param(
        "SGD",
        {"learning_rate": 0.05, "momentum": 0.5, "momentum_form": "ema"},
        {"learning_rate": 0.025, "momentum": 0.5},
        marks=SLOW,
    ),
    pytest.param("Adam", {"learning_rate": 0.01}, None, marks=SLOW),
    pytest.param("RMSprop", {"learning_rate": 0.01}, None, marks=SLOW),
    pytest.param("Adagrad", {"learning_rate": 0.1}, None, marks=SLOW),
]


def _fit_id(case):
    values = case.values if hasattr(case, "values") else case
    return _case_id(values[:2])


@pytest.mark.parametrize(
    "name,ours_kwargs,keras_kwargs", FIT_CASES, ids=[_fit_id(c) for c in FIT_CASES]
)
def test_fit_matches_keras_builtin(name, ours_kwargs, keras_kwargs, backend):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.integers(0, 3, size=64)
    weights = []
    for optimizer in (
        getattr(kn.optimizers, name)(**ours_kwargs),
        getattr(keras.optimizers, name)(**(keras_kwargs or ours_kwargs)),
    ):
        model = _mlp()
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    tolerance = (
        {"rtol": 1e-5, "atol": 1e-6} if keras_kwargs is None else {"rtol": 1e-4, "atol": 1e-5}
    )
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, **tolerance)
    assert not np.allclose(weights[0][0], _mlp().get_weights()[0])


@pytest.mark.parametrize(
    "name",
    ["Adam", *(pytest.param(n, marks=SLOW) for n in ("SGD", "Adagrad", "RMSprop"))],
)
def test_loss_scale_optimizer_wrapping_matches_keras(name, backend):
    # A huge initial scale overflows the first steps: both must skip them and
    # lower the scale identically, then train identically.
    rng = np.random.default_rng(1)
    x = (1000.0 * rng.normal(size=(48, 8))).astype("float32")  # large inputs, large gradients
    y = rng.integers(0, 3, size=48)
    results = []
    for module in (kn.optimizers, keras.optimizers):
        model = _mlp()
        optimizer = keras.optimizers.LossScaleOptimizer(
            getattr(module, name)(learning_rate=0.05), initial_scale=2.0**127
        )
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        scale = float(keras.ops.convert_to_numpy(optimizer.dynamic_scale))
        results.append((model.get_weights(), scale))
    (ours, our_scale), (theirs, their_scale) = results
    assert our_scale == their_scale < 2.0**127
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert np.all(np.isfinite(a))


# The eager (PyTorch) fast path against the plain update_step path ---------------

FAST_PATH_CASES = [
    ("SGD", {"learning_rate": 0.05}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "momentum_form": "ema"}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.7, "momentum_form": "ema", "nesterov": True}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "beta_1": 0.8}),
]


def _fit_weights(optimizer):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 8)).astype("float32")
    y = rng.integers(0, 3, size=48)
    keras.utils.set_random_seed(3)
    model = _mlp()
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.mark.parametrize("case", FAST_PATH_CASES, ids=[_case_id(c) for c in FAST_PATH_CASES])
def test_eager_fast_path_is_bit_identical_to_update_step(case, backend, monkeypatch):
    # On torch the step runs in place with operator arithmetic (base.py); it must
    # give exactly update_step's numbers, both inside fit (gradient tracking off,
    # the model variable is changed in place) and in a direct apply() (tracking
    # on, the model variable goes through assign). Elsewhere both are one path.
    name, kwargs = case
    fast_fit = _fit_weights(getattr(kn.optimizers, name)(**kwargs))
    fast_apply, _ = _run_keras_optimizer(getattr(kn.optimizers, name)(**kwargs), steps=10)
    monkeypatch.setattr(
        kn.optimizers.base.NotesOptimizer,
        "_backend_update_step",
        keras.optimizers.Optimizer._backend_update_step,
    )
    plain_fit = _fit_weights(getattr(kn.optimizers, name)(**kwargs))
    plain_apply, _ = _run_keras_optimizer(getattr(kn.optimizers, name)(**kwargs), steps=10)
    for a, b in zip(fast_fit, plain_fit, strict=True):
        np.testing.assert_array_equal(a, b)
    for step, (a, b) in enumerate(zip(fast_apply, plain_apply, strict=True)):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"step {step + 1}")


# The same compiled program as Keras's twin: on TensorFlow and JAX the update runs
# inside the compiled train step, so equal programs mean equal speed (the
# benchmark's timings scatter as much as Keras against itself).
COMPILED_CASES = {
    "SGD": ("SGD", {}),
    "SGD momentum": ("SGD", {"momentum": 0.9}),
    "SGD Nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "Adagrad": ("Adagrad", {}),
    "RMSprop": ("RMSprop", {}),
    "RMSprop centered momentum": ("RMSprop", {"momentum": 0.5, "centered": True}),
    "Adam": ("Adam", {}),
    "Adam amsgrad": ("Adam", {"amsgrad": True}),
}


def _compiled_update(optimizer) -> object:
    """The backend's compiled form of one ``apply``: a jaxpr's text, or TF's sorted op types."""
    variables = [keras.Variable(np.ones(shape, "float32")) for shape in SHAPES]
    optimizer.build(variables)
    grads = [np.full(shape, 0.5, "float32") for shape in SHAPES]
    if keras.backend.backend() == "jax":
        import jax

        def step(optimizer_values, grads, values):
            return optimizer.stateless_apply(optimizer_values, grads, values)

        values = [v.value for v in variables]
        optimizer_values = [v.value for v in optimizer.variables]
        return str(jax.make_jaxpr(step)(optimizer_values, grads, values))
    import tensorflow as tf

    grads = [tf.constant(g) for g in grads]
    graph = (
        tf.function(lambda g: optimizer.apply(g, variables), autograph=False)
        .get_concrete_function(grads)
        .graph
    )
    types = [op.type for op in graph.get_operations()]
    for function in graph._functions.values():  # the bodies of the update's conditionals
        types += [node.op for node in function.definition.node_def]
    return sorted(types)


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="torch runs the update eagerly, no compiled program to compare; its fast path "
    "is checked against update_step above and timed in benchmarks/bench_optimizers.py",
)
@pytest.mark.parametrize("case", sorted(COMPILED_CASES))
def test_compiled_update_is_the_keras_program(case):
    name, kwargs = COMPILED_CASES[case]
    ours = _compiled_update(getattr(kn.optimizers, name)(learning_rate=0.01, **kwargs))
    theirs = _compiled_update(getattr(keras.optimizers, name)(learning_rate=0.01, **kwargs))
    assert ours == theirs


@pytest.mark.skipif(
    keras.backend.backend() == "jax", reason="JAX has no float64 without jax_enable_x64"
)
def test_amsgrad_in_float64_keeps_float64_precision():
    # Keras's torch `maximum` promoted float64 to float32, so v̂ (and every step
    # after it took over from v) was off by ~4e-8 relative.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    start = rng.normal(size=(6, 4))
    grads = [rng.normal(size=(6, 4)) * (1 + 0.5 * np.sin(t)) for t in range(40)]
    variable = keras.Variable(start, dtype="float64")
    lr = 2.0**-7  # exact in the float32 learning-rate variable Keras keeps
    ours = kn.optimizers.Adam(learning_rate=lr, beta_1=0.8, beta_2=0.9, amsgrad=True)
    twin = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    theirs = torch.optim.Adam([twin], lr=lr, betas=(0.8, 0.9), eps=1e-7, amsgrad=True)
    init, step = _reference_adam(lr, beta_1=0.8, beta_2=0.9, amsgrad=True)
    expected, state = start.copy(), init(start)
    for t, g in enumerate(grads):
        ours.apply([keras.ops.convert_to_tensor(g, "float64")], [variable])
        twin.grad = torch.tensor(g, dtype=torch.float64)
        theirs.step()
        expected = step(expected, g, state, t + 1)
    inspected = ours.inspect(variable)
    assert inspected["velocity_hat"].dtype == np.float64
    # torch.optim keeps v̂ = max(v̂, v) too; only the rounding of v's update differs.
    np.testing.assert_allclose(
        inspected["velocity_hat"], theirs.state[twin]["max_exp_avg_sq"].numpy(), rtol=1e-13
    )
    np.testing.assert_allclose(inspected["velocity_hat"], state["vh"], rtol=1e-13)
    # torch.optim adds ε after the bias correction, Keras before: compare w with numpy.
    if keras.backend.backend() == "torch":
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=1e-12)
    else:
        # TensorFlow's float64 step is ~5e-7 off numpy in keras.optimizers.Adam
        # itself; ours is bit-for-bit Keras's there.
        keras_variable = keras.Variable(start, dtype="float64")
        keras_adam = keras.optimizers.Adam(lr, beta_1=0.8, beta_2=0.9, amsgrad=True)
        for g in grads:
            keras_adam.apply([keras.ops.convert_to_tensor(g, "float64")], [keras_variable])
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(variable), keras.ops.convert_to_numpy(keras_variable)
        )
