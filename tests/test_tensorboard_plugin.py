"""The kerasnotes TensorBoard plugin's routes, served by TensorBoard's own WSGI app.

Event files are written with ``kerasnotes.summary.Writer`` (the writer every
kerasnotes callback uses), loaded by TensorBoard's Python data ingester with
the flags TensorBoard's own argument parser produces (so the plugin's
``fix_flags`` applies), and requested through werkzeug's test client.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
import pytest
from tensorboard import program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins.core import core_plugin
from werkzeug import test as werkzeug_test

from kerasnotes import summary
from kerasnotes.tensorboard_plugins import data as plugin_data
from kerasnotes.tensorboard_plugins import query as plugin_query
from kerasnotes.tensorboard_plugins.entry import KerasNotesLoader

pytestmark = pytest.mark.backend_independent

PREFIX = "/data/plugin/kerasnotes"
EPOCHS = 6
# One event per kind the detector reports, NaN where the field was not measured.
KINDS = ["not_critical", "saddle", "saddle", "local_minimum", "flat", "local_maximum"]
LAMBDA_MIN = [math.nan, -0.5, -0.25, 0.01, 0.0, -3.0]
LAMBDA_MAX = [math.nan, 4.0, 3.5, 3.0, 0.0, -0.1]
RATIO = [math.nan, 0.75, 0.8125, 1.0, 0.5, 0.0]
GRAD = [0.9, 1e-3, 5e-4, 2e-4, 1e-5, 3e-4]
DENSITY_STEPS = (1, 3)
VARIABLES = ("dense/kernel", "dense/bias")


def _density(step: int, size: int = 64) -> np.ndarray:
    grid = np.linspace(-1.0 - step, 5.0, size)
    density = np.exp(-0.5 * (grid - 1.0) ** 2) + 0.3 * np.exp(-4.0 * (grid + 0.5) ** 2)
    density /= np.trapezoid(density, grid)
    return np.stack([grid, density])


#: Masses logged beside the density of step 3: a PSD Hessian, most eigenvalues near zero.
MASSES = [0.0, 0.875, 0.125, 0.0, 0.0061, 0.0061, 4e-4, 0.06, 5.0, 80.0]


def _critical_point(epoch: int) -> list[float]:
    escaped = 1.0 if epoch == 2 else 0.0
    before, after = (0.7, 0.4) if epoch == 2 else (math.nan, math.nan)
    return [
        summary.KIND_CODES[KINDS[epoch]],
        GRAD[epoch],
        LAMBDA_MIN[epoch],
        LAMBDA_MAX[epoch],
        RATIO[epoch],
        escaped,
        before,
        after,
        40 + epoch,
        0.01 * epoch,
    ]


def effective_lr(name: str, epoch: int) -> float:
    return (0.01 if name.endswith("kernel") else 0.02) / math.sqrt(1.0 + epoch)


def write_full_run(path: str) -> None:
    """A run with every kerasnotes tag, numbers known in closed form."""
    with summary.Writer(path) as writer:
        writer.text(summary.TAG_RUN_INFO, "**model**: Sequential, 2 layers", step=0)
        for epoch in range(EPOCHS):
            writer.scalar(summary.TAG_GRAD_NORM, GRAD[epoch], step=epoch)
            if not math.isnan(LAMBDA_MIN[epoch]):
                writer.scalar(summary.TAG_LAMBDA_MIN, LAMBDA_MIN[epoch], step=epoch)
                writer.scalar(summary.TAG_LAMBDA_MAX, LAMBDA_MAX[epoch], step=epoch)
                writer.scalar(summary.TAG_MINIMUM_RATIO, RATIO[epoch], step=epoch)
            writer.tensor(summary.TAG_CRITICAL_POINT, _critical_point(epoch), step=epoch)
            if epoch in DENSITY_STEPS:
                writer.tensor(summary.TAG_SPECTRAL_DENSITY, _density(epoch), step=epoch)
            if epoch == DENSITY_STEPS[-1]:
                writer.tensor(summary.TAG_SPECTRAL_MASSES, MASSES, step=epoch)
            writer.scalar(summary.TAG_LEARNING_RATE, 0.1 * 0.5**epoch, step=epoch)
            writer.scalar(
                summary.TAG_EARLY_STOPPING_MONITOR,
                1.0 / (1 + epoch) + 0.1 * max(0, epoch - 3),
                step=epoch,
                display_name="val_loss",
            )
            for name in VARIABLES:
                writer.scalar(
                    summary.effective_lr_mean_tag(name), effective_lr(name, epoch), step=epoch
                )
                writer.scalar(summary.update_ratio_tag(name), 1e-3 * (epoch + 1), step=epoch)
                writer.histogram(
                    summary.effective_lr_histogram_tag(name),
                    np.full(4, effective_lr(name, epoch)),
                    step=epoch,
                )
        writer.tensor(summary.TAG_EARLY_STOPPING_EVENT, [3, 0.25, 5], step=EPOCHS - 1)


def configure_flags(logdir: str, *extra: str):
    """TensorBoard's own flags for ``logdir``, after every loader's ``fix_flags``."""
    board = program.TensorBoard(plugins=[core_plugin.CorePluginLoader, KerasNotesLoader])
    board.configure(argv=["tensorboard", "--logdir", logdir, *extra])
    return board


def make_client(logdir: str, *extra: str) -> werkzeug_test.Client:
    """A test client of TensorBoard's WSGI app with the kerasnotes plugin over ``logdir``."""
    board = configure_flags(logdir, *extra)
    ingester = data_ingester.LocalDataIngester(board.flags)
    multiplexer = ingester.deprecated_multiplexer
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    app = application.TensorBoardWSGIApp(
        board.flags,
        board.plugin_loaders,
        ingester.data_provider,
        board.assets_zip_provider,
        multiplexer,
    )
    return werkzeug_test.Client(app)


