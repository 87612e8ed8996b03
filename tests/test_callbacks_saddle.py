"""SaddlePointDetector: the notes' four scenarios, the gradient gate, escape, logging, failures."""

from __future__ import annotations

import copy
import math
import warnings

import keras
import numpy as np
import pytest
from _events import read as read_events

from kerasnotes import datasets, summary
from kerasnotes.callbacks import SaddlePointDetector


class _Snapshot(keras.callbacks.Callback):
    """Copies trainable weights and optimizer variables at epoch end (placed around the detector)."""

    def __init__(self):
        super().__init__()
        self.weights, self.optimizer = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(
            [np.array(v.numpy(), copy=True) for v in self.model.trainable_variables]
        )
        self.optimizer.append(
            [np.array(v.numpy(), copy=True) for v in self.model.optimizer.variables]
        )


def _product_saddle(w1=0.0, w2=0.0, optimizer=None):
    model, x, y, loss = datasets.product_saddle(w1, w2)
    model.compile(optimizer or keras.optimizers.SGD(0.1, momentum=0.9), loss)
    return model, x, y


# ------------------------------------------------------------- the four scenarios
def test_product_saddle_detected_and_escaped_without_touching_the_optimizer():
    model, x, y = _product_saddle()
    before, after = _Snapshot(), _Snapshot()
    detector = SaddlePointDetector((x, y), escape=True, verbose=0)
    history = model.fit(x, y, epochs=1, verbose=0, callbacks=[before, detector, after])
    (entry,) = detector.history
    # (1 - w1 w2)² at 0: H = [[0, -2], [-2, 0]], eigenvalues ±2, one of two positive
    assert entry["kind"] == "saddle" and entry["grad_norm"] == 0.0
    assert entry["lambda_min"] == pytest.approx(-2.0, rel=1e-6)
    assert entry["lambda_max"] == pytest.approx(2.0, rel=1e-6)
    assert entry["minimum_ratio"] == 0.5
    # eta* = sqrt(2 L / |λ|) = 1 along u = [1, 1]/√2: w1 w2 = 1/2, L = (1 - 1/2)² = 1/4
    assert entry["escaped"] is True
    assert entry["loss_before"] == pytest.approx(1.0) and entry["loss_after"] == pytest.approx(0.25)
    np.testing.assert_allclose(np.ravel(after.weights[0]), [2**-0.5, 2**-0.5], rtol=1e-6)
    assert entry["num_hvp"] >= 2 and entry["seconds"] > 0
    for got, want in zip(after.optimizer[0], before.optimizer[0], strict=True):
        np.testing.assert_array_equal(got, want)  # momentum and iterations untouched
    assert history.history["lambda_min"] == [pytest.approx(-2.0, rel=1e-6)]
    # the next epoch trains from the escaped weights (the saddle was a dead end for SGD)
    model.fit(x, y, epochs=3, verbose=0)
    assert float(model.evaluate(x, y, verbose=0)) < 0.25


def test_two_layer_linear_network_at_zero_is_an_escaped_saddle():
    model, x, y, loss = datasets.linear_network(depth=2, num_samples=64)
    model.compile(keras.optimizers.SGD(0.1), loss)
    stuck = keras.models.clone_model(model)
    stuck.compile(keras.optimizers.SGD(0.1), loss)
    stuck.set_weights(model.get_weights())
    detector = SaddlePointDetector((x, y), escape=True, verbose=0)
    ours = model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[detector])
    plain = stuck.fit(x, y, epochs=4, batch_size=16, verbose=0)
    first = detector.history[0]
    assert first["kind"] == "saddle" and first["escaped"] is True
    assert first["lambda_min"] < 0 < first["lambda_max"]
    assert first["lambda_min"] == pytest.approx(-first["lambda_max"], rel=1e-5)  # ±2σ/(N m)
    assert first["loss_after"] < first["loss_before"]
    # reference: the top singular value of XᵀY gives λ_max = 2σ₁/(N·m)
    sigma = np.linalg.svd(x.astype(np.float64).T @ y.astype(np.float64), compute_uv=False)[0]
    assert first["lambda_max"] == pytest.approx(2 * sigma / (64 * 2), rel=1e-4)
    np.testing.assert_allclose(plain.history["loss"], plain.history["loss"][0], rtol=1e-6)
    assert ours.history["loss"][-1] < 0.5 * plain.history["loss"][-1]
    assert all(e["kind"] == "not_critical" for e in detector.history[1:])


