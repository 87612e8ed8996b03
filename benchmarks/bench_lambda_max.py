"""λmax of a 1M-parameter model on 4,096 samples to 1e-3 relative, per backend (issue #17).

Model: MLP 256-1024-768-10 (ReLU), 1,058,058 parameters, at its seeded initial
weights, softmax cross-entropy on 4,096 standard-normal inputs with uniform
labels, all in one batch (so the probe uses its linearized product). Time of
``HessianProbe(...)`` plus ``eigenvalues(k=1, tol=1e-3)`` (wall and process CPU;
target: under 60 s on 2 cores), and its error against a reference run at
``tol=1e-7`` on the same probe. The weights differ by backend (Keras draws its
initial weights with each backend's own generator), so λmax does too.

Each backend runs in its own subprocess; torch with one thread
(``OMP_NUM_THREADS=1``), since on a loaded 2-core machine its default two
threads ran small products many times slower.

Run: ``python benchmarks/bench_lambda_max.py [--backends tensorflow,jax,torch] [--write-readme]``
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

BACKENDS = ("tensorflow", "jax", "torch")


def worker() -> dict:
    import keras
    import numpy as np

    from kerasnotes.curvature import HessianProbe

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 256)).astype("float32")
    y = rng.integers(0, 10, 4096).astype("int32")
    model, loss = _setup.mlp(256, (1024, 768))
    wall, cpu = time.perf_counter(), time.process_time()
    probe = HessianProbe(model, x, y, loss=loss)
    result = probe.eigenvalues(k=1, which="largest", tol=1e-3)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    reference = probe.eigenvalues(k=1, which="largest", tol=1e-7, max_iter=200)
    value, exact = float(result.values[-1]), float(reference.values[-1])
    return {
        "parameters": probe.num_parameters,
        "lambda_max": value,
        "hvp": result.num_hvp,
        "converged": bool(result.converged and reference.converged),
        "wall": wall,
        "cpu": cpu,
        "error": abs(value - exact) / abs(exact),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--worker", action="store_true")
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker()))
        return
    with _table.tables("lambda_max", args.write_readme):
        print("| backend | parameters | λmax | HVPs | wall s | CPU s | error vs tol 1e-7 |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for backend in args.backends.split(","):
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            if backend == "torch":
                env.setdefault("OMP_NUM_THREADS", "1")
            out = subprocess.run(
                [sys.executable, __file__, "--worker"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            mark = "" if r["converged"] else " (not converged)"
            print(
                f"| {backend} | {r['parameters']:,} | {r['lambda_max']:.6g}{mark} | {r['hvp']} "
                f"| {r['wall']:.1f} | {r['cpu']:.1f} | {r['error']:.1e} |"
            )


if __name__ == "__main__":
    main()
