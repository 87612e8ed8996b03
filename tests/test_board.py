"""kerasnotes.board: TensorBoard starts on 127.0.0.1, lists its plugins, and stops."""

from __future__ import annotations

import importlib.util
import json
import socket
import urllib.error
import urllib.request

import pytest

from kerasnotes import board

pytestmark = [pytest.mark.backend_independent, pytest.mark.timeout(120)]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_start_serves_plugins_listing_and_stop_frees_the_port(tmp_path):
    url, stop = board.start(tmp_path, port=0)
    try:
        assert url.startswith("http://127.0.0.1:")
        listing = _get_json(url + "data/plugins_listing")
        assert "scalars" in listing
        assert listing["scalars"]["enabled"] in (True, False)
        if importlib.util.find_spec("kerasnotes.tensorboard_plugins.plugin") is not None:
            # dynamic (entry-point) plugins are loaded too, so the kerasnotes tab is listed
            assert "kerasnotes" in listing
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert port > 0
    finally:
        stop()
    stop()  # a second call is harmless
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(url + "data/plugins_listing", timeout=5)
    # the port is free again: we can bind it ourselves
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_port_in_use_is_an_oserror_naming_the_port(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        taken = sock.getsockname()[1]
        with pytest.raises(OSError, match=str(taken)):
            board.start(tmp_path, port=taken)


def test_wrong_port_is_rejected_before_starting(tmp_path):
    for port in (-1, 70000, "6006", True):
        with pytest.raises(ValueError, match="port"):
            board.start(tmp_path, port=port)


@pytest.mark.slow  # a fresh interpreter imports TensorBoard and TensorFlow: 10-25 s on 2 cores
def test_cli_board_prints_the_url_and_stops_on_ctrl_c(tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "kerasnotes", "board", "--logdir", str(tmp_path), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()  # the server prints its URL once it listens
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        assert "scalars" in _get_json(url + "data/plugins_listing")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_board_rejects_a_bad_port(capsys):
    from kerasnotes import cli

    assert cli.main(["board", "--port", "-1"]) == 2
    assert "port" in capsys.readouterr().err


def test_log_dir_problem_names_the_folder(tmp_path):
    missing = tmp_path / "missing"
    assert board.log_dir_problem(missing) == (
        f"the log folder {str(missing)!r} does not exist; "
        "`kerasnotes tour` writes its runs to runs/"
    )
    assert board.log_dir_problem(tmp_path).endswith("holds no TensorBoard event files")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "events.out.tfevents.1.host").write_bytes(b"")
    assert board.log_dir_problem(tmp_path) is None


def test_the_deprecated_logdir_spellings_still_work_for_one_release(tmp_path, capsys):
    missing = tmp_path / "missing"
    with pytest.warns(DeprecationWarning, match="log_dir_problem"):
        assert board.logdir_problem(missing) == board.log_dir_problem(missing)
    with pytest.warns(DeprecationWarning, match=r"board\.serve\(logdir=\.\.\.\)"):
        assert board.serve(logdir=missing) == 2  # the folder it got does not exist
    assert str(missing) in capsys.readouterr().err
    with pytest.warns(DeprecationWarning, match=r"board\.start\(logdir=\.\.\.\)"):
        with pytest.raises(ValueError, match="port=-1"):
            board.start(logdir=tmp_path, port=-1)
    with pytest.raises(TypeError, match="pass only log_dir"):
        board.start(tmp_path, logdir=tmp_path)
