"""The claim experiments: each runs end to end in quick mode.

These tests check that every claim trains, computes finite figures from its
runs and writes its plot and TensorBoard runs; they do not check the verdicts
(a claim that does not reproduce is a result, not a bug). The framework's
pieces (the per-update loss, the measures, the registry) are checked against
numpy references.
"""

from __future__ import annotations

import importlib
import io
import math
import struct
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasnotes import experiments
from kerasnotes.experiments import base, measures
from kerasnotes.experiments import claim as claim_base

CLAIM_EXAMPLES = {
    "C0": "c0_features",
    "C3": "c3_batch_size",
    "C4": "c4_momentum",
    "C5": "c5_adaptive_lr",
    "C6": "c6_lr_decay",
    "C8": "c8_cross_entropy",
}
# Figures that count "how long until the target"; not reaching it in a tiny run is NaN/inf.
REACH_FIGURES = (
    "epochs_cross_entropy",
    "epochs_mse",
    "updates_to_target",
    "passes_to_target",  # updates_to_target in passes over the data: NaN alike
    "seconds_to_target",
    "updates_momentum_ema",
)
# Per claim: the TensorBoard scalar every one of its runs must hold.
RUN_SCALAR = {"C4": "update_loss"}


def _events(run_dir: Path):
    """Every Event in the run's event files (TFRecord framing read by hand: no TensorFlow)."""
    from tensorboard.compat.proto import event_pb2

    events = []
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            start = offset + 12  # length, then its 4-byte CRC
            events.append(event_pb2.Event.FromString(data[start : start + length]))
            offset = start + length + 4  # the record's 4-byte CRC
    return events


def _scalars(run_dir: Path) -> dict[str, list[float]]:
    from tensorboard.util import tensor_util

    found: dict[str, list[float]] = {}
    for event in _events(run_dir):
        for value in event.summary.value:
            if value.tensor.dtype == 1:  # DT_FLOAT: the scalars
                found.setdefault(value.tag, []).append(
                    float(tensor_util.make_ndarray(value.tensor))
                )
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("claim", sorted(CLAIM_EXAMPLES))
def test_example_runs_end_to_end_with_finite_figures_and_files(
    claim, tmp_path, replay_quick_claims
):
    # The claim's own entry point, as the tour calls it (positional: mode, run folder).
    # It trains once in this session (conftest's quick_claims); this run gets that
    # training's result and files, copied under tmp_path.
    experiment = importlib.import_module(f"kerasnotes.experiments.{CLAIM_EXAMPLES[claim]}")
    result = experiment.run("quick", tmp_path)

    assert result.claim == claim
    assert result.verdict.startswith(f"{claim}: ")
    # a smoke test decides nothing (C2 alone is deterministic, and not in this list)
    assert result.reproduced is None and result.status == "undecided (smoke test)"
    assert result.figure and result.seconds > 0
    for key, value in result.numbers.items():
        assert isinstance(value, float), key
        if any(part in key for part in REACH_FIGURES):
            assert math.isnan(value) or value > 0, (key, value)
        elif key.endswith("_stderr"):  # quick mode runs one seed: no spread
            assert math.isnan(value) and result.numbers["seeds"] == 1.0, (key, value)
        else:
            assert math.isfinite(value), (key, value)
    assert result.plot == tmp_path / claim / f"{CLAIM_EXAMPLES[claim]}.png"
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result.runs) >= 2
    for run_dir in result.runs:
        assert run_dir.parent == tmp_path / claim
        scalars = _scalars(run_dir)
        tag = RUN_SCALAR.get(claim, "epoch_loss")
        if claim == "C4" and run_dir.name.startswith("digits"):
            tag = "epoch_loss"
        assert scalars.get(tag), (run_dir, sorted(scalars))
        assert all(math.isfinite(v) for v in scalars[tag])
    if claim == "C0":
        _check_first_layer_image(tmp_path / "C0" / "mlp", experiment)


