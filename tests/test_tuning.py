"""kerasnotes.tuning: the search space, its validation, the three tuners and the HParams logs."""

from __future__ import annotations

import json
import math
import os

import keras
import keras_tuner as kt
import numpy as np
import pytest

import kerasnotes as kn
from kerasnotes import tuning
from kerasnotes.tuning import NotesHyperModel

# A small, fast slice of the digits for the searches.
_TRAIN, _VAL = 240, 120


@pytest.fixture(scope="module")
def digits():
    (x, y), (x_val, y_val) = kn.datasets.load_digits(seed=0)
    return (x[:_TRAIN], y[:_TRAIN]), (x_val[:_VAL], y_val[:_VAL])


def _small(**overrides) -> NotesHyperModel:
    """A narrow space so each trial's model compiles and trains in a moment."""
    kwargs = dict(depth=1, width=16, groups=(2, 4), batch_sizes=(32, 64))
    kwargs.update(overrides)
    return NotesHyperModel((64,), 10, **kwargs)


def _space(**fixed) -> kt.HyperParameters:
    """Hyperparameters with some values fixed, as a user passes them to a tuner."""
    hp = kt.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    return hp


# --------------------------------------------------------------------------- construction


# One test per family (not one per case): each test pays the conftest's clear_session.
_BAD_ARGUMENTS = [
    ({"optimizers": ("adam", "lbfgs")}, "optimizers"),
    ({"optimizers": "nadam"}, "optimizers"),
    ({"optimizers": ()}, "optimizers"),
    ({"normalizations": ("batch", "instance")}, "normalizations"),
    ({"normalizations": []}, "normalizations"),
    ({"decays": ("cosine",)}, "decays"),
    ({"batch_sizes": ()}, "batch_sizes"),
    ({"batch_sizes": (32, 0)}, "batch_sizes"),
    ({"learning_rate": (0.0, 0.1)}, "learning_rate"),
    ({"learning_rate": (0.1, 0.01)}, "learning_rate"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"momentum": 1.0}, "momentum"),
    ({"rho": (0.5, 1.0)}, "rho"),
    ({"beta_2": (0.9, 1.5)}, "beta_2"),
    ({"decay_drop": 0.0}, "decay_drop"),
    ({"decay_every": (0, 3)}, "decay_every"),
    ({"depth": 0}, "depth"),
    ({"width": (0, 8)}, "width"),
    ({"groups": (3,), "width": (32, 64)}, "groups"),
    ({"activation": "no_such_activation"}, "activation"),
]


@pytest.mark.backend_independent
def test_bad_arguments_raise_value_error_naming_the_argument():
    for kwargs, argument in _BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=argument):
            NotesHyperModel((64,), 10, **kwargs)
    for num_classes in (1, 0, -3):
        with pytest.raises(ValueError, match="num_classes"):
            NotesHyperModel((64,), num_classes)
    for input_shape in ((), (0,), (64, -1), "64", (64.0,), None):
        with pytest.raises(ValueError, match="input_shape"):
            NotesHyperModel(input_shape, 10)
    # Wrong types are TypeErrors, still naming the argument.
    with pytest.raises(TypeError, match="num_classes"):
        NotesHyperModel((64,), 2.5)
    with pytest.raises(TypeError, match="learning_rate"):
        NotesHyperModel((64,), 10, learning_rate="fast")
    with pytest.raises(TypeError, match="depth"):
        NotesHyperModel((64,), 10, depth=(1.5, 3))


@pytest.mark.backend_independent
def test_get_config_round_trips_through_json():
    hypermodel = NotesHyperModel(
        (8, 8),
        10,
        optimizers=("adam", "momentum_ema"),
        learning_rate=(1e-3, 0.05),
        normalizations="group",
        groups=4,
        depth=2,
        width=(32, 128),
        batch_sizes=64,
        log_dir="runs",
    )
    config = hypermodel.get_config()
    restored = NotesHyperModel.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    assert restored.input_shape == (8, 8)
    assert restored.optimizers == ("adam", "momentum_ema")
    assert restored.learning_rate == (1e-3, 0.05)
    assert restored.width == (32, 128) and restored.depth == 2
    serialized = keras.saving.serialize_keras_object(hypermodel)
    assert serialized["registered_name"] == "kerasnotes>NotesHyperModel"


