"""Overhead of SaddlePointDetector's gradient gate on a plain fit (target: <= 5%).

The digits MLP of ``bench_optimizers.py`` (64-128-64-10, ReLU, 17,226
parameters, SGD 0.01, sparse softmax cross-entropy) trains for 20 epochs with
batch size 32 on the 1,437-sample training split, once plainly and once with
``SaddlePointDetector(every=1)`` probing that whole split. Training never sits
at a critical point, so only the gate runs: one full-sample gradient per epoch.

Each run builds and compiles a fresh model from the same initial weights, so
both sides pay Keras's compilation and the detector pays its own (the gate's
gradient function is compiled on its first call), as in a user's single
``fit``. After one warm-up run of each (imports, the process's first traces),
runs are timed in interleaved pairs whose order flips every repeat (plain,
detector / detector, plain), and every figure is the median over the pairs
of a per-pair ratio, so machine load hits both sides alike. Wall-clock and
process CPU time (all threads) are both reported; on a shared machine the CPU
ratio is the steadier one. "Without the first compile" counts the first gate as
if it cost what a later gate costs.

The frameworks run single-threaded unless the environment already says
otherwise (OMP_NUM_THREADS etc.), as in ``bench_optimizers.py``: on a shared
2-core machine multi-threaded torch spends more time fighting for cores than
computing, which would drown the comparison.

Usage:
    python benchmarks/bench_saddle_overhead.py [--backends tensorflow,jax,torch]
                                                [--repeats 5] [--epochs 20]

Each backend runs in its own subprocess (the backend is fixed at import).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _measure(repeats: int, epochs: int) -> dict:
    import keras

    from kerasnotes import datasets
    from kerasnotes.callbacks import SaddlePointDetector

    class TimedDetector(SaddlePointDetector):
        """Records the wall and CPU seconds of each epoch's probe, including its bookkeeping."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.wall, self.cpu = [], []

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = time.perf_counter(), time.process_time()
            super().on_epoch_end(epoch, logs)
            self.wall.append(time.perf_counter() - wall)
            self.cpu.append(time.process_time() - cpu)

    (x, y), _ = datasets.load_digits()

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
            keras.optimizers.SGD(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    keras.utils.set_random_seed(0)
    initial = build().get_weights()

    def run(with_detector: bool) -> dict:
        model = build()
        model.set_weights(initial)
        detector = TimedDetector((x, y), every=1, verbose=0) if with_detector else None
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(
            x,
            y,
            batch_size=32,
            epochs=epochs,
            verbose=0,
            shuffle=True,
            callbacks=[detector] if detector else [],
        )
        out = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        if detector is not None:
            out["kinds"] = [entry["kind"] for entry in detector.history]
            out["gate_wall"], out["gate_cpu"] = detector.wall, detector.cpu
        return out

    run(False)  # warm-up: imports, the process's first traces of Keras and the gate
    run(True)
    pairs = []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            plain, probed = run(False), run(True)
        else:
            probed, plain = run(True), run(False)
        pairs.append((plain, probed))

    def median(values) -> float:
        return statistics.median(list(values))

    def row(clock: str) -> dict:
        ratios, steady, inside, inside_steady, firsts, laters = [], [], [], [], [], []
        for plain, probed in pairs:
            gates = probed[f"gate_{clock}"]
            later = median(gates[1:])
            first_extra = gates[0] - later  # the one-off compile of the gate's gradient
            ratios.append(probed[clock] / plain[clock] - 1.0)
            steady.append((probed[clock] - first_extra) / plain[clock] - 1.0)
            inside.append(sum(gates) / plain[clock])
            inside_steady.append((sum(gates) - first_extra) / plain[clock])
            firsts.append(gates[0])
            laters.append(later)
        return {
            "plain_s": median(p[clock] for p, _ in pairs),
            "detector_s": median(q[clock] for _, q in pairs),
            "overhead": median(ratios),
            "overhead_range": (min(ratios), max(ratios)),
            "steady_overhead": median(steady),
            "inside": median(inside),
            "inside_steady": median(inside_steady),
            "first_gate_s": median(firsts),
            "later_gate_s": median(laters),
        }

    return {
        "backend": keras.backend.backend(),
        "wall": row("wall"),
        "cpu": row("cpu"),
        "kinds": sorted({kind for _, q in pairs for kind in q["kinds"]}),
        "samples": int(len(x)),
        "repeats": repeats,
        "epochs": epochs,
        "threads": {name: os.environ.get(name, "") for name in THREAD_ENV},
    }


def _print(row: dict) -> None:
    wall, cpu = row["wall"], row["cpu"]
    print(f"\n### {row['backend']}\n")
    print(
        f"| digits MLP 64-128-64-10, {row['epochs']} epochs, batch 32, every=1 "
        f"(median of {row['repeats']} interleaved pairs) | wall | CPU |"
    )
    print("|---|---|---|")
    print(f"| plain `model.fit`, s | {wall['plain_s']:.2f} | {cpu['plain_s']:.2f} |")
    print(f"| with `SaddlePointDetector`, s | {wall['detector_s']:.2f} | {cpu['detector_s']:.2f} |")
    print(
        f"| first gate (compiles the gradient), s | {wall['first_gate_s']:.3f} | "
        f"{cpu['first_gate_s']:.3f} |"
    )
    print(
        f"| later gates, median each, ms | {1e3 * wall['later_gate_s']:.2f} | "
        f"{1e3 * cpu['later_gate_s']:.2f} |"
    )
    for label, key in (
        ("**overhead**, fit with / fit without - 1", "overhead"),
        ("overhead without the first compile", "steady_overhead"),
        ("time inside the detector / plain fit", "inside"),
        ("time inside the detector without the first compile / plain fit", "inside_steady"),
    ):
        print(f"| {label} | {100 * wall[key]:+.1f}% | {100 * cpu[key]:+.1f}% |")
    low, high = wall["overhead_range"]
    print(
        f"\noverhead range over the pairs (wall): {100 * low:+.1f}% to {100 * high:+.1f}%; "
        f"kinds seen: {', '.join(row['kinds'])}; probe sample: {row['samples']} rows; "
        "threads: " + ", ".join(f"{k}={v or 'unset'}" for k, v in row["threads"].items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.repeats, args.epochs)))
        return
    rows = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        for name, value in THREAD_ENV.items():
            env.setdefault(name, value)
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
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
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for row in rows:
        _print(row)


if __name__ == "__main__":
    main()
