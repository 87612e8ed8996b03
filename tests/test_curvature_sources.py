"""HessianProbe on what model.evaluate reads: tf.data, PyDataset, DataLoader, iterables (issue #17).

Every source gives the numbers of the equivalent arrays split into the same
micro-batches (loss, gradient, HVP to 1e-6 relative); the cache, the
checksums, ``steps``, progress and Ctrl-C are checked with counting sources.
"""

from __future__ import annotations

import importlib.util

import keras
import numpy as np
import pytest

import kerasnotes as kn
from kerasnotes import datasets
from kerasnotes.callbacks import SaddlePointDetector
from kerasnotes.curvature import sources
from kerasnotes.curvature.gate import GradientNorm, SubsampleGate

ROWS, BATCH = 40, 16  # batches of 16, 16 and 8 rows: the last one weighs less
HAS_TF = importlib.util.find_spec("tensorflow") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, 3)).astype("float32")
    y = rng.integers(0, 3, size=(ROWS,))
    sw = rng.uniform(0.1, 2.0, size=ROWS).astype("float32")
    return x, y, sw


def _model():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(3)]
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _batches(x, y, sw=None, size=BATCH):
    return [
        (x[s : s + size], y[s : s + size]) + (() if sw is None else (sw[s : s + size],))
        for s in range(0, len(x), size)
    ]


class Batches(keras.utils.PyDataset):
    """A PyDataset over fixed batches that counts its reads (and can be told to fail)."""

    def __init__(self, batches, length=True):
        super().__init__()
        self.batches, self.reads, self.fail_at = batches, [], None
        self.change_after = None
        self._length = length

    @property
    def num_batches(self):
        return len(self.batches) if self._length else None

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        self.reads.append(index)
        if self.fail_at is not None and len(self.reads) > self.fail_at:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread
        batch = self.batches[index]
        if self.change_after is not None and len(self.reads) > self.change_after:
            return (batch[0] + 1.0, *batch[1:])
        return batch


def _assert_same(probe, reference, v):
    np.testing.assert_allclose(probe.loss(), reference.loss(), rtol=1e-6)
    np.testing.assert_allclose(probe.gradient(), reference.gradient(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(probe.hvp(v), reference.hvp(v), rtol=1e-6, atol=1e-9)


def _sources(x, y, sw=None):
    """Each source kind this process can build, over the same batches."""
    out = {
        "list": _batches(x, y, sw),
        "generator": (b for b in _batches(x, y, sw)),
        "PyDataset": Batches(_batches(x, y, sw)),
    }
    if HAS_TF:
        import tensorflow as tf

        tensors = (x, y) if sw is None else (x, y, sw)
        out["tf.data"] = tf.data.Dataset.from_tensor_slices(tensors).batch(BATCH)
    if HAS_TORCH:
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        tensors = [torch.from_numpy(x), torch.from_numpy(y)]
        if sw is not None:
            tensors.append(torch.from_numpy(sw))
        out["DataLoader"] = DataLoader(TensorDataset(*tensors), batch_size=BATCH, shuffle=False)
    return out


# ------------------------------------------------------------------ same numbers
@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "sample_weight"])
def test_every_source_gives_the_numbers_of_the_equivalent_arrays(weighted):
    x, y, sw = _data()
    sw = sw if weighted else None
    model = _model()
    reference = kn.curvature.HessianProbe(model, x, y, batch_size=BATCH, sample_weight=sw)
    v = np.random.default_rng(1).normal(size=reference.num_parameters)
    for name, source in _sources(x, y, sw).items():
        for cache_bytes in (None, 0):
            if name == "generator" and cache_bytes == 0:
                continue  # read once: it must be cached (tested below)
            probe = kn.curvature.HessianProbe(model, source, cache_bytes=cache_bytes, verbose=0)
            assert probe.num_samples == ROWS and len(probe._batches) == 3, name
            _assert_same(probe, reference, v)
            # ... and of the whole data in one batch, up to float32 rounding.
            whole = kn.curvature.HessianProbe(model, x, y, sample_weight=sw)
            np.testing.assert_allclose(probe.loss(), whole.loss(), rtol=1e-5)