def test_three_layer_linear_network_at_zero_is_flat_never_a_minimum():
    model, x, y, loss = datasets.linear_network(depth=3, num_samples=32)
    model.compile(keras.optimizers.SGD(0.1), loss)
    detector = SaddlePointDetector((x, y), escape=True, verbose=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[detector])
    assert [e["kind"] for e in detector.history] == ["flat", "flat"]
    assert all(e["lambda_min"] == 0.0 and e["lambda_max"] == 0.0 for e in detector.history)
    assert not any(e["escaped"] for e in detector.history)
    assert all(not np.any(w) for w in model.get_weights())  # nothing moved


@pytest.mark.parametrize("labels", ["column", "flat"])
def test_well_trained_logistic_regression_is_a_local_minimum(labels):
    # "flat": y of shape (N,) against the (N, 1) sigmoid output, which compile accepts
    (x, y), _ = datasets.load_breast_cancer()
    y = y.astype("float32")[:, None] if labels == "column" else y.astype("float32")
    l2 = 1e-2
    model = keras.Sequential(
        [
            keras.Input((30,)),
            keras.layers.Dense(
                1, activation="sigmoid", kernel_regularizer=keras.regularizers.l2(l2)
            ),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    detector = SaddlePointDetector((x, y), verbose=0)
    # 60 full-batch Adam steps per epoch (the data repeated), 5 epochs
    repeats = 60
    model.fit(
        np.tile(x, (repeats, 1)),
        np.tile(y, (repeats,) + (1,) * (y.ndim - 1)),
        batch_size=len(x),
        epochs=5,
        shuffle=False,
        verbose=0,
        callbacks=[detector],
    )
    last = detector.history[-1]
    assert "error" not in {e["kind"] for e in detector.history}, detector.history
    assert last["kind"] == "local_minimum", detector.history
    assert last["minimum_ratio"] == 1.0 and last["grad_norm"] <= 1e-3
    assert all(e["kind"] in ("not_critical", "local_minimum") for e in detector.history)
    # float64 reference: H = [X 1]ᵀ diag(p(1-p)) [X 1] / N + 2·l2 on the kernel
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    design = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    p = 1 / (1 + np.exp(-(x.astype(np.float64) @ kernel + bias)))[:, 0]
    hessian = design.T @ (design * (p * (1 - p))[:, None]) / len(x)
    hessian[:30, :30] += 2 * l2 * np.eye(30)
    eig = np.linalg.eigvalsh(hessian)
    assert last["lambda_min"] == pytest.approx(eig[0], rel=2e-2)
    assert last["lambda_max"] == pytest.approx(eig[-1], rel=1e-3)


# ------------------------------------------------------------------ the gate
def _converged_logistic_regression():
    (x, y), _ = datasets.load_breast_cancer()
    y = y.astype("float32")[:, None]
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(np.tile(x, (60, 1)), np.tile(y, (60, 1)), batch_size=len(x), epochs=8, verbose=0)
    model.compile(keras.optimizers.SGD(1e-3), "binary_crossentropy")  # small steps on from there
    return model, x, y, None


@pytest.mark.parametrize("case", ["product_saddle", "linear_network", "logistic_regression"])
def test_the_gate_never_misses_a_full_sample_gradient_below_half_grad_tol(case):
    # The documented guarantee: an epoch whose full-sample ‖∇L‖ is below grad_tol / 2 is
    # always analysed (the default gate is that exact gradient, so it holds by construction;
    # this checks it end to end at the three critical points of the issue).
    from kerasnotes.curvature import HessianProbe

    if case == "product_saddle":
        model, x, y = _product_saddle()
        loss, batch_size, grad_tol = None, None, 1e-3
    elif case == "linear_network":
        model, x, y, loss = datasets.linear_network(depth=2, num_samples=64)
        model.compile(keras.optimizers.SGD(0.1), loss)
        batch_size, grad_tol = 16, 1e-3
    else:
        model, x, y, loss = _converged_logistic_regression()
        batch_size = 65
        grad_tol = 2.5 * np.linalg.norm(HessianProbe(model, x, y).gradient())
    weights = _Snapshot()
    detector = SaddlePointDetector((x, y), grad_tol=grad_tol, verbose=0)
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[detector, weights],
    )
    below = 0
    for entry, arrays in zip(detector.history, weights.weights, strict=True):
        for variable, array in zip(model.trainable_variables, arrays, strict=True):
            variable.assign(array)
        exact = np.linalg.norm(HessianProbe(model, x, y, loss=loss).gradient())
        if exact < grad_tol / 2:
            below += 1
            assert entry["kind"] != "not_critical", (exact, entry)
            assert entry["grad_norm"] == pytest.approx(exact, rel=1e-4, abs=1e-7)
    assert below == 3


def test_gradient_gate_skips_the_hessian_when_not_critical():
    model, x, y = _product_saddle(0.5, 1.0, keras.optimizers.SGD(0.0))
    detector = SaddlePointDetector((x, y), verbose=0)
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[detector])
    # ∇(1 - w1 w2)² = -2(1 - w1 w2)[w2, w1] = [-1, -0.5] at (0.5, 1)
    for entry in detector.history:
        assert entry["kind"] == "not_critical" and entry["num_hvp"] == 0
        assert entry["grad_norm"] == pytest.approx(math.sqrt(1.25), rel=1e-6)
        assert all(math.isnan(entry[k]) for k in ("lambda_min", "lambda_max", "minimum_ratio"))
        assert math.isnan(entry["loss_before"]) and entry["escaped"] is False
    assert history.history["grad_norm"] == [pytest.approx(math.sqrt(1.25), rel=1e-6)] * 2
    assert "lambda_min" not in history.history


