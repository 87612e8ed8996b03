"""Claims C1, C2, C7, C9, C10: each claim runs end to end in quick mode.

These check that every claim trains, computes finite figures from its runs
and writes its plot and TensorBoard runs; not the verdicts (a claim that does
not reproduce is a result, not a bug). Where a figure is a property of a
component rather than of training (the Hessian of (1 − w1w2)² at its saddle,
BN inference, the batch independence of LN/GN), its value is checked too.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import pytest
from _claims import check_numbers
from _events import float_scalars, tensors

from kerasnotes import experiments

CLAIM_EXAMPLES = {
    "C1": "c1_saddles",
    "C2": "c2_escape",
    "C7": "c7_early_stopping",
    "C9": "c9_batch_norm",
    "C10": "c10_small_batch_norm",
}
# Figures that may be NaN in a tiny run: a target not reached, no stall found, a diverged loss.
MAY_BE_NAN = ("steps_", "epochs_", "final_loss_", "saddle_share", "minimum_ratio", "_stderr")
RUN_SCALAR = {"C2": "update_loss"}


def _scalars(run_dir: Path) -> dict[str, list[float]]:
    """Float scalars of a run's event files, values only (read by hand: no TensorFlow)."""
    return {tag: [v for _, v in points] for tag, points in float_scalars(run_dir).items()}


@pytest.mark.e2e
@pytest.mark.parametrize("claim", sorted(CLAIM_EXAMPLES, key=lambda c: int(c[1:])))
def test_example_runs_end_to_end_with_finite_figures_and_files(
    claim, tmp_path, replay_quick_claims
):
    # The claim's own entry point, as the tour calls it (positional: mode, run folder).
    # It trains once in this session (conftest's quick_claims); this run gets that
    # training's result and files, copied under tmp_path.
    experiment = importlib.import_module(f"kerasnotes.experiments.{CLAIM_EXAMPLES[claim]}")
    result = experiment.run("quick", tmp_path)

    assert result.claim == claim and experiments.REGISTRY[claim] == experiment.__name__
    assert result.verdict.startswith(f"{claim}: ")
    assert "criterion" in result.verdict
    if claim == "C2":  # decided by deterministic gradient descent from the saddle
        assert result.reproduced in (True, False)
    else:  # a smoke test decides nothing
        assert result.reproduced is None and result.status == "undecided (smoke test)"
    assert result.figure and result.seconds > 0 and result.numbers
    check_numbers(result.numbers, MAY_BE_NAN, nan_only=False)
    assert result.plot == tmp_path / claim / f"{CLAIM_EXAMPLES[claim]}.png"
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result.runs) >= 2
    tag = RUN_SCALAR.get(claim, "epoch_loss")
    for run_dir in result.runs:
        assert run_dir.parent == tmp_path / claim
        scalars = _scalars(run_dir)
        assert scalars.get(tag), (run_dir, sorted(scalars))
        assert all(math.isfinite(v) for v in scalars[tag]), run_dir
    _check_component_figures(claim, result.numbers)
    if claim == "C2":  # the saddle's plane, for the kerasnotes tab's Landscape view
        from kerasnotes import summary

        (plane,) = tensors(tmp_path / "C2" / "product_eigenvector", summary.TAG_LANDSCAPE_SURFACE)
        a = np.linspace(-1.5, 1.5, plane.shape[0])
        aa, bb = np.meshgrid(a, a, indexing="ij")
        np.testing.assert_allclose(plane, (1 - (aa**2 - bb**2) / 2) ** 2, rtol=1e-5, atol=1e-6)
    if claim == "C7":  # the stopper's own TensorBoard data, for the kerasnotes tab
        from kerasnotes import summary

        run = _scalars(tmp_path / "C7" / "early_stopping")
        monitored = run[summary.TAG_EARLY_STOPPING_MONITOR]
        assert len(monitored) == result.numbers["epochs_run_early_stopping"]
        assert all(math.isfinite(v) for v in monitored)


