"""Training-step time of each kerasnotes loss and normalization layer against its Keras twin.

For every backend (each in its own process, since Keras picks the backend at
import) and every component, two models are built with the same architecture
and the same initial weights, one using the Keras built-in and one using the
kerasnotes component. After a warm-up (tracing / compilation), they are timed
alternately, ``--reps`` times ``--steps`` training steps each, and the median
of the per-repetition ratios (kerasnotes / Keras) is reported, so machine load
affects both sides alike. The CPU-time ratio (process time, all threads) is
printed beside the wall-clock one: on a shared machine it is the steadier of
the two.

Usage:
    python benchmarks/bench_losses_layers.py                  # all three backends
    python benchmarks/bench_losses_layers.py --backends jax --reps 9 --steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

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
        "BinaryCrossentropy (logits)": loss_case(
            lambda: keras.losses.BinaryCrossentropy(from_logits=True),
            lambda: kn.losses.BinaryCrossentropy(from_logits=True),
            "binary",
        ),
        "CategoricalCrossentropy (logits)": loss_case(
            lambda: keras.losses.CategoricalCrossentropy(from_logits=True),
            lambda: kn.losses.CategoricalCrossentropy(from_logits=True),
            "categorical",
        ),
        "SparseCategoricalCrossentropy (logits)": loss_case(
            lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            lambda: kn.losses.SparseCategoricalCrossentropy(from_logits=True),
            "sparse",
        ),
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


def _measure(backend: str, reps: int, steps: int, batch: int, only: str) -> list[dict]:
    import keras
    import numpy as np

    rows = []
    for name, (build, keras_factory, ours_factory, task) in _components().items():
        if only and only.lower() not in name.lower():
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
            for _ in range(5):
                model.train_on_batch(x, y)
        times: list[list[float]] = [[], []]
        cpu: list[list[float]] = [[], []]
        for rep in range(reps):
            # Alternate which model goes first, so neither always runs on a warm cache.
            order = (0, 1) if rep % 2 == 0 else (1, 0)
            for i in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                for _ in range(steps):
                    loss_value = models[i].train_on_batch(x, y)
                float(np.asarray(loss_value))  # wait for asynchronous backends
                times[i].append((time.perf_counter() - start) / steps)
                cpu[i].append((time.process_time() - start_cpu) / steps)
        ratios = [o / k for k, o in zip(times[0], times[1], strict=True)]
        cpu_ratios = [o / k for k, o in zip(cpu[0], cpu[1], strict=True)]
        rows.append(
            {
                "backend": backend,
                "component": name,
                "keras_ms": 1e3 * statistics.median(times[0]),
                "ours_ms": 1e3 * statistics.median(times[1]),
                "ratio": statistics.median(ratios),
                "cpu_ratio": statistics.median(cpu_ratios),
            }
        )
        keras.backend.clear_session()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads per backend (0: backend default)"
    )
    parser.add_argument("--only", default="", help="run only components whose name contains this")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:  # child process: KERAS_BACKEND is already set
        rows = _measure(args.worker, args.reps, args.steps, args.batch, args.only)
        print(json.dumps(rows))
        return

    rows = []
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
        command += ["--reps", str(args.reps), "--steps", str(args.steps)]
        command += ["--batch", str(args.batch), "--only", args.only]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{backend} worker failed:\n{done.stderr[-3000:]}")
        rows += json.loads(done.stdout.strip().splitlines()[-1])

    print(
        f"Training-step time, kerasnotes / Keras (median of {args.reps} interleaved "
        f"repetitions of {args.steps} steps, batch {args.batch}, "
        f"threads {args.threads or 'default'})\n"
    )
    print(
        "| backend | component | Keras ms/step | kerasnotes ms/step | ratio (wall) "
        "| ratio (CPU time) | target |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        target = TARGETS[r["backend"]]
        mark = "" if r["ratio"] <= target else " (over)"
        print(
            f"| {r['backend']} | {r['component']} | {r['keras_ms']:.3f} | {r['ours_ms']:.3f} "
            f"| {r['ratio']:.3f}{mark} | {r['cpu_ratio']:.3f} | <= {target:.2f} |"
        )


if __name__ == "__main__":
    main()
