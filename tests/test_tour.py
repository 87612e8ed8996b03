"""``kerasnotes tour``: the command line, its table, and how it survives a failing claim."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from kerasnotes import cli, experiments, tour
from kerasnotes.experiments.base import ClaimFiles, ClaimResult


@pytest.mark.e2e
def test_tour_quick_only_one_claim_prints_the_table_and_the_tensorboard_command(
    tmp_path, capsys, replay_quick_claims
):
    # C8 trains once in the session (conftest's quick_claims); the tour gets its files.
    logdir = tmp_path / "runs"
    assert cli.main(["tour", "--quick", "--only", "c8", "--logdir", str(logdir)]) == 0
    out = capsys.readouterr().out
    assert "C8" in out and "C0" not in out.split("\n", 1)[1]  # only the claim asked for
    assert "90%" in out and "MSE" in out  # the figure and verdict columns
    assert f"tensorboard --logdir {logdir}" in out
    assert f"kerasnotes board --logdir {logdir}" in out
    assert "1 claim in" in out and "0 failed" in out  # singular for one claim
    assert (logdir / "C8" / "c8_cross_entropy.png").stat().st_size > 0
    plot_lines = [line for line in out.splitlines() if line.startswith("C8 plot: ")]
    assert len(plot_lines) == 1
    assert Path(plot_lines[0].removeprefix("C8 plot: ")).resolve() == (
        logdir / "C8" / "c8_cross_entropy.png"
    )
    for config in ("cross_entropy", "mse"):
        assert list((logdir / "C8" / config).glob("events.out.tfevents.*"))


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("only", "message"),
    [("C42", "unknown claim id(s) C42"), ("C3,X1", "X1"), ("C1", "no experiment yet")],
)
def test_unknown_or_unavailable_claims_exit_with_status_2(only, message, capsys, monkeypatch):
    monkeypatch.delitem(experiments.REGISTRY, "C1", raising=False)  # a claim not written yet
    with pytest.raises(SystemExit) as stopped:
        cli.main(["tour", "--quick", "--only", only])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "argument --only" in error and message in error
    assert "the tour can run C0" in error  # says which claims can run


def _fake_claim(name: str, run) -> str:
    module = types.ModuleType(name)
    module.run = run
    sys.modules[name] = module
    return name


def test_a_failing_claim_is_reported_and_the_others_are_kept(tmp_path, monkeypatch, capsys):
    def works(mode, logdir, seed, progress):
        return _fake_claim_result(logdir, "only_config", "c1_fake", "figure 1.0")

    def fails(mode, logdir, seed, progress):
        progress("first_config")
        raise RuntimeError("the data ran out")

    monkeypatch.setitem(experiments.REGISTRY, "C1", _fake_claim("fake_c1", works))
    monkeypatch.setitem(experiments.REGISTRY, "C2", _fake_claim("fake_c2", fails))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # forget the fakes afterwards

    status = tour.main(log_dir=str(tmp_path), mode="quick", only=["C2", "C1"])

    out = capsys.readouterr().out
    assert status == 1
    assert "C2 failed" in out and "RuntimeError: the data ran out" in out
    assert "C1: verdict" in out and "figure 1.0" in out
    assert "2 claims in" in out and "1 reproduced" in out and "1 failed" in out
    assert (tmp_path / "C1" / "c1_fake.png").exists()
    assert (tmp_path / "C1" / "only_config").is_dir()


@pytest.mark.backend_independent
def test_run_tour_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="`mode` must be one of"):
        tour.run_tour(["C8"], mode="slow", log_dir=tmp_path)
    with pytest.raises(ValueError, match="registered ids"):
        tour.run_tour(["C42"], mode="quick", log_dir=tmp_path)


@pytest.mark.backend_independent
def test_results_table_lists_every_outcome():
    from rich.console import Console

    result = ClaimResult(
        "C8",
        "ce vs mse",
        "CE 2, MSE > 15",
        "C8: verdict",
        False,
        Path("runs/C8/p.png"),
        [Path("runs/C8/mse")],
    )
    outcomes = [
        tour.Outcome("C8", result, None, 3.0),
        tour.Outcome("C3", None, "ValueError: bad", 1.0),
    ]
    console = Console(width=200, record=True)
    console.print(tour.results_table(outcomes))
    text = console.export_text()
    for expected in ("C8", "not reproduced", "CE 2, MSE > 15", "C8: verdict", "C3", "failed"):
        assert expected in text
    assert "ValueError: bad" in text
    assert tour.file_lines(outcomes) == ["C8 plot: runs/C8/p.png", "C8 runs: runs/C8/ (mse)"]


def _fake_claim_result(logdir, config, plot_name, figure):
    """C1's result with one (empty) run ``config`` and a (fake) plot ``plot_name`` under logdir."""
    files = ClaimFiles(logdir, "C1")
    run_dir = files.run_dir(config)
    (run_dir / "events.out.tfevents.0.test.0.0").write_bytes(b"")
    plot = files.plot_path(plot_name)
    plot.write_bytes(b"\x89PNG")
    return ClaimResult("C1", "a claim", figure, "C1: verdict", True, plot, files.runs)