def client_beside_full_run(tmp_path, run: str, view: str) -> werkzeug_test.Client:
    """A client over ``run`` and a full run without it: ``view`` (and Curvature) opens for ``run`` only."""
    write_full_run(str(tmp_path / "full"))
    client = make_client(str(tmp_path))
    runs = {r["run"]: r for r in get_json(client, f"{PREFIX}/runs")["runs"]}
    assert runs[run][view] and runs[run]["curvature"]
    assert not runs["full"][view]
    return client


def get_json(client: werkzeug_test.Client, path: str, status: int = 200) -> dict:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.data[:300])
    return json.loads(response.get_data(as_text=True))


def close_list(actual: list, expected: list, rel: float = 1e-6) -> bool:
    """Equal within float32 rounding, ``None`` standing for NaN."""
    if len(actual) != len(expected):
        return False
    for a, e in zip(actual, expected, strict=True):
        if e is None or (isinstance(e, float) and math.isnan(e)):
            if a is not None:
                return False
        elif a is None or not math.isclose(a, e, rel_tol=rel, abs_tol=1e-12):
            return False
    return True


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("kerasnotes_logs")
    write_full_run(str(root / "full"))
    with summary.Writer(str(root / "lr_only")) as writer:
        for step in range(3):
            writer.scalar(summary.TAG_LEARNING_RATE, 0.5 / (step + 1), step=step)
    with summary.Writer(str(root / "unrelated")) as writer:
        writer.scalar("loss", 1.0, step=0)
    return str(root)


@pytest.fixture(scope="module")
def client(logdir) -> werkzeug_test.Client:
    return make_client(logdir)


def test_fix_flags_keeps_every_kerasnotes_sample_unless_user_says_otherwise(tmp_path):
    assert configure_flags(str(tmp_path)).flags.samples_per_plugin["kerasnotes"] == 0
    custom = configure_flags(str(tmp_path), "--samples_per_plugin", "kerasnotes=7,images=3")
    assert custom.flags.samples_per_plugin == {"kerasnotes": 7, "images": 3}


def test_entry_point_is_discovered_by_tensorboard():
    from tensorboard import default

    loaders = default.get_dynamic_plugins()
    assert KerasNotesLoader in loaders  # TensorBoard gets the class and instantiates it


def test_plugins_listing_shows_kerasnotes_enabled_as_es_module(client):
    listing = get_json(client, "/data/plugins_listing")
    entry = listing["kerasnotes"]
    assert entry["enabled"] is True
    assert entry["tab_name"] == "kerasnotes"
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/kerasnotes/static/index.js",
    }


def test_tab_is_enabled_by_kerasnotes_scalars_alone_and_disabled_without_data(tmp_path):
    with summary.Writer(str(tmp_path / "with_lr" / "run")) as writer:
        writer.scalar(summary.TAG_LEARNING_RATE, 0.1, step=0)
    with summary.Writer(str(tmp_path / "without" / "run")) as writer:
        writer.scalar("loss", 0.1, step=0)
    enabled = get_json(make_client(str(tmp_path / "with_lr")), "/data/plugins_listing")
    disabled = get_json(make_client(str(tmp_path / "without")), "/data/plugins_listing")
    assert enabled["kerasnotes"]["enabled"] is True
    assert disabled["kerasnotes"]["enabled"] is False


def test_plugin_entry_page_loads_our_module(client):
    html = client.get("/data/plugin_entry.html?name=kerasnotes").get_data(as_text=True)
    assert 'import("./static/index.js")' in html


def test_runs_lists_what_each_run_holds(client):
    runs = {r["run"]: r for r in get_json(client, f"{PREFIX}/runs")["runs"]}
    assert set(runs) == {"full", "lr_only"}  # "unrelated" has no kerasnotes tag
    full = runs["full"]
    assert full["curvature"] and full["critical_points"] and full["spectrum"]
    assert full["learning_rate"] and full["early_stopping"]
    assert full["optimizer"] == sorted(VARIABLES)
    assert full["max_step"] == EPOCHS - 1
    assert full["run_info"] == "**model**: Sequential, 2 layers"
    lr_only = runs["lr_only"]
    assert lr_only["learning_rate"] and not lr_only["curvature"] and not lr_only["spectrum"]
    assert lr_only["optimizer"] == [] and lr_only["run_info"] is None