def _check_component_figures(claim: str, numbers: dict[str, float]) -> None:
    """Figures fixed by the components, whatever the training did."""
    if claim == "C1":
        ratios = [v for k, v in numbers.items() if k.startswith("minimum_ratio_")]
        assert ratios and all(0.0 <= r <= 1.0 for r in ratios)
        assert numbers["saddles"] + numbers["local_minima"] <= numbers["stalls"]
        if numbers["stalls"]:
            # F19: softmax cross-entropy's Gauss–Newton part is PSD (λmin ≥ 0 up to round-off)
            assert numbers["ggn_lambda_min"] >= -1e-5
            assert numbers["ggn_lambda_min"] >= numbers["hessian_lambda_min"]
        if "surface_lambda_min" in numbers:  # the plane through the first saddle stall (F16)
            assert numbers["surface_lambda_min"] < 0 < numbers["surface_lambda_max"]
            assert numbers["surface_curvature_max"] == pytest.approx(
                numbers["surface_lambda_max"], rel=0.1
            )
    if claim == "C2":
        # (1 − w1w2)² at 0: ∇L = 0, H = [[0, −2], [−2, 0]]; 3-layer linear net at 0: H = 0
        assert numbers["product_grad_norm"] == pytest.approx(0.0, abs=1e-7)
        assert numbers["product_lambda_min"] == pytest.approx(-2.0, rel=1e-5)
        assert numbers["product_lambda_max"] == pytest.approx(2.0, rel=1e-5)
        assert numbers["linear2_is_saddle"] == 1.0
        assert numbers["linear2_lambda_min"] == pytest.approx(-numbers["linear2_lambda_max"])
        assert numbers["linear3_max_abs_eigenvalue"] == pytest.approx(0.0, abs=1e-7)
        # one escape step of η = √(2L/|λ|) along u lands on w1w2 = 1
        assert numbers["steps_product_eigenvector"] == 1.0
        # the surface on the plane of u_min, u_max is (1 − (a² − b²)/2)²: curvatures ∓2 + h²/2
        h = numbers["product_surface_step"]
        assert numbers["product_surface_curvature_min"] == pytest.approx(-2 + h**2 / 2, abs=1e-3)
        assert numbers["product_surface_curvature_max"] == pytest.approx(2 + h**2 / 2, abs=1e-3)
        assert numbers["product_surface_max_error"] < 1e-5
    if claim == "C7":
        assert numbers["restored_epoch"] <= numbers["epochs_run_early_stopping"]
        # restore_best_weights: the run ends with its best epoch's validation loss
        assert numbers["final_val_loss_early_stopping"] == pytest.approx(
            numbers["best_val_loss_early_stopping"], rel=1e-4
        )
    if claim == "C9":
        assert numbers["inference_max_abs_diff"] < 1e-4
    if claim == "C10":
        assert numbers["batch_dependence_layer_norm"] < 1e-5
        assert numbers["batch_dependence_group_norm"] < 1e-5
        assert numbers["batch_dependence_batch_norm"] > 1e-3