def test_one_batch_source_keeps_the_linearized_product():
    x, y, _ = _data()
    model = _model()
    reference = kn.curvature.HessianProbe(model, x, y)
    probe = kn.curvature.HessianProbe(model, [(x, y)], verbose=0)
    v = np.random.default_rng(2).normal(size=probe.num_parameters)
    for _ in range(2):
        _assert_same(probe, reference, v)
    assert probe._num_hvp == 2


def test_gradient_norm_and_eigenvalues_on_a_source():
    x, y, _ = _data()
    model = _model()
    reference = kn.curvature.HessianProbe(model, x, y, batch_size=BATCH)
    source = Batches(_batches(x, y))
    loss, norm = GradientNorm(model, source)()
    np.testing.assert_allclose(loss, reference.loss(), rtol=1e-6)
    np.testing.assert_allclose(norm, np.linalg.norm(reference.gradient()), rtol=1e-6)
    probe = kn.curvature.HessianProbe(model, source, verbose=0)
    np.testing.assert_allclose(
        probe.eigenvalues(which="both", tol=1e-6).values,
        reference.eigenvalues(which="both", tol=1e-6).values,
        rtol=1e-5,
    )


# --------------------------------------------------------------- steps, cache
def test_steps_takes_the_first_batches_as_evaluate_does():
    x, y, _ = _data()
    model = _model()
    first_two = kn.curvature.HessianProbe(model, x[:32], y[:32], batch_size=BATCH)
    arrays = kn.curvature.HessianProbe(model, x, y, batch_size=BATCH, steps=2)
    source = Batches(_batches(x, y), length=False)  # no length: steps is required
    with pytest.raises(ValueError, match="Argument `steps` must be an integer >= 1 for a"):
        kn.curvature.HessianProbe(model, source, verbose=0)
    streamed = kn.curvature.HessianProbe(model, source, steps=2, verbose=0)
    assert arrays.num_samples == streamed.num_samples == 32
    v = np.random.default_rng(3).normal(size=first_two.num_parameters)
    _assert_same(arrays, first_two, v)
    _assert_same(streamed, first_two, v)


@pytest.mark.skipif(not HAS_TF, reason="tf.data needs tensorflow")
def test_a_dataset_that_repeats_forever_needs_steps():
    import tensorflow as tf

    x, y, _ = _data()
    endless = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat()
    with pytest.raises(ValueError, match="repeats forever"):
        kn.curvature.HessianProbe(_model(), endless, verbose=0)
    probe = kn.curvature.HessianProbe(_model(), endless, steps=5, verbose=0)
    assert len(probe._batches) == 5 and probe.num_samples == 16 + 16 + 8 + 16 + 16


def test_the_cache_keeps_the_last_batches_and_the_rest_is_read_again():
    x, y, _ = _data()
    model = _model()
    source = Batches(_batches(x, y))
    one_batch = x[:BATCH].nbytes + y[:BATCH].nbytes  # the last batch (8 rows) is half that
    probe = kn.curvature.HessianProbe(model, source, cache_bytes=one_batch, verbose=0)
    stream = probe._batches.stream
    # First pass, then batch 0 again (the reshuffle check); batch 2 (8 rows) is cached.
    assert source.reads == [0, 1, 2, 0] and stream.cached == 1
    source.reads.clear()
    probe.gradient()
    probe.hvp(np.ones(probe.num_parameters))
    assert source.reads == [0, 1, 0, 1]  # each pass stops before the cached batch
    everything = Batches(_batches(x, y))
    kn.curvature.HessianProbe(model, everything, verbose=0).hvp(np.ones(probe.num_parameters))
    assert everything.reads == [0, 1, 2, 0]  # the default cache holds it all: read once


def test_a_generator_is_read_once_and_must_fit_in_the_cache():
    x, y, _ = _data()
    model = _model()
    generator = (b for b in _batches(x, y))
    with pytest.raises(ValueError, match="an iterator is read once"):
        kn.curvature.HessianProbe(model, generator, cache_bytes=100, verbose=0)
    probe = kn.curvature.HessianProbe(model, (b for b in _batches(x, y)), verbose=0)
    assert probe._batches.stream.cached == 3
    iterator = iter(_batches(x, y))
    assert kn.curvature.HessianProbe(model, iterator, steps=2, verbose=0).num_samples == 32
    np.testing.assert_array_equal(next(iterator)[0], x[32:])  # steps read no batch more