def _claim_with_long_paths(mode, logdir, seed, progress):
    return _fake_claim_result(
        logdir,
        "a_configuration_with_a_long_name",
        "c1_a_plot_with_a_rather_long_file_name",
        "figure",
    )


def test_a_narrow_console_prints_every_path_whole(tmp_path, monkeypatch):
    # The table used to fold paths inside a narrow column ("...c7_early_stopping.p" / "ng").
    import io

    from rich.console import Console

    monkeypatch.setitem(
        experiments.REGISTRY, "C1", _fake_claim("fake_c1_paths", _claim_with_long_paths)
    )
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    monkeypatch.chdir(tmp_path)
    logdir = "a_fairly_long_folder_for_the_runs_of_this_tour"
    buffer = io.StringIO()
    assert tour.main(logdir, mode="quick", only=["C1"], console=Console(file=buffer, width=60)) == 0
    out = buffer.getvalue()
    plot = f"{logdir}/C1/c1_a_plot_with_a_rather_long_file_name.png"
    assert f"C1 plot: {plot}\n" in out
    assert f"C1 runs: {logdir}/C1/ (a_configuration_with_a_long_name)\n" in out
    assert (tmp_path / plot).exists()


def test_ctrl_c_in_a_step_ends_with_one_line_and_status_130(tmp_path, monkeypatch):
    def interrupted(mode, logdir, seed, progress):
        raise KeyboardInterrupt

    monkeypatch.setitem(
        experiments.REGISTRY, "C1", _fake_claim("fake_c1_done", _claim_with_long_paths)
    )
    monkeypatch.setitem(experiments.REGISTRY, "C2", _fake_claim("fake_c2_stop", interrupted))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    import io

    from rich.console import Console

    buffer = io.StringIO()
    logdir = tmp_path / "runs"
    status = tour.main(logdir, mode="quick", only=["C1", "C2", "C3"], console=Console(file=buffer))
    assert status == tour.INTERRUPTED == 130
    last = buffer.getvalue().rstrip().splitlines()[-1]
    assert last == f"interrupted: 1 of 3 steps completed (C1); runs in {logdir}/"
    assert (logdir / "C1" / "c1_a_plot_with_a_rather_long_file_name.png").exists()
    with pytest.raises(tour.TourInterrupted) as stopped:
        tour.run_tour(["C2"], mode="quick", log_dir=logdir, console=Console(file=io.StringIO()))
    assert stopped.value.outcomes == [] and stopped.value.steps == ["C2"]


def test_a_ctrl_c_swallowed_where_it_landed_still_stops_the_tour(tmp_path, monkeypatch):
    # CI saw SIGINT land in JAX's garbage-collector callback: Python printed
    # "Exception ignored", the tour trained on and exited 0.
    import io
    import os
    import signal
    import time

    from rich.console import Console

    reached = []

    def swallows_the_interrupt(mode, logdir, seed, progress):
        progress("first configuration")
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler runs at the next bytecode; never reached in full
        except KeyboardInterrupt:
            pass  # what a gc callback or __del__ does with it
        progress("second configuration")
        reached.append("second configuration")

    monkeypatch.setitem(
        experiments.REGISTRY, "C1", _fake_claim("fake_c1_swallows", swallows_the_interrupt)
    )
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    previous_handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(tour.TourInterrupted) as stopped:
        tour.run_tour(
            ["C1", "C2"], mode="quick", log_dir=tmp_path, console=Console(file=io.StringIO())
        )
    assert reached == [] and stopped.value.outcomes == []
    assert signal.getsignal(signal.SIGINT) is previous_handler  # the tour's handler is gone


