"""What each kerasnotes callback adds to ``model.fit`` (targets: <= 2% steady, <= 5% first fit).

The digits MLP (64-128-64-10, ReLU, 17,226
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
- ``lr_decay``: ``LearningRateDecay(ExponentialDecay(0.01, 0.05), log_dir=...)``;
- ``sharpness``: ``SharpnessMonitor((x, y), log_dir=...)``: λmax by warm-started
  Lanczos every epoch; its cost is about ``num_hvp · 2.5 · (sample rows /
  training rows) / every`` epochs of training per epoch, ``num_hvp`` (the median
  over its measurements) is printed beside the table.

Reference rows (labelled "ref:"), Keras's own callbacks at their defaults, the
floor a user already accepts: ``keras_tensorboard``
(``keras.callbacks.TensorBoard(log_dir)``, what a user would log with
otherwise), ``keras_early_stopping`` (``keras.callbacks.EarlyStopping("loss")``;
its ``stopped_epoch`` is printed, 0 when all epochs ran) and
``keras_read_model``, a callback that only reads ``self.model`` once an epoch:
under JAX that read copies the trainer's state into the variables, so it is
the least any callback that looks at the weights pays.

Each run builds a fresh model (and callback) from the same initial weights and
fits twice: the first fit pays every one-off compile (Keras's train step on
both sides, the callback's own functions on one), the second, on the same
model and callback after the weights are reset, is the steady state. Runs
are interleaved in pairs whose order flips every repeat (plain, with / with,
plain) and every figure is the median over pairs of the per-pair ratio
``fit with / fit without − 1``. Wall-clock and process CPU time
(``time.process_time``, all threads) are both reported: on a machine shared
with other jobs the wall clock is noisy and the CPU ratio the steadier one.

``--gate-times`` also times each ``on_epoch_end`` of the two
SaddlePointDetector runs (the gradient gate and its bookkeeping) and reports,
per fit: the first gate (which compiles the gate's gradient function), the
median later gate, the time inside the detector over the plain fit, and the
overhead without the first compile (the first gate counted as if it cost what
a later one costs).

Usage:
    python benchmarks/bench_callback_overhead.py [--backends tensorflow,jax,torch]
        [--callbacks saddle,saddle_probe5,inspector,early_stopping,lr_decay,sharpness,
                     keras_tensorboard,keras_early_stopping,keras_read_model]
        [--repeats 3] [--epochs 20] [--gate-times] [--write-readme]

Each backend runs in its own subprocess (the backend is fixed at import). The
frameworks run single-threaded unless the environment already says otherwise
(OMP_NUM_THREADS etc.): on a shared 2-core machine multi-threaded torch spends
more time fighting for cores than computing, which would drown the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import _setup
import _table

CALLBACKS = ("saddle", "saddle_probe5", "inspector", "early_stopping", "lr_decay", "sharpness")
# Keras's own callbacks at their defaults: the floor a user already accepts.
REFERENCES = ("keras_tensorboard", "keras_early_stopping", "keras_read_model")
LABELS = {
    "keras_tensorboard": "ref: keras TensorBoard(log_dir)",
    "keras_early_stopping": 'ref: keras EarlyStopping("loss")',
    "keras_read_model": "ref: no-op, reads self.model per epoch",
}
SADDLE = ("saddle", "saddle_probe5")


def _gate_row(pairs: list, phase: str, clock: str) -> dict:
    """The gate figures of one fit phase and clock, medians over the pairs."""
    firsts, laters, inside, steady = [], [], [], []
    for plain, with_cb in pairs:
        gates = with_cb[phase][f"gate_{clock}"]
        later = statistics.median(gates[1:]) if len(gates) > 1 else gates[0]
        first_extra = gates[0] - later  # what the first gate costs more: its compile
        firsts.append(gates[0])
        laters.append(later)
        inside.append(sum(gates) / plain[phase][clock])
        steady.append((with_cb[phase][clock] - first_extra) / plain[phase][clock] - 1.0)
    return {
        "first_gate_s": statistics.median(firsts),
        "later_gate_s": statistics.median(laters),
        "inside": statistics.median(inside),
        "without_first_compile": statistics.median(steady),
    }


def _measure(names: list[str], repeats: int, epochs: int, gate_times: bool = False) -> dict:
    import keras

    import kerasnotes as kn
    import kerasnotes.callbacks as kc
    from kerasnotes import datasets

    class TimedDetector(kc.SaddlePointDetector):
        """Records the wall and CPU seconds of each epoch's gate, including its bookkeeping."""

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.wall, self.cpu = [], []

        def on_epoch_end(self, epoch, logs=None):
            wall, cpu = time.perf_counter(), time.process_time()
            super().on_epoch_end(epoch, logs)
            self.wall.append(time.perf_counter() - wall)
            self.cpu.append(time.process_time() - cpu)

    class ReadModel(keras.callbacks.Callback):
        """Does nothing but read ``self.model`` once an epoch (under JAX: a state sync)."""

        def on_epoch_end(self, epoch, logs=None):
            self.model  # noqa: B018 -- the read is the point: it is what costs on JAX

    detector = TimedDetector if gate_times else kc.SaddlePointDetector
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
            return detector((x, y), every=1, verbose=0)
        if name == "saddle_probe5":
            return detector((x, y), every=5, always_probe=True, verbose=0)
        if name == "inspector":
            return kc.OptimizerInspector(log_dir)
        if name == "early_stopping":
            return kc.EarlyStopping("loss", patience=1000, log_dir=log_dir)
        if name == "lr_decay":
            return kc.LearningRateDecay(kn.schedules.ExponentialDecay(0.01, 0.05), log_dir=log_dir)
        if name == "sharpness":
            return kc.SharpnessMonitor((x, y), log_dir=log_dir)
        if name == "keras_tensorboard":
            return keras.callbacks.TensorBoard(log_dir)
        if name == "keras_early_stopping":
            return keras.callbacks.EarlyStopping("loss")
        if name == "keras_read_model":
            return ReadModel()
        raise ValueError(f"unknown callback {name!r}; known: {CALLBACKS + REFERENCES}")

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
            if gate_times and name in SADDLE:
                out[phase]["gate_wall"], out[phase]["gate_cpu"] = callback.wall, callback.cpu
        if name in ("saddle", "saddle_probe5"):
            out["kinds"] = sorted({e["kind"] for e in callback.history})
            out["exact"] = sum(e["grad_norm_stderr"] == 0 for e in callback.history)
        if name == "sharpness":
            out["num_hvp"] = statistics.median(e["num_hvp"] for e in callback.history)
        if name == "keras_early_stopping":
            # At its defaults (patience 0) it may stop the fit: then the row is no overhead.
            out["stopped_epoch"] = callback.stopped_epoch
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
                if gate_times and name in SADDLE:
                    row[f"{phase}_{clock}_gate"] = _gate_row(pairs, phase, clock)
        if "kinds" in pairs[0][1]:
            row["kinds"] = sorted({k for _, w in pairs for k in w["kinds"]})
            row["exact_gates"] = pairs[0][1]["exact"]
        if "num_hvp" in pairs[0][1]:
            row["num_hvp"] = statistics.median(w["num_hvp"] for _, w in pairs)
        if "stopped_epoch" in pairs[0][1]:
            row["stopped_epochs"] = sorted({w["stopped_epoch"] for _, w in pairs})
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
        print(f"| {LABELS.get(name, name)} | " + " | ".join(cells) + " |")
    plain = next(iter(row["results"].values()))
    print(
        f"\nplain fit: steady {plain['steady_wall_plain_s']:.2f} s wall / "
        f"{plain['steady_cpu_plain_s']:.2f} s CPU; first {plain['first_wall_plain_s']:.2f} s wall"
    )
    for name, r in row["results"].items():
        if "kinds" in r:
            print(f"{name}: kinds {r['kinds']}, exact gates in one fit: {r['exact_gates']}")
        if "num_hvp" in r:
            print(f"{name}: median HVPs per measurement (num_hvp): {r['num_hvp']:g}")
        if "stopped_epochs" in r:
            stopped = r["stopped_epochs"]
            print(f"{name}: stopped_epoch {stopped} (0: every epoch ran)")
    gated = [(name, r) for name, r in row["results"].items() if "first_wall_gate" in r]
    if gated:
        print(
            "\n| detector, fit | first gate, s | later gates, ms each | inside / plain fit "
            "| overhead without the first compile |"
        )
        print("|---|---|---|---|---|")
    for name, r in gated:
        for phase in ("first", "steady"):
            wall, cpu = r[f"{phase}_wall_gate"], r[f"{phase}_cpu_gate"]
            print(
                f"| {name}, {phase} fit (wall / CPU) "
                f"| {wall['first_gate_s']:.3f} / {cpu['first_gate_s']:.3f} "
                f"| {1e3 * wall['later_gate_s']:.2f} / {1e3 * cpu['later_gate_s']:.2f} "
                f"| {100 * wall['inside']:+.1f}% / {100 * cpu['inside']:+.1f}% "
                f"| {100 * wall['without_first_compile']:+.1f}% / "
                f"{100 * cpu['without_first_compile']:+.1f}% |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--callbacks", default=",".join(CALLBACKS + REFERENCES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--gate-times",
        action="store_true",
        help="also time each gate of the SaddlePointDetector runs (first, later, inside the fit)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    _table.add_flag(parser)
    args = parser.parse_args()
    names = args.callbacks.split(",")
    if args.child:
        print(json.dumps(_measure(names, args.repeats, args.epochs, args.gate_times)))
        return
    with _table.tables("callback_overhead", args.write_readme):
        for backend in args.backends.split(","):
            result = _setup.child_result(
                __file__,
                backend,
                [
                    f"--callbacks={args.callbacks}",
                    f"--repeats={args.repeats}",
                    f"--epochs={args.epochs}",
                    *(["--gate-times"] if args.gate_times else []),
                ],
            )
            if result is None:
                continue
            _print(result)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
