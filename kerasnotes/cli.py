"""The ``kerasnotes`` command line: ``kerasnotes tour | explain | board``.

``python -m kerasnotes`` is the same program. Arguments are checked before Keras
(and with it TensorFlow, JAX or PyTorch) is imported, so ``--help``, ``--version``
and a mistyped argument answer at once; TensorFlow's C++ start-up lines (oneDNN,
cpu_feature_guard) are kept out of the output.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Sequence

from kerasnotes import __version__

#: Exit status of a program stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130

# What TensorFlow's C++ code prints while it loads, before absl logging is set up
# (so TF_CPP_MIN_LOG_LEVEL cannot hide it): the oneDNN notice, the CPU-feature
# notice and absl's own warning about logging before InitializeLog.
_STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|"
    r"port\.cc:\d+\] oneDNN custom operations|"
    r"cpu_feature_guard\.cc|"
    r"To enable the following instructions:.*rebuild TensorFlow"
)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasnotes",
        description="The optimisation side of deep learning, measured on your machine.",
    )
    parser.add_argument("--version", action="version", version=f"kerasnotes {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    tour = commands.add_parser("tour", help="train on real data and report what the notes claim")
    tour.add_argument(
        "--logdir",
        default="runs",
        help="where TensorBoard runs and plots go (default: %(default)s/)",
    )
    size = tour.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke-test size (seconds)")
    size.add_argument("--full", action="store_true", help="larger, more faithful runs")
    # (neither: the default size, two to three minutes on two cores)
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
    # kerasnotes.tour imports no framework at module level, so this stays fast.
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
    explain.add_argument(
        "--lang",
        choices=["en", "zh"],
        default="en",
        help="language of the text (default: %(default)s)",
    )


def _run_explain(args: argparse.Namespace) -> int:
    from kerasnotes import notes

    if args.topic is None:
        _write(notes.listing(args.lang) + "\nkerasnotes explain TOPIC [--lang en|zh] prints one.\n")
        return 0
    try:
        topic = notes.lookup(args.topic)
    except ValueError:
        print(f"kerasnotes explain: {notes.not_found_message(args.topic)}", file=sys.stderr)
        return 2
    _write(notes.render(topic, lang=args.lang) + "\n" + _site_line(topic, args.lang))
    return 0


#: The last line of ``kerasnotes explain TOPIC``: the topic's page in the built site.
_SITE_LINE = {
    "en": "On the documentation site: site/{page}  (`mkdocs build` in a clone; docs/building.md)",
    "zh": "文档网站中的页面：site/{page}（在克隆的仓库中运行 `mkdocs build` 生成；见 docs/building.md）",
}


def _site_line(topic, lang: str) -> str:
    # A path into the site `mkdocs build` writes to site/ (offline; nothing is fetched).
    from kerasnotes import notes

    return _SITE_LINE[lang].format(page=notes.site_page(topic, lang)) + "\n"


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
    board.add_argument(
        "--logdir", default="runs", help="folder of TensorBoard runs (default: %(default)s/)"
    )
    board.add_argument(
        "--port", type=int, default=6006, help="TCP port, 0 picks a free one (default: %(default)s)"
    )


def _run_board(args: argparse.Namespace) -> int:
    from kerasnotes import board

    return board.serve(args.logdir, port=args.port)


def import_quietly(module: str) -> None:
    """Import ``module`` (Keras, TensorBoard) without TensorFlow's C++ start-up lines.

    TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's later INFO and WARNING lines unless the
    user chose a level. The lines printed while the C++ libraries load come before
    that setting is read, straight to file descriptor 2, so the import runs with
    descriptor 2 sent to a temporary file; every other line is passed on to stderr.

    Args:
        module: the module to import, e.g. "keras".

    Example:
        >>> from kerasnotes import cli
        >>> cli.import_quietly("keras")
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if module in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (a detached process): nothing to hide
        importlib.import_module(module)
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            importlib.import_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _STARTUP_NOISE.search(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def _check_log_dir(log_dir: str) -> str | None:
    """Why the tour cannot write to ``log_dir`` (None when it can); creates the folder."""
    try:
        os.makedirs(log_dir, exist_ok=True)
    except OSError as error:
        return error.strerror or str(error)
    if not os.access(log_dir, os.W_OK | os.X_OK):
        return "permission denied"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status.

    Arguments are parsed and checked (claim ids, the tour's --logdir, board's folder
    and port) before Keras is imported. Ctrl-C ends the program with status 130
    and one line instead of a traceback.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 when a tour step failed, 2 for a usage error, 130 on Ctrl-C.

    Example:
        >>> from kerasnotes import cli
        >>> cli.main(["explain", "F13"])  # doctest: +ELLIPSIS
        F13 · ...
        0
    """
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "tour":
            return _run_tour(args)
        if args.command == "explain":
            return _run_explain(args)
        if args.command == "board":
            return _run_board(args)
    except KeyboardInterrupt:
        # The tour reports its own interruption; this is Ctrl-C while Keras loads.
        print(f"kerasnotes {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse guarantees a command


def _run_tour(args: argparse.Namespace) -> int:
    problem = _check_log_dir(args.logdir)
    if problem is not None:
        print(
            f"kerasnotes tour: cannot write to logdir={args.logdir!r} ({problem}); "
            "pass --logdir with a folder you can create",
            file=sys.stderr,
        )
        return 2
    # On TensorFlow, Keras loads it here. On JAX and torch the tour never loads it:
    # it seeds through _compat.set_random_seed, which skips an unloaded TensorFlow
    # (keras.utils.set_random_seed would import it, 4-7 s of CPU, to seed it).
    import_quietly("keras")
    from kerasnotes import tour

    mode = "quick" if args.quick else "full" if args.full else "default"
    return tour.main(log_dir=args.logdir, mode=mode, only=args.only)


if __name__ == "__main__":
    sys.exit(main())
