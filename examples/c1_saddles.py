"""C1: Where gradient descent stalls (∇L ≈ 0), it is mostly at saddles (digits).

Run it on its own (a TensorBoard run per configuration and a PNG plot go under
``--logdir/C1``)::

    python examples/c1_saddles.py [--quick | --full] [--logdir runs]
    tensorboard --logdir runs

The experiment itself is ``kerasnotes.experiments.c1_saddles``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kerasnotes.experiments import c1_saddles


def main(argv: Sequence[str] | None = None) -> int:
    """Run claim C1 and print its figure, verdict and files; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke-test size (seconds)")
    size.add_argument("--full", action="store_true", help="larger, more faithful run (minutes)")
    parser.add_argument("--logdir", default="runs", help="where the runs and the plot go")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full" if args.full else "default"

    result = c1_saddles.run(mode=mode, logdir=args.logdir)

    print(f"{result.claim} ({mode}, {result.seconds:.0f} s): {result.figure}")
    print(result.verdict)
    print(f"plot: {result.plot}")
    print(f"TensorBoard runs: {', '.join(str(path) for path in result.runs)}")
    print(f"look at them: tensorboard --logdir {args.logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
