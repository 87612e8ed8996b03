"""The tour's keras-tuner step: what it runs, writes and reports, and how the tour names it."""

from __future__ import annotations

import math

import pytest
from tensorboard.backend.event_processing import event_accumulator

from kerasnotes import cli, tour
from kerasnotes.experiments import search


def _scalar_tags(run_dir) -> list[str]:
    accumulator = event_accumulator.EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator.Tags()["tensors"]


@pytest.mark.e2e
def test_quick_search_writes_a_run_per_trial_and_reports_the_best(tmp_path):
    seen = []
    result = search.run("quick", tmp_path, seed=0, progress=seen.append)

    assert result.claim == "search" and result.status == "searched" and not result.is_claim
    assert seen == ["trial 1/3", "trial 2/3", "trial 3/3"]
    numbers = result.numbers
    assert numbers["trials"] == 3 and numbers["completed"] == 3
    assert 0.0 <= numbers["worst_val_accuracy"] <= numbers["best_val_accuracy"] <= 1.0
    assert f"{numbers['best_val_accuracy']:.4f}" in result.verdict
    assert (
        "optimizer=" in result.verdict and "random search of 3 trials × 2 epochs" in result.verdict
    )
    assert result.plot.read_bytes()[:4] == b"\x89PNG"
    assert len(result.runs) == 3
    for run_dir in result.runs:
        assert run_dir.parent.name.startswith("trial_") and run_dir.name == "execution0"
        assert "epoch_val_accuracy" in _scalar_tags(run_dir)
    assert list((tmp_path / "search").glob("events.out.tfevents.*.hparams"))
    assert not list(tmp_path.glob("search/*/oracle.json"))  # keras-tuner's scratch stays out

    # A rerun replaces the trials' curves instead of adding a second line to each.
    again = search.run("quick", tmp_path, seed=0)
    assert math.isclose(again.numbers["best_val_accuracy"], numbers["best_val_accuracy"])
    for run_dir in again.runs:
        assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    assert len(list((tmp_path / "search").glob("events.out.tfevents.*"))) == 1


@pytest.mark.e2e
def test_tour_only_search_prints_its_row_and_summary(tmp_path, capsys):
    assert cli.main(["tour", "--quick", "--only", "search", "--logdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "searched" in out and "trial_0/execution0" in out
    assert "0 claims in" in out and "Search: best validation accuracy" in out


@pytest.mark.backend_independent
def test_default_steps_add_the_search_except_in_quick_mode():
    assert tour.default_steps("default")[-1] == "search"
    assert tour.default_steps("full")[-1] == "search"
    assert "search" not in tour.default_steps("quick")
    assert tour.default_steps("quick")[0] == "C0"


@pytest.mark.backend_independent
def test_parse_steps_orders_claims_then_search_and_rejects_unknown_ids():
    assert tour.parse_steps("SEARCH,c3, C1") == ["C1", "C3", "search"]
    assert tour.parse_steps("search") == ["search"]
    with pytest.raises(ValueError, match=r"C42.*keras-tuner step 'search'"):
        tour.parse_steps("C42,search")
    with pytest.raises(ValueError, match="no claim ids"):
        tour.parse_steps(" , ")
    with pytest.raises(TypeError, match="`steps` must be a string"):
        tour.parse_steps(["C1"])


@pytest.mark.backend_independent
def test_describe_rounds_floats_only():
    assert search.describe({"width": 64, "rho": 0.912345, "optimizer": "rmsprop"}) == (
        "width=64, rho=0.912, optimizer=rmsprop"
    )
