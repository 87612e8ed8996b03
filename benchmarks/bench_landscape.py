"""A landscape's 21×21 plane point by point against batched, per backend, in one run.

The digits MLP (64-128-64-10, ReLU, 17,226 parameters) with a ``HessianProbe``
over 512 training rows (one micro-batch) evaluates the loss on a 21×21 plane
(441 points) along two filter-normalised random directions
(``kerasnotes.curvature.landscape.evaluate_grid``), once with ``batch=False``
(one loss call per point) and once batched (``CHUNK`` points per call:
``jax.vmap``, ``torch.func.vmap``, ``tf.vectorized_map``). Each mode is warmed
up first on ``CHUNK + 1`` points (compiling the full and the padded chunk), so
the table compares steady evaluation. Times are process CPU time (all
threads) and wall-clock; ``max rel diff`` is the largest relative difference
of the two grids. Each backend runs in its own single-threaded process.

Usage:
    python benchmarks/bench_landscape.py [--backends tensorflow,jax,torch]
        [--num 21] [--rows 512] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import _setup
import _table


def run_one(num: int, rows: int) -> dict:
    _setup.single_thread("3")
    import keras
    import numpy as np

    from kerasnotes import datasets
    from kerasnotes.curvature import HessianProbe
    from kerasnotes.curvature import landscape as grid

    (x, y), _ = datasets.load_digits()
    x, y = x[:rows].astype("float32"), y[:rows].astype("int32")
    keras.utils.set_random_seed(0)
    model, loss = _setup.mlp(64, (128, 64))
    probe = HessianProbe(model, x, y, loss=loss)
    directions = probe.landscape("random", span=1.0, num=2, seed=0).directions
    a = np.linspace(-1.0, 1.0, num)
    aa, bb = np.meshgrid(a, a, indexing="ij")
    coefficients = np.column_stack([aa.ravel(), bb.ravel()])
    record = {"backend": keras.backend.backend(), "points": len(coefficients)}
    values = {}
    for mode, batch in (("point", False), ("batched", True)):
        grid.evaluate_grid(probe, coefficients[: grid.CHUNK + 1], directions, batch=batch)
        cpu, wall = time.process_time(), time.perf_counter()
        values[mode] = grid.evaluate_grid(probe, coefficients, directions, batch=batch)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        record[f"{mode}_cpu_s"] = cpu
        record[f"{mode}_wall_s"] = wall
    record["max_rel_diff"] = float(
        np.max(np.abs(values["batched"] - values["point"]) / np.abs(values["point"]))
    )
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--num", type=int, default=21)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.num, args.rows)))
        return
    records = []
    for backend in args.backends.split(","):
        # One process per backend: Keras picks its backend once, at import.
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--num", str(args.num), "--rows", str(args.rows)],
            env={**os.environ, "KERAS_BACKEND": backend},
            capture_output=True,
            text=True,
            check=True,
        )
        records.append(json.loads(out.stdout.strip().splitlines()[-1]))
    with _table.tables("landscape", args.write_readme):
        print(
            "| backend | points | point by point, points/s (CPU) | batched, points/s (CPU) "
            "| speed-up (CPU) | speed-up (wall) | max rel diff |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in records:
            n = r["points"]
            print(
                f"| {r['backend']} | {n} | {n / r['point_cpu_s']:,.0f} "
                f"| {n / r['batched_cpu_s']:,.0f} "
                f"| {r['point_cpu_s'] / r['batched_cpu_s']:.1f}× "
                f"| {r['point_wall_s'] / r['batched_wall_s']:.1f}× "
                f"| {r['max_rel_diff']:.1e} |"
            )


if __name__ == "__main__":
    main()