# --------------------------------------------------------------------------- the search space


def test_default_space_covers_the_notes_with_conditions():
    hp = kt.HyperParameters()
    NotesHyperModel((64,), 10).build(hp)
    by_name = {entry.name: entry for entry in hp.space}
    assert list(by_name["optimizer"].values) == list(tuning.OPTIMIZERS)
    assert list(by_name["lr_decay"].values) == list(tuning.DECAYS)
    assert list(by_name["normalization"].values) == list(tuning.NORMALIZATIONS)
    assert list(by_name["batch_size"].values) == [16, 32, 64, 128, 256]
    assert by_name["learning_rate"].sampling == "log"
    assert (by_name["learning_rate"].min_value, by_name["learning_rate"].max_value) == (1e-4, 0.3)
    assert by_name["momentum"].sampling == "reverse_log"

    def parents(name):
        (condition,) = by_name[name].conditions
        return condition.name, sorted(condition.values)

    assert parents("momentum") == ("optimizer", ["momentum", "momentum_ema"])
    assert parents("rho") == ("optimizer", ["rmsprop"])
    assert parents("beta_1") == parents("beta_2") == ("optimizer", ["adam"])
    assert parents("decay_rate") == ("lr_decay", ["exponential"])
    assert parents("decay_drop") == parents("decay_every") == ("lr_decay", ["step"])
    assert parents("groups") == ("normalization", ["group"])
    # The default trial: the first choices, and the conditional entries of the
    # inactive branches carry no value.
    assert hp.values["optimizer"] == "sgd" and "momentum" not in hp.values
    assert hp.values["width"] == 32 and hp.values["depth"] == 1


def test_constructor_arguments_fix_or_narrow_the_space():
    hp = kt.HyperParameters()
    _small(optimizers="adam", learning_rate=3e-3, normalizations=("layer", "batch")).build(hp)
    by_name = {entry.name: entry for entry in hp.space}
    assert type(by_name["optimizer"]).__name__ == "Fixed" and hp.values["optimizer"] == "adam"
    assert type(by_name["learning_rate"]).__name__ == "Fixed"
    assert hp.values["learning_rate"] == 3e-3
    # Only Adam is allowed: no momentum or rho entries at all.
    assert "momentum" not in by_name and "rho" not in by_name
    assert {"beta_1", "beta_2"} <= set(by_name)
    assert list(by_name["normalization"].values) == ["layer", "batch"]
    assert "groups" not in by_name
    assert type(by_name["width"]).__name__ == "Fixed" and hp.values["width"] == 16
    # A keras-tuner override outside the allowed choices cannot be built: said at build.
    for name, value, argument in (
        ("optimizer", "sgd", "optimizers"),
        ("normalization", "group", "normalizations"),
        ("lr_decay", "cosine", "decays"),
    ):
        with pytest.raises(ValueError, match=argument):
            _small(optimizers="adam", normalizations="none", decays="none").build(
                _space(**{name: value})
            )


_OPTIMIZER_CASES = [
    ("sgd", {}, "SGD", {"momentum": 0.0, "momentum_form": "heavy_ball"}),
    ("momentum", {"momentum": 0.8}, "SGD", {"momentum": 0.8, "momentum_form": "heavy_ball"}),
    ("momentum_ema", {"momentum": 0.7}, "SGD", {"momentum": 0.7, "momentum_form": "ema"}),
    ("adagrad", {}, "Adagrad", {}),
    ("rmsprop", {"rho": 0.85}, "RMSprop", {"rho": 0.85}),
    ("adam", {"beta_1": 0.85, "beta_2": 0.995}, "Adam", {"beta_1": 0.85, "beta_2": 0.995}),
]


