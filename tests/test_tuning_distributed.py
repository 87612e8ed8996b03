"""keras-tuner's chief/worker mode running a kerasnotes search: one chief, two workers, 127.0.0.1.

Each process is ``tests/_tuner_search_process.py`` (``search_digits``, as
``examples/07_tuner_search.py`` runs it to scale a search), started with
keras-tuner's ``KERASTUNER_TUNER_ID`` / ``KERASTUNER_ORACLE_IP`` /
``KERASTUNER_ORACLE_PORT`` variables. The test checks
that every trial completes, that each trial a worker ran is in the chief's
oracle with the score the worker measured, and that the workers' TensorBoard
runs cover every trial. Processes are always killed, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

BACKEND = keras.backend.backend()

EXAMPLE = Path(__file__).resolve().parent / "_tuner_search_process.py"
MAX_TRIALS = 4
DEADLINE_SECONDS = 420  # three backend imports on a busy 2-core machine, then 4 short trials


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the process and its children
        except ProcessLookupError:
            pass
        process.wait(timeout=30)


def _run_distributed_search(tmp_path: Path) -> dict[str, dict]:
    port = _free_port()
    common = [
        sys.executable,
        str(EXAMPLE),
        "--tuner",
        "random",
        "--max-trials",
        str(MAX_TRIALS),
        "--epochs",
        "1",
        "--subset",
        "200",
        "--directory",
        str(tmp_path / "tuner"),
        "--logdir",
        str(tmp_path / "runs"),
    ]
    processes: dict[str, subprocess.Popen] = {}
    logs = {}
    try:
        for role in ("chief", "tuner0", "tuner1"):
            env = {
                **os.environ,
                "KERAS_BACKEND": BACKEND,
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "KERASTUNER_TUNER_ID": role,
                "KERASTUNER_ORACLE_IP": "127.0.0.1",
                "KERASTUNER_ORACLE_PORT": str(port),
            }
            logs[role] = open(tmp_path / f"{role}.log", "w")  # closed in the finally below
            processes[role] = subprocess.Popen(
                [*common, "--results-json", str(tmp_path / f"{role}.json")],
                env=env,
                stdout=logs[role],
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=tmp_path,
            )
        deadline = time.monotonic() + DEADLINE_SECONDS
        for role, process in processes.items():
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{role} did not finish within {DEADLINE_SECONDS} s")
    finally:
        for process in processes.values():
            _kill(process)
        for handle in logs.values():
            handle.close()
    for role, process in processes.items():
        assert process.returncode == 0, (
            f"{role} exited with {process.returncode}:\n"
            + (tmp_path / f"{role}.log").read_text()[-3000:]
        )
    return {role: json.loads((tmp_path / f"{role}.json").read_text()) for role in processes}


def _check(results: dict[str, dict], tmp_path: Path) -> None:
    chief = results["chief"]
    assert chief["role"] == "chief"
    trials = chief["trials"]
    assert len(trials) == MAX_TRIALS
    assert all(trial["status"] == "COMPLETED" for trial in trials.values())
    assert chief["val_accuracy"] == max(trial["score"] for trial in trials.values())

    ran = {}
    for role in ("tuner0", "tuner1"):
        assert results[role]["role"] == "worker"
        for trial_id, trial in results[role]["trials"].items():
            assert trial_id not in ran, f"trial {trial_id} ran twice"
            ran[trial_id] = trial["score"]
    # Every trial ran on a worker, and the oracle holds the score the worker measured.
    assert sorted(ran) == sorted(trials)
    for trial_id, score in ran.items():
        assert trials[trial_id]["score"] == pytest.approx(score, abs=1e-7)
    # Each trial has its TensorBoard run, written by the worker that ran it.
    runs = tmp_path / "runs"
    for trial_id in trials:
        run = runs / f"trial_{trial_id}" / "execution0"
        assert any(name.startswith("events.out.tfevents") for name in os.listdir(run))


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="three processes each import the backend (~1 min); the default run covers the "
    "chief/worker protocol once, under TensorFlow; the slow variant below runs every backend",
)
def test_chief_and_two_workers_complete_a_search(tmp_path):
    _check(_run_distributed_search(tmp_path), tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(BACKEND == "tensorflow", reason="the default-run test above covers TensorFlow")
def test_chief_and_two_workers_complete_a_search_on_this_backend(tmp_path):
    _check(_run_distributed_search(tmp_path), tmp_path)