# ------------------------------------------------------------- reshuffling
@pytest.mark.skipif(not HAS_TORCH, reason="DataLoader needs torch")
def test_a_shuffling_dataloader_is_refused_when_the_probe_is_built():
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x, y, _ = _data()
    loader = DataLoader(
        TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=BATCH, shuffle=True
    )
    with pytest.raises(ValueError, match="batch 0 differs from the first pass"):
        kn.curvature.HessianProbe(_model(), loader, verbose=0)


@pytest.mark.skipif(not HAS_TF, reason="tf.data needs tensorflow")
def test_a_reshuffling_dataset_is_refused():
    import tensorflow as tf

    x, y, _ = _data()
    shuffled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(ROWS, seed=0).batch(BATCH)
    with pytest.raises(ValueError, match="turn off shuffling"):
        kn.curvature.HessianProbe(_model(), shuffled, verbose=0)
    fixed = tf.data.Dataset.from_tensor_slices((x, y))
    fixed = fixed.shuffle(ROWS, seed=0, reshuffle_each_iteration=False).batch(BATCH)
    assert kn.curvature.HessianProbe(_model(), fixed, cache_bytes=0, verbose=0).num_samples == 40


def test_a_batch_that_changes_on_a_later_pass_is_an_error():
    x, y, _ = _data()
    source = Batches(_batches(x, y))
    probe = kn.curvature.HessianProbe(_model(), source, cache_bytes=0, verbose=0)
    source.change_after = len(source.reads) + 1  # batch 1 of the next pass differs
    with pytest.raises(ValueError, match="batch 1 differs from the first pass"):
        probe.gradient()


# ------------------------------------------------------- progress and Ctrl-C
def test_progress_bars_name_the_pass(capsys):
    x, y, _ = _data()
    model = _model()
    probe = kn.curvature.HessianProbe(model, _batches(x, y))  # "auto": 1 for a source
    probe.hvp(np.ones(probe.num_parameters))
    out = capsys.readouterr().out
    assert "3/3" in out and "batch, hvp 1" in out
    probe = kn.curvature.HessianProbe(model, _batches(x, y), verbose=2)
    probe.gradient()
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("3/3") and "gradient" in lines[0]
    kn.curvature.HessianProbe(model, _batches(x, y), verbose=0).gradient()
    kn.curvature.HessianProbe(model, x, y, batch_size=BATCH).gradient()  # arrays: "auto" is 0
    assert capsys.readouterr().out == ""


def test_a_solver_shows_one_bar_that_counts_its_products(capsys):
    x, y, _ = _data()
    probe = kn.curvature.HessianProbe(_model(), _batches(x, y), verbose=2)
    eig = probe.eigenvalues(k=1, which="both", tol=1e-6)
    assert probe.trace(num_samples=6, seed=0).num_hvp == 6
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    # one line a solver (verbose=2 prints each bar once, finished), none per product;
    # the bar ends where Lanczos stopped: its products and 3 batches each
    assert len(lines) == 2
    assert lines[0].startswith(f"{3 * eig.num_hvp}/{3 * eig.num_hvp} ")
    assert f"eigenvalues (both): {eig.num_hvp} products" in lines[0]
    assert lines[1].startswith("18/18 ") and "trace: 6 products" in lines[1]
    # inside analyze, its eigenvalue and density runs share the analysis's bar
    point = probe.analyze()
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert f"analyze: {point.num_hvp} products" in lines[-1]
    assert not any("eigenvalues" in line or "density" in line for line in lines)
    assert probe._batches.solver is None
    probe = kn.curvature.HessianProbe(_model(), _batches(x, y), verbose=0)
    probe.eigenvalues(k=1)
    assert capsys.readouterr().out == ""


def test_ctrl_c_stops_a_probe_and_leaves_the_model_and_the_probe_intact():
    x, y, _ = _data()
    model = _model()
    weights = [w.copy() for w in model.get_weights()]
    source = Batches(_batches(x, y))
    probe = kn.curvature.HessianProbe(model, source, cache_bytes=0, verbose=0)
    v = np.random.default_rng(4).normal(size=probe.num_parameters)
    expected = kn.curvature.HessianProbe(model, x, y, batch_size=BATCH).hvp(v)
    source.fail_at = len(source.reads) + 1  # the second read of the next pass
    with pytest.raises(KeyboardInterrupt):
        probe.hvp(v)
    for now, before in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(now, before)
    source.fail_at = None
    np.testing.assert_allclose(probe.hvp(v), expected, rtol=1e-6, atol=1e-9)
    assert probe._num_hvp == 1  # the interrupted product is not counted


