"""Each micro-batch's first-order state kept between products, up to ``cache_bytes``."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnotes.curvature import HessianProbe
from kerasnotes.curvature.prepared import PreparedProducts, state_bytes

ROWS, BATCH = 60, 24  # micro-batches of 24, 24 and 12 rows


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, 5)).astype("float32")
    y = rng.integers(0, 3, size=(ROWS,))
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(3)]
    )
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, x, y


class Counting:
    """Wraps ``engine.prepare_hvp`` and counts its calls."""

    def __init__(self, prepare):
        self.prepare, self.calls = prepare, 0

    def __call__(self, *args):
        self.calls += 1
        return self.prepare(*args)


def test_kept_state_gives_the_products_of_the_whole_computation(monkeypatch):
    model, x, y = _setup()
    whole = HessianProbe(model, x, y)  # one batch: the reference
    vectors = np.random.default_rng(1).normal(size=(3, whole.num_parameters))
    expected = [whole.hvp(v) for v in vectors]
    kept = HessianProbe(model, x, y, batch_size=BATCH)
    # The engine (compiled functions) is shared by every probe of this model and loss.
    counting = Counting(kept._engine.prepare_hvp)
    monkeypatch.setattr(kept._engine, "prepare_hvp", counting)
    for v, want in zip(vectors, expected, strict=True):
        scale = np.max(np.abs(want))
        np.testing.assert_allclose(kept.hvp(v), want, rtol=1e-5, atol=1e-6 * scale)
    # Three batches prepared once each, all kept: later products prepare nothing.
    assert counting.calls == 3 and kept._products.kept == 3
    assert kept._products.state_bytes > 0
    # cache_bytes=0 keeps the first batch's state only; the others are prepared
    # once (the first product), refused, and computed whole from then on.
    recomputed = HessianProbe(model, x, y, batch_size=BATCH, cache_bytes=0)
    for v, want in zip(vectors, expected, strict=True):
        scale = np.max(np.abs(want))
        np.testing.assert_allclose(recomputed.hvp(v), want, rtol=1e-5, atol=1e-6 * scale)
    assert recomputed._products.kept == 1 and counting.calls == 3 + 3


def test_the_budget_counts_the_state_beyond_the_first_batch(monkeypatch):
    model, x, y = _setup(seed=2)
    first = HessianProbe(model, x, y, batch_size=BATCH)
    v = np.random.default_rng(3).normal(size=first.num_parameters)
    want = first.hvp(v)
    one_batch = state_bytes(first._products._kept[1])
    assert one_batch > 0  # every backend reports what a full batch of 24 rows holds
    # Room for batch 1 (24 rows) only: batch 2 would pass the budget and is refused.
    probe = HessianProbe(model, x, y, batch_size=BATCH, cache_bytes=one_batch)
    counting = Counting(probe._engine.prepare_hvp)
    monkeypatch.setattr(probe._engine, "prepare_hvp", counting)
    for _ in range(3):
        np.testing.assert_allclose(probe.hvp(v), want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    assert probe._products.kept == 2 and counting.calls == 3
    assert sorted(probe._products._kept) == [0, 1] and probe._products._refused == {2}


def test_a_streamed_source_keeps_its_state_and_matches_the_arrays():
    model, x, y = _setup(seed=4)
    arrays = HessianProbe(model, x, y, batch_size=BATCH)
    batches = [(x[s : s + BATCH], y[s : s + BATCH]) for s in range(0, ROWS, BATCH)]
    streamed = HessianProbe(model, batches, verbose=0)
    v = np.random.default_rng(5).normal(size=arrays.num_parameters)
    want = arrays.hvp(v)
    for _ in range(2):
        np.testing.assert_allclose(streamed.hvp(v), want, rtol=1e-6, atol=1e-7 * np.abs(want).max())
    assert streamed._products.kept == 3


@pytest.mark.backend_independent
def test_products_without_a_split_use_the_whole_product():
    calls = []

    class Engine:
        prepare_hvp = None

        @staticmethod
        def hvp(trainable, non_trainable, x, y, sw, w, vectors):
            calls.append(x)
            return [x * vectors[0]]

    products = PreparedProducts(Engine(), [], [], budget=10**9)
    assert [
        products.product(i, (x, None, None, None), [2.0])[0] for i, x in enumerate([1.0, 3.0])
    ] == [2.0, 6.0]
    assert products.kept == 0 and calls == [1.0, 3.0] and not products.holds(0)
