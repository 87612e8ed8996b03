"""The command line answers --help, --version and argument errors before loading a framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("keras", "tensorflow", "jax", "torch", "tensorboard")

# Runs the command line in a fresh interpreter, then reports its exit status and
# which heavy modules it imported (a wall-clock limit would be flaky on a busy machine).
_PROBE = """
import json, sys
from kerasnotes import cli
try:
    status = cli.main(sys.argv[1:])
except SystemExit as stop:
    status = stop.code
sys.stdout.flush()
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"status": status, "heavy": heavy}}), file=sys.stderr)
"""


def _probe(*argv: str) -> tuple[int, list[str], str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )
    *err_lines, report = done.stderr.rstrip().splitlines()
    result = json.loads(report)
    return result["status"], result["heavy"], done.stdout, "\n".join(err_lines)


@pytest.mark.backend_independent
@pytest.mark.e2e
def test_version_prints_the_distribution_version_without_a_framework():
    status, heavy, out, _ = _probe("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (status, heavy) == (0, [])
    assert out == f"kerasnotes {version}\n"
    assert metadata.version("kerasnotes") == version


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], ["--version", "tour", "board", "explain"]),
        (["tour", "--help"], ["(default: runs/)", "--quick", "--only"]),
        (["board", "--help"], ["(default: runs/)", "(default: 6006)"]),
        (["explain", "--help"], ["(default: en)"]),
    ],
)
@pytest.mark.e2e
def test_help_shows_every_default_without_a_framework(argv, expected):
    status, heavy, out, _ = _probe(*argv)
    assert (status, heavy) == (0, [])
    for text in expected:
        assert text in " ".join(out.split())  # argparse wraps lines at the terminal width


@pytest.mark.backend_independent
@pytest.mark.e2e
def test_argument_errors_are_reported_before_a_framework_loads(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("kept")
    cases = [
        (["tour", "--only", "C99"], "argument --only: unknown claim id(s) C99"),
        (["tour", "--quick", "--logdir", str(blocker / "runs")], "cannot write to logdir="),
        (["tour", "--logdir", str(blocker)], "cannot write to logdir="),
        (["board", "--logdir", str(tmp_path / "missing")], "does not exist"),
        (["board", "--logdir", str(blocker)], "is a file, not a folder"),
        (["board", "--port", "70000"], "`port` must be an integer in [0, 65535]"),
    ]
    for argv, message in cases:
        status, heavy, out, err = _probe(*argv)
        assert (status, heavy, out) == (2, [], ""), argv
        assert message in err, (argv, err)
    assert blocker.read_text() == "kept"
    assert not (tmp_path / "missing").exists()


@pytest.mark.backend_independent
def test_explain_suggests_topics_in_plain_words(capsys):
    from kerasnotes import cli

    assert cli.main(["explain", "sadle"]) == 2
    err = capsys.readouterr().err
    assert err.startswith('kerasnotes explain: There is no topic called "sadle". Did you mean F13')
    assert "name=" not in err and "'sadle'" not in err  # no Python repr


@pytest.mark.e2e
def test_tour_prints_no_tensorflow_startup_lines(tmp_path):
    # The user has not chosen a TensorFlow log level (conftest sets one for the tests).
    # C0 seeds Keras (on TensorFlow, Keras loads it; elsewhere the tour never does).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "kerasnotes", "tour", "--quick", "--only", "C0"]
        + ["--logdir", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    for noise in ("oneDNN", "cpu_feature_guard", "absl::InitializeLog", "rebuild TensorFlow"):
        assert noise not in done.stderr
    assert "1 claim in" in done.stdout


@pytest.mark.e2e
def test_import_quietly_passes_other_stderr_lines_on(tmp_path):
    # Only the known start-up lines are dropped; whatever else the import writes stays.
    package = tmp_path / "noisy_package_for_test"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os\n"
        "os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'a warning the user should see\\n')\n"
    )
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from kerasnotes import cli;"
        "cli.import_quietly('noisy_package_for_test'); print('noisy_package_for_test' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"
    assert done.stderr == "a warning the user should see\n"
