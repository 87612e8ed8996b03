"""kerasnotes.curvature.placement, processes: a probe over torch.distributed shards equals one process.

Two real processes run under ``torch.distributed.run`` (gloo, CPU), each with
every other row of the data, against one process with all rows: a subprocess,
since a process group is made once per process. A faked two-process group (the
backend hook replaced) checks the weighting on every backend in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe, placement
from kerasnotes.curvature.gate import GradientNorm

BACKEND = keras.backend.backend()

_SCRIPT = textwrap.dedent(
    """
    import json, os
    import numpy as np, keras, torch
    from sklearn.datasets import load_digits
    from kerasnotes.curvature import HessianProbe, placement
    from kerasnotes.callbacks import SaddlePointDetector

    torch.set_num_threads(1)
    if "WORLD_SIZE" in os.environ:  # launched by torch.distributed.run
        torch.distributed.init_process_group("gloo")
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    digits = load_digits()
    x = (digits.data[:300] / 16).astype("float32")
    y = digits.target[:300]
    shard = slice(rank, None, world)  # every other row: shards of 150 rows
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(12, activation="tanh"),
                              keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # micro-batches of 64 rows: 3 per shard (64, 64, 22) against 5 in one process
    probe = HessianProbe(model, x[shard], y[shard], batch_size=64)
    v = np.random.default_rng(1).standard_normal(probe.num_parameters)
    eig = probe.eigenvalues(k=1, which="both", tol=1e-8)
    density = probe.spectral_density(num_runs=2, num_steps=30, seed=0)
    # the same shard as a DataLoader (y=None): the streamed path, one batch per rank
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x[shard]), torch.from_numpy(y[shard])),
        batch_size=150,
    )
    streamed = HessianProbe(model, loader, verbose=0)
    # the detector inside a fit: every rank trains on all rows (the same weights on every
    # rank), the detector probes the rank's shard
    detector = SaddlePointDetector((x[shard], y[shard]), num_samples=10_000, grad_tol=1e-9,
                                   always_probe=True, verbose=0)
    model.fit(x, y, epochs=2, batch_size=50, callbacks=[detector], verbose=0)
    with open(f"result_{world}_{rank}.json", "w") as file:
        json.dump({
            "processes": placement.process_count(), "num_samples": probe.num_samples,
            "loss": probe.loss(), "gradient": probe.gradient().tolist(),
            "hvp": probe.hvp(v).tolist(), "eig": eig.values.tolist(),
            "trace": probe.trace(num_samples=12, seed=0).estimate,
            "masses": [density.negative_fraction, density.zero_fraction,
                       density.positive_fraction],
            "streamed_loss": streamed.loss(), "streamed_gradient": streamed.gradient().tolist(),
            "detector": [[e["grad_norm"], e["lambda_min"], e["lambda_max"]]
                         for e in detector.history],
        }, file)
    """
)


@pytest.mark.slow  # about 80 s: two processes start Keras and torch, then one more for the reference
@pytest.mark.skipif(BACKEND != "torch", reason="torch.distributed process groups are PyTorch's")
def test_two_processes_over_shards_equal_one_process_over_all_rows(tmp_path):
    script = tmp_path / "probe_shards.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, KERAS_BACKEND="torch", OMP_NUM_THREADS="1")
    for command in (
        [sys.executable, str(script)],
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            str(script),
        ],
    ):
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
    single = json.loads((tmp_path / "result_1_0.json").read_text())
    ranks = [json.loads((tmp_path / f"result_2_{r}.json").read_text()) for r in (0, 1)]
    # every rank holds bit-identical results: one all-reduce, seeds alike
    assert ranks[0] == ranks[1]
    two = ranks[0]
    assert (single["processes"], two["processes"]) == (1, 2)
    assert single["num_samples"] == two["num_samples"] == 300
    assert two["loss"] == pytest.approx(single["loss"], rel=1e-6)
    np.testing.assert_allclose(two["gradient"], single["gradient"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(two["hvp"], single["hvp"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(two["eig"], single["eig"], rtol=1e-6)
    assert two["trace"] == pytest.approx(single["trace"], rel=1e-6)
    np.testing.assert_allclose(two["masses"], single["masses"], rtol=1e-6)
    assert two["streamed_loss"] == pytest.approx(single["loss"], rel=1e-6)
    np.testing.assert_allclose(two["streamed_gradient"], single["gradient"], rtol=1e-5, atol=1e-7)
    assert len(two["detector"]) == 2
    np.testing.assert_allclose(two["detector"], single["detector"], rtol=1e-5)


def _two_identical_shards(monkeypatch):
    """Fake a group of two processes that hold the same shard: every sum is doubled."""
    fake = types.SimpleNamespace(process_count=lambda: 2, process_sum=lambda a: 2 * a)
    monkeypatch.setattr(placement.backends, "active", lambda: fake)


def test_one_process_sums_are_the_arrays_themselves():
    assert placement.process_count() == 1
    array = np.array([1.0, -2.5])
    np.testing.assert_array_equal(placement.process_sum(array), array)


def test_two_shards_weigh_as_the_rows_of_both(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, activation="tanh"), keras.layers.Dense(1)]
    )
    both = HessianProbe(
        model, np.concatenate([x, x]), np.concatenate([y, y]), loss="mse", batch_size=4
    )
    v = rng.standard_normal(both.num_parameters)
    expected = (both.loss(), both.gradient(), both.hvp(v), GradientNorm(model, x, y, loss="mse")())
    _two_identical_shards(monkeypatch)
    # one micro-batch per shard: the one-batch shortcut must still weigh by the global N
    for batch_size in (None, 4):
        shard = HessianProbe(model, x, y, loss="mse", batch_size=batch_size)
        assert shard.num_samples == 20
        assert shard.loss() == pytest.approx(expected[0], rel=1e-6)
        np.testing.assert_allclose(shard.gradient(), expected[1], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(shard.hvp(v), expected[2], rtol=1e-5, atol=1e-7)
    gate = GradientNorm(model, x, y, loss="mse")()
    assert gate == pytest.approx(expected[3], rel=1e-6)


def _two_shards_holding(monkeypatch, other_weights):
    """Fake two processes: this one, and one with the same shard whose weights are ``other_weights``."""
    flat = np.concatenate([np.ravel(w).astype(np.float64) for w in other_weights])
    ramp = np.arange(flat.size, dtype=np.float64) / flat.size
    other = np.array([flat.sum(), flat @ flat, flat @ ramp])
    checks = []

    def summed(array):
        if np.shape(array) == (6,):  # the weights check: this rank's (f, f²) plus the other's
            checks.append(array)
            return array + np.concatenate([other, other * other])
        return 2 * array  # the counts and denominators of two identical shards

    fake = types.SimpleNamespace(process_count=lambda: 2, process_sum=summed)
    monkeypatch.setattr(placement.backends, "active", lambda: fake)
    return checks


def test_ranks_with_different_weights_are_refused(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    HessianProbe(model, x, y, loss="mse")  # one process: compiles the engine, checks nothing
    weights = [w.copy() for w in model.get_weights()]
    # the same weights on the other rank: accepted, after one check of six numbers
    checks = _two_shards_holding(monkeypatch, weights)
    assert HessianProbe(model, x, y, loss="mse").num_samples == 16
    assert len(checks) == 1
    # one weight moved by 1e-4 of its size on the other rank: refused
    moved = [w.copy() for w in weights]
    moved[0][1, 0] *= 1 + 1e-4
    _two_shards_holding(monkeypatch, moved)
    with pytest.raises(ValueError, match="different weights"):
        HessianProbe(model, x, y, loss="mse")
    # the same numbers in another order (Σθ and Σθ² agree, the ramp sum does not): refused
    swapped = [w.copy() for w in weights]
    swapped[0] = swapped[0][::-1].copy()
    assert not np.array_equal(swapped[0], weights[0])
    _two_shards_holding(monkeypatch, swapped)
    with pytest.raises(ValueError, match="different weights"):
        HessianProbe(model, x, y, loss="mse")


def test_one_process_checks_nothing(monkeypatch):
    sums = []
    monkeypatch.setattr(placement, "process_sum", lambda a: sums.append(a) or a)
    placement.check_same_weights([np.ones(3)])
    assert sums == []
