"""What each kerasnotes callback adds to ``model.fit`` (targets: <= 2% steady, <= 5% first fit).

The digits MLP of ``bench_saddle_overhead.py`` (64-128-64-10, ReLU, 17,226
parameters, ``kerasnotes.optimizers.SGD(0.01)``, which gives Keras's SGD
numbers and lets OptimizerInspector read it) trains for 20 epochs with batch
size 32 on the 1,437-sample training split, plainly and with one callback at
its defaults:

- ``saddle``: ``SaddlePointDetector((x, y), every=1)``, the gate only (training
  never reaches a critical point);
- ``saddle_probe5``: the same with ``every=5, always_probe=True``: the full
  Hessian analysis every 5 epochs;
- ``inspector``: ``OptimizerInspector(log_dir)``;
- ``early_stopping``: ``EarlyStopping("loss", patience=1000, log_dir=...)``;
- ``lr_decay``: ``LearningRateDecay(ExponentialDecay(0.01, 0.05), log_dir=...)``.

Each run builds a fresh model (and callback) from the same initial weights and
fits twice: the first fit pays every one-off compile (Keras's train step on
both sides, the callback's own functions on one), the second, on the same
model and callback after the weights are reset, is the steady state. Runs
are interleaved in pairs whose order flips every repeat (plain, with / with,
plain) and every figure is the median over pairs of the per-pair ratio
``fit with / fit without − 1``. Wall-clock and process CPU time
(``time.process_time``, all threads) are both reported: on a machine shared
with other jobs the wall clock is noisy and the CPU ratio the steadier one.

Usage:
    python benchmarks/bench_callback_overhead.py [--backends tensorflow,jax,torch]
        [--callbacks saddle,saddle_probe5,inspector,early_stopping,lr_decay]
        [--repeats 3] [--epochs 20]

Each backend runs in its own subprocess (the backend is fixed at import),
single-threaded unless the environment says otherwise, as in
``bench_saddle_overhead.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
CALLBACKS = ("saddle", "saddle_probe5", "inspector", "early_stopping", "lr_decay")


def _measure(names: list[str], repeats: int, epochs: int) -> dict:
    import keras

    import kerasnotes as kn
    import kerasnotes.callbacks as kc
    from kerasnotes import datasets

    (x, y), _ = datasets.load_digits()
    scratch = tempfile.mkdtemp(prefix="bench_callbacks_")

    def build() -> keras.Model:
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        model.compile(
            kn.optimizers.SGD(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    def make(name: str, run_id: int):
        log_dir = os.path.join(scratch, f"{name}_{run_id}")
        if name == "saddle":
            return kc.SaddlePointDetector((x, y), every=1, verbose=0)
        if name == "saddle_probe5":
            return kc.SaddlePointDetector((x, y), every=5, always_probe=True, verbose=0)
        if name == "inspector":
            return kc.OptimizerInspector(log_dir)
        if name == "early_stopping":
            return kc.EarlyStopping("loss", patience=1000, log_dir=log_dir)
        if name == "lr_decay":
            return kc.LearningRateDecay(kn.schedules.ExponentialDecay(0.01, 0.05), log_dir=log_dir)
        raise ValueError(f"unknown callback {name!r}; known: {CALLBACKS}")

    keras.utils.set_random_seed(0)
    initial = build().get_weights()
    counter = iter(range(10**9))

    def run(name: str | None) -> dict:
        model = build()
        callback = make(name, next(counter)) if name else None
        out = {}
        for phase in ("first", "steady"):
            model.set_weights(initial)
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(
                x,
                y,
                batch_size=32,
                epochs=epochs,
                verbose=0,
                callbacks=[callback] if callback else [],
            )
            out[phase] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        if name in ("saddle", "saddle_probe5"):
            out["kinds"] = sorted({e["kind"] for e in callback.history})
            out["exact"] = sum(e["grad_norm_stderr"] == 0 for e in callback.history)
        return out

    run(None)  # warm-up: imports and the process's first traces
    results = {}
    for name in names:
        run(name)  # warm-up of this callback's imports
        pairs = []
        for repeat in range(repeats):
            if repeat % 2 == 0:
                plain, with_cb = run(None), run(name)
            else:
                with_cb, plain = run(name), run(None)
            pairs.append((plain, with_cb))
        row = {}
        for phase in ("first", "steady"):
            for clock in ("wall", "cpu"):
                ratios = [w[phase][clock] / p[phase][clock] - 1.0 for p, w in pairs]
                row[f"{phase}_{clock}"] = statistics.median(ratios)
                row[f"{phase}_{clock}_range"] = (min(ratios), max(ratios))
                row[f"{phase}_{clock}_plain_s"] = statistics.median(
                    p[phase][clock] for p, _ in pairs
                )
        if "kinds" in pairs[0][1]:
            row["kinds"] = sorted({k for _, w in pairs for k in w["kinds"]})
            row["exact_gates"] = pairs[0][1]["exact"]
        results[name] = row
    shutil.rmtree(scratch, ignore_errors=True)
    return {
        "backend": keras.backend.backend(),
        "results": results,
        "repeats": repeats,
        "epochs": epochs,
    }


def _print(row: dict) -> None:
    print(
        f"\n### {row['backend']} (median of {row['repeats']} interleaved pairs, "
        f"{row['epochs']} epochs)\n"
    )
    print("| callback | steady, wall | steady, CPU | first fit, wall | first fit, CPU |")
    print("|---|---|---|---|---|")
    for name, r in row["results"].items():
        cells = [
            f"{100 * r[f'{p}_{c}']:+.1f}% ({100 * r[f'{p}_{c}_range'][0]:+.1f}..."
            f"{100 * r[f'{p}_{c}_range'][1]:+.1f})"
            for p in ("steady", "first")
            for c in ("wall", "cpu")
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    plain = next(iter(row["results"].values()))
    print(
        f"\nplain fit: steady {plain['steady_wall_plain_s']:.2f} s wall / "
        f"{plain['steady_cpu_plain_s']:.2f} s CPU; first {plain['first_wall_plain_s']:.2f} s wall"
    )
    for name, r in row["results"].items():
        if "kinds" in r:
            print(f"{name}: kinds {r['kinds']}, exact gates in one fit: {r['exact_gates']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--callbacks", default=",".join(CALLBACKS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.callbacks.split(",")
    if args.child:
        print(json.dumps(_measure(names, args.repeats, args.epochs)))
        return
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        for name, value in THREAD_ENV.items():
            env.setdefault(name, value)
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                f"--callbacks={args.callbacks}",
                f"--repeats={args.repeats}",
                f"--epochs={args.epochs}",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"{backend}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        _print(json.loads(done.stdout.strip().splitlines()[-1]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