def test_curvature_series_and_events_equal_the_logged_numbers(client):
    body = get_json(client, f"{PREFIX}/curvature?run=full")
    series = body["series"]
    assert series["grad_norm"]["steps"] == list(range(EPOCHS))
    assert series["grad_norm"]["epochs"] == list(range(1, EPOCHS + 1))  # as Keras prints
    assert close_list(series["grad_norm"]["values"], GRAD)
    measured = [e for e in range(EPOCHS) if not math.isnan(LAMBDA_MIN[e])]
    assert series["lambda_min"]["steps"] == measured
    assert close_list(series["lambda_min"]["values"], [LAMBDA_MIN[e] for e in measured])
    assert close_list(series["lambda_max"]["values"], [LAMBDA_MAX[e] for e in measured])
    assert close_list(series["minimum_ratio"]["values"], [RATIO[e] for e in measured])

    events = body["events"]
    assert [e["step"] for e in events] == list(range(EPOCHS))
    assert [e["epoch"] for e in events] == list(range(1, EPOCHS + 1))
    assert [e["kind"] for e in events] == KINDS
    # Tensors are float64: exact equality, and NaN (not measured) arrives as null.
    assert [e["grad_norm"] for e in events] == GRAD
    assert [e["lambda_min"] for e in events] == [None if math.isnan(v) else v for v in LAMBDA_MIN]
    assert [e["escaped"] for e in events] == [False, False, True, False, False, False]
    assert events[2]["loss_before"] == 0.7 and events[2]["loss_after"] == 0.4
    assert events[0]["loss_before"] is None
    assert [e["num_hvp"] for e in events] == [40 + e for e in range(EPOCHS)]
    assert body["skipped"] == 0


def test_spectrum_at_a_chosen_step_and_the_list_of_steps(client):
    last = get_json(client, f"{PREFIX}/spectrum?run=full")
    assert last["steps"] == list(DENSITY_STEPS)
    assert last["step"] == DENSITY_STEPS[-1]
    assert last["epoch"] == DENSITY_STEPS[-1] + 1
    assert last["epochs"] == [s + 1 for s in DENSITY_STEPS]
    first = get_json(client, f"{PREFIX}/spectrum?run=full&step={DENSITY_STEPS[0]}")
    expected = _density(DENSITY_STEPS[0])
    np.testing.assert_array_equal(first["grid"], expected[0])
    np.testing.assert_array_equal(first["density"], expected[1])
    assert first["grid_size"] == expected.shape[1]
    # λmin/λmax come from the critical-point event of the same epoch.
    assert first["lambda_min"] == LAMBDA_MIN[1] and first["lambda_max"] == LAMBDA_MAX[1]
    # The first density has no masses logged beside it: nothing is derived from the curve.
    assert first["masses"] is None
    assert "negative_mass" not in first
    assert not hasattr(plugin_data, "negative_mass")
    # The last one shows exactly the logged masses (float64 tensors: exact).
    masses = last["masses"]
    assert [masses[f] for f in summary.SPECTRAL_MASSES_FIELDS] == MASSES[:8] + [5, 80]
    assert isinstance(masses["num_runs"], int)


def test_curvature_sends_the_one_rule(client):
    from kerasnotes.curvature import classify

    body = get_json(client, f"{PREFIX}/curvature?run=full")
    assert body["rule"]["text"] == classify.RULE
    assert body["rule"]["conditions"] == classify.CONDITIONS


def test_optimizer_effective_lr_per_variable(client):
    body = get_json(client, f"{PREFIX}/optimizer?run=full")
    by_name = {v["name"]: v for v in body["variables"]}
    assert set(by_name) == set(VARIABLES)
    for name in VARIABLES:
        lr = by_name[name]["effective_lr_mean"]
        assert lr["steps"] == list(range(EPOCHS))
        assert lr["epochs"] == list(range(1, EPOCHS + 1))
        assert close_list(lr["values"], [effective_lr(name, e) for e in range(EPOCHS)])
        ratio = by_name[name]["update_ratio"]
        assert close_list(ratio["values"], [1e-3 * (e + 1) for e in range(EPOCHS)])


def test_schedule_learning_rate_and_early_stopping_event(client):
    body = get_json(client, f"{PREFIX}/schedule?run=full")
    assert body["learning_rate"]["steps"] == list(range(EPOCHS))
    assert close_list(body["learning_rate"]["values"], [0.1 * 0.5**e for e in range(EPOCHS)])
    assert body["monitor_name"] == "val_loss"
    expected_monitor = [1.0 / (1 + e) + 0.1 * max(0, e - 3) for e in range(EPOCHS)]
    assert close_list(body["monitor"]["values"], expected_monitor)
    assert body["early_stopping"] == {
        "step": EPOCHS - 1,
        "best_step": 3,  # as logged: EarlyStopping.best_epoch, 0-based
        "best_epoch": 4,  # as Keras prints it
        "best_value": 0.25,
        "stopped_step": 5,
        "stopped_epoch": 6,
    }
    assert body["monitor"]["epochs"] == [e + 1 for e in body["monitor"]["steps"]]
    assert "epochs" not in body["learning_rate"]  # its steps may count batches
    lr_only = get_json(client, f"{PREFIX}/schedule?run=lr_only")
    assert close_list(lr_only["learning_rate"]["values"], [0.5, 0.25, 0.5 / 3])
    assert lr_only["early_stopping"] is None and lr_only["monitor"]["steps"] == []