def test_each_optimizer_choice_builds_the_kerasnotes_optimizer():
    for name, fixed, expected_class, expected_config in _OPTIMIZER_CASES:
        hp = kt.HyperParameters()
        hp.Fixed("optimizer", name)
        with hp.conditional_scope("optimizer", [name]):
            for key, value in fixed.items():
                hp.Fixed(key, value)
        hp.Fixed("learning_rate", 0.02)
        optimizer = _small().build(hp).optimizer
        assert type(optimizer) is getattr(kn.optimizers, expected_class), name
        config = optimizer.get_config()
        # Same configuration as the optimizer built by hand from the notes' arguments.
        extra = {"momentum_form": "ema"} if name == "momentum_ema" else {}
        reference = getattr(kn.optimizers, expected_class)(learning_rate=0.02, **fixed, **extra)
        reference_config = reference.get_config()
        assert config["learning_rate"] == pytest.approx(0.02)
        for key, value in expected_config.items():
            assert config[key] == reference_config[key] == value, (name, key)


def test_every_optimizer_choice_is_built_by_optimizers_get():
    # One name -> optimizer mapping: the tuner offers exactly the registry's names and
    # builds each through kn.optimizers.get with the choice's own hyperparameters.
    assert tuning.OPTIMIZERS == kn.optimizers.NAMES
    assert set(tuning.space.OPTIMIZER_HYPERPARAMETERS) == set(tuning.OPTIMIZERS)
    for name in tuning.OPTIMIZERS:
        hp = kt.HyperParameters()
        optimizer = _small(optimizers=name, learning_rate=0.03).build(hp).optimizer
        settings = {key: hp.values[key] for key in tuning.space.OPTIMIZER_HYPERPARAMETERS[name]}
        assert set(settings) == {
            key for key in ("momentum", "rho", "beta_1", "beta_2") if key in hp.values
        }, name
        expected = kn.optimizers.get(name, learning_rate=0.03, **settings)
        assert type(optimizer) is type(expected), name
        # Keras numbers each new optimizer's default name (sgd, sgd_1, ...): not a setting.
        config, expected_config = optimizer.get_config(), expected.get_config()
        assert config.pop("name").split("_")[0] == expected_config.pop("name").split("_")[0]
        assert config == expected_config, name


def test_each_normalization_builds_and_survives_a_keras_save(tmp_path):
    norm_classes = {
        "batch": kn.layers.BatchNormalization,
        "layer": kn.layers.LayerNormalization,
        "group": kn.layers.GroupNormalization,
    }
    x = np.random.default_rng(0).normal(loc=1.0, size=(5, 64)).astype("float32")
    for normalization in tuning.NORMALIZATIONS:
        hp = kt.HyperParameters()
        hp.Fixed("normalization", normalization)
        hp.Fixed("depth", 2)
        if normalization == "group":
            with hp.conditional_scope("normalization", ["group"]):
                hp.Fixed("groups", 4)
        model = _small(depth=(1, 2)).build(hp)
        norm_layers = [
            layer for layer in model.layers if isinstance(layer, tuple(norm_classes.values()))
        ]
        hidden = [layer for layer in model.layers if layer.name.startswith("dense_")]
        if normalization == "none":
            assert norm_layers == [] and all(layer.use_bias for layer in hidden)
        else:
            assert [type(layer) for layer in norm_layers] == [norm_classes[normalization]] * 2
            assert not any(layer.use_bias for layer in hidden)  # the norm's β is the bias
        if normalization == "group":
            assert all(layer.groups == 4 for layer in norm_layers)
        model(x, training=True)  # moves batch norm's moving statistics off their start
        path = tmp_path / f"{normalization}.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(restored(x, training=False)),
            keras.ops.convert_to_numpy(model(x, training=False)),
            rtol=1e-6,
            atol=1e-6,
        )
        assert type(restored.optimizer) is type(model.optimizer)
        assert type(restored.loss) is kn.losses.SparseCategoricalCrossentropy


