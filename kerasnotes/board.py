"""Start TensorBoard on 127.0.0.1 with its own dashboards and the kerasnotes tab.

``kerasnotes board`` and the plugin's browser tests share :func:`start`, which runs
the server in a background thread and hands back its URL and a function that stops it.

Example:
    >>> from kerasnotes import board
    >>> url, stop = board.start("runs", port=0)  # doctest: +SKIP
    >>> stop()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import warnings
from collections.abc import Callable

from kerasnotes import _validation
from kerasnotes._deprecation import renamed_log_dir

HOST = "127.0.0.1"


def _check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(
            _validation.message("port", port, "an integer in [0, 65535] (0 picks a free one)")
        )
    return port


def start(
    log_dir: str | os.PathLike = "runs", port: int = 0, *, logdir: str | os.PathLike | None = None
) -> tuple[str, Callable[[], None]]:
    """Serve TensorBoard for ``log_dir`` on 127.0.0.1 in a background thread.

    The server loads TensorBoard's default plugins and every plugin registered under
    the ``tensorboard_plugins`` entry-point group, which includes the kerasnotes tab.
    Event files are read by TensorBoard's Python reader (``--load_fast=false``), so no
    helper process is left behind.

    Args:
        log_dir: folder of TensorBoard runs; it need not exist yet (TensorBoard shows
            an empty dashboard and picks runs up as they are written).
        port: TCP port; 0 asks the operating system for a free one.
        logdir: deprecated spelling of ``log_dir`` (a ``DeprecationWarning``).

    Returns:
        ``(url, stop)``: the server's address, e.g. ``"http://127.0.0.1:6006/"``, and a
        function that shuts the server down (calling it twice is harmless).

    Raises:
        ValueError: ``port`` out of range.
        OSError: the port is taken or cannot be bound.

    Example:
        >>> from kerasnotes import board
        >>> url, stop = board.start("runs")  # doctest: +SKIP
        >>> print(url)  # doctest: +SKIP
        http://127.0.0.1:40123/
        >>> stop()  # doctest: +SKIP
    """
    log_dir = renamed_log_dir(log_dir, logdir, default="runs", caller="board.start")
    port = _check_port(port)
    log_dir = os.fspath(log_dir)
    from tensorboard import default, program

    servers: list[program.WerkzeugServer] = []

    def make_server(wsgi_app, flags) -> program.WerkzeugServer:
        # Keep a handle on the server TensorBoard builds, so that it can be shut down.
        server = program.WerkzeugServer(wsgi_app, flags)
        servers.append(server)
        return server

    tensorboard = program.TensorBoard(plugins=default.get_plugins(), server_class=make_server)
    tensorboard.configure(
        argv=[
            None,
            "--logdir",
            log_dir,
            "--host",
            HOST,
            "--port",
            str(port),
            "--load_fast",
            "false",
        ]
    )
    try:
        url = tensorboard.launch()
    except program.TensorBoardServerException as error:
        raise OSError(f"TensorBoard could not start on {HOST}:{port}: {error.msg}") from error
    (server,) = servers
    lock = threading.Lock()

    def stop() -> None:
        with lock:
            if servers:
                servers.pop()
                server.shutdown()  # ends serve_forever in TensorBoard's thread
                server.server_close()

    return url, stop


def log_dir_problem(log_dir: str | os.PathLike) -> str | None:
    """Why ``log_dir`` shows nothing in TensorBoard, in words (None when it holds event files).

    Args:
        log_dir: folder of TensorBoard runs.

    Example:
        >>> import tempfile
        >>> from kerasnotes import board
        >>> board.log_dir_problem("no/such/folder")
        "the log folder 'no/such/folder' does not exist; `kerasnotes tour` writes its runs to runs/"
        >>> board.log_dir_problem(tempfile.mkdtemp()).endswith("holds no TensorBoard event files")
        True
    """
    # The messages name the folder, not an argument: ``kerasnotes board`` shows them
    # for its ``--logdir`` flag, Python callers for ``log_dir``.
    path = os.fspath(log_dir)
    if not os.path.exists(path):
        return f"the log folder {path!r} does not exist; `kerasnotes tour` writes its runs to runs/"
    if not os.path.isdir(path):
        return f"the log folder {path!r} is a file, not a folder of runs"
    for _, _, files in os.walk(path):
        if any(name.startswith("events.out.tfevents.") for name in files):
            return None
    return f"the log folder {path!r} holds no TensorBoard event files"


def logdir_problem(logdir: str | os.PathLike) -> str | None:
    """Deprecated name of :func:`log_dir_problem` (a ``DeprecationWarning``; removed next release)."""
    warnings.warn(
        "board.logdir_problem is deprecated and will be removed in the next release; "
        "use board.log_dir_problem",
        DeprecationWarning,
        stacklevel=2,
    )
    return log_dir_problem(logdir)


def serve(
    log_dir: str | os.PathLike = "runs",
    port: int = 6006,
    *,
    logdir: str | os.PathLike | None = None,
) -> int:
    """Run TensorBoard until Ctrl-C, printing its URL; returns the exit status.

    A ``log_dir`` that does not exist (or is a file) is an error (status 2); a folder
    without event files gets a note on stderr and is served, since a tour may be
    about to write there.

    Args:
        log_dir: folder of TensorBoard runs.
        port: TCP port (0 picks a free one).
        logdir: deprecated spelling of ``log_dir`` (a ``DeprecationWarning``).
    """
    log_dir = renamed_log_dir(log_dir, logdir, default="runs", caller="board.serve")
    try:
        _check_port(port)
    except ValueError as error:
        print(f"kerasnotes board: {error}", file=sys.stderr)
        return 2
    problem = log_dir_problem(log_dir)
    if problem is not None and not os.path.isdir(log_dir):
        print(f"kerasnotes board: {problem}", file=sys.stderr)
        return 2
    if problem is not None:
        # An empty folder may be one a tour is about to fill: say so, and serve it.
        print(f"kerasnotes board: {problem}; serving it anyway", file=sys.stderr, flush=True)
    if importlib.util.find_spec("tensorflow") is not None:
        # TensorBoard loads TensorFlow when it is installed; without its C++ start-up lines.
        from kerasnotes.cli import import_quietly

        import_quietly("tensorflow")
    try:
        url, stop = start(log_dir, port=port)
    except ValueError as error:
        print(f"kerasnotes board: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"kerasnotes board: {error}", file=sys.stderr)
        return 1
    print(f"TensorBoard for {os.path.abspath(log_dir)} at {url} (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0