BAD_REQUESTS = [
    ("/curvature", 400, "run"),
    ("/curvature?run=nope", 404, "nope"),
    ("/spectrum?run=full&step=abc", 400, "step"),
    ("/spectrum?run=full&step=2", 404, "step 2"),
    ("/spectrum?run=lr_only", 404, "spectral_density"),
    ("/optimizer?run=unrelated", 404, "unrelated"),
    ("/schedule?run=", 400, "run"),
    ("/notes", 400, "topic"),
    ("/notes?topic=curvature&lang=fr", 400, "lang"),
    ("/notes?topic=no_such_topic", 404, "no_such_topic"),
]


def test_bad_input_gives_a_4xx_that_says_what_was_wrong(client):
    # One test for all cases: each test item costs a Keras session reset in conftest.
    for path, status, needle in BAD_REQUESTS:
        body = get_json(client, PREFIX + path, status=status)
        assert needle in body["error"], (path, body)


def test_notes_for_each_view_in_both_languages(client):
    from kerasnotes import notes

    for view, topics in (("curvature", ["F13", "F14"]), ("optimizer", ["F3", "F15"])):
        for lang in ("en", "zh"):
            body = get_json(client, f"{PREFIX}/notes?topic={view}&lang={lang}")
            assert body["lang"] == lang
            for topic in topics:
                assert notes.as_dict(notes.lookup(topic), lang) in body["entries"]
    one = get_json(client, f"{PREFIX}/notes?topic=F5&lang=zh")
    assert one["entries"] == [notes.as_dict(notes.lookup("F5"), "zh")]


def _frontend_files() -> list[str]:
    """Every file of the frontend, as a ``/``-joined path relative to ``static/``."""
    from kerasnotes.tensorboard_plugins import plugin

    return sorted(
        os.path.relpath(os.path.join(folder, name), plugin.STATIC_DIR).replace(os.sep, "/")
        for folder, _, names in os.walk(plugin.STATIC_DIR)
        for name in names
    )


def test_static_files_are_served_and_traversal_is_refused(client):
    from kerasnotes.tensorboard_plugins import plugin

    files = _frontend_files()
    # The views live one folder down; the entry module and the shared modules at the top.
    assert {"index.js", "chart.js", "dom.js", "style.css", "views/curvature.js"} <= set(files)
    content_types = {".js": "text/javascript", ".css": "text/css"}
    for name in files:
        response = client.get(f"{PREFIX}/static/{name}")
        assert response.status_code == 200, name
        expected = content_types[os.path.splitext(name)[1]]
        assert response.headers["Content-Type"].startswith(expected), name
        with open(os.path.join(plugin.STATIC_DIR, *name.split("/")), "rb") as handle:
            assert response.data == handle.read(), name
    assert b"export" in client.get(f"{PREFIX}/static/index.js").data
    for attempt in (
        "/static/../plugin.py",
        "/static/..%2fplugin.py",
        "/static/%2e%2e/plugin.py",
        "/static/../../../../../etc/passwd",
        "/static/..%5cplugin.py",
        "/static//etc/passwd",
        "/static/.hidden",
        "/static/",
        "/static/nope.js",
        "/static/views",
        "/static/views/",
        "/static/views/../../plugin.py",
        "/static/views/..%2f..%2fplugin.py",
        "/static/views/%2e%2e/%2e%2e/plugin.py",
        "/static/views/..%5c..%5cplugin.py",
        "/static/views//curvature.js",
        "/static/./index.js",
        "/static/views/./curvature.js",
        "/static/views%5ccurvature.js",
        "/static/views/nope.js",
    ):
        response = client.get(PREFIX + attempt)
        assert response.status_code in (400, 403, 404), attempt
        assert b"import" not in response.data and b"root:" not in response.data, attempt


def test_every_module_the_frontend_imports_is_served(client):
    """Each relative import (and the stylesheet URL) resolves to a served file of the right type."""
    import posixpath
    import re

    from kerasnotes.tensorboard_plugins import plugin

    pattern = re.compile(
        r"""(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)["'](\.{1,2}/[^"']+)["']"""
    )
    requested = set()
    for name in _frontend_files():
        if not name.endswith(".js"):
            continue
        with open(os.path.join(plugin.STATIC_DIR, *name.split("/")), encoding="utf-8") as handle:
            targets = pattern.findall(handle.read())
        for target in targets:
            path = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            assert not path.startswith(".."), (name, target)
            response = client.get(f"{PREFIX}/static/{path}")
            assert response.status_code == 200, (name, target)
            expected = "text/css" if path.endswith(".css") else "text/javascript"
            assert response.headers["Content-Type"].startswith(expected), (name, target)
            requested.add(path)
    # Every module is reachable from the entry; a stray file would be dead code.
    assert requested | {"index.js"} == set(_frontend_files())