def test_rank_two_inputs_are_flattened():
    model = NotesHyperModel((8, 8), 3, depth=1, width=8, normalizations="none").build(
        kt.HyperParameters()
    )
    out = model(np.zeros((2, 8, 8), dtype="float32"))
    assert tuple(out.shape) == (2, 3)
    assert model.layers[1].name == "flatten"


# --------------------------------------------------------------------------- fit


class _BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_fit_uses_the_batch_size_hyperparameter_unless_search_passes_one():
    hypermodel = _small(normalizations="none", decays="none", batch_sizes=(16, 64))
    x = np.random.default_rng(1).normal(size=(64, 64)).astype("float32")
    y = np.arange(64) % 10
    hp = _space(batch_size=16)
    counter = _BatchCounter()
    hypermodel.fit(hp, hypermodel.build(hp), x, y, epochs=1, verbose=0, callbacks=[counter])
    assert counter.batches == 4  # 64 samples / 16
    counter = _BatchCounter()
    hypermodel.fit(
        hp, hypermodel.build(hp), x, y, epochs=1, verbose=0, batch_size=32, callbacks=[counter]
    )
    assert counter.batches == 2  # the search's own batch_size wins


@pytest.mark.parametrize(
    ("decay", "fixed", "expected"),
    [
        ("none", {}, lambda a0, e: a0),
        ("exponential", {"decay_rate": 0.5}, lambda a0, e: a0 * math.exp(-0.5 * e)),  # F6
        (
            "step",
            {"decay_drop": 0.5, "decay_every": 2},
            lambda a0, e: a0 * 0.5 ** math.floor(e / 2),  # F7
        ),
    ],
)
def test_decay_sets_the_learning_rate_of_each_epoch(tmp_path, decay, fixed, expected):
    hypermodel = _small(normalizations="none", optimizers="sgd", log_dir=str(tmp_path))
    hp = kt.HyperParameters()
    hp.Fixed("learning_rate", 0.1)
    hp.Fixed("lr_decay", decay)
    if fixed:
        with hp.conditional_scope("lr_decay", [decay]):
            for key, value in fixed.items():
                hp.Fixed(key, value)
    x = np.random.default_rng(2).normal(size=(32, 64)).astype("float32")
    y = np.arange(32) % 10
    model = hypermodel.build(hp)
    hypermodel.fit(hp, model, x, y, epochs=4, verbose=0)
    (run,) = [os.path.join(root) for root, _, files in os.walk(tmp_path) if "execution0" in root]
    logged = _scalars(run)["epoch_learning_rate"]
    want = [expected(0.1, epoch) for epoch in range(4)]
    np.testing.assert_allclose([value for _, value in logged], want, rtol=1e-6)


# --------------------------------------------------------------------------- reading logs back


def _events(run_dir: str):
    from tensorboard.backend.event_processing import event_file_loader

    for name in sorted(os.listdir(run_dir)):
        if name.startswith("events.out.tfevents"):
            loader = event_file_loader.LegacyEventFileLoader(os.path.join(run_dir, name))
            yield from loader.Load()


def _scalars(run_dir: str) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.util import tensor_util

    out: dict[str, list[tuple[int, float]]] = {}
    for event in _events(run_dir):
        for value in event.summary.value:
            if value.tag.startswith("epoch_"):
                number = float(tensor_util.make_ndarray(value.tensor))
                out.setdefault(value.tag, []).append((event.step, number))
    return out


