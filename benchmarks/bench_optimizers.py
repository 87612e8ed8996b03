"""Training time of each kerasnotes optimizer against its Keras built-in twin.

The same MLP (64-128-64-10, ReLU) is trained on scikit-learn's digits with a
kerasnotes optimizer and with the Keras optimizer of the same name and
arguments, from the same initial weights, in one process, for the backend Keras
was imported with.

How a figure is made conclusive on a noisy, shared machine:

- Warm-up first: two epochs each (tracing, compilation, allocator growth).
- A timed *unit* is one ``fit`` call of several epochs, sized so that the Keras
  side takes about ``--unit-seconds`` (calibrated after the warm-up); both
  sides run the same number of epochs. A single epoch (8-100 ms) is too short:
  timer and scheduler noise alone moved the old per-epoch ratios by +-10 %.
- A *round* runs the units in the order A B B A (the next round B A A B), so a
  load change that drifts linearly during a round hits both sides equally; the
  round's ratio is (A1 + A2) / (B1 + B2), kerasnotes over Keras.
- Reported: the median of the per-round ratios and their interquartile range
  (25th-75th percentile), for wall-clock time and for process CPU time (all
  threads of this process; on a shared machine it is the steadier one, since
  time spent waiting for a core does not count).

The frameworks run single-threaded unless the environment already says
otherwise (OMP_NUM_THREADS etc.): the optimizer's cost is per-step overhead,
and on a shared 2-core machine multi-threaded torch spends more time fighting
for cores than computing, which would drown the comparison.

Usage (one backend per process, as Keras picks it at import):
    KERAS_BACKEND=tensorflow python benchmarks/bench_optimizers.py
    KERAS_BACKEND=jax python benchmarks/bench_optimizers.py --rounds 15
    KERAS_BACKEND=torch python benchmarks/bench_optimizers.py --only Adam,SGD
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import _setup
import _table

_setup.single_thread("2")

import keras  # noqa: E402

import kerasnotes as kn  # noqa: E402

TARGETS = {"tensorflow": 1.05, "jax": 1.05, "torch": 1.10}

# label -> (class name, arguments shared by both twins)
CASES = {
    # A/A control: Keras on both sides. Its distance from 1.000 is the bias and
    # noise floor of this measurement on this machine.
    "control: Keras Adam vs itself": ("Adam", {"learning_rate": 0.001}),
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
    """(wall, CPU) seconds of one ``fit`` of ``epochs`` epochs (it returns synchronised)."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0)
    return time.perf_counter() - wall, time.process_time() - cpu


def _spread(values: list[float]) -> tuple[float, float, float]:
    """(median, 25th percentile, 75th percentile)."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q2, q1, q3


def run_case(label: str, x, y, rounds: int, unit_seconds: float, batch_size: int) -> dict:
    """Times one optimizer pair in ``rounds`` A B B A rounds; returns ratio statistics."""
    name, kwargs = CASES[label]
    models = {}
    ours_module = keras.optimizers if label.startswith("control") else kn.optimizers
    for side, module in (("ours", ours_module), ("keras", keras.optimizers)):
        model = _model(seed=7)
        model.compile(
            optimizer=getattr(module, name)(**kwargs),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0)  # warm-up
        models[side] = model
    # Calibrate the unit on the Keras side (the median of three one-epoch fits).
    epoch_s = statistics.median(_timed_fit(models["keras"], x, y, 1, batch_size)[0] for _ in "abc")
    epochs = max(1, math.ceil(unit_seconds / epoch_s))
    totals = {"ours": [], "keras": []}
    wall_ratios, cpu_ratios = [], []
    for r in range(rounds):
        order = ("ours", "keras", "keras", "ours")
        if r % 2:
            order = order[::-1]
        round_sum = {"ours": [0.0, 0.0], "keras": [0.0, 0.0]}
        for side in order:
            wall, cpu = _timed_fit(models[side], x, y, epochs, batch_size)
            round_sum[side][0] += wall
            round_sum[side][1] += cpu
        for side in round_sum:
            totals[side].append(round_sum[side][0] / (2 * epochs))
        wall_ratios.append(round_sum["ours"][0] / round_sum["keras"][0])
        cpu_ratios.append(round_sum["ours"][1] / round_sum["keras"][1])
    return {
        "label": label,
        "epochs": epochs,
        "ours_ms": 1e3 * statistics.median(totals["ours"]),
        "keras_ms": 1e3 * statistics.median(totals["keras"]),
        "wall": _spread(wall_ratios),
        "cpu": _spread(cpu_ratios),
        "keras_class": type(models["keras"].optimizer).__module__.split(".")[-1],
    }


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="A B B A rounds per optimizer")
    parser.add_argument(
        "--unit-seconds", type=float, default=0.6, help="approximate length of one timed unit"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--only", default="", help="comma-separated labels, e.g. 'Adam,SGD'")
    _table.add_flag(parser)
    args = parser.parse_args()
    (x, y), _ = kn.datasets.load_digits()
    labels = [s.strip() for s in args.only.split(",") if s.strip()] or list(CASES)
    backend = keras.backend.backend()
    target = TARGETS[backend]
    steps = -(-len(x) // args.batch_size)
    with _table.tables(f"optimizers.{backend}", args.write_readme):  # one backend a process
        print(
            f"backend={backend}, keras {keras.__version__}, digits {x.shape[0]}x{x.shape[1]}, "
            f"MLP 64-128-64-10, batch {args.batch_size} ({steps} steps/epoch), "
            f"{args.rounds} rounds of A B B A units of ~{args.unit_seconds} s, "
            f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, load average before: {_load()}\n"
        )
        print(
            "| optimizer | Keras class used | epochs/unit | kerasnotes ms/epoch | Keras ms/epoch "
            f"| wall ratio [IQR] | CPU ratio [IQR] | target ({backend}) |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---|")
        for label in labels:
            r = run_case(label, x, y, args.rounds, args.unit_seconds, args.batch_size)
            verdict = []
            for kind in ("wall", "cpu"):
                verdict.append(f"{kind} {'ok' if r[kind][0] <= target else 'MISSED'}")
            (wm, wl, wh), (cm, cl, ch) = r["wall"], r["cpu"]
            print(
                f"| {label} | {r['keras_class']} | {r['epochs']} | {r['ours_ms']:.1f} "
                f"| {r['keras_ms']:.1f} | {wm:.3f} [{wl:.3f}, {wh:.3f}] "
                f"| {cm:.3f} [{cl:.3f}, {ch:.3f}] | <= {target:.2f}: {', '.join(verdict)} |",
                flush=True,
            )
        print(f"\nload average after: {_load()}")


if __name__ == "__main__":
    main()
