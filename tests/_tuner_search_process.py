"""One process of a keras-tuner search of the digits: the driver of tests/test_tuning_distributed.py.

It calls ``kerasnotes.tuning.search_digits`` with the command line's settings
and writes what this process saw to ``--results-json``, so the test can check
a chief and its workers against each other. Users run
``examples/07_tuner_search.py`` (the same ``search_digits`` call, settings from
environment variables) for single-machine and chief/worker searches::

    python tests/_tuner_search_process.py --tuner random --max-trials 4 --epochs 1 \
        --directory DIR --logdir RUNS --results-json ROLE.json

Under keras-tuner's ``KERASTUNER_TUNER_ID`` / ``KERASTUNER_ORACLE_IP`` /
``KERASTUNER_ORACLE_PORT`` variables the process is the chief or a worker.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 trials of 2 epochs (smoke test)")
    parser.add_argument(
        "--logdir", dest="log_dir", default=None, help="TensorBoard root of the trials' runs"
    )
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
    # Every option but --results-json is a search_digits argument of the same name.
    settings = {k: v for k, v in vars(args).items() if k != "results_json"}
    # Workers join the chief's project; only a lone search starts afresh.
    result = search_digits(**settings, overwrite=role == "single")
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
    if args.log_dir:
        print(f"\nTensorBoard runs: {args.log_dir} (HParams dashboard)")
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