def _check_first_layer_image(run_dir: Path, c0_features) -> None:
    """C0's MLP run holds its first-layer weights as a stock TensorBoard image."""
    from matplotlib import image as mpl_image

    (image,) = [
        value
        for event in _events(run_dir)
        for value in event.summary.value
        if value.tag == "first_layer_weights"
    ]
    assert image.metadata.plugin_data.plugin_name == "images"
    width, height, png = image.tensor.string_val
    pixels = mpl_image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (int(height), int(width))
    units = c0_features.SIZES["quick"].hidden[0]
    rows = -(-units // 8)
    # `units` tiles of 8×8 on a grid of 8 columns, 1-pixel gaps, each pixel zoomed 8×
    assert (int(width), int(height)) == ((8 * 9 - 1) * 8, (rows * 9 - 1) * 8)


def test_per_update_loss_matches_gradient_descent_on_the_quadratic(tmp_path):
    from kerasnotes import datasets, optimizers
    from kerasnotes.experiments.training import fit_run

    model, x, y, loss = datasets.ill_conditioned_quadratic(10.0, dim=3)
    updates, rate = 12, 0.05
    run = fit_run(
        model,
        optimizers.SGD(learning_rate=rate),
        loss,
        (np.tile(x, (updates, 1)), np.tile(y, (updates, 1))),
        epochs=1,
        batch_size=len(x),
        log_dir=tmp_path,
        shuffle=False,
    )
    a = datasets.quadratic_eigenvalues(10.0, dim=3)  # A is diagonal without rotation
    w = np.ones(3)
    expected = []
    for _ in range(updates):
        expected.append(0.5 * w @ (a * w))  # the loss of the batch, before its update
        w = w - rate * a * w
    np.testing.assert_allclose(run.update_losses, expected, rtol=1e-5)
    np.testing.assert_allclose(_scalars(tmp_path)["update_loss"], expected, rtol=1e-5)
    assert run.updates_per_epoch == updates


def test_batch_loss_metric_is_the_last_batch_alone():
    from kerasnotes.experiments.training import BatchLoss

    metric = BatchLoss(keras.losses.MeanSquaredError())
    metric.update_state(np.zeros((2, 1)), np.full((2, 1), 3.0))
    metric.update_state(np.zeros((2, 1)), np.full((2, 1), 1.0))
    assert float(metric.result()) == pytest.approx(1.0)


def test_batch_loss_round_trips_through_config_and_keras_file(tmp_path):
    from kerasnotes import losses
    from kerasnotes.experiments.training import BatchLoss, mlp

    metric = BatchLoss(losses.SparseCategoricalCrossentropy(from_logits=True), name="b")
    again = BatchLoss.from_config(metric.get_config())
    assert again.name == "b" and type(again.loss) is type(metric.loss)
    assert again.loss.get_config() == metric.loss.get_config()
    with pytest.raises(TypeError, match="`loss` must be"):
        BatchLoss(loss=3)

    model = mlp(4, (3,), 2, seed=0)
    model.compile(optimizer="sgd", loss=metric.loss, metrics=[metric])
    x, y = np.ones((4, 4), "float32"), np.array([0, 1, 0, 1])
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    logs = loaded.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert logs["b"] == pytest.approx(logs["loss"], rel=1e-6)


@pytest.mark.backend_independent
def test_measures_against_numpy():
    assert measures.first_reaching([3.0, 2.0, 0.5, 0.1], 0.5) == 3
    assert measures.first_reaching([0.2, 0.95], 0.9, above=True) == 2
    assert measures.first_reaching([3.0, 2.0], 1.0) is None
    curve = np.random.default_rng(0).normal(size=40)
    tail = curve[19:]
    assert measures.curve_noise(curve) == pytest.approx(np.sqrt(np.mean(np.diff(tail) ** 2)))
    assert math.isnan(measures.curve_noise([1.0, 2.0]))
    assert measures.within(None, 30, "epochs") == "not within 30 epochs"
    assert measures.describe_count(7, 30, "epochs") == "7 epochs"


@pytest.mark.backend_independent
def test_registry_parses_and_rejects_claim_ids(monkeypatch):
    monkeypatch.delitem(experiments.REGISTRY, "C1", raising=False)  # a claim not written yet
    assert experiments.parse_claims(" c8,C0 ,C8") == ["C0", "C8"]
    with pytest.raises(ValueError, match="C42"):
        experiments.parse_claims("C3,C42")
    with pytest.raises(ValueError, match="no experiment yet"):
        experiments.parse_claims("C1")
    with pytest.raises(ValueError, match="no claim ids"):
        experiments.parse_claims(" , ")
    with pytest.raises(TypeError):
        experiments.parse_claims(None)
    for claim, module in experiments.REGISTRY.items():
        assert module.endswith(CLAIM_EXAMPLES.get(claim, module.rsplit(".", 1)[-1]))
    with pytest.raises(ValueError, match="`mode` must be one of quick, default, full"):
        experiments.run("C8", mode="fast")


@pytest.mark.backend_independent
def test_every_claim_module_declares_its_sizes_per_mode():
    for claim in experiments.registered():
        module = experiments.load(claim)
        assert module.CLAIM == claim and module.TITLE
        assert set(module.SIZES) == set(base.MODES)


@pytest.mark.backend_independent
def test_a_rerun_replaces_its_event_files_and_keeps_everything_else(tmp_path):
    files = base.ClaimFiles(tmp_path, "C8")
    run_dir = files.run_dir("mse")
    (run_dir / "events.out.tfevents.1.host.1.1").write_bytes(b"old")
    (run_dir / "notes.txt").write_text("mine")
    again = base.ClaimFiles(tmp_path, "C8").run_dir("mse")
    assert again == run_dir
    assert [p.name for p in run_dir.iterdir()] == ["notes.txt"]
    with pytest.raises(TypeError, match="log_dir"):
        base.ClaimFiles("", "C8")
    with pytest.raises(ValueError, match="sizes must have an entry"):
        base.pick_size({"quick": 1}, "quick")


def _digits_slice(rows: int):
    from kerasnotes.experiments.training import digits_split

    (x, y), (x_val, y_val) = digits_split(train_samples=rows)
    return (x, y), (x_val[:100], y_val[:100])


@pytest.mark.parametrize("labels", ["sparse", "one_hot"])
def test_recorder_validation_equals_keras_evaluate(tmp_path, labels):
    from kerasnotes import losses, optimizers
    from kerasnotes.experiments.training import fit_run

    (x, y), (x_val, y_val) = _digits_slice(96)
    if labels == "one_hot":
        y, y_val = keras.utils.to_categorical(y, 10), keras.utils.to_categorical(y_val, 10)
        loss = losses.CategoricalCrossentropy(from_logits=True)
    else:
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    keras.utils.set_random_seed(0)
    # A regulariser: Keras's val_loss includes model.losses, so must ours.
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(16, activation="relu", kernel_regularizer="l2"),
            keras.layers.Dense(10),
        ]
    )
    run = fit_run(
        model,
        optimizers.SGD(0.1),
        loss,
        (x, y),
        epochs=2,
        batch_size=32,
        log_dir=tmp_path,
        validation=(x_val, y_val),
        metrics=("accuracy",),
    )
    assert sorted(run.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(run.history["val_loss"]) == 2
    keras_logs = model.evaluate(x_val, y_val, batch_size=len(x_val), verbose=0, return_dict=True)
    assert run.history["val_loss"][-1] == pytest.approx(keras_logs["loss"], rel=1e-6)
    assert run.history["val_accuracy"][-1] == pytest.approx(keras_logs["accuracy"], abs=1e-7)
    assert model.losses, "the regulariser must be part of the model's losses"
    # Keras's own history holds the same values (the recorder fills Keras's logs dict).
    assert model.history.history["val_loss"] == pytest.approx(run.history["val_loss"])
    assert _scalars(tmp_path)["epoch_val_loss"] == pytest.approx(run.history["val_loss"], rel=1e-6)


def test_inference_loss_equals_keras_evaluate():
    from kerasnotes.experiments.training import inference_loss, mlp

    (x, y), _ = _digits_slice(64)
    model = mlp(64, (8,), 10, seed=0)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    expected = model.evaluate(x, y, batch_size=len(x), verbose=0)
    assert inference_loss(model, x, y) == pytest.approx(expected, rel=1e-6)


def test_accuracy_metric_objects_match_what_keras_resolves_from_the_name():
    from kerasnotes.experiments.training import _metric_objects, mlp

    (x, y), _ = _digits_slice(64)
    one_hot = keras.utils.to_categorical(y, 10)
    cases = [
        (
            mlp(64, (), 10, seed=0),
            y,
            "sparse_categorical_crossentropy",
            "SparseCategoricalAccuracy",
        ),
        (mlp(64, (), 10, seed=0), one_hot, "categorical_crossentropy", "CategoricalAccuracy"),
        (mlp(64, (), 1, seed=0), (y > 4).astype("float32"), "mse", "BinaryAccuracy"),
    ]
    for model, labels, loss, expected in cases:
        (metric,) = _metric_objects(["accuracy"], model, labels)
        assert type(metric).__name__ == expected and metric.name == "accuracy"
        model.compile(loss=loss, metrics=["accuracy"])
        by_name = model.evaluate(x, labels, verbose=0, return_dict=True)["accuracy"]
        metric.update_state(labels, model(x))
        assert float(metric.result()) == pytest.approx(by_name)
    assert _metric_objects(["mae"], cases[0][0], y) == ["mae"]  # other names pass through


def test_fit_run_traces_the_training_step_once(tmp_path):
    # A variable created inside the first trace (a metric resolved from its name, an
    # optimizer's slots) makes TensorFlow trace the whole step again.
    if keras.backend.backend() == "torch":
        pytest.skip("torch runs the step eagerly: there is no trace to count")
    from kerasnotes import losses, optimizers
    from kerasnotes.experiments.training import fit_run

    traces = []

    class Counted(keras.Sequential):
        def train_step(self, *args):  # (data) on TensorFlow, (state, data) on JAX
            traces.append(1)
            return super().train_step(*args)

    (x, y), validation = _digits_slice(64)
    keras.utils.set_random_seed(0)
    model = Counted([keras.Input((64,)), keras.layers.Dense(8), keras.layers.Dense(10)])
    fit_run(
        model,
        optimizers.Adam(0.01),
        losses.SparseCategoricalCrossentropy(from_logits=True),
        (x, y),
        epochs=2,
        batch_size=32,
        validation=validation,
        metrics=("accuracy",),
    )
    assert len(traces) == 1


class _Toy(claim_base.Claim):
    """Two configurations that record what they were given: the base's loop, seen from inside."""

    claim, title = "C99", "a toy claim"
    sizes = {"quick": 2, "default": 3, "full": 4}
    several_seeds = True

    def data(self, context, seed):
        return 10 * seed

    def configs(self, context, data):
        return {"double": 2, "triple": 3}

    def train(self, context, trial):
        if trial.run_dir is not None:
            (trial.run_dir / "trained").write_text(str(trial.seed))
        return trial.config * context.sizes + trial.data, trial.logged

    def judge(self, context, results):
        numbers = {
            f"{name}_{k}": float(v)
            for name, runs in results.items()
            for k, (v, _) in enumerate(runs)
        }
        logged = {name: [flag for _, flag in runs] for name, runs in results.items()}
        reproduced, verdict = context.smoke_test(True, "C99: reproduced (criterion: none)")
        return claim_base.Judgement(str(logged), verdict, reproduced, None, numbers)


@pytest.mark.backend_independent
def test_claim_base_runs_every_seed_logs_the_first_and_assembles_the_result(tmp_path):
    shown = []
    result = _Toy().run("default", tmp_path, seed=5, progress=shown.append)
    # seeds 5, 6, 7 (measures.SEEDS["default"] == 3), each config on each, in order
    assert shown == [f"{name} (seed {s})" for s in (5, 6, 7) for name in ("double", "triple")]
    assert result.numbers == {
        "double_0": 56.0, "double_1": 66.0, "double_2": 76.0,
        "triple_0": 59.0, "triple_1": 69.0, "triple_2": 79.0,
    }  # fmt: skip
    # one TensorBoard run per configuration: the first seed's
    assert result.figure == str({"double": [True, False, False], "triple": [True, False, False]})
    assert result.runs == [tmp_path / "C99" / "double", tmp_path / "C99" / "triple"]
    assert [(run / "trained").read_text() for run in result.runs] == ["5", "5"]
    assert (result.claim, result.title, result.reproduced) == ("C99", "a toy claim", True)
    assert result.status == "reproduced" and not result.smoke_test and result.seconds > 0

    quick = _Toy().run("quick", tmp_path / "quick", progress=shown.append)
    assert shown[-2:] == ["double", "triple"]  # one seed: no "(seed 0)"
    assert quick.numbers == {"double_0": 4.0, "triple_0": 6.0}
    assert quick.smoke_test and quick.reproduced is None
    assert quick.verdict.startswith("C99: undecided (smoke test)")
    with pytest.raises(ValueError, match="`mode` must be one of"):
        _Toy().run("fast", tmp_path)


@pytest.mark.backend_independent
def test_logdir_still_works_with_a_deprecation_warning(tmp_path):
    with pytest.warns(DeprecationWarning, match="log_dir"):
        result = _Toy().run("quick", logdir=tmp_path / "old")
    assert result.runs[0].parent == tmp_path / "old" / "C99"
    with pytest.raises(TypeError, match="log_dir"):
        _Toy().run("quick", log_dir=tmp_path / "a", logdir=tmp_path / "b")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spelling warns nothing
        assert (
            _Toy().run("quick", log_dir=tmp_path / "new").runs[0].parent == tmp_path / "new" / "C99"
        )


def test_experiments_run_takes_log_dir_and_still_logdir_with_a_warning(
    tmp_path, replay_quick_claims
):
    result = experiments.run("C8", "quick", log_dir=tmp_path / "new")
    assert result.plot == tmp_path / "new" / "C8" / "c8_cross_entropy.png"
    with pytest.warns(DeprecationWarning, match="logdir= is deprecated"):
        old = experiments.run("C8", "quick", logdir=tmp_path / "old")
    assert old.plot == tmp_path / "old" / "C8" / "c8_cross_entropy.png" and old.plot.exists()
    assert (old.figure, old.verdict) == (result.figure, result.verdict)
    with pytest.raises(TypeError, match="log_dir"):
        experiments.run("C8", "quick", log_dir=tmp_path / "a", logdir=tmp_path / "b")


@pytest.mark.backend_independent
def test_every_claim_module_runs_on_the_claim_base():
    import inspect

    for claim in experiments.registered():
        module = experiments.load(claim)
        assert isinstance(module.run.__self__, claim_base.Claim), claim
        assert module.run.__self__.claim == module.CLAIM == claim
        assert module.run.__self__.sizes is module.SIZES
        parameters = inspect.signature(module.run).parameters
        assert list(parameters)[:4] == ["mode", "log_dir", "seed", "progress"]
        assert parameters["logdir"].kind is inspect.Parameter.KEYWORD_ONLY
