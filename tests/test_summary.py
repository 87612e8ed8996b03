"""kerasnotes.summary: the Writer and the HParams records, read back through TensorBoard's own code."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _script import run_json

from kerasnotes import summary
from kerasnotes.summary import Writer

pytestmark = pytest.mark.backend_independent


def _provider(log_dir: str):
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(log_dir)
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, log_dir)


def _context():
    from tensorboard import context

    return context.RequestContext()


def _read(log_dir: str, kind: str, plugin_name: str) -> dict:
    provider = _provider(log_dir)
    reader = provider.read_scalars if kind == "scalars" else provider.read_tensors
    runs = reader(_context(), experiment_id="", plugin_name=plugin_name, downsample=1000)
    return {tag: series for run in runs.values() for tag, series in run.items()}


def test_scalar_round_trip_with_scalar_data_class(tmp_path):
    with Writer(tmp_path) as writer:
        for step, value in enumerate([0.5, 0.25, float("nan")]):
            writer.scalar(summary.TAG_LEARNING_RATE, value, step, display_name="lr")
    data = _read(str(tmp_path), "scalars", "scalars")
    points = data[summary.TAG_LEARNING_RATE]
    assert [p.step for p in points] == [0, 1, 2]
    np.testing.assert_array_equal([p.value for p in points][:2], [0.5, 0.25])
    assert np.isnan(points[2].value)
    listed = _provider(str(tmp_path)).list_scalars(
        _context(), experiment_id="", plugin_name="scalars"
    )
    (run,) = listed.values()
    assert run[summary.TAG_LEARNING_RATE].display_name == "lr"


def test_tensor_round_trip_is_float64_exact(tmp_path):
    values = np.array([3, 1e-9, -2.0, 2.0, 0.5, 1, np.pi, np.nan, 40, 0.125])
    grid = np.stack([np.linspace(-1, 1, 7), np.full(7, 0.5)])
    with Writer(tmp_path) as writer:
        writer.tensor(summary.TAG_CRITICAL_POINT, values, step=4)
        writer.tensor(summary.TAG_SPECTRAL_DENSITY, grid, step=4)
    data = _read(str(tmp_path), "tensors", summary.PLUGIN_NAME)
    (point,) = data[summary.TAG_CRITICAL_POINT]
    assert point.step == 4 and point.numpy.dtype == np.float64
    np.testing.assert_array_equal(point.numpy, values)
    (density,) = data[summary.TAG_SPECTRAL_DENSITY]
    np.testing.assert_array_equal(density.numpy, grid)


def test_strings_round_trip_beside_their_layer_curvature_rows(tmp_path):
    # The per-layer table: numbers in one tensor, the layer names in a string tensor
    # at the same step; both read back through TensorBoard's data provider.
    rows = np.array([[2080, 3.5, 40.25, 1.5, 130, 0.75], [33, 0.125, 0.5, 0.0, 33, 0.75]])
    with Writer(tmp_path) as writer:
        writer.tensor(summary.TAG_LAYER_CURVATURE, rows, step=4)
        writer.strings(summary.TAG_LAYER_NAMES, ["dense", "層_1"], step=4)
    data = _read(str(tmp_path), "tensors", summary.PLUGIN_NAME)
    (table,) = data[summary.TAG_LAYER_CURVATURE]
    (names,) = data[summary.TAG_LAYER_NAMES]
    assert table.step == names.step == 4
    np.testing.assert_array_equal(table.numpy, rows)
    assert table.numpy.shape == (2, len(summary.LAYER_CURVATURE_FIELDS))
    assert [n.decode("utf-8") for n in names.numpy.tolist()] == ["dense", "層_1"]
    with Writer(tmp_path / "empty") as writer:
        writer.strings(summary.TAG_LAYER_NAMES, [], step=0)
    (empty,) = _read(str(tmp_path / "empty"), "tensors", summary.PLUGIN_NAME)[
        summary.TAG_LAYER_NAMES
    ]
    assert empty.numpy.shape == (0,)


@pytest.mark.parametrize("values", ["dense", [b"dense"], ["dense", 3]])
def test_strings_rejects_what_is_not_a_sequence_of_str(tmp_path, values):
    with Writer(tmp_path) as writer, pytest.raises(TypeError, match="Argument `values`"):
        writer.strings(summary.TAG_LAYER_NAMES, values, step=0)


def test_histogram_matches_numpy_buckets(tmp_path):
    values = np.random.default_rng(0).normal(size=1000)
    values[:3] = [np.nan, np.inf, -np.inf]
    with Writer(tmp_path) as writer:
        writer.histogram("h", values, step=2, buckets=12)
        writer.histogram("constant", np.full(5, 0.75), step=0)
    data = _read(str(tmp_path), "tensors", "histograms")
    (hist,) = data["h"]
    table = hist.numpy
    finite = values[np.isfinite(values)]
    counts, edges = np.histogram(finite, bins=12)
    assert table.shape == (12, 3)
    np.testing.assert_allclose(table[:, 0], edges[:-1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(table[:, 1], edges[1:], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(table[:, 2], counts)
    (constant,) = data["constant"]
    assert constant.numpy.shape == (summary.DEFAULT_HISTOGRAM_BUCKETS, 3)
    assert constant.numpy[:, 2].sum() == 5 and constant.numpy[-1, 2] == 5
    np.testing.assert_array_equal(constant.numpy[:, :2], 0.75)


def test_text_round_trip(tmp_path):
    with Writer(tmp_path) as writer:
        writer.text(summary.TAG_RUN_INFO, "**Adam** lr=0.001 — ok", step=0)
    data = _read(str(tmp_path), "tensors", "text")
    (entry,) = data[summary.TAG_RUN_INFO]
    assert entry.numpy.item().decode("utf-8") == "**Adam** lr=0.001 — ok"


def test_event_accumulator_reads_every_kind(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    with Writer(tmp_path) as writer:
        writer.scalar("s", 1.5, 0)
        writer.histogram("h", [1.0, 2.0], 0)
        writer.tensor("t", [1.0, 2.0], 0)
        writer.text("x", "hi", 0)
    accumulator = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    accumulator.Reload()
    assert set(accumulator.Tags()["tensors"]) == {"s", "h", "t", "x"}
    assert accumulator.SummaryMetadata("t").plugin_data.plugin_name == "kerasnotes"
    (event,) = accumulator.Tensors("s")
    from tensorboard.util import tensor_util

    assert float(tensor_util.make_ndarray(event.tensor_proto)) == 1.5


def _png(width: int, height: int) -> bytes:
    import io

    from matplotlib import image as mpl_image

    buffer = io.BytesIO()
    pixels = np.linspace(0.0, 1.0, width * height).reshape(height, width)
    mpl_image.imsave(buffer, pixels, cmap="gray", format="png")
    return buffer.getvalue()


def test_image_round_trip_through_the_images_plugin(tmp_path):
    png = _png(width=6, height=4)
    with Writer(tmp_path) as writer:
        writer.image("weights", png, width=6, height=4, step=3)
    provider = _provider(str(tmp_path))
    blobs = provider.read_blob_sequences(
        _context(), experiment_id="", plugin_name="images", downsample=10
    )
    ((run, tags),) = blobs.items()
    (datum,) = tags["weights"]
    assert datum.step == 3
    keys = [blob.blob_key for blob in datum.values]
    assert [provider.read_blob(_context(), blob_key=key) for key in keys] == [b"6", b"4", png]
    with Writer(tmp_path) as writer, pytest.raises(ValueError, match="width=0"):
        writer.image("weights", png, width=0, height=4, step=0)


def test_ready_made_summary_keeps_its_own_metadata(tmp_path):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    value = summary_pb2.Summary.Value(
        tag="custom",
        tensor=tensor_util.make_tensor_proto(np.array([1.5, 2.5]), dtype=np.float64),
    )
    value.metadata.plugin_data.plugin_name = "someplugin"
    value.metadata.data_class = summary_pb2.DATA_CLASS_TENSOR
    with Writer(tmp_path) as writer:
        writer.summary(summary_pb2.Summary(value=[value]), step=7)
    (point,) = _read(str(tmp_path), "tensors", "someplugin")["custom"]
    assert point.step == 7
    np.testing.assert_array_equal(point.numpy, [1.5, 2.5])


def test_for_log_dir_shares_one_writer_and_replaces_a_closed_one(tmp_path):
    first = Writer.for_log_dir(tmp_path)
    assert Writer.for_log_dir(str(tmp_path) + os.sep) is first
    assert copy.deepcopy(first) is first
    first.close()
    second = Writer.for_log_dir(tmp_path)
    assert second is not first and not second.closed
    second.close()


def test_for_logdir_is_the_deprecated_spelling_of_for_log_dir(tmp_path):
    with pytest.warns(DeprecationWarning, match="Writer.for_log_dir"):
        old = Writer.for_logdir(tmp_path)
    assert old is Writer.for_log_dir(tmp_path)
    old.close()


def test_flush_and_close_twice_and_write_after_close(tmp_path):
    writer = Writer(tmp_path)
    writer.scalar("a", 1.0, 0)
    writer.flush()
    writer.flush()
    writer.close()
    writer.close()
    writer.flush()
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.scalar("a", 2.0, 1)
    data = _read(str(tmp_path), "scalars", "scalars")
    assert [p.value for p in data["a"]] == [1.0]


def test_a_deleted_log_dir_gets_a_fresh_file_and_nothing_written_later_is_lost(tmp_path):
    import shutil

    log_dir = tmp_path / "run"
    writer = Writer.for_log_dir(log_dir)
    writer.text(summary.TAG_RUN_INFO, "first fit", step=0)
    writer.scalar(summary.TAG_LEARNING_RATE, 0.5, 0, display_name="lr")
    writer.flush()  # the end of the first fit
    shutil.rmtree(log_dir)  # the user clears the logs between two fits
    # The second fit's callbacks ask for the shared writer again: same object,
    # a fresh file, and the run info counts as not yet written in that file.
    again = Writer.for_log_dir(log_dir)
    assert again is writer and again.reopened == 1
    assert not again.has_written(summary.TAG_RUN_INFO)
    again.scalar(summary.TAG_LEARNING_RATE, 0.25, 1, display_name="lr")
    again.flush()
    shutil.rmtree(log_dir)  # and once more, now without for_log_dir in between
    again.scalar(summary.TAG_LEARNING_RATE, 0.125, 2, display_name="lr")
    again.tensor(summary.TAG_CRITICAL_POINT, np.arange(10.0), 2)
    again.flush()
    assert again.reopened == 2
    (name,) = os.listdir(log_dir)
    assert name.startswith("events.out.tfevents.")
    scalars = _read(str(tmp_path), "scalars", "scalars")[summary.TAG_LEARNING_RATE]
    assert [(p.step, p.value) for p in scalars] == [(2, 0.125)]
    tensors = _read(str(tmp_path), "tensors", summary.PLUGIN_NAME)[summary.TAG_CRITICAL_POINT]
    np.testing.assert_array_equal(tensors[0].numpy, np.arange(10.0))
    listed = _provider(str(tmp_path)).list_scalars(
        _context(), experiment_id="", plugin_name="scalars"
    )
    assert listed["run"][summary.TAG_LEARNING_RATE].display_name == "lr"  # metadata rewritten
    again.close()


def test_a_writer_whose_file_exists_keeps_one_file(tmp_path):
    writer = Writer(tmp_path)
    for step in range(3):
        writer.scalar("a", float(step), step)
        writer.flush()
    writer.close()
    assert writer.reopened == 0 and len(os.listdir(tmp_path)) == 1
    assert [p.value for p in _read(str(tmp_path), "scalars", "scalars")["a"]] == [0.0, 1.0, 2.0]


def test_unwritable_log_dir_is_a_clear_error_at_construction(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match="not a writable directory.*Received: log_dir=.*a_file"):
        Writer(blocker / "run")
    with pytest.raises(ValueError, match="not a writable directory"):
        Writer.for_log_dir(blocker)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda w: w.scalar("", 1.0, 0), "tag"),
        (lambda w: w.scalar("a", 1.0, 1.5), "step"),
        (lambda w: w.scalar("a", 1.0, True), "step"),
        (lambda w: w.scalar("a", "x", 0), "value"),
        (lambda w: w.scalar("a", [1.0, 2.0], 0), "value"),
        (lambda w: w.tensor("a", ["x"], 0), "values"),
        (lambda w: w.text("a", 3, 0), "markdown"),
        (lambda w: w.image("a", b"GIF89a", 1, 1, 0), "png"),
        (lambda w: w.summary("not a proto", 0), "summary"),
    ],
)
def test_wrong_input_names_the_argument(tmp_path, call, match):
    with Writer(tmp_path) as writer:
        with pytest.raises(TypeError, match=match):
            call(writer)
    with pytest.raises(TypeError, match="log_dir"):
        Writer(None)


def test_histogram_rejects_bad_bucket_count(tmp_path):
    with Writer(tmp_path) as writer, pytest.raises(ValueError, match="buckets=0"):
        writer.histogram("h", [1.0], 0, buckets=0)


_NO_TENSORFLOW_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class _NoTensorflow(importlib.abc.MetaPathFinder):
        # Simulate a machine where TensorFlow is not installed.
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError("tensorflow is blocked in this test")
            return None

    sys.meta_path.insert(0, _NoTensorflow())
    import keras  # the JAX backend
    import numpy as np
    from kerasnotes import summary

    log_dir = sys.argv[1]
    with summary.Writer.for_log_dir(log_dir) as writer:
        writer.scalar(summary.TAG_GRAD_NORM, 0.125, step=3)
        writer.histogram(summary.effective_lr_histogram_tag("dense/kernel"), [1.0, 2.0, 2.0], 3)
        writer.tensor(summary.TAG_EARLY_STOPPING_EVENT, [2.0, 0.5, -1.0], 3)
        writer.text(summary.TAG_RUN_INFO, "run", 0)
    written_without_tf = "tensorflow" not in sys.modules
    # never flushed nor closed: the exit hook must still write it
    summary.Writer.for_log_dir(sys.argv[2]).scalar("left_open", 2.5, step=7)

    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(log_dir)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, log_dir)
    out = {"backend": keras.backend.backend(), "written_without_tf": written_without_tf}
    for plugin in ("scalars", "histograms", "kerasnotes", "text"):
        read = provider.read_scalars if plugin == "scalars" else provider.read_tensors
        for run in read(
            context.RequestContext(), experiment_id="", plugin_name=plugin, downsample=10).values():
            for tag, points in run.items():
                out[tag] = [
                    [p.step, p.value if plugin == "scalars" else p.numpy.tolist()]
                    for p in points
                ]
    out["read_without_tf"] = "tensorflow" not in sys.modules
    print(json.dumps(out, default=lambda b: b.decode()))
    """
)


