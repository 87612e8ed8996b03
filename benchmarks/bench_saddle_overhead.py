"""Overhead of SaddlePointDetector's gradient gate on a plain fit (target: <= 5%).

The digits MLP (64-64-10, ReLU) trains for 20 epochs with batch size 32, once
plainly and once with ``SaddlePointDetector(every=1)`` probing the whole
training split (1,437 samples). Training never sits at a critical point, so
only the gate runs: one full-sample gradient per epoch. Runs are interleaved
(plain, detector, plain, detector, ...) from the same initial weights, each
with a freshly built and compiled model, so both pay the same compilation;
the detector's own compilation (its gradient function) is part of its cost.
The table reports the median of the per-pair ratios.

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


def _measure(repeats: int, epochs: int) -> dict:
    import keras

    from kerasnotes import datasets
    from kerasnotes.callbacks import SaddlePointDetector

    (x, y), _ = datasets.load_digits()
    keras.utils.set_random_seed(0)

    def build() -> keras.Model:
        model = keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        model.compile(
            keras.optimizers.SGD(0.01),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    initial = build().get_weights()

    def run(with_detector: bool) -> tuple[float, list]:
        model = build()
        model.set_weights(initial)
        callbacks = []
        if with_detector:
            detector = SaddlePointDetector((x, y), every=1, verbose=0)
            callbacks.append(detector)
        start = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True, callbacks=callbacks)
        seconds = time.perf_counter() - start
        return seconds, (detector.history if with_detector else [])

    run(False)  # warm-up: imports, first traces of Keras internals
    run(True)
    plain, probed, kinds, gate_seconds, first_seconds, later_ms = [], [], set(), [], [], []
    for _ in range(repeats):
        plain.append(run(False)[0])
        seconds, history = run(True)
        probed.append(seconds)
        kinds.update(entry["kind"] for entry in history)
        gate_seconds.append(sum(entry["seconds"] for entry in history))
        first_seconds.append(history[0]["seconds"])  # includes compiling the gradient
        later_ms.append(1e3 * statistics.median(entry["seconds"] for entry in history[1:]))
    ratios = [p / q for p, q in zip(probed, plain, strict=True)]
    steady = [(g - f) / q for g, f, q in zip(gate_seconds, first_seconds, plain, strict=True)]
    return {
        "backend": keras.backend.backend(),
        "plain_s": statistics.median(plain),
        "detector_s": statistics.median(probed),
        "gate_s": statistics.median(gate_seconds),
        "first_gate_s": statistics.median(first_seconds),
        "later_gate_ms": statistics.median(later_ms),
        "steady_overhead": statistics.median(steady),
        "overhead": statistics.median(ratios) - 1.0,
        "min_overhead": min(ratios) - 1.0,
        "kinds": sorted(kinds),
        "samples": int(len(x)),
        "repeats": repeats,
        "epochs": epochs,
    }


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
        print(f"\n### {row['backend']}\n")
        print("| fit (digits MLP, 20 epochs, batch 32) | median seconds |")
        print("|---|---|")
        print(f"| plain `model.fit` | {row['plain_s']:.2f} |")
        print(f"| with `SaddlePointDetector(every=1)` | {row['detector_s']:.2f} |")
        print(f"| inside the detector, all 20 gates | {row['gate_s']:.2f} |")
        print(f"| first gate (compiles the gradient) | {row['first_gate_s']:.2f} |")
        print(f"| later gates, median each | {row['later_gate_ms'] / 1e3:.4f} |")
        print(
            f"| **overhead** (median of {row['repeats']} interleaved pairs; best pair) | "
            f"**{100 * row['overhead']:+.1f}%** ({100 * row['min_overhead']:+.1f}%) |"
        )
        print(
            "| time inside the detector / plain fit (less noisy than the difference) | "
            f"{100 * row['gate_s'] / row['plain_s']:.1f}% |"
        )
        print(
            "| overhead without the one-time compile (gates 2-20 / plain fit) | "
            f"{100 * row['steady_overhead']:+.1f}% |"
        )
        print(f"\nkinds seen: {', '.join(row['kinds'])}; probe sample: {row['samples']} rows")


if __name__ == "__main__":
    main()