def test_static_listing_leaves_out_dot_files_bad_names_and_links_out_of_static(
    tmp_path, monkeypatch
):
    from kerasnotes.tensorboard_plugins import plugin

    root = tmp_path / "static"
    outside = tmp_path / "outside"
    (root / "views" / ".cache").mkdir(parents=True)
    (root / ".git").mkdir()
    outside.mkdir()
    (outside / "secret.js").write_text("OUTSIDE STATIC")
    (root / "index.js").write_text("export const a = 1;")
    (root / "views" / "a.js").write_text("export const b = 2;")
    (root / "views" / ".cache" / "c.js").write_text("cached")
    (root / ".git" / "config.js").write_text("git")
    (root / ".hidden.js").write_text("hidden")
    (root / "bad name.js").write_text("bad")
    (root / "leak.js").symlink_to(outside / "secret.js")
    (root / "views" / "out").symlink_to(outside, target_is_directory=True)
    (root / "views" / "alias.js").symlink_to(root / "index.js")  # inside static/: served
    assert plugin._static_files(str(root)) == {"index.js", "views/a.js", "views/alias.js"}

    monkeypatch.setattr(plugin, "STATIC_DIR", str(root))
    app = plugin.KerasNotesPlugin(plugin.base_plugin.TBContext(data_provider=None))
    static = werkzeug_test.Client(app.get_plugin_apps()["/static/*"])
    served = static.get(f"{PREFIX}/static/views/a.js")
    assert served.status_code == 200 and served.data == b"export const b = 2;"
    assert served.headers["Content-Type"].startswith("text/javascript")
    for name in (
        "leak.js",
        "views/out/secret.js",
        ".hidden.js",
        "views/.cache/c.js",
        "bad name.js",
    ):
        response = static.get(f"{PREFIX}/static/{name}")
        assert response.status_code == 404 and b"OUTSIDE" not in response.data, name


def test_package_data_ships_every_frontend_file():
    """A wheel holds only what pyproject's package-data globs match; editable installs hide a gap."""
    import glob
    import tomllib

    from kerasnotes.tensorboard_plugins import plugin

    folder = os.path.dirname(plugin.STATIC_DIR)
    with open(os.path.join(folder, os.pardir, "pyproject.toml"), "rb") as handle:
        config = tomllib.load(handle)["tool"]["setuptools"]
    patterns = config["package-data"]["kerasnotes.tensorboard_plugins"]
    shipped = {
        os.path.relpath(path, plugin.STATIC_DIR).replace(os.sep, "/")
        for pattern in patterns
        for path in glob.glob(os.path.join(folder, pattern))
        if os.path.isfile(path)
    }
    assert shipped == set(_frontend_files())


def test_no_external_urls_in_the_frontend():
    from kerasnotes.tensorboard_plugins import plugin

    for name in _frontend_files():
        with open(os.path.join(plugin.STATIC_DIR, *name.split("/")), encoding="utf-8") as handle:
            text = handle.read()
        for scheme in ("http://", "https://", "//cdn", "@import url"):
            # The SVG namespace is an identifier, never fetched.
            assert scheme not in text.replace("http://www.w3.org/2000/svg", ""), (name, scheme)


def test_corrupt_and_truncated_event_files_give_partial_data_not_500(tmp_path):
    good = tmp_path / "good"
    write_full_run(str(good))
    (event_file,) = list(good.iterdir())
    blob = event_file.read_bytes()
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / event_file.name).write_bytes(blob[: len(blob) * 2 // 3])
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "events.out.tfevents.1.host").write_bytes(os.urandom(4096))
    flipped = tmp_path / "flipped"
    flipped.mkdir()
    corrupt = bytearray(blob)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 64] = b"\xff" * 64
    (flipped / event_file.name).write_bytes(bytes(corrupt))
    malformed = tmp_path / "malformed"
    with summary.Writer(str(malformed)) as writer:  # right tags, wrong shapes
        writer.tensor(summary.TAG_CRITICAL_POINT, [3.0, 1.0], step=0)
        writer.tensor(summary.TAG_CRITICAL_POINT, _critical_point(1), step=1)
        writer.tensor(summary.TAG_CRITICAL_POINT, [99] + _critical_point(1)[1:], step=2)
        writer.tensor(summary.TAG_SPECTRAL_DENSITY, np.ones((3, 4)), step=0)
        writer.tensor(summary.TAG_SPECTRAL_DENSITY, _density(1), step=1)
        writer.tensor(summary.TAG_EARLY_STOPPING_EVENT, [1.0], step=3)

    client = make_client(str(tmp_path))
    runs = {r["run"] for r in get_json(client, f"{PREFIX}/runs")["runs"]}
    assert {"good", "truncated", "malformed"} <= runs
    for run in ("truncated", "flipped", "garbage"):
        for route in ("curvature", "spectrum", "optimizer", "schedule"):
            response = client.get(f"{PREFIX}/{route}?run={run}")
            assert response.status_code in (200, 404), (run, route, response.status_code)
    part = get_json(client, f"{PREFIX}/curvature?run=truncated")
    assert 0 < len(part["events"]) <= EPOCHS
    assert [e["kind"] for e in part["events"]] == KINDS[: len(part["events"])]

    bad = get_json(client, f"{PREFIX}/curvature?run=malformed")
    assert [e["step"] for e in bad["events"]] == [1] and bad["skipped"] == 2
    spectrum = get_json(client, f"{PREFIX}/spectrum?run=malformed")
    assert spectrum["steps"] == [1] and spectrum["skipped"] == 1
    schedule = get_json(client, f"{PREFIX}/schedule?run=malformed")
    assert schedule["early_stopping"] is None and schedule["skipped"] == 1


