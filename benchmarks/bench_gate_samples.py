"""Cost of SaddlePointDetector's gate with and without its subsample stage (``gate_samples``).

``SubsampleGate(model, x, y, grad_tol=1e-3, samples=m)`` (the detector's gate at
its default ``grad_tol``) on the digits MLP (64-128-64-10), for m = 0 (stage 1
off: the exact full-sample gradient, the default) and m = 128, 256, 1024 (stage
1 on ``m`` rows in 16 groups, the exact gradient only when stage 1 cannot rule
``‖g‖ ≤ grad_tol`` out), on two probe samples:

- ``digits``: the 1,438 training rows (the detector's sample on digits);
- ``generated``: 16,384 rows, ``x ~ N(0, 1)^64``, labels of a fixed random
  teacher MLP (a probe sample far larger than the subsample).

Each at two weights: ``start`` (the initial weights, ‖g‖ large) and
``trained`` (after ~900 SGD(0.01) steps of batch 32 on that sample: 20 epochs
of digits, 2 of the generated rows). Per cell: the median process CPU time of
one gate call (ms), its range over the calls, and how many calls stage 1
answered alone. The calls of the three settings are interleaved, after two
warm-up calls each (the compile); single-threaded, one process per backend.

Run: ``python benchmarks/bench_gate_samples.py [--backends tensorflow,jax,torch]
[--calls 15] [--write-readme]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import _setup
import _table

SAMPLES = (0, 128, 256, 1024)
GENERATED_ROWS = 16_384


def _measure(calls: int) -> dict:
    import keras
    import numpy as np

    import kerasnotes as kn
    from kerasnotes import datasets
    from kerasnotes.curvature.gate import SubsampleGate

    (x_digits, y_digits), _ = datasets.load_digits()
    rng = np.random.default_rng(0)
    x_generated = rng.normal(size=(GENERATED_ROWS, 64)).astype("float32")
    teacher = [rng.normal(size=(64, 32)), rng.normal(size=(32, 10))]
    y_generated = np.argmax(np.maximum(x_generated @ teacher[0], 0) @ teacher[1], axis=1)
    samples = {
        "digits": (x_digits, y_digits, 20),
        "generated": (x_generated, y_generated.astype("int32"), 2),
    }

    def build() -> keras.Model:
        keras.utils.set_random_seed(0)
        model, loss = _setup.mlp(64, (128, 64))
        model.compile(kn.optimizers.SGD(0.01), loss)
        return model

    rows = []
    for sample, (x, y, epochs) in samples.items():
        model = build()
        for state in ("start", "trained"):
            if state == "trained":
                model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
            gates = {m: SubsampleGate(model, x, y, grad_tol=1e-3, samples=m) for m in SAMPLES}
            times = {m: [] for m in SAMPLES}
            alone = dict.fromkeys(SAMPLES, 0)
            norm = None
            for gate in gates.values():  # warm-up: the compiles
                gate()
                gate()
            for call in range(calls):
                shift = call % len(SAMPLES)
                order = SAMPLES[shift:] + SAMPLES[:shift]
                for m in order:
                    start = time.process_time()
                    result = gates[m]()
                    times[m].append(time.process_time() - start)
                    alone[m] += not result.exact
                    if m == 0:
                        norm = result.grad_norm
            for m in SAMPLES:
                rows.append(
                    {
                        "sample": sample,
                        "rows": int(len(x)),
                        "state": state,
                        "grad_norm": norm,
                        "samples": m,
                        "ms": 1e3 * statistics.median(times[m]),
                        "ms_range": (1e3 * min(times[m]), 1e3 * max(times[m])),
                        "alone": alone[m],
                        "calls": calls,
                    }
                )
    return {"backend": keras.backend.backend(), "rows": rows}


def _print(result: dict) -> None:
    print(f"\n### {result['backend']}\n")
    print(
        "| probe sample | weights, ‖g‖ | gate_samples | CPU ms per gate (range) "
        "| stage 1 alone | vs samples=0 |"
    )
    print("|---|---|---|---|---|---|")
    exact = {}
    for row in result["rows"]:
        key = (row["sample"], row["state"])
        if row["samples"] == 0:
            exact[key] = row["ms"]
        low, high = row["ms_range"]
        print(
            f"| {row['sample']} ({row['rows']:,} rows) | {row['state']}, {row['grad_norm']:.3g} "
            f"| {row['samples']} | {row['ms']:.2f} ({low:.2f}...{high:.2f}) "
            f"| {row['alone']}/{row['calls']} | {row['ms'] / exact[key]:.2f}× |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--calls", type=int, default=15)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be positive")
    if args.child:
        print(json.dumps(_measure(args.calls)))
        return
    with _table.tables("gate_samples", args.write_readme):
        print(f"load average at the start: {os.getloadavg()[0]:.1f}")
        for backend in args.backends.split(","):
            result = _setup.child_result(__file__, backend, [f"--calls={args.calls}"])
            if result is None:
                continue
            _print(result)
            sys.stdout.flush()
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
