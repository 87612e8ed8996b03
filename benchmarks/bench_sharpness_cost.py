"""What a SharpnessMonitor measurement costs next to a training epoch (target: <= 10% after the first).

The digits MLP (64-128-64-10, ReLU, 17,226 parameters) trains with batch size
32 on the 1,437-sample training split for ``--epochs`` epochs with
``SharpnessMonitor((x_train, y_train))`` (the whole split is its sample). Two
timing callbacks sit around the monitor, so each epoch is split into its
training part (epoch begin to the end of the last batch) and the monitor's
measurement (its ``on_epoch_end``), interleaved in the same fit. Both are
measured as process CPU time (``time.process_time``, all threads; the steadier
figure on a machine shared with other jobs) and wall-clock time. Reported:
per-epoch HVP counts, and the median over epochs 2.. of ``monitor / training``.

Usage:
    python benchmarks/bench_sharpness_cost.py [--backends tensorflow,jax,torch]
        [--optimizers sgd,adam] [--epochs 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import _table


class _Clock:
    """Records (process, wall) times at epoch begin or end; two of them bracket the monitor."""

    def __init__(self, keras, at_begin: bool):
        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(inner, epoch, logs=None):
                if at_begin:
                    self.marks.append((time.process_time(), time.perf_counter()))

            def on_epoch_end(inner, epoch, logs=None):
                self.marks.append((time.process_time(), time.perf_counter()))

        self.marks: list[tuple[float, float]] = []
        self.callback = Callback()


def run_one(optimizer_name: str, epochs: int) -> dict:
    import keras
    import numpy as np

    import kerasnotes as kn
    from kerasnotes import datasets
    from kerasnotes.callbacks import SharpnessMonitor

    (x, y), _ = datasets.load_digits()
    x, y = x.astype("float32"), y.astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    optimizer = kn.optimizers.SGD(0.05) if optimizer_name == "sgd" else kn.optimizers.Adam(1e-3)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before, after = _Clock(keras, True), _Clock(keras, False)
    monitor = SharpnessMonitor((x, y))
    model.fit(
        x,
        y,
        batch_size=32,
        epochs=epochs,
        verbose=0,
        callbacks=[before.callback, monitor, after.callback],
    )
    marks = np.array(before.marks).reshape(epochs, 2, 2)  # [epoch, begin/end, cpu/wall]
    done = np.array(after.marks)
    train = marks[:, 1] - marks[:, 0]
    measure = done - marks[:, 1]
    ratio = measure / train
    return {
        "backend": keras.backend.backend(),
        "optimizer": optimizer_name,
        "num_hvp": [e["num_hvp"] for e in monitor.history],
        "sharpness": [round(e["sharpness"], 3) for e in monitor.history],
        "threshold": [round(e["threshold"], 3) for e in monitor.history],
        "train_cpu_s": np.round(train[:, 0], 3).tolist(),
        "monitor_cpu_s": np.round(measure[:, 0], 3).tolist(),
        "ratio_cpu_median_after_first": float(np.median(ratio[1:, 0])),
        "ratio_wall_median_after_first": float(np.median(ratio[1:, 1])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--optimizers", default="sgd,adam")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child[0], int(args.child[1]))))
        return
    with _table.tables("sharpness_cost", args.write_readme):
        print("```json")  # one JSON record per (backend, optimizer), fenced for markdown
        for backend in args.backends.split(","):
            for name in args.optimizers.split(","):
                # One process per backend: Keras picks its backend once, at import.
                out = subprocess.run(
                    [sys.executable, __file__, "--child", name, str(args.epochs)],
                    env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                print(out.stdout.strip().splitlines()[-1], flush=True)
        print("```")


if __name__ == "__main__":
    main()
