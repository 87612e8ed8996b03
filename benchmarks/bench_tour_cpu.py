"""The tour's CPU time per claim and backend (issue #15's "Speed": the default tour under 60 s).

Each backend runs in its own process (``--child``), which imports Keras and
then runs the chosen tour steps one after another as ``kerasnotes tour`` does
(under ``backends.active().short_lived_graphs()``, ``clear_session`` between
steps, runs written to a temporary folder). Every step is timed as process
CPU time (user + system of all threads, ``resource.getrusage``): wall time on
a machine shared with other jobs measures their load, CPU time far less (it
still grows with load, so compare figures from one run). The status of each
step is printed beside its time, so a change that speeds a claim up shows at
once whether its verdict held.

Usage:
    python benchmarks/bench_tour_cpu.py [--backends tensorflow,jax,torch]
        [--only C0,C11,search] [--mode default] [--write-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

import _table


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(mode: str, only: str) -> None:
    """Run the steps in this process and print one JSON line: start-up and each step's time."""
    start = _cpu_seconds()
    import keras

    from kerasnotes import backends, experiments, tour
    from kerasnotes.experiments import search

    rows: dict = {"startup": _cpu_seconds() - start, "steps": []}
    steps = tour.parse_steps(only) if only else tour.default_steps(mode)
    log_dir = tempfile.mkdtemp(prefix="bench_tour_cpu_")
    with backends.active().short_lived_graphs():
        for step in steps:
            before = _cpu_seconds()
            runner = search.run if step == tour.SEARCH else experiments.load(step).run
            result = runner(mode, log_dir, seed=0, progress=None)
            seconds = _cpu_seconds() - before
            keras.backend.clear_session(free_memory=False)
            rows["steps"].append([step, seconds, result.status, result.figure])
    rows["total"] = _cpu_seconds() - start
    print(json.dumps(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--only", default="", help="tour steps, as kerasnotes tour --only")
    parser.add_argument("--mode", default="default", choices=("quick", "default", "full"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    _table.add_flag(parser)
    args = parser.parse_args()
    if args.child:
        _child(args.mode, args.only)
        return
    measured = {}
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, __file__, "--child", "--mode", args.mode, "--only", args.only]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        measured[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    with _table.tables("tour_cpu", args.write_readme):
        print(f"### {args.mode} tour, CPU seconds (user + system) per step\n")
        steps = [step for step, *_ in next(iter(measured.values()))["steps"]]
        print("| backend | start-up | " + " | ".join(steps) + " | total |")
        print("|---" * (len(steps) + 3) + "|")
        for name, rows in measured.items():
            cells = " | ".join(f"{seconds:.1f}" for _, seconds, *_ in rows["steps"])
            print(f"| {name} | {rows['startup']:.1f} | {cells} | {rows['total']:.1f} |")
        print("\n| backend | statuses |\n|---|---|")
        for name, rows in measured.items():
            statuses = ", ".join(f"{step} {status}" for step, _, status, _ in rows["steps"])
            print(f"| {name} | {statuses} |")


if __name__ == "__main__":
    main()
