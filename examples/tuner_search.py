"""Search the notes' optimizers, decays, batch sizes and normalizations on the digits.

Runs a keras-tuner search of ``kerasnotes.tuning.NotesHyperModel`` on
scikit-learn's bundled digits (1,437 training and 360 validation images) and
prints the best configuration with its validation accuracy. Each trial logs to
its own TensorBoard run; ``kerasnotes board --logdir <logdir>`` (or
``tensorboard --logdir <logdir>``) shows them in the HParams dashboard.

One machine::

    python examples/tuner_search.py                 # Bayesian search, a few minutes on 2 cores
    python examples/tuner_search.py --quick         # 3 short trials, a smoke test
    python examples/tuner_search.py --tuner hyperband --logdir runs/tuning

Beyond one machine (keras-tuner's chief/worker mode): start the same command
once with ``KERASTUNER_TUNER_ID=chief`` (it serves the oracle and returns when
every trial is done) and once per worker with ``KERASTUNER_TUNER_ID=tuner0``,
``tuner1``, ...; every process gets ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` of the chief and the same ``--directory``::

    export KERASTUNER_ORACLE_IP=10.0.0.1 KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=chief  python examples/tuner_search.py --directory /shared/tuner &
    KERASTUNER_TUNER_ID=tuner0 python examples/tuner_search.py --directory /shared/tuner &
    KERASTUNER_TUNER_ID=tuner1 python examples/tuner_search.py --directory /shared/tuner
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 trials of 2 epochs (smoke test)")
    parser.add_argument("--logdir", default=None, help="TensorBoard root of the trials' runs")
    parser.add_argument("--tuner", default="bayesian", choices=("random", "bayesian", "hyperband"))
    parser.add_argument("--max-trials", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=15, help="epochs per trial (Hyperband: max)")
    parser.add_argument(
        "--directory", default=None, help="keras-tuner project root (default: a temp dir)"
    )
    parser.add_argument("--project-name", default="digits")
    parser.add_argument("--subset", type=int, default=None, help="use only N training samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-json", default=None, help="also write the results here")
    return parser.parse_args(argv)


def _role() -> str:
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    from kerasnotes.tuning import search_digits

    role = _role()
    result = search_digits(
        max_trials=args.max_trials,
        epochs=args.epochs,
        logdir=args.logdir,
        quick=args.quick,
        tuner=args.tuner,
        directory=args.directory,
        project_name=args.project_name,
        subset=args.subset,
        seed=args.seed,
        # Workers join the chief's project; only a lone search starts afresh.
        overwrite=role == "single",
    )
    completed = sum(1 for trial in result.trials.values() if trial["status"] == "COMPLETED")
    print(f"\n{role} process: {completed} trials completed in {result.seconds:.1f} s")
    if role == "worker":
        print("| trial | val_accuracy |\n|---|---|")
        for trial_id, trial in sorted(result.trials.items()):
            print(f"| {trial_id} | {trial['score']:.4f} |")
    else:
        print(f"best validation accuracy: {result.val_accuracy:.4f}\n")
        print("| hyperparameter | value |\n|---|---|")
        for name, value in result.best_hyperparameters.items():
            shown = f"{value:.4g}" if isinstance(value, float) else value
            print(f"| {name} | {shown} |")
    if args.logdir:
        print(f"\nTensorBoard runs: {args.logdir} (HParams dashboard)")
    if args.results_json:
        with open(args.results_json, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "role": role,
                    "tuner_id": os.environ.get("KERASTUNER_TUNER_ID"),
                    "best_hyperparameters": result.best_hyperparameters,
                    "val_accuracy": result.val_accuracy,
                    "trials": result.trials,
                    "seconds": result.seconds,
                },
                handle,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
