"""λmax of the digits MLP in one process against two torch.distributed processes (issue #17).

Model: MLP 64-256-256-10 (ReLU, 85,002 parameters) at its seeded initial
weights, softmax cross-entropy on the 1,797 digits. One process holds all rows;
under ``torch.distributed.run --nproc_per_node=2`` (gloo, CPU) each rank holds
every other row and the probe all-reduces its sums. Time of ``HessianProbe(...)``
plus ``eigenvalues(k=1, tol=1e-6)`` (the slowest rank's wall time; each product
one all-reduce of 85k float64), for ``batch_size`` None (one batch per rank: the
linearized product) and 256. On one machine with 2 cores the second process
shares the cores, so this measures correctness and overhead, not speed-up.

Run: ``KERAS_BACKEND=torch python benchmarks/bench_torch_processes.py``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import _setup
import _table

BATCH_SIZES = (None, 256)


def worker(out_dir: str) -> None:
    import time

    import keras
    import torch
    from sklearn.datasets import load_digits

    from kerasnotes.curvature import HessianProbe

    if "WORLD_SIZE" in os.environ:
        torch.distributed.init_process_group("gloo")
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    digits = load_digits()
    x, y = (digits.data / 16).astype("float32"), digits.target
    keras.utils.set_random_seed(0)
    model, loss = _setup.mlp(64, (256, 256))
    rows = {}
    for batch_size in BATCH_SIZES:
        wall = time.perf_counter()
        probe = HessianProbe(
            model, x[rank::world], y[rank::world], loss=loss, batch_size=batch_size
        )
        result = probe.eigenvalues(k=1, which="largest", tol=1e-6)
        rows[str(batch_size)] = {
            "wall": time.perf_counter() - wall,
            "lambda_max": float(result.values[-1]),
            "hvp": result.num_hvp,
            "parameters": probe.num_parameters,
        }
    with open(os.path.join(out_dir, f"{world}_{rank}.json"), "w") as file:
        json.dump(rows, file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _table.add_flag(parser)
    args = parser.parse_args()
    env = dict(os.environ, KERAS_BACKEND="torch", **_setup.THREAD_ENV)
    with tempfile.TemporaryDirectory() as out_dir:
        here = os.path.abspath(__file__)
        subprocess.run([sys.executable, here, "--worker", out_dir], env=env, check=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc_per_node=2",
                "--standalone",
                here,
                "--worker",
                out_dir,
            ],
            env=env,
            check=True,
        )
        results = {}
        for name in ("1_0", "2_0", "2_1"):
            with open(os.path.join(out_dir, f"{name}.json")) as file:
                results[name] = json.load(file)
    with _table.tables("torch_processes", args.write_readme):
        print(
            "| batch_size | parameters | HVPs | 1 process | 2 processes (slowest rank) | ratio "
            "| λmax, 1 process | λmax, 2 processes | relative difference |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for key in map(str, BATCH_SIZES):
            one, ranks = results["1_0"][key], [results["2_0"][key], results["2_1"][key]]
            assert ranks[0]["lambda_max"] == ranks[1]["lambda_max"], "ranks disagree"
            two = max(r["wall"] for r in ranks)
            difference = abs(ranks[0]["lambda_max"] - one["lambda_max"]) / abs(one["lambda_max"])
            print(
                f"| {key} | {one['parameters']:,} | {one['hvp']} / {ranks[0]['hvp']} "
                f"| {one['wall']:.2f} s | {two:.2f} s | {two / one['wall']:.2f} "
                f"| {one['lambda_max']:.7g} | {ranks[0]['lambda_max']:.7g} | {difference:.1e} |"
            )


if __name__ == "__main__":
    _setup.single_thread("2")
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