def _hparams_dashboard(log_dir: str):
    """What TensorBoard's HParams plugin serves for ``log_dir``: the experiment and the rows."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider
    from tensorboard.backend.event_processing import plugin_event_multiplexer as multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import (
        api_pb2,
        backend_context,
        get_experiment,
        list_session_groups,
    )

    mux = multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(log_dir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, log_dir)
    ctx = backend_context.Context(
        base_plugin.TBContext(data_provider=provider, logdir=log_dir, multiplexer=mux)
    )
    request_context = context.RequestContext()
    experiment = get_experiment.Handler(
        request_context, ctx, "", api_pb2.GetExperimentRequest()
    ).run()
    request = api_pb2.ListSessionGroupsRequest(
        start_index=0,
        slice_size=100,
        allowed_statuses=[
            api_pb2.STATUS_UNKNOWN,
            api_pb2.STATUS_SUCCESS,
            api_pb2.STATUS_FAILURE,
            api_pb2.STATUS_RUNNING,
        ],
    )
    for info in experiment.hparam_infos:
        request.col_params.add(hparam=info.name)
    for info in experiment.metric_infos:
        request.col_params.add(metric=info.name)
    groups = list_session_groups.Handler(request_context, ctx, "", request).run().session_groups
    return experiment, groups


def _proto_value(value):
    kind = value.WhichOneof("kind")
    return {"string_value": value.string_value, "bool_value": value.bool_value}.get(
        kind, value.number_value
    )


class _Diverge(keras.callbacks.Callback):
    """Reports the loss of a diverged run (runs before the trial's logger sees the logs)."""

    def on_epoch_end(self, epoch, logs=None):
        logs["loss"] = float("nan")


def test_a_trial_whose_loss_turns_nan_is_logged_as_a_failed_session(tmp_path, caplog):
    from tensorboard.plugins.hparams import api_pb2, metadata

    hypermodel = _small(normalizations="none", decays="none", log_dir=str(tmp_path))
    hp = kt.HyperParameters()
    x = np.random.default_rng(3).normal(size=(32, 64)).astype("float32")
    y = np.arange(32) % 10
    with caplog.at_level("WARNING", logger="kerasnotes.callbacks.trial_logger"):
        hypermodel.fit(hp, hypermodel.build(hp), x, y, epochs=1, verbose=0, callbacks=[_Diverge()])
    assert any("marked failed" in record.message for record in caplog.records)
    (run,) = [root for root, _, _ in os.walk(tmp_path) if root.endswith("execution0")]
    ends = [
        metadata.parse_session_end_info_plugin_data(value.metadata.plugin_data.content)
        for event in _events(run)
        for value in event.summary.value
        if value.tag == metadata.SESSION_END_INFO_TAG
    ]
    assert [end.status for end in ends] == [api_pb2.STATUS_FAILURE]
    assert math.isnan(_scalars(run)["epoch_loss"][0][1])


# --------------------------------------------------------------------------- the three tuners


def test_random_search_with_kerasnotes_callbacks_and_hparams_logs(tmp_path, digits):
    (x, y), (x_val, y_val) = digits
    log_dir = str(tmp_path / "runs")
    hypermodel = _small(optimizers=("adam", "rmsprop", "momentum"), decays="none", log_dir=log_dir)
    # The loss never improves by 100: training stops after the second epoch.
    stop = kn.callbacks.EarlyStopping(monitor="loss", min_delta=100.0, patience=0)
    tuner = kt.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=2,
        seed=3,
        directory=str(tmp_path / "tuner"),
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=4, callbacks=[stop], verbose=0)

    trials = tuner.oracle.trials
    assert len(trials) == 2
    assert all(trial.status == "COMPLETED" for trial in trials.values())
    # keras-tuner trained deep copies: each trial stopped after 2 of 4 epochs,
    # and the user's instance never saw a model.
    for trial_id, trial in trials.items():
        (history,) = hypermodel.histories[trial_id]
        assert len(history["loss"]) == 2
        assert trial.score == pytest.approx(max(history["val_accuracy"]))
    assert stop._model is None and stop.wait == 0 and stop.best is None
    assert stop.stopped_epoch == 0

    experiment, groups = _hparams_dashboard(log_dir)
    infos = {info.name: info for info in experiment.hparam_infos}
    assert {"optimizer", "learning_rate", "momentum", "rho", "beta_1", "batch_size"} <= set(infos)
    assert [v.string_value for v in infos["optimizer"].domain_discrete.values] == [
        "adam",
        "rmsprop",
        "momentum",
    ]
    assert infos["learning_rate"].domain_interval.min_value == pytest.approx(1e-4)
    assert {info.name.tag for info in experiment.metric_infos} >= {"epoch_val_accuracy"}
    assert sorted(group.name for group in groups) == sorted(trials)
    for group in groups:
        trial = trials[group.name]
        shown = {key: _proto_value(value) for key, value in group.hparams.items()}
        active = {k: v for k, v in trial.hyperparameters.values.items() if v is not None}
        assert shown.keys() == active.keys()
        for key, value in active.items():
            assert shown[key] == (pytest.approx(value) if not isinstance(value, str) else value)
        (session,) = group.sessions
        assert session.name == f"trial_{group.name}/execution0"
        assert session.status == 1  # STATUS_SUCCESS
        metrics = {m.name.tag: m.value for m in session.metric_values}
        history = hypermodel.histories[group.name][0]
        # The dashboard shows the last epoch's value.
        assert metrics["epoch_val_accuracy"] == pytest.approx(history["val_accuracy"][-1])
        assert metrics["epoch_loss"] == pytest.approx(history["loss"][-1], rel=1e-6)