def test_a_ctrl_c_in_a_gc_callback_stops_the_tour_without_an_ignored_traceback(
    tmp_path, monkeypatch
):
    # CI's second sighting: SIGINT landed in JAX's gc callback; the tour stopped
    # with 130 but Python printed "Exception ignored ... KeyboardInterrupt".
    import gc
    import io
    import os
    import signal
    import time

    from rich.console import Console

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    reached = []

    def interrupted_while_collecting(phase, info):
        if phase == "start" and not reached:
            reached.append("in the gc callback")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the handler runs here, inside the callback

    def collects(mode, log_dir, seed, progress):
        progress("first configuration")
        gc.callbacks.append(interrupted_while_collecting)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(interrupted_while_collecting)
        reached.append("after the collection")
        progress("second configuration")
        reached.append("second configuration")

    monkeypatch.setitem(experiments.REGISTRY, "C1", _fake_claim("fake_c1_gc", collects))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    with pytest.raises(tour.TourInterrupted):
        tour.run_tour(["C1"], mode="quick", log_dir=tmp_path, console=Console(file=io.StringIO()))
    assert reached == ["in the gc callback", "after the collection"]
    assert unraisable == []  # nothing printed as "Exception ignored"


@pytest.mark.e2e
def test_sigint_to_a_running_tour_exits_130_without_a_traceback(tmp_path):
    import os
    import signal
    import subprocess
    import time

    logdir = tmp_path / "runs"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kerasnotes",
            "tour",
            "--only",  # default mode: C8 trains 3 seeds x 2 losses, so SIGINT lands inside it
            "C2,C8",
            "--logdir",
            str(logdir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        # C8's folder appears once C2 is done and C8 has started.
        while not (logdir / "C8").exists() and process.poll() is None:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert (
        out.rstrip().splitlines()[-1]
        == f"interrupted: 1 of 2 steps completed (C2); runs in {logdir}/"
    )
    assert (logdir / "C2" / "c2_escape.png").exists()


def test_search_step_name_matches_the_search_module():
    from kerasnotes.experiments import search

    assert tour.SEARCH == search.STEP


@pytest.mark.backend_independent
def test_an_unwritable_logdir_stops_before_training(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert tour.main(log_dir=str(blocker / "runs"), mode="quick", only=["C8"]) == 2
    assert "cannot write to logdir" in capsys.readouterr().out
    assert blocker.read_text() == "not a folder"


def test_claims_train_under_the_backends_short_run_settings_restored_after(tmp_path, monkeypatch):
    # TensorFlow: Grappler is off while the claims train and back on after, also when
    # a claim fails; other backends have nothing to switch (a no-op context).
    import keras

    seen = []

    def grappler_off() -> bool | None:
        if keras.backend.backend() != "tensorflow":
            return None
        import tensorflow as tf

        return bool(tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"])

    def fails(mode, logdir, seed, progress):
        seen.append(grappler_off())
        raise RuntimeError("stop")

    monkeypatch.setitem(experiments.REGISTRY, "C1", _fake_claim("fake_c1_settings", fails))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    before = grappler_off()
    outcomes = tour.run_tour(["C1"], mode="quick", log_dir=tmp_path)
    assert outcomes[0].error == "RuntimeError: stop"
    expected_inside = True if keras.backend.backend() == "tensorflow" else None
    assert seen == [expected_inside]
    assert grappler_off() == before


def test_the_deprecated_logdir_keyword_still_reaches_the_claims(tmp_path, monkeypatch):
    # One release of grace after the rename to log_dir (the CLI flag stays --logdir).
    got = []

    def records(mode, log_dir, seed, progress):
        got.append(Path(log_dir))
        raise RuntimeError("recorded")

    monkeypatch.setitem(experiments.REGISTRY, "C1", _fake_claim("fake_c1_logdir", records))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))
    with pytest.warns(DeprecationWarning, match=r"tour\.run_tour\(logdir=\.\.\.\).*log_dir="):
        outcomes = tour.run_tour(["C1"], mode="quick", logdir=tmp_path / "old")
    assert got == [tmp_path / "old"] and outcomes[0].error == "RuntimeError: recorded"
    with pytest.warns(DeprecationWarning, match=r"tour\.main\(logdir=\.\.\.\)"):
        assert tour.main(logdir=tmp_path / "older", mode="quick", only=["C1"]) == 1
    assert got[-1] == tmp_path / "older" and (tmp_path / "older").is_dir()  # main made it
    with pytest.raises(TypeError, match="pass only log_dir. Received: log_dir=.*logdir="):
        tour.run_tour(["C1"], mode="quick", log_dir=tmp_path / "a", logdir=tmp_path / "b")
    assert len(got) == 2  # nothing ran