def test_a_long_run_loads_and_every_response_stays_under_one_megabyte(tmp_path):
    steps, probes, grid = 10_000, 200, 1500
    with summary.Writer(str(tmp_path / "long")) as writer:
        for step in range(steps):
            writer.scalar(summary.TAG_LEARNING_RATE, 0.1 * math.exp(-step / 5000), step=step)
        density = _density(1, size=grid)
        for epoch in range(probes):
            writer.scalar(summary.TAG_GRAD_NORM, 1.0 / (epoch + 1), step=epoch)
            writer.tensor(summary.TAG_CRITICAL_POINT, _critical_point(epoch % EPOCHS), step=epoch)
            writer.tensor(summary.TAG_SPECTRAL_DENSITY, density, step=epoch)
            for layer in range(20):
                name = f"dense_{layer}/kernel"
                writer.scalar(summary.effective_lr_mean_tag(name), 1e-3, step=epoch)
                writer.scalar(summary.update_ratio_tag(name), 1e-4, step=epoch)
    client = make_client(str(tmp_path))
    sizes = {}
    for route in ("runs", "curvature?run=long", "spectrum?run=long&step=150", "optimizer?run=long"):
        response = client.get(f"{PREFIX}/{route}")
        assert response.status_code == 200, route
        sizes[route] = len(response.data)
    schedule = client.get(f"{PREFIX}/schedule?run=long")
    sizes["schedule"] = len(schedule.data)
    assert max(sizes.values()) < 1_000_000, sizes
    body = get_json(client, f"{PREFIX}/curvature?run=long")
    assert len(body["events"]) == probes  # every probe kept (samples_per_plugin)
    spectrum = get_json(client, f"{PREFIX}/spectrum?run=long&step=150")
    assert spectrum["steps"] == list(range(probes))
    assert len(spectrum["grid"]) == plugin_query.MAX_GRID and spectrum["grid_size"] == grid
    assert spectrum["grid"][0] == density[0, 0] and spectrum["grid"][-1] == density[0, -1]
    lr = json.loads(schedule.get_data(as_text=True))["learning_rate"]
    assert len(lr["steps"]) == plugin_query.MAX_POINTS and lr["steps"][-1] == steps - 1


def test_rust_data_server_keeps_every_kerasnotes_tensor(tmp_path):
    """``--load_fast``: the Rust data server, given the flags after our fix_flags, keeps all."""
    from tensorboard.data import server_ingester

    try:
        binary = server_ingester.get_server_binary()
    except server_ingester.NoDataServerError:
        pytest.skip("tensorboard-data-server (the --load_fast binary) is not installed")
    probes = 120  # the Rust server keeps 100 samples of a plugin it does not know (Python: 10)
    with summary.Writer(str(tmp_path / "run")) as writer:
        for epoch in range(probes):
            writer.tensor(summary.TAG_CRITICAL_POINT, _critical_point(epoch % EPOCHS), step=epoch)
            writer.tensor(summary.TAG_SPECTRAL_DENSITY, _density(1), step=epoch)

    def served_counts(samples_per_plugin: dict) -> tuple[int, int]:
        board = configure_flags(str(tmp_path))
        ingester = server_ingester.SubprocessServerDataIngester(
            server_binary=binary,
            logdir=str(tmp_path),
            reload_interval=0,
            channel_creds_type=board.flags.grpc_creds_type,
            samples_per_plugin=samples_per_plugin,
        )
        ingester.start()
        try:
            app = application.TensorBoardWSGIApp(
                board.flags,
                board.plugin_loaders,
                ingester.data_provider,
                board.assets_zip_provider,
                None,
            )
            client = werkzeug_test.Client(app)
            counts, deadline = (0, 0), time.monotonic() + 30
            while time.monotonic() < deadline:  # the server loads the logdir asynchronously
                response = client.get(f"{PREFIX}/spectrum?run=run")
                if response.status_code == 200:
                    events = get_json(client, f"{PREFIX}/curvature?run=run")["events"]
                    steps = json.loads(response.get_data(as_text=True))["steps"]
                    if (len(events), len(steps)) == counts and counts[0] > 0:
                        return counts  # stable across two polls: loading is done
                    counts = (len(events), len(steps))
                time.sleep(0.5)
            return counts
        finally:
            ingester._stdin_handle.close()  # --die-after-stdin: the server exits with its stdin

    assert served_counts(configure_flags(str(tmp_path)).flags.samples_per_plugin) == (
        probes,
        probes,
    )
    assert served_counts({}) == (100, 100)  # what the tab would show without fix_flags


def test_notes_route_answers_json_when_the_notes_text_cannot_be_imported(client, monkeypatch):
    # The route imports kerasnotes.notes lazily; a failing import used to give HTML 500.
    import sys

    import kerasnotes

    monkeypatch.delattr(kerasnotes, "notes", raising=False)
    monkeypatch.setitem(sys.modules, "kerasnotes.notes", None)  # makes the import fail
    response = client.get(f"{PREFIX}/notes?topic=curvature&lang=en")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert "could not be loaded" in json.loads(response.get_data(as_text=True))["error"]


