"""The ``kerasnotes`` command line: ``kerasnotes tour``.

``python -m kerasnotes`` is the same program.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasnotes",
        description="The optimisation side of deep learning, measured on your machine.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tour = commands.add_parser("tour", help="train on real data and report what the notes claim")
    tour.add_argument("--logdir", default="runs", help="where TensorBoard runs and plots go")
    size = tour.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke-test size (seconds)")
    size.add_argument("--full", action="store_true", help="larger, more faithful runs")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _build_parser().parse_args(argv)
    if args.command == "tour":
        from kerasnotes import tour

        mode = "quick" if args.quick else "full" if args.full else "default"
        return tour.main(logdir=args.logdir, mode=mode)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse guarantees a command


if __name__ == "__main__":
    sys.exit(main())