def test_write_and_read_back_without_tensorflow(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = run_json(
        [_NO_TENSORFLOW_SCRIPT, str(tmp_path / "a"), str(tmp_path / "b")], env, timeout=300
    )
    assert out["backend"] == "jax"
    assert out["written_without_tf"] and out["read_without_tf"]
    assert out[summary.TAG_GRAD_NORM] == [[3, 0.125]]
    assert out[summary.TAG_EARLY_STOPPING_EVENT] == [[3, [2.0, 0.5, -1.0]]]
    (step, table) = out[summary.effective_lr_histogram_tag("dense/kernel")][0]
    table = np.array(table)
    assert step == 3 and table.shape == (30, 3) and table[:, 2].sum() == 3
    assert table[0, 0] == 1.0 and table[-1, 1] == 2.0
    assert out[summary.TAG_RUN_INFO] == [[0, "run"]]
    (point,) = _read(str(tmp_path / "b"), "scalars", "scalars")["left_open"]
    assert (point.step, point.value) == (7, 2.5)


def test_layout_constants():
    # The codes are on disk in every critical-point tensor: they never change.
    kinds = ("not_critical", "local_minimum", "local_maximum", "saddle", "flat", "error")
    assert summary.KIND_CODES == {kind: code for code, kind in enumerate(kinds)}
    assert len(summary.CRITICAL_POINT_FIELDS) == 10
    assert summary.CRITICAL_POINT_FIELDS[0] == "kind_code"
    assert summary.EARLY_STOPPING_FIELDS == ("best_epoch", "best_value", "stopped_epoch")
    assert summary.LAYER_CURVATURE_FIELDS[:2] == ("num_parameters", "lambda_max")
    assert summary.TAG_LAYER_NAMES.startswith(summary.TAG_LAYER_CURVATURE + "/")
    assert summary.update_ratio_tag("d/k") == "kerasnotes/optimizer/update_ratio/d/k"
    assert summary.effective_lr_mean_tag("d/k") == "kerasnotes/optimizer/effective_lr_mean/d/k"


# --------------------------------------------------------------------------- HParams records


def _events(run_dir: str):
    from tensorboard.backend.event_processing import event_file_loader

    for name in sorted(os.listdir(run_dir)):
        if name.startswith("events.out.tfevents"):
            loader = event_file_loader.LegacyEventFileLoader(os.path.join(run_dir, name))
            yield from loader.Load()


def test_hparams_logs_are_written_without_tensorflow(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ["KERAS_BACKEND"] = "numpy"  # the lightest; no framework at all
        import keras_tuner as kt
        from kerasnotes.summary import hparams
        from kerasnotes.summary import Writer

        hp = kt.HyperParameters()
        hp.Choice("optimizer", ["adam", "sgd"])
        with Writer({str(tmp_path)!r}) as writer:
            writer.summary(hparams.hparams_experiment_summary(hp), step=0)
            writer.summary(
                hparams.hparams_session_start_summary({{"optimizer": "adam"}}, "00"), step=0
            )
            writer.summary(hparams.hparams_session_end_summary(True), step=0)
        print("tensorflow" in sys.modules)
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
    from tensorboard.plugins.hparams import metadata

    tags = {}
    for event in _events(str(tmp_path)):
        for value in event.summary.value:
            assert value.metadata.plugin_data.plugin_name == "hparams"
            tags[value.tag] = value.metadata.plugin_data.content
    experiment = metadata.parse_experiment_plugin_data(tags[metadata.EXPERIMENT_TAG])
    assert [info.name for info in experiment.hparam_infos] == ["optimizer"]
    start = metadata.parse_session_start_info_plugin_data(tags[metadata.SESSION_START_INFO_TAG])
    assert start.group_name == "00" and start.hparams["optimizer"].string_value == "adam"
    end = metadata.parse_session_end_info_plugin_data(tags[metadata.SESSION_END_INFO_TAG])
    assert end.status == 1  # STATUS_SUCCESS


def test_hparams_experiment_domains_keep_the_search_order_and_types():
    import keras_tuner as kt
    from tensorboard.plugins.hparams import api_pb2, metadata

    from kerasnotes.summary import hparams

    hp = kt.HyperParameters()
    hp.Choice("optimizer", ["sgd", "adam", "adagrad"])  # not sorted: the dashboard keeps this
    hp.Choice("batch_size", [64, 16])
    hp.Boolean("center")
    hp.Fixed("activation", "relu")
    hp.Int("depth", 1, 3)
    hp.Float("learning_rate", 1e-4, 0.3, sampling="log")
    hp.Int("tuner/epochs", 1, 2)  # keras-tuner's bookkeeping: left out
    summary = hparams.hparams_experiment_summary(hp, metrics=("epoch_loss",), time_created_secs=7.5)
    (value,) = summary.value
    assert value.tag == metadata.EXPERIMENT_TAG
    experiment = metadata.parse_experiment_plugin_data(value.metadata.plugin_data.content)
    assert experiment.time_created_secs == 7.5
    infos = {info.name: info for info in experiment.hparam_infos}
    assert list(infos) == [
        "optimizer",
        "batch_size",
        "center",
        "activation",
        "depth",
        "learning_rate",
    ]
    discrete = {name: list(info.domain_discrete) for name, info in infos.items()}
    assert discrete["optimizer"] == ["sgd", "adam", "adagrad"]
    assert discrete["batch_size"] == [64.0, 16.0] and discrete["center"] == [False, True]
    assert discrete["activation"] == ["relu"]
    assert infos["optimizer"].type == infos["activation"].type == api_pb2.DATA_TYPE_STRING
    assert infos["batch_size"].type == infos["depth"].type == api_pb2.DATA_TYPE_FLOAT64
    assert infos["center"].type == api_pb2.DATA_TYPE_BOOL
    interval = infos["learning_rate"].domain_interval
    assert (interval.min_value, interval.max_value) == (1e-4, 0.3)
    assert (infos["depth"].domain_interval.min_value, infos["depth"].domain_interval.max_value) == (
        1.0,
        3.0,
    )
    assert [m.name.tag for m in experiment.metric_infos] == ["epoch_loss"]


def test_hparams_session_start_values_and_errors():
    from tensorboard.plugins.hparams import metadata

    from kerasnotes.summary import hparams

    summary = hparams.hparams_session_start_summary(
        {"width": np.int64(32), "rate": 0.5, "center": np.bool_(True), "rho": None, "opt": "sgd"},
        7,
        start_time_secs=3.0,
    )
    start = metadata.parse_session_start_info_plugin_data(
        summary.value[0].metadata.plugin_data.content
    )
    assert start.group_name == "7" and start.start_time_secs == 3.0
    assert sorted(start.hparams) == ["center", "opt", "rate", "width"]  # None left out
    assert start.hparams["width"].number_value == 32.0
    assert start.hparams["center"].bool_value is True
    with pytest.raises(TypeError, match=r"`values\['bad'\]` must be a bool, number or str"):
        hparams.hparams_session_start_summary({"bad": [1]}, "0")
    assert hparams.loggable({"a": np.float32(0.5), "tuner/epochs": 3, "b": None, "c": [1]}) == {
        "a": 0.5
    }