def test_a_non_integer_kind_code_is_skipped_as_malformed(tmp_path):
    # 3.7 used to be read as int(3.7) = 3, shown as "saddle".
    with summary.Writer(str(tmp_path / "odd")) as writer:
        writer.tensor(summary.TAG_CRITICAL_POINT, [3.7] + _critical_point(1)[1:], step=0)
        writer.tensor(summary.TAG_CRITICAL_POINT, _critical_point(1), step=1)
        writer.tensor(summary.TAG_CRITICAL_POINT, [-0.5] + _critical_point(1)[1:], step=2)
    body = get_json(make_client(str(tmp_path)), f"{PREFIX}/curvature?run=odd")
    assert [(e["step"], e["kind"]) for e in body["events"]] == [(1, KINDS[1])]
    assert body["skipped"] == 2


def test_optimizer_view_keeps_its_point_budget_with_thousands_of_variables(tmp_path):
    # 4,000 variables x 2 series: a floor of 10 points a series sent 80,000 points.
    num_variables, epochs = 4000, 3
    with summary.Writer(str(tmp_path / "wide")) as writer:
        for epoch in range(epochs):
            for index in range(num_variables):
                name = f"dense_{index:04d}/kernel"
                writer.scalar(summary.effective_lr_mean_tag(name), 1e-3 * (epoch + 1), step=epoch)
                writer.scalar(summary.update_ratio_tag(name), 1e-4, step=epoch)
    body = get_json(make_client(str(tmp_path)), f"{PREFIX}/optimizer?run=wide")
    assert len(body["variables"]) == num_variables and body["omitted_variables"] == 0
    series = [v[k] for v in body["variables"] for k in ("effective_lr_mean", "update_ratio")]
    points = sum(len(s["steps"]) for s in series)
    assert points <= plugin_query.POINT_BUDGET, points
    assert all(1 <= len(s["steps"]) <= epochs for s in series)
    # Every point sent is a logged one (epoch e holds 1e-3·(e+1)).
    for entry in body["variables"][:50]:
        lr = entry["effective_lr_mean"]
        assert close_list(lr["values"], [1e-3 * (s + 1) for s in lr["steps"]])


def test_sharpness_route_returns_the_logged_sharpness_and_threshold(tmp_path):
    sharpness = [3.0, 12.5, 19.0, 20.5, 19.8]
    counts = [23, 4, 3, 5, 3]
    with summary.Writer(str(tmp_path / "sharp")) as writer:
        for epoch, (value, count) in enumerate(zip(sharpness, counts, strict=True)):
            writer.scalar(summary.TAG_SHARPNESS, value, step=epoch)
            writer.scalar(summary.TAG_SHARPNESS_THRESHOLD, 2.0 / 0.1, step=epoch)
            writer.scalar(summary.TAG_SHARPNESS_NUM_HVP, count, step=epoch)
    # A SharpnessMonitor run alone opens the Curvature view.
    client = client_beside_full_run(tmp_path, "sharp", "sharpness")
    body = get_json(client, f"{PREFIX}/sharpness?run=sharp")
    series = body["series"]
    assert series["sharpness"]["steps"] == list(range(5))
    assert series["sharpness"]["epochs"] == list(range(1, 6))
    assert close_list(series["sharpness"]["values"], sharpness)
    assert close_list(series["threshold"]["values"], [20.0] * 5)
    assert series["num_hvp"]["values"] == counts
    empty = get_json(client, f"{PREFIX}/sharpness?run=full")["series"]
    assert all(s["values"] == [] for s in empty.values())
    assert "nope" in get_json(client, f"{PREFIX}/sharpness?run=nope", status=404)["error"]
    assert "run" in get_json(client, f"{PREFIX}/sharpness", status=400)["error"]


def _saddle_plane(num: int, span: float) -> np.ndarray:
    """(1 − (a² − b²)/2)²: the product saddle on the plane of its eigenvectors u_min, u_max."""
    a = np.linspace(-span, span, num)
    aa, bb = np.meshgrid(a, a, indexing="ij")
    return (1 - (aa**2 - bb**2) / 2) ** 2


