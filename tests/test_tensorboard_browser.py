"""The kerasnotes tab in a real browser: TensorBoard as a subprocess, Debian's headless Chromium.

A short training run with the real callbacks (SaddlePointDetector with
density, LearningRateDecay, EarlyStopping, OptimizerInspector) writes a log
directory;
``tensorboard --logdir`` serves it on 127.0.0.1 (its default loader, the Rust
data server where installed); Playwright drives ``/usr/bin/chromium`` to the
kerasnotes tab and checks that every view draws exactly the logged numbers,
which the test reads back from the event files with TensorBoard's own
``EventAccumulator`` (not through the plugin). Screenshots go to the test's
temporary directory and, when ``KERASNOTES_SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from kerasnotes import notes, summary

pytestmark = [pytest.mark.backend_independent, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is in the 'test' extra: pip install -e '.[test]'"
)
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"Debian's Chromium is not at {CHROMIUM} (apt-get install -y chromium)",
        allow_module_level=True,
    )

STARTUP_SECONDS = 90


# -- the logged data, read back independently of the plugin ---------------------------------------


def read_logdir(run_dir: str) -> dict:
    """Every kerasnotes series of a run, read with TensorBoard's EventAccumulator (keep all)."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    acc = pea.EventAccumulator(run_dir, size_guidance={pea.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()[pea.TENSORS]
    out = {}
    for tag in tags:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name not in ("scalars", "kerasnotes"):
            continue  # run_info text and histograms are not drawn by the tab
        events = acc.Tensors(tag)
        if tag == summary.TAG_LAYER_NAMES:  # strings: the layer names of the table's rows
            out[tag] = [(e.step, [n.decode() for n in e.tensor_proto.string_val]) for e in events]
            continue
        out[tag] = [
            (e.step, np.asarray(_to_numpy(e.tensor_proto), dtype=np.float64)) for e in events
        ]
    return out


def _to_numpy(proto):
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(proto)


def scalar_series(logged: dict, tag: str) -> list[tuple[int, float]]:
    return [(step, float(value)) for step, value in logged.get(tag, [])]


# -- the run ---------------------------------------------------------------------------------------