@pytest.mark.filterwarnings("ignore:Skipping variable loading:UserWarning")  # keras-tuner's reload
def test_bayesian_search_obeys_user_hyperparameters(tmp_path, digits):
    (x, y), (x_val, y_val) = digits
    hp = kt.HyperParameters()
    hp.Choice("optimizer", ["adam", "sgd"])
    hp.Float("learning_rate", 1e-3, 1e-1, sampling="log")
    hp.Fixed("normalization", "batch")
    hypermodel = _small()
    tuner = kt.BayesianOptimization(
        hypermodel,
        objective="val_accuracy",
        max_trials=2,
        num_initial_points=1,  # the second trial comes from the Gaussian process
        hyperparameters=hp,
        tune_new_entries=False,
        seed=5,
        directory=str(tmp_path),
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=1, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    for trial in trials:
        values = trial.hyperparameters.values
        assert values["optimizer"] in ("adam", "sgd")
        assert 1e-3 <= values["learning_rate"] <= 1e-1
        assert values["normalization"] == "batch"
        # Entries the user left out keep their defaults (tune_new_entries=False).
        assert values["batch_size"] == 32 and values["lr_decay"] == "none"
        assert 0.0 <= trial.score <= 1.0
    best_model = tuner.get_best_models(1)[0]
    assert any(isinstance(layer, kn.layers.BatchNormalization) for layer in best_model.layers)
    accuracy = best_model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(tuner.oracle.get_best_trials(1)[0].score, abs=1e-6)


@pytest.mark.filterwarnings("ignore:Skipping variable loading:UserWarning")  # keras-tuner's reload
def test_hyperband_resumes_trials_from_kerasnotes_checkpoints(tmp_path, digits):
    (x, y), (x_val, y_val) = digits
    hypermodel = _small(optimizers=("adam", "momentum_ema"), normalizations=("none", "layer"))
    tuner = kt.Hyperband(
        hypermodel,
        objective="val_accuracy",
        max_epochs=2,
        factor=2,
        seed=7,
        directory=str(tmp_path),
    )
    # The first bracket only: two 1-epoch trials, then the better one promoted to
    # epoch 2 (the second bracket would add two more 2-epoch trials).
    tuner.oracle.max_trials = 3
    tuner.search(x, y, validation_data=(x_val, y_val), verbose=0)
    trials = tuner.oracle.trials
    assert len(trials) == 3
    assert all(trial.status == "COMPLETED" for trial in trials.values())
    resumed = [t for t in trials.values() if "tuner/trial_id" in t.hyperparameters.values]
    assert resumed, "Hyperband promoted no trial"
    for trial in resumed:
        parent = trial.hyperparameters.values["tuner/trial_id"]
        # The promoted trial trained only the epochs after its parent's.
        (history,) = hypermodel.histories[trial.trial_id]
        epochs = trial.hyperparameters.values["tuner/epochs"]
        initial = trial.hyperparameters.values["tuner/initial_epoch"]
        assert len(history["loss"]) == epochs - initial
        shared = {k: v for k, v in trials[parent].hyperparameters.values.items() if "/" not in k}
        assert {k: trial.hyperparameters.values[k] for k in shared} == shared


class _Trial(keras.callbacks.Callback):
    """Stands for keras-tuner's per-trial callback: it names the trial being fitted."""

    def __init__(self, trial_id: str, fail_at_epoch: int | None = None) -> None:
        super().__init__()
        self.trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id=trial_id)
        self.fail_at_epoch = fail_at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.fail_at_epoch:
            raise RuntimeError("the search process was interrupted here")