# ------------------------------------------------------------- the detector
def test_saddle_point_detector_on_a_source_matches_arrays():
    model, x, y, loss = datasets.product_saddle()
    model.compile(keras.optimizers.SGD(0.1), loss)
    source = Batches([(x, y), (x, y)])  # the same rows twice: the same mean loss
    streamed = SaddlePointDetector(source, escape=True, verbose=0, steps=2)
    arrays = SaddlePointDetector((x, y), escape=True, verbose=0)
    initial = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[streamed])
    model.set_weights(initial)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[arrays])
    got, want = streamed.history[0], arrays.history[0]
    assert got["kind"] == want["kind"] == "saddle" and got["escaped"] and want["escaped"]
    for key in ("grad_norm", "lambda_min", "lambda_max", "loss_after"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-12)
    assert streamed.get_config()["data"] is None and streamed.get_config()["steps"] == 2
    with pytest.raises(ValueError, match="Argument `data` must be"):
        SaddlePointDetector.from_config(streamed.get_config())
    clone = SaddlePointDetector.from_config({**streamed.get_config(), "data": source})
    assert clone.x is source


# ---------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, b, steps=0), ValueError, "steps=0"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, b, cache_bytes=-1), ValueError, "cache_bytes=-1"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, b, verbose="loud"), ValueError, "verbose='loud'"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, b, batch_size=4), ValueError, "`batch_size` must be None when x is a data source"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, b, sample_weight=np.ones(40)), ValueError, "`sample_weight` must be None when x"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, b, y), ValueError, "`y` must be None when x is a data source"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, x), ValueError, "`y` must be the targets"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, (a for a in [x])), ValueError, "`x` must be a source of \\(x, y\\)"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, iter([])), ValueError, "at least one batch"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, [(x, y), (x, y, np.ones(40))]), ValueError, "all have sample weights or none"),
        (lambda m, b, x, y: kn.curvature.HessianProbe(m, [(x, y[:5])]), ValueError, "as many labels as inputs"),
        (lambda m, b, x, y: SubsampleGate(m, b, grad_tol=0.1, samples=16), ValueError, "`samples` must be 0 when x is a data source"),
        (lambda m, b, x, y: SaddlePointDetector(b, gate_samples=16), ValueError, "`gate_samples` must be None or 0"),
        (lambda m, b, x, y: SaddlePointDetector(b, steps=0), ValueError, "steps=0"),
    ],
)  # fmt: skip
def test_argument_errors_name_the_argument(call, error, match):
    x, y, _ = _data()
    with pytest.raises(error, match=match):
        call(_model(), _batches(x, y), x, y)


def test_is_source_and_default_cache():
    x, y, _ = _data()
    assert sources.is_source(_batches(x, y)) and not sources.is_source([x, y])
    assert not sources.is_source((x, y)) and not sources.is_source(x)
    assert 0 < sources.default_cache_bytes() <= sources.CACHE_LIMIT


def test_two_outputs_with_dict_labels_and_batch_statistics():
    x, y, _ = _data()
    inputs = keras.Input((3,))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(4)(inputs))
    model = keras.Model(
        inputs,
        {
            "a": keras.layers.Dense(3, name="a")(hidden),
            "b": keras.layers.Dense(1, name="b")(hidden),
        },
    )
    loss = {"a": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "b": "mse"}
    labels = {"a": y, "b": x[:, :1]}
    reference = kn.curvature.HessianProbe(
        model, x, labels, loss=loss, batch_size=BATCH, bn_mode="batch"
    )
    batches = [
        (x[s : s + BATCH], {"a": y[s : s + BATCH], "b": x[s : s + BATCH, :1]})
        for s in range(0, ROWS, BATCH)
    ]
    probe = kn.curvature.HessianProbe(model, batches, loss=loss, bn_mode="batch", verbose=0)
    _assert_same(probe, reference, np.random.default_rng(5).normal(size=probe.num_parameters))
