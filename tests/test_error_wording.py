"""Argument errors keep Keras's wording: "... Received: name=value", never "got".

Scans the package source for ``raise ValueError(...)`` / ``raise TypeError(...)``
(and the plugin's ``BadRequest``, a ValueError) whose message text says "got",
or the old "; received name=" form, so the wording of ``kerasnotes._validation``
cannot drift back one inline copy at a time.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FOLDERS = ("kerasnotes", "callbacks", "tensorboard_plugins")

#: Files (or folders) the scan skips. Empty since issue #16 switched the last modules
#: (the curvature engine, the backends, SaddlePointDetector, the claims) to the shared
#: wording; a path listed here must exist (see ``test_the_exempt_paths_exist``).
EXEMPT: frozenset[str] = frozenset()

_CHECKED_ERRORS = {"ValueError", "TypeError", "BadRequest"}
# "got" as a word, or the pre-#16 optimizer form "...; received lr=0.1." (lower case).
_OLD_WORDING = re.compile(r"\bgot\b|\breceived [A-Za-z_][\w.]*=")


def _is_exempt(relative: str) -> bool:
    return any(relative == path or relative.startswith(path + "/") for path in EXEMPT)


def _source_files() -> list[Path]:
    files = []
    for folder in PACKAGE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if not _is_exempt(path.relative_to(ROOT).as_posix()):
                files.append(path)
    return files


def _error_name(node: ast.expr | None) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _text(node: ast.expr) -> str:
    """The literal text of a message expression, in source order; a ``{...}`` field reads "x"."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(part) for part in node.values)
    if isinstance(node, ast.FormattedValue):
        return "x"
    if isinstance(node, ast.BinOp):  # "..." + "..." (or % formatting)
        return _text(node.left) + _text(node.right)
    if isinstance(node, ast.Call):  # a message built by a helper: its literal arguments
        return " ".join(_text(argument) for argument in node.args)
    return ""


def _message_text(call: ast.Call) -> str:
    return " ".join(_text(argument) for argument in call.args)


def old_wordings(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """``(line, message)`` of each checked ``raise`` whose text uses the old wording."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Raise) and _error_name(node.exc) in _CHECKED_ERRORS:
            text = _message_text(node.exc)
            if _OLD_WORDING.search(text):
                found.append((node.lineno, text))
    return found


def test_the_scan_finds_the_old_wording():
    # The detector itself: each old form is caught, Keras's form and other words are not.
    source = """
def f(x, name):
    if x < 0:
        raise ValueError(f"x must be >= 0; got x={x!r}")
    if x > 9:
        raise TypeError("x must be an int; " f"got {x}")
    if x == 5:
        raise errors.BadRequest(f"`{name}` must be > 0; received {name}={x!r}.")
    if x == 4:
        raise ValueError(f"Argument `x` must be >= 0. Received: x={x!r}")
    if x == 3:
        raise RuntimeError(f"got {x}")  # not an argument error
    if x == 2:
        raise ValueError(f"forgotten gotcha {x}")
"""
    assert [line for line, _ in old_wordings(source)] == [4, 6, 8]


def test_the_exempt_paths_exist():
    # A path that no longer exists (moved, split) would silently exempt nothing.
    missing = sorted(path for path in EXEMPT if not (ROOT / path).exists())
    assert missing == [], f"exempt paths that no longer exist: {missing}"


def test_no_argument_error_says_got():
    files = _source_files()
    assert len(files) > 20  # the scan really walked the package
    offenders = [
        f"{path.relative_to(ROOT).as_posix()}:{line}: {text!r}"
        for path in files
        for line, text in old_wordings(path.read_text(encoding="utf-8"), str(path))
    ]
    assert offenders == [], (
        "Argument errors use Keras's wording: 'Argument `name` must be ... "
        "Received: name=value' (kerasnotes._validation.message); found:\n" + "\n".join(offenders)
    )