def train_run(run_dir: str) -> dict:
    """A short real training run on iris with the four kerasnotes callbacks logging to ``run_dir``.

    The network is tiny (51 weights) so each epoch's full Hessian analysis and
    spectral density take a fraction of a second; ``grad_tol`` is loose enough
    that the later, flatter epochs count as critical points and get classified.
    """
    import keras

    from kerasnotes import callbacks, datasets, optimizers, schedules

    (x, y), (x_val, y_val) = datasets.load_iris()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(6, activation="tanh"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    detector = callbacks.SaddlePointDetector(
        (x, y),
        num_samples=len(x),
        grad_tol=0.15,
        always_probe=True,
        density=True,
        log_dir=run_dir,
        verbose=0,
        layer_curvature=True,
    )
    stopper = callbacks.EarlyStopping(
        monitor="val_loss", min_delta=0.04, patience=2, restore_best_weights=True, log_dir=run_dir
    )
    # Keras's own stopper, same rule, prints the epochs a person reads.
    keras_stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", min_delta=0.04, patience=2, restore_best_weights=True, verbose=1
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model.fit(
            x,
            y,
            validation_data=(x_val, y_val),
            epochs=10,
            batch_size=16,
            verbose=0,
            callbacks=[
                detector,
                callbacks.LearningRateDecay(schedules.ExponentialDecay(0.05, 0.2), log_dir=run_dir),
                stopper,
                keras_stopper,
                callbacks.OptimizerInspector(run_dir),
            ],
        )
    summary.Writer.for_log_dir(run_dir).close()  # everything on disk before TensorBoard reads it
    stop = re.search(r"Epoch (\d+): early stopping", printed.getvalue())
    best = re.search(r"best epoch: (\d+)\.", printed.getvalue())
    return {
        "probes": detector.history,
        "stopped_epoch": stopper.stopped_epoch,
        "keras_stop": None if stop is None else int(stop.group(1)),
        "keras_best": int(best.group(1)),
    }


# -- TensorBoard and the browser -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tensorboard_server(logdir: str, log_path: str):
    """``tensorboard --logdir logdir`` on a free port; yields its URL; always stops it."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        logdir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--reload_interval",
        "1",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"tensorboard exited with {process.returncode}; see {log_path}"
                    )
                try:
                    with urllib.request.urlopen(
                        f"{url}/data/plugin/kerasnotes/runs", timeout=2
                    ) as r:
                        if json.load(r)["runs"]:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tensorboard did not serve kerasnotes data; see {log_path}")
                time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _plugin_frame(page):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "plugin_entry.html?name=kerasnotes" in frame.url:
                return frame
        page.wait_for_timeout(200)
    raise AssertionError("the kerasnotes iframe never appeared")


def _ready(frame, view: str) -> None:
    frame.wait_for_selector(f"#kn-app[data-view='{view}'][data-state='ready']", timeout=30_000)


def _points(frame, chart: str, series: str) -> list[list[float]]:
    node = frame.locator(f"svg[data-chart='{chart}'] g[data-series='{series}']")
    return json.loads(node.get_attribute("data-points"))


def _markers(frame, chart: str) -> list[dict]:
    return frame.eval_on_selector_all(
        f"svg[data-chart='{chart}'] .kn-marker",
        "nodes => nodes.map(n => ({...n.dataset}))",
    )


def _assert_series(rendered, logged, rel=1e-6, epochs=True):
    """The drawn points equal the logged ones; on an epoch axis x is the epoch Keras prints."""
    shift = 1 if epochs else 0
    assert [int(x) for x, _ in rendered] == [step + shift for step, _ in logged]
    for (_, got), (_, want) in zip(rendered, logged, strict=True):
        if math.isnan(want):
            assert got is None
        else:
            assert got == pytest.approx(want, rel=rel, abs=1e-12)


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tb_browser")
    run_dir = str(logdir / "iris_mlp")
    trained = train_run(run_dir)
    assert trained["probes"], "the detector logged no probe"
    return str(logdir), run_dir, trained


def test_the_kerasnotes_tab_draws_the_logged_data(logged_run, tmp_path):
    logdir, run_dir, trained = logged_run
    logged = read_logdir(run_dir)
    shots = [str(tmp_path)]
    if os.environ.get("KERASNOTES_SCREENSHOT_DIR"):
        os.makedirs(os.environ["KERASNOTES_SCREENSHOT_DIR"], exist_ok=True)
        shots.append(os.environ["KERASNOTES_SCREENSHOT_DIR"])

    def screenshot(page, name):
        for directory in shots:
            page.screenshot(path=os.path.join(directory, f"kerasnotes_{name}.png"))

    errors: list[str] = []
    with tensorboard_server(logdir, str(tmp_path / "tensorboard.log")) as url:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.on("pageerror", lambda e: errors.append(str(e)))
                requested: list[str] = []
                page.on("request", lambda r: requested.append(r.url))
                page.goto(f"{url}/#kerasnotes")
                frame = _plugin_frame(page)
                _ready(frame, "curvature")
                _check_curvature(frame, logged)
                screenshot(page, "curvature")
                _check_layers(frame, logged)
                frame.locator("#kn-layers").scroll_into_view_if_needed()
                screenshot(page, "layers")
                _check_run_info(frame)

                frame.click("#kn-tab-spectrum")
                _ready(frame, "spectrum")
                _check_spectrum(frame, logged)
                screenshot(page, "spectrum")

                frame.click("#kn-tab-optimizer")
                _ready(frame, "optimizer")
                _check_optimizer(frame, logged, trained)
                screenshot(page, "optimizer")

                frame.click("#kn-tab-notes")
                _ready(frame, "notes")
                _check_notes(frame, "en")
                screenshot(page, "notes")
                frame.click(".kn-lang button[data-lang='zh']")
                frame.wait_for_selector("#kn-notes[data-lang='zh']")
                _check_notes(frame, "zh")
                screenshot(page, "notes_zh")

                _check_reload(page, frame, run_dir)
                assert all(r.startswith(url) or r.startswith("data:") for r in requested), [
                    r for r in requested if not r.startswith(url)
                ]
            finally:
                browser.close()
    assert errors == []


def _check_curvature(frame, logged):
    grad = scalar_series(logged, summary.TAG_GRAD_NORM)
    _assert_series(_points(frame, "curvature-grad-norm", "grad_norm"), grad)
    _assert_series(
        _points(frame, "curvature-lambda", "lambda_min"),
        scalar_series(logged, summary.TAG_LAMBDA_MIN),
    )
    _assert_series(
        _points(frame, "curvature-minimum-ratio", "minimum_ratio"),
        scalar_series(logged, summary.TAG_MINIMUM_RATIO),
    )
    events = logged[summary.TAG_CRITICAL_POINT]
    markers = _markers(frame, "curvature-grad-norm")
    assert [int(m["step"]) for m in markers] == [step for step, _ in events]
    assert [int(m["epoch"]) for m in markers] == [step + 1 for step, _ in events]
    assert [m["kind"] for m in markers] == [summary.KIND_NAMES[int(v[0])] for _, v in events]
    assert [float(m["value"]) for m in markers] == [v[1] for _, v in events]  # float64, exact
    colours = {
        m["kind"]: frame.locator(
            f"svg[data-chart='curvature-grad-norm'] .kn-marker[data-kind='{m['kind']}']"
        ).first.get_attribute("fill")
        for m in markers
    }
    assert len(set(colours.values())) == len(colours)  # one colour per kind
    rows = frame.eval_on_selector_all(
        "#kn-events-table tbody tr", "rows => rows.map(r => r.dataset.kind)"
    )
    assert rows == [summary.KIND_NAMES[int(v[0])] for _, v in reversed(events)]
    shown = frame.eval_on_selector_all(
        "#kn-events-table tbody tr td:first-child", "cells => cells.map(c => c.textContent)"
    )
    assert shown == [str(step + 1) for step, _ in reversed(events)]  # the epoch Keras prints


def _check_layers(frame, logged):
    """The per-layer table shows each probed epoch's logged rows, the last epoch first."""
    tables = logged[summary.TAG_LAYER_CURVATURE]
    names = dict(logged[summary.TAG_LAYER_NAMES])
    options = frame.eval_on_selector_all(
        "#kn-layers-step option", "nodes => nodes.map(n => [n.value, n.textContent])"
    )
    assert options == [[str(step), str(step + 1)] for step, _ in reversed(tables)]
    fields = summary.LAYER_CURVATURE_FIELDS

    def shown_rows():
        return frame.eval_on_selector_all(
            "#kn-layers-table tbody tr",
            "rows => rows.map(r => [r.dataset.name, Number(r.dataset.lambdaMax), "
            "Number(r.dataset.trace), r.cells[1].textContent])",
        )

    for step, rows in (tables[-1], tables[0]):
        if step != tables[-1][0]:
            frame.select_option("#kn-layers-step", str(step))
        table = frame.locator("#kn-layers-table")
        assert table.get_attribute("data-epoch") == str(step + 1)
        expected = [
            [name, *(dict(zip(fields, row, strict=True))[k] for k in ("lambda_max", "trace"))]
            for name, row in zip(names[step], rows, strict=True)
        ]
        shown = shown_rows()
        assert [r[:3] for r in shown] == expected  # float64, exact through the JSON
        assert [r[3] for r in shown] == [str(int(row[0])) for row in rows]
    assert len(names[tables[0][0]]) == 2  # the iris MLP's two Dense layers
    frame.select_option("#kn-layers-step", str(tables[-1][0]))  # back to the last epoch
    frame.wait_for_selector(f"#kn-layers-table[data-step='{tables[-1][0]}']")


def _check_run_info(frame):
    """The run's markdown description (written by the callbacks) is rendered, not shown raw."""
    import keras

    frame.click("#kn-run-info summary")
    text = frame.locator("#kn-run-info .kn-run-info-text").inner_text()
    assert keras.backend.backend() in text and "**" not in text
    assert frame.locator("#kn-run-info .kn-run-info-text b").count() >= 1
    frame.click("#kn-run-info summary")


def _density_at(logged, step):
    (array,) = [v for s, v in logged[summary.TAG_SPECTRAL_DENSITY] if s == step]
    return array


def _check_density(frame, logged, step):
    array = _density_at(logged, step)
    rendered = _points(frame, "spectrum-density", "density")
    np.testing.assert_array_equal([p[0] for p in rendered], array[0])
    np.testing.assert_array_equal([p[1] for p in rendered], array[1])
    (event,) = [v for s, v in logged[summary.TAG_CRITICAL_POINT] if s == step]
    lam_min = frame.locator("svg[data-chart='spectrum-density'] .kn-vline[data-role='lambda-min']")
    lam_max = frame.locator("svg[data-chart='spectrum-density'] .kn-vline[data-role='lambda-max']")
    if math.isnan(event[2]):
        assert lam_min.count() == 0
    else:
        assert float(lam_min.get_attribute("data-x")) == event[2]
        assert float(lam_max.get_attribute("data-x")) == event[3]
    grid, density = array
    # The masses shown are the logged ones (counted from the quadrature), never
    # recomputed from the smoothed curve.
    (masses,) = [v for s, v in logged[summary.TAG_SPECTRAL_MASSES] if s == step]
    fields = dict(zip(summary.SPECTRAL_MASSES_FIELDS, masses, strict=True))
    for role, name in (
        ("negative-fraction", "negative_fraction"),
        ("zero-fraction", "zero_fraction"),
        ("positive-fraction", "positive_fraction"),
    ):
        stat = frame.locator(f"#kn-spectrum-stats [data-role='{role}']")
        assert float(stat.get_attribute("data-value")) == fields[name]
        assert float(stat.get_attribute("data-stderr")) == fields[name + "_stderr"]
        assert "±" in stat.inner_text()
    legend = frame.locator("#kn-spectrum-legend [data-legend='smoothed']").inner_text()
    assert "smoothed (Gaussian, σ =" in legend
    shaded = frame.locator("svg[data-chart='spectrum-density'] path[data-area='negative']")
    assert shaded.count() == (1 if grid[0] < 0 else 0)


def _check_spectrum(frame, logged):
    steps = [s for s, _ in logged[summary.TAG_SPECTRAL_DENSITY]]
    assert frame.locator("#kn-spectrum-step").get_attribute("max") == str(len(steps) - 1)
    _check_density(frame, logged, steps[-1])
    # Move the slider to the second probe and wait for its density.
    frame.eval_on_selector(
        "#kn-spectrum-step",
        "(el) => { el.value = '1'; el.dispatchEvent(new Event('input', {bubbles: true})); }",
    )
    frame.wait_for_selector(f"#kn-spectrum-stats[data-step='{steps[1]}']")
    # The slider names the epoch as Keras prints it, the logged step + 1.
    assert frame.locator("#kn-spectrum-stats").get_attribute("data-epoch") == str(steps[1] + 1)
    shown = frame.locator("#kn-spectrum-step-value").inner_text()
    assert shown.split()[0] == str(steps[1] + 1)
    _check_density(frame, logged, steps[1])


def _check_optimizer(frame, logged, trained):
    prefix = summary.TAG_EFFECTIVE_LR_MEAN_PREFIX
    names = sorted(tag[len(prefix) :] for tag in logged if tag.startswith(prefix))
    assert names
    for name in names:
        _assert_series(
            _points(frame, "optimizer-effective-lr", name),
            scalar_series(logged, prefix + name),
        )
        _assert_series(
            _points(frame, "optimizer-update-ratio", name),
            scalar_series(logged, summary.TAG_UPDATE_RATIO_PREFIX + name),
        )
    _assert_series(
        _points(frame, "optimizer-learning-rate", "learning_rate"),
        scalar_series(logged, summary.TAG_LEARNING_RATE),
        epochs=False,  # its axis is the logged step (epoch or batch)
    )
    _assert_series(
        _points(frame, "optimizer-early-stopping", "monitor"),
        scalar_series(logged, summary.TAG_EARLY_STOPPING_MONITOR),
    )
    ((_, event),) = logged[summary.TAG_EARLY_STOPPING_EVENT][-1:]
    best_epoch, best_value, stopped = event
    (star,) = _markers(frame, "optimizer-early-stopping")
    assert star["role"] == "best" and int(star["step"]) == best_epoch
    # Drawn and written as Keras printed it: "... from the end of the best epoch: M."
    assert int(star["epoch"]) == best_epoch + 1 == trained["keras_best"]
    assert float(star["value"]) == best_value
    stop_rule = frame.locator(
        "svg[data-chart='optimizer-early-stopping'] .kn-vline[data-role='stopped']"
    )
    text = frame.locator("#kn-early-stopping").inner_text()
    assert f"at epoch {trained['keras_best']};" in text
    if stopped >= 0:
        # "Epoch N: early stopping"
        assert float(stop_rule.get_attribute("data-x")) == stopped + 1 == trained["keras_stop"]
        assert f"stopped at epoch {trained['keras_stop']}" in text
    else:
        assert stop_rule.count() == 0 and trained["keras_stop"] is None


def _check_notes(frame, lang):
    _ready(frame, "notes")
    topics = frame.eval_on_selector_all("#kn-notes .kn-note", "n => n.map(x => x.dataset.topic)")
    for topic in ("F13", "F14", "F3", "F4", "F5", "F6", "F7", "F15"):
        assert topic in topics
    for topic in ("F13", "F5"):
        note = frame.locator(f"#kn-notes .kn-note[data-topic='{topic}']").first
        expected = notes.as_dict(topic, lang)
        assert expected["title"] in note.locator("h3").inner_text()
        assert note.locator(".kn-formula").inner_text() == expected["formula"]


def _check_reload(page, frame, run_dir):
    """A probe logged after the page loaded appears when TensorBoard reloads."""
    frame.click("#kn-tab-curvature")
    _ready(frame, "curvature")
    before = int(frame.locator("#kn-curvature-summary").get_attribute("data-events"))
    with summary.Writer(run_dir) as writer:
        writer.tensor(
            summary.TAG_CRITICAL_POINT,
            [summary.KIND_CODES["saddle"], 1e-4, -0.01, 4.0, 0.9, 0, math.nan, math.nan, 30, 0.1],
            step=before + 10,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.locator("app-header-reload button.reload-button").click()
        try:
            frame.wait_for_selector(
                f"#kn-curvature-summary[data-events='{before + 1}']", timeout=2_000
            )
            return
        except sync_api.TimeoutError:
            continue
    raise AssertionError("the tab did not pick up new data when TensorBoard reloaded")


# -- the Curvature view at its edges: a tiny negative λmin, and no epoch through the gate ----------

SMALL_LAMBDA_MIN = -0.0027
SMALL_RUN_LAMBDA_MAX = [0.8, 1.1, 1.6]  # the last epoch's λmax is the largest: top-right corner
CLOSED_GRAD_NORMS = [0.9, 0.52, 0.31, 0.2, 0.125]


def _critical_point_values(
    kind, grad_norm, lambda_min=math.nan, lambda_max=math.nan, ratio=math.nan
):
    return [
        summary.KIND_CODES[kind],
        grad_norm,
        lambda_min,
        lambda_max,
        ratio,
        math.nan,
        math.nan,
        math.nan,
        0 if kind == "not_critical" else 30,
        0.01,
    ]


def write_edge_runs(logdir: str) -> None:
    """Two SaddlePointDetector logs, as ``SaddlePointDetector._write`` writes them.

    ``small_lambda``: three epochs outside the gate, then three saddles with
    λmin = -0.0027 and λmax of order 1. ``gate_closed``: every epoch
    "not_critical", so no λ was ever measured.
    """
    with summary.Writer(os.path.join(logdir, "small_lambda")) as writer:
        for epoch in range(6):
            grad = 0.5 / (epoch + 1)
            writer.scalar(summary.TAG_GRAD_NORM, grad, step=epoch)
            if epoch < 3:
                values = _critical_point_values("not_critical", grad)
            else:
                lam_max = SMALL_RUN_LAMBDA_MAX[epoch - 3]
                writer.scalar(summary.TAG_LAMBDA_MIN, SMALL_LAMBDA_MIN, step=epoch)
                writer.scalar(summary.TAG_LAMBDA_MAX, lam_max, step=epoch)
                writer.scalar(summary.TAG_MINIMUM_RATIO, 0.96, step=epoch)
                values = _critical_point_values("saddle", grad, SMALL_LAMBDA_MIN, lam_max, 0.96)
            writer.tensor(summary.TAG_CRITICAL_POINT, values, step=epoch)
    with summary.Writer(os.path.join(logdir, "gate_closed")) as writer:
        for epoch, grad in enumerate(CLOSED_GRAD_NORMS):
            writer.scalar(summary.TAG_GRAD_NORM, grad, step=epoch)
            writer.tensor(
                summary.TAG_CRITICAL_POINT, _critical_point_values("not_critical", grad), step=epoch
            )


def _tick_values(frame, chart: str) -> list[float]:
    labels = frame.eval_on_selector_all(
        f"svg[data-chart='{chart}'] .kn-tick[text-anchor='end']",
        "nodes => nodes.map(n => n.textContent)",
    )
    # The axis writes a true minus sign (U+2212); as a number it is "-".
    return [float(label.replace("\u2212", "-")) for label in labels]


def _boxes_inside(frame, chart: str, selector: str) -> list[dict]:
    """Bounding boxes of the chart's elements matching ``selector``, and whether each lies in the plot frame."""
    return frame.eval_on_selector(
        f"svg[data-chart='{chart}']",
        """(root, selector) => {
          const frame = root.querySelector('.kn-frame').getBoundingClientRect();
          const svg = root.getBoundingClientRect();
          return [...root.querySelectorAll(selector)].map((n) => {
            const b = n.getBoundingClientRect();
            const inFrame = b.left >= frame.left - 0.5 && b.right <= frame.right + 0.5
              && b.top >= frame.top - 0.5 && b.bottom <= frame.bottom + 0.5;
            const inSvg = b.left >= svg.left && b.right <= svg.right
              && b.top >= svg.top && b.bottom <= svg.bottom;
            return {text: n.textContent, inFrame, inSvg, width: b.width, height: b.height,
                    data: {...n.dataset}};
          });
        }""",
        selector,
    )


def test_curvature_view_small_lambda_min_and_closed_gate(tmp_path):
    logdir = tmp_path / "logs"
    write_edge_runs(str(logdir))
    errors: list[str] = []
    with tensorboard_server(str(logdir), str(tmp_path / "tensorboard.log")) as url:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu"],
            )
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{url}/#kerasnotes")
                frame = _plugin_frame(page)
                _ready(frame, "curvature")

                frame.select_option("#kn-run", "small_lambda")
                frame.wait_for_selector("#kn-app[data-run='small_lambda'][data-state='ready']")
                _assert_series(
                    _points(frame, "curvature-lambda", "lambda_min"),
                    [(step, SMALL_LAMBDA_MIN) for step in (3, 4, 5)],
                )
                ticks = _tick_values(frame, "curvature-lambda")
                # Both signs labelled, and every labelled tick inside the data's range.
                assert any(t < 0 for t in ticks), ticks
                assert any(t > 0 for t in ticks) and 0.0 in ticks, ticks
                assert all(SMALL_LAMBDA_MIN <= t <= max(SMALL_RUN_LAMBDA_MAX) for t in ticks), ticks
                # The λmax markers (one per probe) and their value label lie inside the plot.
                markers = _boxes_inside(
                    frame, "curvature-lambda", ".kn-marker[data-field='lambda_max']"
                )
                assert [float(m["data"]["value"]) for m in markers] == SMALL_RUN_LAMBDA_MAX
                assert all(m["inFrame"] and m["width"] > 0 for m in markers), markers
                (label,) = _boxes_inside(
                    frame, "curvature-lambda", ".kn-end-label[data-field='lambda_max']"
                )
                assert label["inFrame"] and label["text"] == "λmax 1.6", label
                (label,) = _boxes_inside(
                    frame, "curvature-lambda", ".kn-end-label[data-field='lambda_min']"
                )
                assert label["inFrame"] and label["text"] == "λmin \u22120.0027", label
                for chart in ("curvature-grad-norm", "curvature-lambda", "curvature-minimum-ratio"):
                    points = _boxes_inside(frame, chart, ".kn-point, .kn-marker")
                    assert points and all(p["inSvg"] for p in points), (chart, points)
                assert frame.locator("#kn-gate-closed").count() == 0
                frame.locator("#kn-view").screenshot(
                    path=str(tmp_path / "curvature_small_lambda.png")
                )

                frame.select_option("#kn-run", "gate_closed")
                frame.wait_for_selector("#kn-app[data-run='gate_closed'][data-state='ready']")
                message = frame.locator("#kn-gate-closed")
                text = message.inner_text()
                assert "No epoch passed the gradient gate" in text
                assert "always_probe=True" in text and "larger grad_tol" in text
                # grad_tol is not logged: named, never given a made-up number.
                assert "grad_tol =" not in text
                assert message.get_attribute("data-min-grad-norm") == repr(min(CLOSED_GRAD_NORMS))
                assert "0.125" in text
                # The empty λ and ratio panels are gone; the gradient norm is still drawn.
                assert frame.locator("svg[data-chart='curvature-lambda']").count() == 0
                assert frame.locator("svg[data-chart='curvature-minimum-ratio']").count() == 0
                _assert_series(
                    _points(frame, "curvature-grad-norm", "grad_norm"),
                    list(enumerate(CLOSED_GRAD_NORMS)),
                )
                frame.locator("#kn-view").screenshot(
                    path=str(tmp_path / "curvature_gate_closed.png")
                )
            finally:
                browser.close()
    assert errors == []


# -- the Landscape view: the product saddle's closed-form plane and a real training path ----------


def write_landscape_runs(logdir: str) -> dict:
    """Two LandscapeLogger runs on L = (1 − w₁w₂)²: at the saddle (lr 0) and descending from (0.5, 1)."""
    import keras

    from kerasnotes import callbacks, datasets

    loggers = {}
    for name, start, lr, at in (
        ("saddle", (0.0, 0.0), 0.0, [1]),
        ("descent", (0.5, 1.0), 0.1, [2, 4]),
    ):
        model, x, y, loss = datasets.product_saddle(*start)
        model.compile(keras.optimizers.SGD(lr), loss)
        run_dir = os.path.join(logdir, name)
        loggers[name] = callbacks.LandscapeLogger((x, y), at=at, span=1.5, num=21, log_dir=run_dir)
        model.fit(x, y, epochs=max(at), batch_size=1, verbose=0, callbacks=[loggers[name]])
        summary.Writer.for_log_dir(run_dir).close()
    # Random directions and no path: the curvature is dᵀHd/‖d‖², there is no eigenvalue.
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    run_dir = os.path.join(logdir, "random")
    loggers["random"] = callbacks.LandscapeLogger(
        (x, x.sum(1, keepdims=True)), directions="random", trajectory=False, num=11, log_dir=run_dir
    )
    model.fit(x, x.sum(1, keepdims=True), epochs=2, verbose=0, callbacks=[loggers["random"]])
    summary.Writer.for_log_dir(run_dir).close()
    return loggers


def _check_landscape_saddle(frame, logged):
    ((step, surface),) = logged[summary.TAG_LANDSCAPE_SURFACE]
    cells = frame.eval_on_selector_all(
        "svg[data-chart='landscape-surface'] rect.kn-cell",
        "nodes => nodes.map(n => [Number(n.dataset.i), Number(n.dataset.j), Number(n.dataset.loss)])",
    )
    assert len(cells) == surface.size
    for i, j, value in cells:
        assert value == surface[i, j]  # float64 through JSON: exact
    t = np.linspace(-1.5, 1.5, 21)
    # The slice along u_min ∝ [1, 1] is (1 − t²/2)²; its quadratic model L(θ) + ½λt² with λ = −2.
    truth = _points(frame, "landscape-slice-0", "loss")
    np.testing.assert_allclose([p[0] for p in truth], t, atol=1e-12)
    np.testing.assert_allclose([p[1] for p in truth], (1 - t**2 / 2) ** 2, rtol=1e-5, atol=1e-6)
    model = _points(frame, "landscape-slice-0", "model")
    np.testing.assert_allclose([p[1] for p in model], 1 - t**2, rtol=1e-4, atol=1e-5)
    along_max = _points(frame, "landscape-slice-1", "model")
    np.testing.assert_allclose([p[1] for p in along_max], 1 + t**2, rtol=1e-4, atol=1e-5)
    lam = frame.locator("#kn-landscape-stats [data-role='curvature-0']").get_attribute("data-value")
    assert float(lam) == pytest.approx(-2.0, abs=1e-5)
    assert frame.locator("svg[data-chart='landscape-surface'] [data-role='current']").count() == 1
    assert frame.locator("svg[data-chart='landscape-surface'] path.kn-contour").count() >= 3


def _check_landscape_descent(frame, logged):
    steps = [s for s, _ in logged[summary.TAG_LANDSCAPE_SURFACE]]
    assert steps == [1, 3]
    options = frame.eval_on_selector_all(
        "#kn-landscape-step option", "nodes => nodes.map(n => [n.value, n.textContent])"
    )
    assert options == [["1", "2"], ["3", "4"]]  # the epochs as Keras prints them
    for step in reversed(steps):
        if step != steps[-1]:
            frame.select_option("#kn-landscape-step", str(step))
        frame.wait_for_selector(f"#kn-landscape-stats[data-step='{step}']")
        (path,) = [v for s, v in logged[summary.TAG_LANDSCAPE_TRAJECTORY] if s == step]
        drawn = json.loads(
            frame.locator(
                "svg[data-chart='landscape-surface'] g[data-series='trajectory']"
            ).get_attribute("data-points")
        )
        assert [row[0] for row in drawn] == [int(r[0]) + 1 for r in path]  # epoch 0: the start
        np.testing.assert_array_equal([row[1:] for row in drawn], path[:, 1:])
        dots = frame.locator("svg[data-chart='landscape-surface'] .kn-path-point")
        assert dots.count() == len(path)


def _check_landscape_random(frame, logged):
    ((_, rows),) = logged[summary.TAG_LANDSCAPE_DIRECTIONS]
    assert np.isnan(rows[:, 0]).all()  # random directions have no eigenvalue
    for k in (0, 1):
        stat = frame.locator(f"#kn-landscape-stats [data-role='curvature-{k}']")
        assert float(stat.get_attribute("data-value")) == rows[k, 1]  # dᵀHd/‖d‖², as logged
    assert "d₁" in frame.locator("[data-slice='0'] h3").inner_text()
    assert frame.locator("svg[data-chart='landscape-surface'] .kn-path-point").count() == 0
    assert frame.locator("#kn-landscape-stats [data-role='off-plane']").count() == 0
    assert frame.locator("#kn-landscape-step").is_disabled()  # one landscape: nothing to pick


def test_landscape_view_draws_the_saddle_and_the_path(tmp_path):
    logdir = str(tmp_path / "logs")
    write_landscape_runs(logdir)
    errors: list[str] = []
    with tensorboard_server(logdir, str(tmp_path / "tensorboard.log")) as url:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{url}/#kerasnotes")
                frame = _plugin_frame(page)
                frame.wait_for_selector("#kn-app[data-state='ready']", timeout=30_000)
                frame.click("#kn-tab-landscape")
                for run, check in (
                    ("saddle", _check_landscape_saddle),
                    ("descent", _check_landscape_descent),
                    ("random", _check_landscape_random),
                ):
                    frame.select_option("#kn-run", run)
                    frame.wait_for_selector(
                        f"#kn-app[data-run='{run}'][data-view='landscape'][data-state='ready']"
                    )
                    check(frame, read_logdir(os.path.join(logdir, run)))
                    frame.locator("#kn-view").screenshot(
                        path=str(tmp_path / f"landscape_{run}.png")
                    )
                    if os.environ.get("KERASNOTES_SCREENSHOT_DIR"):  # the docs' pictures
                        name = "landscape" if run == "descent" else f"landscape_{run}"
                        page.screenshot(
                            path=os.path.join(
                                os.environ["KERASNOTES_SCREENSHOT_DIR"], f"kerasnotes_{name}.png"
                            )
                        )
            finally:
                browser.close()
    assert errors == []
