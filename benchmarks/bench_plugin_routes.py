"""Time the kerasnotes TensorBoard routes on a long run, against the stock Scalars route.

The log: 10,000 learning-rate steps, 200 probes (critical point + a 1,000-point
spectral density each), 20 variables with effective learning rate and update
ratio per epoch. It is served by TensorBoard's own WSGI app with its Python
loader, the plugin and the stock Scalars plugin, and every route is requested
through werkzeug's test client. Requests of ours and of the stock route are
interleaved, repeated, and the median is reported; "vs stock" divides by the
median time of the stock ``/data/plugin/scalars/scalars`` route for the
10,000-step learning-rate tag (what the Scalars dashboard fetches per chart).

Run: ``python benchmarks/bench_plugin_routes.py [--repeats 15]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time

import _table
import numpy as np
from tensorboard import program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins.core import core_plugin
from tensorboard.plugins.scalar import scalars_plugin
from werkzeug import test as werkzeug_test

from kerasnotes import summary
from kerasnotes.tensorboard_plugins.entry import KerasNotesLoader

STEPS, PROBES, GRID, VARIABLES = 10_000, 200, 1_000, 20


def write_log(run_dir: str) -> None:
    grid = np.linspace(-1.0, 8.0, GRID)
    density = np.exp(-0.5 * (grid - 2.0) ** 2)
    density /= np.trapezoid(density, grid)
    with summary.Writer(run_dir) as writer:
        for step in range(STEPS):
            writer.scalar(summary.TAG_LEARNING_RATE, 0.1 * math.exp(-step / 4000), step=step)
        for epoch in range(PROBES):
            writer.scalar(summary.TAG_GRAD_NORM, 1.0 / (1 + epoch), step=epoch)
            writer.scalar(summary.TAG_LAMBDA_MIN, -0.1 / (1 + epoch), step=epoch)
            writer.scalar(summary.TAG_LAMBDA_MAX, 5.0, step=epoch)
            writer.scalar(summary.TAG_MINIMUM_RATIO, 0.8, step=epoch)
            writer.tensor(
                summary.TAG_CRITICAL_POINT,
                [3, 1.0 / (1 + epoch), -0.1, 5.0, 0.8, 0, math.nan, math.nan, 40, 0.2],
                step=epoch,
            )
            writer.tensor(summary.TAG_SPECTRAL_DENSITY, np.stack([grid, density]), step=epoch)
            writer.scalar(summary.TAG_EARLY_STOPPING_MONITOR, 1.0 / (1 + epoch), step=epoch)
            for layer in range(VARIABLES):
                name = f"dense_{layer}/kernel"
                writer.scalar(summary.effective_lr_mean_tag(name), 1e-3, step=epoch)
                writer.scalar(summary.update_ratio_tag(name), 1e-4, step=epoch)
        writer.tensor(summary.TAG_EARLY_STOPPING_EVENT, [150, 0.01, 199], step=PROBES - 1)


def make_client(logdir: str) -> tuple[werkzeug_test.Client, float]:
    board = program.TensorBoard(
        plugins=[core_plugin.CorePluginLoader, scalars_plugin.ScalarsPlugin, KerasNotesLoader]
    )
    board.configure(argv=["tensorboard", "--logdir", logdir])
    ingester = data_ingester.LocalDataIngester(board.flags)
    multiplexer = ingester.deprecated_multiplexer
    start = time.perf_counter()
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    load_seconds = time.perf_counter() - start
    app = application.TensorBoardWSGIApp(
        board.flags,
        board.plugin_loaders,
        ingester.data_provider,
        board.assets_zip_provider,
        multiplexer,
    )
    return werkzeug_test.Client(app), load_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    _table.add_flag(parser)
    args = parser.parse_args()

    with _table.tables("plugin_routes", args.write_readme):
        with tempfile.TemporaryDirectory() as logdir:
            write_log(f"{logdir}/long")
            client, load_seconds = make_client(logdir)
            stock = f"/data/plugin/scalars/scalars?run=long&tag={summary.TAG_LEARNING_RATE}"
            ours = {
                "/runs": "/data/plugin/kerasnotes/runs",
                "/curvature": "/data/plugin/kerasnotes/curvature?run=long",
                "/spectrum (step 100)": "/data/plugin/kerasnotes/spectrum?run=long&step=100",
                "/optimizer": "/data/plugin/kerasnotes/optimizer?run=long",
                "/schedule": "/data/plugin/kerasnotes/schedule?run=long",
                "/notes": "/data/plugin/kerasnotes/notes?topic=optimizer&lang=zh",
            }
            times: dict[str, list[float]] = {name: [] for name in [*ours, "stock"]}
            sizes: dict[str, int] = {}
            for path in [*ours.values(), stock]:  # warm caches (notes text, imports)
                assert client.get(path).status_code == 200, path
            for _ in range(args.repeats):
                for name, path in [*ours.items(), ("stock", stock)]:
                    start = time.perf_counter()
                    response = client.get(path)
                    times[name].append(time.perf_counter() - start)
                    sizes[name] = len(response.data)
            base = statistics.median(times["stock"])
            print(
                f"Log: {STEPS} learning-rate steps, {PROBES} probes with a {GRID}-point density, "
                f"{VARIABLES} variables; Python loader load {load_seconds:.1f} s; "
                f"median of {args.repeats} interleaved requests.\n"
            )
            print("| route | median ms | vs stock scalars route | response KB |")
            print("|---|---:|---:|---:|")
            for name in [*ours, "stock"]:
                median = statistics.median(times[name])
                label = "stock /scalars (10,000-step tag)" if name == "stock" else name
                print(
                    f"| {label} | {1e3 * median:.1f} | {median / base:.2f} | {sizes[name] / 1e3:.1f} |"
                )


if __name__ == "__main__":
    main()