def test_a_rerun_of_an_interrupted_trial_starts_a_clean_run(tmp_path):
    from tensorboard.plugins.hparams import metadata

    x = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
    y = np.arange(64) % 10
    hp = kt.HyperParameters()
    first = _small(normalizations="none", decays="none", log_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="interrupted"):
        first.fit(hp, first.build(hp), x, y, epochs=3, verbose=0, callbacks=[_Trial("7", 1)])
    run = tmp_path / "trial_7" / "execution0"
    (interrupted,) = [p.name for p in run.iterdir() if "tfevents" in p.name]
    # The resumed search (a new process, overwrite=False) runs trial 7 again from scratch.
    resumed = _small(normalizations="none", decays="none", log_dir=str(tmp_path))
    resumed.fit(hp, resumed.build(hp), x, y, epochs=3, verbose=0, callbacks=[_Trial("7")])

    assert len([p for p in run.iterdir() if "tfevents" in p.name]) == 1
    assert [step for step, _ in _scalars(str(run))["epoch_loss"]] == [0, 1, 2]
    np.testing.assert_allclose(
        [v for _, v in _scalars(str(run))["epoch_loss"]],
        resumed.histories["7"][0]["loss"],
        rtol=1e-6,
    )
    sessions = [
        value.tag
        for event in _events(str(run))
        for value in event.summary.value
        if value.tag in (metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG)
    ]
    assert sessions == [metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG]
    # Nothing is deleted: the interrupted attempt is kept where TensorBoard does not read it.
    (aside,) = (run / tuning.INTERRUPTED_DIR).iterdir()
    assert [p.name for p in aside.iterdir()] == [interrupted.replace("tfevents", "interrupted")]
    assert not any(
        "tfevents" in name for _, _, names in os.walk(run / "interrupted") for name in names
    )


def test_search_digits_takes_log_dir_and_still_the_deprecated_logdir(monkeypatch, tmp_path):
    from kerasnotes.tuning import search as search_module

    class Stop(Exception):
        pass

    seen = []

    def hypermodel(*args, **kwargs):  # stops the search where it hands the folder on
        seen.append(kwargs["log_dir"])
        raise Stop

    monkeypatch.setattr(search_module, "NotesHyperModel", hypermodel)
    with pytest.raises(Stop):
        tuning.search_digits(1, 1, tmp_path / "a", tuner="random")
    with pytest.warns(DeprecationWarning, match="log_dir"), pytest.raises(Stop):
        tuning.search_digits(1, 1, logdir=tmp_path / "b", tuner="random")
    with pytest.raises(TypeError, match="logdir"):
        tuning.search_digits(1, 1, tmp_path / "a", logdir=tmp_path / "b", tuner="random")
    assert seen == [str(tmp_path / "a"), str(tmp_path / "b")]