def test_landscape_route_returns_the_logged_plane_slices_and_path(tmp_path):
    num, span = 5, 1.0
    axes = np.array([[-2.0, -2.0, 0.0, 1.0], [2.0, 2.0, 0.0, 1.0]])
    path = np.array([[-1, 0.6, -0.2, 0.0], [0, 0.3, -0.1, 0.05], [1, 0.0, 0.0, 0.0]])
    with summary.Writer(str(tmp_path / "plane")) as writer:
        for step in (1, 3):
            surface = _saddle_plane(num, span) * (1 + step)
            surface[0, 0] = np.inf if step == 3 else surface[0, 0]  # not finite: sent as null
            writer.tensor(summary.TAG_LANDSCAPE_SURFACE, surface, step=step)
            writer.tensor(summary.TAG_LANDSCAPE_DIRECTIONS, axes, step=step)
            writer.tensor(summary.TAG_LANDSCAPE_TRAJECTORY, path[: (step + 1) // 2], step=step)
            info = [span, num, 1.0 + step, 0, 12, 2, 0.25]
            writer.tensor(summary.TAG_LANDSCAPE_INFO, info, step=step)
        # A step whose info is malformed is skipped and counted.
        writer.tensor(summary.TAG_LANDSCAPE_SURFACE, _saddle_plane(num, span), step=4)
        writer.tensor(summary.TAG_LANDSCAPE_DIRECTIONS, axes, step=4)
        writer.tensor(summary.TAG_LANDSCAPE_INFO, [span, num, 1.0], step=4)
    write_full_run(str(tmp_path / "full"))
    client = make_client(str(tmp_path))
    runs = {r["run"]: r for r in get_json(client, f"{PREFIX}/runs")["runs"]}
    assert runs["plane"]["landscape"] and not runs["full"]["landscape"]

    body = get_json(client, f"{PREFIX}/landscape?run=plane")
    assert body["steps"] == [1, 3] and body["epochs"] == [2, 4]
    assert body["step"] == 3 and body["epoch"] == 4 and body["skipped"] == 1
    assert body["a"] == np.linspace(-span, span, num).tolist() == body["b"]
    expected = _saddle_plane(num, span) * 4
    assert body["loss"][0][0] is None
    np.testing.assert_array_equal(np.array(body["loss"], dtype=float)[1:], expected[1:])
    assert body["center_loss"] == 4.0 and body["directions"] == "extreme"
    assert [a["eigenvalue"] for a in body["axes"]] == [-2.0, 2.0]
    assert body["axes"][0] == {"eigenvalue": -2.0, "curvature": -2.0, "slope": 0.0, "norm": 1.0}
    assert [p["step"] for p in body["trajectory"]] == [-1, 0]
    assert [p["epoch"] for p in body["trajectory"]] == [0, 1]  # 0: before training
    assert body["trajectory"][1] == {"step": 0, "epoch": 1, "a": 0.3, "b": -0.1, "off_plane": 0.05}
    assert body["num_hvp"] == 12 and body["num_parameters"] == 2 and body["seconds"] == 0.25

    first = get_json(client, f"{PREFIX}/landscape?run=plane&step=1")
    np.testing.assert_array_equal(np.array(first["loss"]), _saddle_plane(num, span) * 2)
    # The slice through the centre along u_min is (1 − t²/2)², times the step's factor.
    column = [row[num // 2] for row in first["loss"]]
    np.testing.assert_allclose(column, 2 * (1 - np.array(first["a"]) ** 2 / 2) ** 2)
    assert [p["step"] for p in first["trajectory"]] == [-1]

    assert "steps: [1, 3]" in get_json(client, f"{PREFIX}/landscape?run=plane&step=2", 404)["error"]
    assert "landscape" in get_json(client, f"{PREFIX}/landscape?run=full", 404)["error"]
    assert "run" in get_json(client, f"{PREFIX}/landscape", 400)["error"]
    assert "step" in get_json(client, f"{PREFIX}/landscape?run=plane&step=x", 400)["error"]
    notes = get_json(client, f"{PREFIX}/notes?topic=landscape&lang=zh")["entries"]
    assert [entry["id"] for entry in notes] == ["F16"]


def test_layers_route_returns_each_probed_epochs_table(tmp_path):
    # Two probes of a two-layer net; the names travel as a string tensor beside the rows.
    rows = {
        1: [[2080, 3.5, 40.25, 1.5, 130, 0.5], [330, 0.125, 2.0, 0.0, 110, 0.5]],
        3: [[2080, 2.75, 31.0, 1.25, 128, 0.25], [330, float("nan"), 1.5, 0.0, 110, 0.25]],
    }
    with summary.Writer(str(tmp_path / "layers")) as writer:
        for step in (3, 1):  # logged out of order: the route sorts by step
            writer.tensor(summary.TAG_LAYER_CURVATURE, rows[step], step=step)
            writer.strings(summary.TAG_LAYER_NAMES, ["dense", "dense_1"], step=step)
        writer.tensor(summary.TAG_LAYER_CURVATURE, rows[1], step=5)  # no names: skipped
        writer.tensor(summary.TAG_LAYER_CURVATURE, [[1.0, 2.0]], step=6)  # wrong width
        writer.strings(summary.TAG_LAYER_NAMES, ["dense"], step=6)
    client = client_beside_full_run(tmp_path, "layers", "layers")
    body = get_json(client, f"{PREFIX}/layers?run=layers")
    assert [t["step"] for t in body["tables"]] == [1, 3]
    assert [t["epoch"] for t in body["tables"]] == [2, 4]  # as Keras prints
    assert body["skipped"] == 2
    first, last = body["tables"]
    assert first["seconds"] == 0.5 and last["seconds"] == 0.25
    assert [layer["name"] for layer in first["layers"]] == ["dense", "dense_1"]
    assert first["layers"][0] == {
        "name": "dense",
        "num_parameters": 2080,
        "lambda_max": 3.5,
        "trace": 40.25,
        "trace_stderr": 1.5,
        "num_hvp": 130,
    }
    assert last["layers"][1]["lambda_max"] is None  # NaN: not measured
    assert get_json(client, f"{PREFIX}/layers?run=full") == {
        "run": "full",
        "tables": [],
        "skipped": 0,
    }
    assert "nope" in get_json(client, f"{PREFIX}/layers?run=nope", status=404)["error"]
    assert "run" in get_json(client, f"{PREFIX}/layers", status=400)["error"]
