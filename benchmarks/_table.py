"""Benchmark tables into ``benchmarks/README.md``, between ``<!-- bench:NAME -->`` markers.

Measured timings live in one file, written by the scripts that measure them,
instead of in docstrings and comments where they go stale. Each script's
``--write-readme`` flag replaces the text between its pair of markers::

    <!-- bench:NAME -->
    ...the script's markdown tables, replaced on every --write-readme run...
    <!-- /bench:NAME -->

Everything outside the markers (the prose around the tables) is left as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

README = Path(__file__).resolve().with_name("README.md")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def markers(name: str) -> tuple[str, str]:
    """The opening and closing marker lines of section ``name``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name must be letters, digits, '_', '.' or '-'; got name={name!r}")
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the lines between section ``name``'s markers replaced by ``body``.

    Raises:
        ValueError: the markers are missing, repeated or in the wrong order.

    Example:
        >>> doc = "intro\\n<!-- bench:x -->\\nold\\n<!-- /bench:x -->\\nafter\\n"
        >>> print(replace_section(doc, "x", "| a |\\n|---|"), end="")
        intro
        <!-- bench:x -->
        | a |
        |---|
        <!-- /bench:x -->
        after
    """
    begin, end = markers(name)
    counts = (text.count(begin), text.count(end))
    if counts != (1, 1):
        raise ValueError(
            f"the README must hold {begin} and {end} once each; found them {counts[0]} "
            f"and {counts[1]} times"
        )
    start = text.index(begin) + len(begin)
    stop = text.index(end)
    if stop < start:
        raise ValueError(f"{end} comes before {begin}")
    return text[:start] + "\n" + body.strip("\n") + "\n" + text[stop:]


def write_section(name: str, body: str, path: str | os.PathLike = README) -> None:
    """Replace section ``name`` of the file at ``path`` by ``body``, atomically.

    The new text goes to a temporary file beside ``path`` that then replaces it,
    so a failure (missing markers, a full disk) leaves the old file whole.
    """
    path = Path(path)
    text = replace_section(path.read_text(encoding="utf-8"), name, body)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def add_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--write-readme`` to a benchmark's command line."""
    parser.add_argument(
        "--write-readme",
        action="store_true",
        help=f"also replace this benchmark's section of {README.name} with the tables printed",
    )


class _Tee(io.TextIOBase):
    def __init__(self, *streams: io.TextIOBase) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


@contextlib.contextmanager
def tables(name: str, write: bool, path: str | os.PathLike = README) -> Iterator[None]:
    """Print as usual inside the block; with ``write``, also put the output in section ``name``.

    Nothing is written when the block raises, so a failed run never replaces
    the numbers of the last good one.
    """
    if not write:
        yield
        return
    markers(name)  # a bad name fails before the benchmark runs, not after
    captured = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, captured)):
        yield
    write_section(name, captured.getvalue(), path)
    print(f"wrote the {name} section of {path}", file=sys.stderr)