def test_the_gate_is_built_once_per_model_and_reads_the_trained_weights():
    model, x, y = _product_saddle(0.5, 1.0, keras.optimizers.SGD(0.05))
    detector = SaddlePointDetector((x, y), verbose=0)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[detector])
    gate = detector._gate
    assert gate is not None and gate.model is model
    # each epoch's gradient norm is the one at that epoch's weights, as a fresh probe gives
    w1, w2 = (float(np.ravel(w)[0]) for w in model.get_weights())
    residual = 1 - w1 * w2
    assert detector.history[-1]["grad_norm"] == pytest.approx(
        2 * abs(residual) * math.hypot(w1, w2), rel=1e-5
    )
    assert len({e["grad_norm"] for e in detector.history}) == 3
    model.fit(x, y, epochs=1, verbose=0, callbacks=[detector])
    assert detector._gate is gate  # kept across fits of the same model
    other, _, _ = _product_saddle(0.5, 1.0)
    other.fit(x, y, epochs=1, verbose=0, callbacks=[detector])
    assert detector._gate is not gate and detector._gate.model is other
    assert copy.deepcopy(detector)._gate is None


def test_always_probe_analyses_away_from_critical_points_and_every_skips_epochs():
    model, x, y = _product_saddle(0.5, 1.0, keras.optimizers.SGD(0.0))
    detector = SaddlePointDetector((x, y), every=2, always_probe=True, verbose=0)
    model.fit(x, y, epochs=4, verbose=0, callbacks=[detector])
    assert [e["epoch"] for e in detector.history] == [1, 3]
    # H at (0.5, 1) = [[2 w2², 4 w1 w2 - 2], [., 2 w1²]] = [[2, 0], [0, 0.5]]
    entry = detector.history[0]
    assert entry["kind"] == "not_critical" and entry["num_hvp"] == 2
    assert entry["lambda_min"] == pytest.approx(0.5, rel=1e-6)
    assert entry["lambda_max"] == pytest.approx(2.0, rel=1e-6)


def test_a_step_that_does_not_lower_the_loss_is_undone_bit_for_bit():
    model, x, y = _product_saddle()
    detector = SaddlePointDetector((x, y), escape=True, escape_step=100.0, verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[detector])
    (entry,) = detector.history
    assert entry["kind"] == "saddle" and entry["escaped"] is False
    assert entry["loss_after"] == entry["loss_before"] == pytest.approx(1.0)
    assert all(not np.any(w) and not np.signbit(w).any() for w in model.get_weights())