def test_c2_surface_of_the_product_saddle_is_the_closed_form():
    from kerasnotes import datasets
    from kerasnotes.experiments import c2_escape

    model, x, y, loss = datasets.product_saddle()
    numbers: dict[str, float] = {}
    surface = c2_escape._surface(model, x, y, loss, numbers)
    t = surface.a
    c = len(t) // 2
    # Along u_min = [1, 1]/√2: L(t) = (1 − t²/2)²; along u_max: (1 + t²/2)².
    np.testing.assert_allclose(surface.loss[:, c], (1 - t**2 / 2) ** 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(surface.loss[c, :], (1 + t**2 / 2) ** 2, rtol=1e-5, atol=1e-6)
    h = numbers["product_surface_step"]
    assert h == pytest.approx(2 * c2_escape.SURFACE_SPAN / (c2_escape.SURFACE_NUM - 1))
    # The second difference of 1 ∓ t² + t⁴/4 is ∓2 + h²/2 exactly (float32 loss: 1e-3).
    assert numbers["product_surface_curvature_min"] == pytest.approx(-2 + h**2 / 2, abs=1e-3)
    assert numbers["product_surface_curvature_max"] == pytest.approx(2 + h**2 / 2, abs=1e-3)
    assert numbers["product_surface_lambda_min"] == pytest.approx(-2.0, abs=1e-5)
    assert numbers["product_surface_lambda_max"] == pytest.approx(2.0, abs=1e-5)
    assert numbers["product_surface_max_error"] < 1e-5


@pytest.mark.backend_independent
def test_pooled_digits_average_blocks_like_numpy():
    from kerasnotes.experiments.c1_saddles import pooled

    x = np.random.default_rng(0).normal(size=(3, 64))
    images = x.reshape(3, 8, 8)
    expected = (
        np.array(
            [
                [
                    images[:, 2 * a : 2 * a + 2, 2 * b : 2 * b + 2].mean(axis=(1, 2))
                    for b in range(4)
                ]
                for a in range(4)
            ]
        )
        .transpose(2, 0, 1)
        .reshape(3, 16)
    )
    np.testing.assert_allclose(pooled(x, 4), expected, rtol=1e-6)
    np.testing.assert_allclose(pooled(x, 8), x, rtol=1e-6)
    with pytest.raises(ValueError, match="`side` must be"):
        pooled(x, 3)


@pytest.mark.backend_independent
def test_part2_claims_are_registered_with_sizes_for_every_mode():
    for claim, name in CLAIM_EXAMPLES.items():
        module = experiments.load(claim)
        assert module.__name__.endswith(name) and module.CLAIM == claim and module.TITLE
        assert set(module.SIZES) == set(experiments.MODES)
    assert experiments.parse_claims("c10, C1,C9") == ["C1", "C9", "C10"]


def test_one_epoch_convention_keras_print_summary_and_plugin_json_agree(tmp_path, capsys):
    """Keras prints "Epoch N: early stopping" and "... best epoch: M."; the same N and M
    come out of kerasnotes' stopper, the tour's C7 wording and the plugin's JSON, and
    every epoch-stepped series of the run (the recorder's epoch_val_loss and the
    stopper's monitor) holds an epoch's value at one and the same event step."""
    import re

    import keras
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.context import RequestContext

    from kerasnotes import callbacks, losses, optimizers, summary
    from kerasnotes.experiments import c7_early_stopping
    from kerasnotes.experiments.training import digits_split, fit_run, mlp
    from kerasnotes.tensorboard_plugins import data as plugin_data

    # 100 digits: the MLP memorises them and the validation loss turns up after a few epochs.
    (x, y), (xv, yv) = digits_split(train_samples=100)
    config = dict(monitor="val_loss", patience=3, restore_best_weights=True)
    ours = callbacks.EarlyStopping(**config, log_dir=tmp_path / "run")
    theirs = keras.callbacks.EarlyStopping(**config, verbose=1)
    run = fit_run(
        mlp(64, (64,), 10, seed=0),
        optimizers.Adam(0.01),
        losses.SparseCategoricalCrossentropy(from_logits=True),
        (x, y),
        epochs=40,
        batch_size=20,
        log_dir=tmp_path / "run",
        validation=(xv, yv),
        callbacks=(ours, theirs),
        log_updates=False,
    )
    summary.Writer.for_log_dir(tmp_path / "run").flush()
    printed = capsys.readouterr().out
    stop = int(re.search(r"Epoch (\d+): early stopping", printed).group(1))
    best = int(re.search(r"best epoch: (\d+)\.", printed).group(1))
    assert 1 < best < stop < 40  # it did stop, after a best epoch that is not the first
    assert len(run.history["val_loss"]) == stop
    assert int(np.argmin(run.history["val_loss"])) + 1 == best

    assert (ours.stopped_epoch + 1, ours.best_epoch + 1) == (stop, best)
    assert c7_early_stopping.describe_stop(ours, len(run.history["val_loss"])) == (
        f"stops at epoch {stop} and restores epoch {best}"
    )

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    body = plugin_data.RunReader(provider, RequestContext(), "").schedule("run")
    early = body["early_stopping"]
    assert (early["stopped_epoch"], early["best_epoch"]) == (stop, best)
    assert (early["stopped_step"], early["best_step"]) == (stop - 1, best - 1)
    monitor = body["monitor"]
    assert monitor["epochs"][int(np.argmin(monitor["values"]))] == best
    # The recorder's curve and the stopper's monitor: the same numbers at the same steps,
    # 0-based as keras.callbacks.TensorBoard writes them.
    recorded = provider.read_scalars(
        RequestContext(), experiment_id="", plugin_name="scalars", downsample=1000
    )["run"]["epoch_val_loss"]
    assert [d.step for d in recorded] == monitor["steps"] == list(range(stop))
    np.testing.assert_allclose([d.value for d in recorded], monitor["values"], rtol=1e-6)
    np.testing.assert_allclose(monitor["values"], run.history["val_loss"], rtol=1e-6)
