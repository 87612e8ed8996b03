"""Training-step time of each kerasnotes loss and normalization layer against its Keras twin.

For every backend (each in its own process, since Keras picks the backend at
import) and every component, two models are built with the same architecture
and the same initial weights, one using the Keras built-in and one using the
kerasnotes component, and trained with ``train_on_batch`` on one fixed batch.

How a figure is made conclusive on a noisy, shared machine:

- Warm-up first: ``--warmup`` steps each (tracing, compilation).
- A timed *unit* is a run of consecutive training steps, as many as make the
  Keras side take about ``--unit-seconds`` (calibrated after the warm-up; a
  single step of 0.3-2 ms is far below timer and scheduler noise); both sides
  run the same number of steps, and the unit ends by reading the loss back, so
  asynchronous backends have finished.
- A *round* runs the units in the order A B B A (the next round B A A B), so a
  load change that drifts linearly during a round hits both sides equally; the
  round's ratio is (A1 + A2) / (B1 + B2), kerasnotes over Keras.
- Reported: the median of the per-round ratios and their interquartile range
  (25th-75th percentile), for wall-clock time and for process CPU time (all
  threads of the worker; on a shared machine it is the steadier one, since time
  spent waiting for a core does not count), and the load average before and
  after each backend.

Usage:
    python benchmarks/bench_losses_layers.py                  # all three backends
    python benchmarks/bench_losses_layers.py --backends jax --rounds 15 --only Sparse
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import _table

TARGETS = {"tensorflow": 1.05, "jax": 1.05, "torch": 1.10}


def _components():
    """name -> (build(component) -> model, keras factory, kerasnotes factory, task)."""
    import keras

    import kerasnotes as kn

    def mlp(norm=None, units=10):
        stack = [keras.Input((64,)), keras.layers.Dense(128)]
        if norm is not None:
            stack.append(norm)
        stack += [keras.layers.Activation("relu"), keras.layers.Dense(units)]
        return keras.Sequential(stack)

    def conv(norm):
        return keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(16, 3, padding="same"),
                norm,
                keras.layers.Activation("relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(10),
            ]
        )

    def loss_case(keras_loss, ours_loss, task):
        return (lambda loss: (mlp(), loss), keras_loss, ours_loss, task)

    def layer_case(builder, keras_layer, ours_layer, task="sparse"):
        return (lambda layer: (builder(layer), None), keras_layer, ours_layer, task)

    return {
        # A/A control: Keras on both sides. Its distance from 1.000 is the bias
        # and noise floor of this measurement on this machine.
        "control: Keras SparseCategoricalCrossentropy vs itself": loss_case(
            lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "sparse",
        ),
        **{
            f"{name} (logits)": loss_case(
                lambda name=name: getattr(keras.losses, name)(from_logits=True),
                lambda name=name: getattr(kn.losses, name)(from_logits=True),
                task,
            )
            for name, task in (
                ("BinaryCrossentropy", "binary"),
                ("CategoricalCrossentropy", "categorical"),
                ("SparseCategoricalCrossentropy", "sparse"),
            )
        },
        "BatchNormalization (dense)": layer_case(
            mlp, keras.layers.BatchNormalization, kn.layers.BatchNormalization
        ),
        "BatchNormalization (conv)": layer_case(
            conv, keras.layers.BatchNormalization, kn.layers.BatchNormalization, "sparse_image"
        ),
        "LayerNormalization (dense)": layer_case(
            mlp, keras.layers.LayerNormalization, kn.layers.LayerNormalization
        ),
        "GroupNormalization (dense, 8 groups)": layer_case(
            mlp,
            lambda: keras.layers.GroupNormalization(groups=8),
            lambda: kn.layers.GroupNormalization(groups=8),
        ),
        "GroupNormalization (conv, 4 groups)": layer_case(
            conv,
            lambda: keras.layers.GroupNormalization(groups=4),
            lambda: kn.layers.GroupNormalization(groups=4),
            "sparse_image",
        ),
    }


def _data(task: str, batch: int):
    import numpy as np

    from kerasnotes import datasets

    (x, y), _ = datasets.load_digits(validation_fraction=0.2)
    x, y = x[:batch].astype("float32"), y[:batch]
    if task == "sparse_image":
        return x.reshape(-1, 8, 8, 1), y
    if task == "categorical":
        return x, np.eye(10, dtype="float32")[y]
    if task == "binary":
        return x, (np.eye(10, dtype="float32")[y] > 0).astype("float32")
    return x, y


def _spread(values: list[float]) -> tuple[float, float, float]:
    """(median, 25th percentile, 75th percentile)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q2, q1, q3


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _measure(
    backend: str, rounds: int, unit_seconds: float, warmup: int, batch: int, only: str
) -> dict:
    import keras
    import numpy as np

    def unit(model, x, y, steps: int) -> tuple[float, float]:
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            loss_value = model.train_on_batch(x, y)
        float(np.asarray(loss_value))  # wait for asynchronous backends
        return time.perf_counter() - start, time.process_time() - start_cpu

    rows = []
    load_before = _load()
    for name, (build, keras_factory, ours_factory, task) in _components().items():
        if only and not any(o.strip().lower() in name.lower() for o in only.split(",")):
            continue
        x, y = _data(task, batch)
        models = []
        for factory in (keras_factory, ours_factory):
            keras.utils.set_random_seed(0)
            model, loss = build(factory())
            if loss is None:
                loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
            models.append(model)
        models[1].set_weights(models[0].get_weights())
        for model in models:  # warm-up: tracing and compilation
            unit(model, x, y, warmup)
        probe = max(1, warmup)
        step_s = statistics.median(unit(models[0], x, y, probe)[0] / probe for _ in "abc")
        steps = max(1, round(unit_seconds / step_s))
        per_step: list[list[float]] = [[], []]
        wall_ratios, cpu_ratios = [], []
        for r in range(rounds):
            order = (1, 0, 0, 1) if r % 2 == 0 else (0, 1, 1, 0)
            sums = [[0.0, 0.0], [0.0, 0.0]]
            for i in order:
                wall, cpu = unit(models[i], x, y, steps)
                sums[i][0] += wall
                sums[i][1] += cpu
            for i in (0, 1):
                per_step[i].append(sums[i][0] / (2 * steps))
            wall_ratios.append(sums[1][0] / sums[0][0])
            cpu_ratios.append(sums[1][1] / sums[0][1])
        rows.append(
            {
                "backend": backend,
                "component": name,
                "steps": steps,
                "keras_ms": 1e3 * statistics.median(per_step[0]),
                "ours_ms": 1e3 * statistics.median(per_step[1]),
                "wall": _spread(wall_ratios),
                "cpu": _spread(cpu_ratios),
            }
        )
        keras.backend.clear_session()
    return {"rows": rows, "load_before": load_before, "load_after": _load()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--rounds", type=int, default=9, help="A B B A rounds per component")
    parser.add_argument(
        "--unit-seconds", type=float, default=0.5, help="approximate length of one timed unit"
    )
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps per model first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads per backend (0: backend default)"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated parts of component names to run"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    _table.add_flag(parser)
    args = parser.parse_args()

    if args.worker:  # child process: KERAS_BACKEND is already set
        result = _measure(
            args.worker, args.rounds, args.unit_seconds, args.warmup, args.batch, args.only
        )
        print(json.dumps(result))
        return

    with _table.tables("losses_layers", args.write_readme):
        print(
            f"Training-step time, kerasnotes / Keras: median [interquartile range] of {args.rounds} "
            f"A B B A rounds, units of ~{args.unit_seconds} s of consecutive steps, "
            f"batch {args.batch}, threads {args.threads or 'default'}\n"
        )
        print(
            "| backend | component | steps/unit | Keras ms/step | kerasnotes ms/step "
            "| wall ratio [IQR] | CPU ratio [IQR] | target |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---|")
        loads = []
        for backend in args.backends.split(","):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            if args.threads:
                # Fixed thread pools: on a shared machine, oversubscribed thread pools
                # make step times swing far more than either implementation differs.
                n = str(args.threads)
                env.update(
                    OMP_NUM_THREADS=n,
                    MKL_NUM_THREADS=n,
                    TF_NUM_INTRAOP_THREADS=n,
                    TF_NUM_INTEROP_THREADS=n,
                    XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={n}",
                )
            command = [sys.executable, __file__, "--worker", backend]
            command += ["--rounds", str(args.rounds), "--unit-seconds", str(args.unit_seconds)]
            command += ["--warmup", str(args.warmup), "--batch", str(args.batch)]
            command += ["--only", args.only]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{backend} worker failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            loads.append(f"{backend}: {result['load_before']} -> {result['load_after']}")
            for r in result["rows"]:
                target = TARGETS[r["backend"]]
                (wm, wl, wh), (cm, cl, ch) = r["wall"], r["cpu"]
                verdict = ", ".join(
                    f"{kind} {'ok' if value <= target else 'MISSED'}"
                    for kind, value in (("wall", wm), ("cpu", cm))
                )
                print(
                    f"| {r['backend']} | {r['component']} | {r['steps']} | {r['keras_ms']:.3f} "
                    f"| {r['ours_ms']:.3f} | {wm:.3f} [{wl:.3f}, {wh:.3f}] "
                    f"| {cm:.3f} [{cl:.3f}, {ch:.3f}] | <= {target:.2f}: {verdict} |",
                    flush=True,
                )
        print("\nload average (1, 5, 15 min) before -> after, per backend: " + "; ".join(loads))


if __name__ == "__main__":
    main()