# -------------------------------------------------------------- TensorBoard
def test_tensorboard_scalars_critical_point_and_density(tmp_path):
    model, x, y = _product_saddle()
    detector = SaddlePointDetector((x, y), escape=True, density=True, log_dir=tmp_path, verbose=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[detector])
    scalars = read_events(tmp_path, "scalars", "scalars")
    assert [p.step for p in scalars[summary.TAG_GRAD_NORM]] == [0, 1]
    assert [p.step for p in scalars[summary.TAG_LAMBDA_MIN]] == [0]  # only the analysed epoch
    assert scalars[summary.TAG_LAMBDA_MIN][0].value == pytest.approx(-2.0, rel=1e-6)
    tensors = read_events(tmp_path, "tensors", summary.PLUGIN_NAME)
    points = tensors[summary.TAG_CRITICAL_POINT]
    first = dict(zip(summary.CRITICAL_POINT_FIELDS, points[0].numpy, strict=True))
    entry = detector.history[0]
    assert first["kind_code"] == summary.KIND_CODES["saddle"] and first["escaped"] == 1.0
    for field in (
        "grad_norm",
        "lambda_min",
        "lambda_max",
        "minimum_ratio",
        "loss_before",
        "loss_after",
    ):
        assert first[field] == entry[field]
    assert first["num_hvp"] == entry["num_hvp"]
    second = dict(zip(summary.CRITICAL_POINT_FIELDS, points[1].numpy, strict=True))
    assert second["kind_code"] == summary.KIND_CODES["not_critical"]
    assert math.isnan(second["lambda_min"]) and math.isnan(second["loss_before"])
    (density,) = tensors[summary.TAG_SPECTRAL_DENSITY]
    grid, values = density.numpy
    assert density.numpy.shape == (2, 400)
    assert np.trapezoid(values, grid) == pytest.approx(1.0, abs=1e-6)
    # the spectrum {-2, 2}: two peaks, nothing in between (the weights of the
    # two nodes are random, so their split is not 1/2 exactly)
    at = lambda t: values[np.argmin(np.abs(grid - t))]  # noqa: E731
    assert at(-2.0) > 100 * at(0.0) and at(2.0) > 100 * at(0.0)
    assert 0.05 < np.trapezoid(values[grid < 0], grid[grid < 0]) < 0.95
    (masses,) = tensors[summary.TAG_SPECTRAL_MASSES]
    logged = dict(zip(summary.SPECTRAL_MASSES_FIELDS, masses.numpy, strict=True))
    for field in summary.SPECTRAL_MASSES_FIELDS[:6]:
        assert logged[field] == pytest.approx(entry[field], abs=1e-12)
    # Rademacher starts in 2-D are eigenvectors of [[0, -2], [-2, 0]] up to scale, so
    # each run puts all its mass on one side: run masses are 0 or 1, nothing is near zero.
    assert logged["zero_fraction"] == 0.0
    assert logged["negative_fraction"] + logged["positive_fraction"] == pytest.approx(1.0)
    assert logged["negative_fraction"] * 5 == pytest.approx(round(logged["negative_fraction"] * 5))
    assert logged["num_runs"] == 5 and logged["threshold"] == pytest.approx(2e-4)


def test_layer_curvature_logs_each_layers_block_beside_the_analysis(tmp_path):
    # Two Dense layers (8 + 3 parameters): the blocks are exact, so the table must
    # equal the diagonal blocks of the dense Hessian at the weights the probe saw.
    from kerasnotes.curvature import HessianProbe

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(2, activation="tanh", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(keras.optimizers.SGD(0.05), "mse")
    detector = SaddlePointDetector(
        (x, y), always_probe=True, layer_curvature=True, log_dir=tmp_path, verbose=0
    )
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[detector])
    entry = detector.history[-1]
    hessian = HessianProbe(model, x, y).dense_hessian()
    blocks = {"hidden": slice(0, 8), "out": slice(8, 11)}
    assert [layer.name for layer in entry["layers"]] == ["hidden", "out"]
    for layer in entry["layers"]:
        block = hessian[blocks[layer.name], blocks[layer.name]]
        assert layer.num_parameters == block.shape[0]
        assert layer.lambda_max == pytest.approx(np.linalg.eigvalsh(block)[-1], rel=1e-4)
        assert layer.trace == pytest.approx(np.trace(block), rel=1e-4)
        # 11 parameters: analyze() took the dense Hessian, which the blocks reuse (0 HVPs).
        assert layer.trace_stderr == 0.0 and layer.num_hvp == 0
    assert entry["layer_seconds"] >= 0
    tensors = read_events(tmp_path, "tensors", summary.PLUGIN_NAME)
    tables, names = tensors[summary.TAG_LAYER_CURVATURE], tensors[summary.TAG_LAYER_NAMES]
    assert [t.step for t in tables] == [n.step for n in names] == [0, 1]
    assert [n.decode() for n in names[-1].numpy.tolist()] == ["hidden", "out"]
    rows = tables[-1].numpy
    assert rows.shape == (2, len(summary.LAYER_CURVATURE_FIELDS))
    fields = summary.LAYER_CURVATURE_FIELDS
    for row, layer in zip(rows, entry["layers"], strict=True):
        logged = dict(zip(fields, row, strict=True))
        assert logged["lambda_max"] == layer.lambda_max and logged["trace"] == layer.trace
        assert logged["num_parameters"] == layer.num_parameters
        assert logged["seconds"] == pytest.approx(entry["layer_seconds"])
    # Without the option nothing of it is measured or written.
    plain = SaddlePointDetector((x, y), always_probe=True, verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[plain])
    assert "layers" not in plain.history[0]


