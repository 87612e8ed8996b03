"""The ``kerasnotes`` command line: ``kerasnotes tour | explain | board``.

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
    tour.add_argument(
        "--only",
        type=_step_list,
        metavar="C1,C5,search",
        help="run only these steps: claim ids and/or 'search' (the keras-tuner search), "
        "comma-separated (default: every claim with an experiment, then the search; "
        "--quick leaves the search out)",
    )
    _add_explain(commands)
    _add_board(commands)
    return parser


def _step_list(text: str) -> list[str]:
    # argparse turns ArgumentTypeError into "argument --only: ..." and exit status 2.
    from kerasnotes import tour

    try:
        return tour.parse_steps(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _add_explain(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser(
        "explain",
        help="teach a formula, claim or chapter of the notes (alone: list the topics)",
        description="Print a topic of the notes: its formula, what it means, when to use it, "
        "the kerasnotes API with an example, and how it differs from the Keras built-in.",
    )
    explain.add_argument("topic", nargs="?", help="id (F13, C2, ch4) or short name (saddle, adam)")
    explain.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the text")


def _run_explain(args: argparse.Namespace) -> int:
    from kerasnotes import notes

    if args.topic is None:
        _write(notes.listing(args.lang) + "\nkerasnotes explain TOPIC [--lang en|zh] prints one.\n")
        return 0
    try:
        text = notes.render(args.topic, lang=args.lang)
    except ValueError as error:
        print(f"kerasnotes explain: {error}", file=sys.stderr)
        return 2
    _write(text)
    return 0


def _write(text: str) -> None:
    # The notes contain θ, ∇ and Chinese: fall back to UTF-8 bytes on a console that cannot encode them.
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()


def _add_board(commands: argparse._SubParsersAction) -> None:
    board = commands.add_parser(
        "board", help="start TensorBoard on 127.0.0.1 with the kerasnotes tab (Ctrl-C stops it)"
    )
    board.add_argument("--logdir", default="runs", help="folder of TensorBoard runs")
    board.add_argument("--port", type=int, default=6006, help="TCP port (0 picks a free one)")


def _run_board(args: argparse.Namespace) -> int:
    from kerasnotes import board

    return board.serve(args.logdir, port=args.port)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _build_parser().parse_args(argv)
    if args.command == "tour":
        from kerasnotes import tour

        mode = "quick" if args.quick else "full" if args.full else "default"
        return tour.main(logdir=args.logdir, mode=mode, only=args.only)
    if args.command == "explain":
        return _run_explain(args)
    if args.command == "board":
        return _run_board(args)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse guarantees a command


if __name__ == "__main__":
    sys.exit(main())
