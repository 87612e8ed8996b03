"""Training time of each kerasnotes optimizer against its Keras built-in twin.

The same MLP (64-128-64-10, ReLU) is trained on scikit-learn's digits with a
kerasnotes optimizer and with the Keras optimizer of the same name and
arguments, from the same initial weights, for the backend Keras was imported
with. After a warm-up epoch each (tracing / compilation), the two are timed
alternately (the order flips every round), ``--epochs`` epochs per round for
``--rounds`` rounds, and the median of the per-round ratios (kerasnotes / Keras)
is reported, so machine load affects both sides alike. The CPU-time ratio
(process time, all threads) is printed beside the wall-clock one: on a shared
machine it is the steadier of the two.

The frameworks run single-threaded unless the environment already says
otherwise (OMP_NUM_THREADS etc.): the optimizer's cost is per-step overhead,
and on a shared 2-core machine multi-threaded torch spends more time fighting
for cores than computing (16 s an epoch instead of 0.1 s, measured), which
would drown the comparison.

Usage (one backend per process, as Keras picks it at import):
    KERAS_BACKEND=tensorflow python benchmarks/bench_optimizers.py
    KERAS_BACKEND=jax python benchmarks/bench_optimizers.py --rounds 9
    KERAS_BACKEND=torch python benchmarks/bench_optimizers.py --epochs 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for _name, _value in {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}.items():
    os.environ.setdefault(_name, _value)

import keras  # noqa: E402

import kerasnotes as kn  # noqa: E402

TARGETS = {"tensorflow": 1.05, "jax": 1.05, "torch": 1.10}

# label -> (class name, arguments shared by both twins)
CASES = {
    "SGD": ("SGD", {"learning_rate": 0.01}),
    "SGD momentum": ("SGD", {"learning_rate": 0.01, "momentum": 0.9}),
    "SGD Nesterov": ("SGD", {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}),
    "Adagrad": ("Adagrad", {"learning_rate": 0.05}),
    "RMSprop": ("RMSprop", {"learning_rate": 0.001}),
    "Adam": ("Adam", {"learning_rate": 0.001}),
}


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ]
    )


def _timed_fit(model: keras.Model, x, y, epochs: int, batch_size: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu


def run_case(label: str, x, y, rounds: int, epochs: int, batch_size: int) -> dict:
    """Times one optimizer pair; returns per-epoch times and median ratios."""
    name, kwargs = CASES[label]
    models = {}
    for side, module in (("ours", kn.optimizers), ("keras", keras.optimizers)):
        model = _model(seed=7)
        model.compile(
            optimizer=getattr(module, name)(**kwargs),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)  # warm-up: trace, compile
        models[side] = model
    times = {"ours": [], "keras": []}
    for r in range(rounds):
        order = ("ours", "keras") if r % 2 == 0 else ("keras", "ours")
        for side in order:
            times[side].append(_timed_fit(models[side], x, y, epochs, batch_size))
    wall_ratios = [o[0] / k[0] for o, k in zip(times["ours"], times["keras"], strict=True)]
    cpu_ratios = [o[1] / k[1] for o, k in zip(times["ours"], times["keras"], strict=True)]
    return {
        "label": label,
        "ours_ms": 1e3 * statistics.median(t[0] for t in times["ours"]) / epochs,
        "keras_ms": 1e3 * statistics.median(t[0] for t in times["keras"]) / epochs,
        "wall": statistics.median(wall_ratios),
        "cpu": statistics.median(cpu_ratios),
        "keras_class": type(models["keras"].optimizer).__module__.split(".")[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per optimizer")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed round")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--only", default="", help="comma-separated labels, e.g. 'Adam,SGD'")
    args = parser.parse_args()
    (x, y), _ = kn.datasets.load_digits()
    labels = [s.strip() for s in args.only.split(",") if s.strip()] or list(CASES)
    backend = keras.backend.backend()
    target = TARGETS[backend]
    steps = -(-len(x) // args.batch_size)
    print(
        f"backend={backend}, keras {keras.__version__}, digits {x.shape[0]}x{x.shape[1]}, "
        f"MLP 64-128-64-10, batch {args.batch_size} ({steps} steps/epoch), "
        f"{args.rounds} rounds x {args.epochs} epochs, median of per-round ratios, "
        f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}\n"
    )
    print(
        "| optimizer | Keras class used | kerasnotes ms/epoch | Keras ms/epoch "
        f"| wall ratio | CPU ratio | target ({backend}) |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    for label in labels:
        r = run_case(label, x, y, args.rounds, args.epochs, args.batch_size)
        verdict = "ok" if r["wall"] <= target or r["cpu"] <= target else "MISSED"
        print(
            f"| {label} | {r['keras_class']} | {r['ours_ms']:.1f} | {r['keras_ms']:.1f} "
            f"| {r['wall']:.3f} | {r['cpu']:.3f} | <= {target:.2f} {verdict} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