def test_layer_curvature_hvps_count_in_the_probes_total(monkeypatch):
    # Without the dense Hessian (Lanczos analysis) each small block costs one HVP per
    # parameter, and the entry's num_hvp is the analysis's plus the table's.
    from kerasnotes.curvature import analysis

    monkeypatch.setattr(analysis, "DENSE_ANALYZE_LIMIT", 0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 3)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(0.01), "mse")
    detector = SaddlePointDetector((x, y), always_probe=True, layer_curvature=True, verbose=0)
    with warnings.catch_warnings():  # SLQ forced on 11 parameters: its ratio's stderr warns
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[detector])
    (entry,) = detector.history
    assert [layer.num_hvp for layer in entry["layers"]] == [8, 3]
    assert entry["num_hvp"] > 11 and entry["kind"] != "error"


def _psd_regression(num_features: int = 40, rank: int = 4):
    """Linear least squares on rank-4 inputs: H = 2 XᵀX / N is PSD with 36 (near-)zero eigenvalues."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(256, rank)) @ rng.normal(size=(rank, num_features))).astype("float32")
    y = rng.normal(size=(256, 1)).astype("float32")
    model = keras.Sequential([keras.Input((num_features,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1e-4), "mse")
    return model, x, y


def test_a_psd_hessian_with_many_zero_eigenvalues_logs_no_negative_mass(tmp_path):
    from kerasnotes.curvature import HessianProbe

    model, x, y = _psd_regression()
    detector = SaddlePointDetector((x, y), grad_tol=1e6, density=True, log_dir=tmp_path, verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[detector])
    (entry,) = detector.history
    values = np.linalg.eigvalsh(HessianProbe(model, x, y, loss="mse").dense_hessian())
    tau = 1e-4 * np.max(np.abs(values))
    assert np.mean(values < -tau) == 0.0 and np.mean(np.abs(values) <= tau) > 0.8
    assert entry["kind"] == "local_minimum"
    assert entry["negative_fraction"] <= 2 * entry["negative_fraction_stderr"] + 1e-12
    exact_zero = np.mean(np.abs(values) <= tau)
    assert abs(entry["zero_fraction"] - exact_zero) <= 3 * entry["zero_fraction_stderr"] + 1e-9
    tensors = read_events(tmp_path, "tensors", summary.PLUGIN_NAME)
    (masses,) = tensors[summary.TAG_SPECTRAL_MASSES]
    assert masses.numpy[0] == entry["negative_fraction"]
    # The smoothed curve, by contrast, spreads the zero cluster over both sides of 0.
    grid, density = tensors[summary.TAG_SPECTRAL_DENSITY][0].numpy
    assert np.trapezoid(np.where(grid < 0, density, 0.0), grid) > 0.2


# ------------------------------------------------------------------ failures
def test_a_failing_probe_warns_records_an_error_and_training_continues():
    model, x, y = _product_saddle(0.5, 1.0, keras.optimizers.SGD(0.05))
    bad = (np.full((4, 1), np.nan, "float32"), np.ones((4, 1), "float32"))
    detector = SaddlePointDetector(bad, verbose=0)
    snapshot = _Snapshot()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[snapshot, detector])
    assert len(history.history["loss"]) == 2
    assert [e["kind"] for e in detector.history] == ["error", "error"]
    assert "non-finite" in detector.history[0]["error"]
    assert sum("SaddlePointDetector" in str(w.message) for w in caught) == 2
    for got, want in zip(model.get_weights(), snapshot.weights[-1], strict=True):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------- sample, config, args
def test_fixed_sample_is_deterministic_and_a_subset():
    x = np.arange(100, dtype="float32")[:, None]
    y = 2 * x
    first = SaddlePointDetector((x, y), num_samples=10, seed=3)
    again = SaddlePointDetector((x, y), num_samples=10, seed=3)
    np.testing.assert_array_equal(first.x, again.x)
    assert first.x.shape == (10, 1) and len(np.unique(first.x)) == 10
    np.testing.assert_array_equal(first.y, 2 * first.x)
    assert not np.array_equal(first.x, SaddlePointDetector((x, y), num_samples=10, seed=4).x)
    x[:] = -1  # the sample is a copy
    assert first.x.min() >= 0


def test_config_round_trip_and_deep_copy():
    model, x, y = _product_saddle()
    detector = SaddlePointDetector(
        (x, y),
        every=2,
        num_samples=5,
        grad_tol=1e-2,
        curvature_tol=1e-3,
        always_probe=True,
        density=True,
        escape=True,
        escape_step=0.5,
        log_dir="runs/s",
        verbose=0,
        seed=1,
        loss=keras.losses.MeanAbsoluteError(),
        bn_mode="batch",
        layer_curvature=True,
    )
    config = detector.get_config()
    again = SaddlePointDetector.from_config(config)
    assert again.get_config() == config
    assert isinstance(again.loss, keras.losses.MeanAbsoluteError) and again.bn_mode == "batch"
    named = SaddlePointDetector((x, y), loss="mse", verbose=0)
    assert SaddlePointDetector.from_config(named.get_config()).loss == "mse"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(detector))
    np.testing.assert_array_equal(restored.x, x)
    detector = SaddlePointDetector((x, y), verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[detector])
    clone = copy.deepcopy(detector)
    assert clone.model is None and clone.history == detector.history
    assert clone.history is not detector.history


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"data": np.ones((3, 1))}, TypeError, "`data` must be a pair"),
        ({"data": (np.ones((3, 1)), np.ones((4, 1)))}, ValueError, "common number of samples"),
        ({"every": 0}, ValueError, "every=0"),
        ({"num_samples": 0}, ValueError, "num_samples=0"),
        ({"grad_tol": -1.0}, ValueError, "grad_tol=-1.0"),
        ({"curvature_tol": "x"}, TypeError, "curvature_tol='x'"),
        ({"escape_step": 0.0}, ValueError, "escape_step=0.0"),
        ({"log_dir": 5}, TypeError, "log_dir=5"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"bn_mode": "train"}, ValueError, "bn_mode='train'"),
        ({"loss": 5}, TypeError, "loss=5"),
        ({"layer_curvature": 1}, TypeError, "layer_curvature=1"),
        ({"loss": "no_such_loss"}, ValueError, "no_such_loss"),
    ],
)
def test_wrong_arguments_fail_at_construction(kwargs, error, match):
    kwargs.setdefault("data", (np.ones((3, 1)), np.ones((3, 1))))
    with pytest.raises(error, match=match):
        SaddlePointDetector(**kwargs)


def test_the_escape_line_search_builds_no_probe_per_trial_step(monkeypatch):
    import kerasnotes.curvature as curvature

    built = []

    class CountingProbe(curvature.HessianProbe):
        def __init__(self, *args, **kwargs):
            built.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(curvature, "HessianProbe", CountingProbe)
    model, x, y = _product_saddle()
    after = _Snapshot()
    detector = SaddlePointDetector((x, y), escape=True, verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[detector, after])
    (entry,) = detector.history
    assert len(built) == 1  # the analysis; the 12 trial steps use the compiled gate
    # The same step as before: eta* = 1 along u = [1, 1]/√2, L = (1 - 1/2)² = 1/4.
    assert entry["escaped"] is True and entry["loss_after"] == pytest.approx(0.25)
    np.testing.assert_allclose(np.ravel(after.weights[0]), [2**-0.5, 2**-0.5], rtol=1e-6)


def _bn_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model


def test_loss_and_bn_mode_reach_the_gate_and_the_analysis():
    from kerasnotes.curvature import HessianProbe

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    model = _bn_model()
    mae = keras.losses.MeanAbsoluteError()
    detector = SaddlePointDetector((x, y), always_probe=True, loss=mae, bn_mode="batch", verbose=0)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[detector])
    (entry,) = detector.history
    # The weights are the epoch end's (no escape): probe them with the same settings.
    probe = HessianProbe(model, x, y, loss=mae, bn_mode="batch")
    assert entry["grad_norm"] == pytest.approx(np.linalg.norm(probe.gradient()), rel=1e-5)
    dense = np.linalg.eigvalsh(probe.dense_hessian())
    assert entry["lambda_min"] == pytest.approx(dense[0], rel=1e-4, abs=1e-6)
    assert entry["lambda_max"] == pytest.approx(dense[-1], rel=1e-4)
    # ... and they are not the defaults' numbers (compiled MSE, BN in inference mode).
    default = HessianProbe(model, x, y)
    assert abs(np.linalg.norm(default.gradient()) - entry["grad_norm"]) > 1e-3
