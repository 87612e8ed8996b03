"""What a probe computes with: compiled functions of (model, loss, bn_mode) and the data.

```
L(θ) = Σ_b (Σ_k w_bk L_bk(θ) + r_b R(θ))   (micro-batches b, loss terms k, regularisation R;
                                          w, r from ``objective.batch_weights``)
```

``prepared(...)`` checks a probe's arguments, builds (or reuses) the compiled
gradient and Hessian-vector product of the model's objective, and puts the
data on the device once, in micro-batches whose weights make the sum of the
micro-batch losses exactly the full-data loss ``model.evaluate`` reports.
``HessianProbe`` and ``GradientNorm`` share it, so they share one compiled
gradient per (model, loss, bn_mode).

Example:
    >>> import keras, numpy as np
    >>> m = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> engine, batches, n = prepared(m, np.ones((5, 1)), np.zeros((5, 1)), "mse", 2, None,
    ...                               "inference")
    >>> n, len(batches)                      # micro-batches of 2, 2 and 1 rows
    (5, 3)
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation, backends
from kerasnotes.curvature import placement, sources
from kerasnotes.curvature.objective import (
    BN_MODES,
    ProbeLoss,
    batch_weights,
    compiled_loss,
    make_objective,
)
from kerasnotes.curvature.placement import batch_tensor, process_count, process_sum


class _Engine:
    """Compiled gradient and HVP functions of one (model, loss, bn_mode)."""

    def __init__(self, model: keras.Model, loss_fn: ProbeLoss, bn_mode: str) -> None:
        self.loss = loss_fn
        backend = backends.active()
        objective = make_objective(model, loss_fn, bn_mode)
        self.value_and_grad = backend.gradient_function(objective)
        self.hvp = backend.hvp_function(objective)
        # Backends that can keep the first-order computation between HVPs offer
        # prepare(...) -> apply(v); used when all data fits in one batch.
        linearized = getattr(backend, "linearized_hvp", None)
        self.prepare_hvp = linearized(objective) if linearized is not None else None
        # What the lazily compiled loss-only (landscape.py) and GGN (ggn.py)
        # functions are built from; the model only weakly, as in the objective.
        self.objective = objective
        self.model_ref = weakref.ref(model)
        self.bn_mode = bn_mode
        self._group_stats = None

    @property
    def group_stats(self) -> Any:
        """The compiled per-group gradient statistics (``kerasnotes.curvature.gate``), built once."""
        if self._group_stats is None:
            self._group_stats = backends.active().group_gradient_function(self.objective)
        return self._group_stats


# Compiled functions per model, then per (loss, bn_mode). Weak keys: the cache
# never keeps a model alive, and the functions reference the model only weakly.
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a loss spec (lists and dicts of losses), for the cache key."""
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    return value


def _engine_for(model: keras.Model, loss: Any, bn_mode: str, build: Any) -> _Engine:
    """The cached engine of (model, loss spec, bn_mode); ``build()`` makes its ProbeLoss."""
    try:
        if loss is None:
            spec, weights = compiled_loss(model)
            key = ("compiled", _frozen(spec), _frozen(weights), bn_mode)
        else:
            key = (_frozen(loss), bn_mode)
        hash(key)
    except TypeError:  # an unhashable loss callable: compile afresh, uncached
        return _Engine(model, build(), bn_mode)
    per_model = _ENGINES.setdefault(model, {})
    if key not in per_model:
        per_model[key] = _Engine(model, build(), bn_mode)
    return per_model[key]


def _forward(model: keras.Model, x: Any) -> Any:
    """``model(x)`` in inference mode, the outputs carrying their Keras masks."""
    if getattr(model, "_call_has_training_arg", True):
        return model(x, training=False)
    return model(x)


def _output_names(model: keras.Model, y_pred: Any, count: int) -> list[str] | None:
    if isinstance(y_pred, dict):
        return sorted(y_pred)  # keras.tree.flatten's order
    names = getattr(model, "output_names", None)
    return list(names) if names and len(names) == count else None


def _labels_per_term(y: Any, probe_loss: ProbeLoss) -> tuple:
    """One label array per loss term, from y as ``model.evaluate`` takes it (list or dict)."""
    terms = probe_loss.terms
    if isinstance(y, dict):
        missing = [t.name for t in terms if t.name not in y]
        if missing:
            raise ValueError(
                f"y is a dict without labels for the outputs {missing} that have a loss; "
                f"keys: {sorted(y, key=str)}"
            )
        return tuple(y[t.name] for t in terms)
    if isinstance(y, (list, tuple)):
        if len(y) == probe_loss.num_outputs:
            return tuple(y[t.output] for t in terms)
        if len(y) == len(terms):
            return tuple(y[t.label] for t in terms)
        raise ValueError(
            f"y holds {len(y)} label arrays for a model with {probe_loss.num_outputs} outputs "
            f"({len(terms)} with a loss); give one per output"
        )
    raise ValueError(
        f"Argument `y` must be a list or dict of label arrays, one per output (the model has "
        f"{probe_loss.num_outputs} outputs). Received: y of type {type(y).__name__}"
    )


def _as_numpy_tree(data: Any, name: str) -> Any:
    def convert(leaf: Any) -> np.ndarray:
        array = np.asarray(leaf)
        if array.dtype == np.float64 and keras.backend.floatx() != "float64":
            array = array.astype(keras.backend.floatx())
        if array.ndim == 0:
            raise ValueError(
                _validation.message(name, leaf, "arrays with a sample axis, not a scalar")
            )
        return array

    try:
        return keras.tree.map_structure(convert, data)
    except (TypeError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith(f"Argument `{name}`"):
            raise
        raise TypeError(
            f"{name} must be an array or a nested structure of arrays: {error}"
        ) from None


def _num_samples(data: Any, name: str) -> int:
    lengths = {leaf.shape[0] for leaf in keras.tree.flatten(data)}
    if len(lengths) != 1:
        raise ValueError(
            f"the arrays in {name} disagree on the number of samples: {sorted(lengths)}"
        )
    return lengths.pop()


def _check_model(model: Any, bn_mode: str, batch_size: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(_validation.message("model", model, "a keras.Model"))
    if not model.built:
        raise ValueError(
            f"model {model.name!r} is not built (built=False); call it on data or give it "
            "an Input before probing its Hessian."
        )
    if not model.trainable_variables:
        raise ValueError(
            f"model {model.name!r} has no trainable weights (trainable_variables=[]); "
            "there is no Hessian to probe."
        )
    if bn_mode not in BN_MODES:
        raise ValueError(_validation.message("bn_mode", bn_mode, f"one of {BN_MODES}"))
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
    ):
        raise TypeError(_validation.message("batch_size", batch_size, "None or an integer >= 1"))
    if batch_size is not None and batch_size < 1:
        raise ValueError(_validation.message("batch_size", batch_size, "None or an integer >= 1"))


def _engine_for_inputs(model: keras.Model, x: Any, loss: Any, bn_mode: str) -> tuple[_Engine, bool]:
    """The cached engine, built from the outputs' structure on one row of ``x``; and ``single``."""
    # The outputs' structure (how many, their names) decides how losses and labels pair up.
    first = _forward(model, keras.tree.map_structure(lambda a: ops.convert_to_tensor(a[:1]), x))
    flat = keras.tree.flatten(first)
    single = not keras.tree.is_nested(first)

    def build() -> ProbeLoss:
        spec, loss_weights = compiled_loss(model) if loss is None else (loss, None)
        return ProbeLoss(
            spec,
            loss_weights,
            num_outputs=len(flat),
            output_names=_output_names(model, first, len(flat)),
            single=single,
        )

    return _engine_for(model, loss, bn_mode, build), single


def _checked_sample_weight(sample_weight: Any, num: int) -> np.ndarray:
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if sample_weight.shape != (num,):
        raise ValueError(
            f"Argument `sample_weight` must have shape ({num},), one weight per sample. "
            f"Received: sample_weight with shape {sample_weight.shape}"
        )
    if not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    return sample_weight


def prepared(
    model: Any,
    x: Any,
    y: Any,
    loss: Any,
    batch_size: Any,
    sample_weight: Any,
    bn_mode: str,
    *,
    steps: Any = None,
    cache_bytes: Any = None,
    verbose: Any = "auto",
    distribution: Any = None,
) -> tuple[_Engine, sources.Batches, int]:
    """Check the arguments and put the data on the device once, in micro-batches.

    Returns the compiled engine, the batches ``(x_b, y_b, sample_weight_b, [w_b, r_b])``
    (``sources.ArrayBatches`` for arrays, ``sources.StreamBatches`` for a data
    source with ``y=None``) and N. Under a backend's data-parallel engine
    (``placement.data_parallel``: a ``tf.distribute`` strategy) each
    micro-batch (an array slice, or a source's batch as it is read) is cut
    into one shard per replica, weighted as a micro-batch of its own, and the
    shards travel as one distributed batch.
    """
    _check_model(model, bn_mode, batch_size)
    replicas = placement.data_parallel(model, distribution)
    steps = sources.check_steps(steps)
    if y is None and sources.is_source(x):
        return _prepared_stream(
            model,
            x,
            loss,
            batch_size,
            sample_weight,
            bn_mode,
            steps,
            cache_bytes,
            verbose,
            replicas,
        )
    if sources.is_source(x):
        raise ValueError(
            _validation.message("y", sources.shown(y), "None when x is a data source (it yields y)")
        )
    if y is None:
        raise ValueError(
            _validation.message(
                "y",
                None,
                "the targets when x holds arrays (y=None is for a tf.data.Dataset, PyDataset, "
                "DataLoader or iterable of (x, y) batches)",
            )
        )
    verbose = sources.check_verbose(verbose, streamed=False)
    sources.check_cache_bytes(cache_bytes)
    x = _as_numpy_tree(x, "x")
    if _num_samples(x, "x") == 0:
        raise ValueError("x and y are empty (0 samples); the loss needs at least one sample")
    engine, single = _engine_for_inputs(model, x, loss, bn_mode)
    probe_loss = engine.loss
    if not single:
        y = _labels_per_term(y, probe_loss)
    y = _as_numpy_tree(y, "y")
    num_x, num_y = _num_samples(x, "x"), _num_samples(y, "y")
    if num_x != num_y:
        raise ValueError(
            f"Argument `y` must have as many samples as x ({num_x}). "
            f"Received: y with {num_y} samples"
        )
    if num_x == 0:
        raise ValueError("x and y are empty (0 samples); the loss needs at least one sample")
    if sample_weight is not None:
        sample_weight = _checked_sample_weight(sample_weight, num_x)
        if not np.any(sample_weight):
            raise ValueError(
                "sample_weight is zero for every sample, so the weighted loss is 0/0; "
                "give at least one sample a positive weight"
            )

    size = batch_size or num_x
    # steps: the first micro-batches only, as evaluate(x, y, batch_size=..., steps=...).
    bounds = [(start, min(start + size, num_x)) for start in range(0, num_x, size)][:steps]
    count = 1 if replicas is None else backends.active().num_replicas(replicas)
    shards = [placement.replica_bounds(start, stop, count) for start, stop in bounds]
    bounds = [bound for pieces in shards for bound in pieces]
    batches = []
    for start, stop in bounds:
        sw = None if sample_weight is None else sample_weight[start:stop].astype("float32")
        batches.append(
            (
                keras.tree.map_structure(lambda a, s=start, e=stop: batch_tensor(a[s:e]), x),
                keras.tree.map_structure(lambda a, s=start, e=stop: batch_tensor(a[s:e]), y),
                None if sw is None else batch_tensor(sw),
            )
        )
    sizes = [stop - start for start, stop in bounds]
    weights, total = _batch_weights(model, probe_loss, batches, sizes)
    dtype = model.trainable_variables[0].dtype
    batches = [
        (*batch, ops.convert_to_tensor(w.astype(dtype)))
        for batch, w in zip(batches, weights, strict=True)
    ]
    if replicas is not None:
        batches = placement.grouped(replicas, batches, [len(pieces) for pieces in shards])
    return engine, sources.ArrayBatches(batches, verbose), total


def _prepared_stream(
    model: keras.Model,
    data: Any,
    loss: Any,
    batch_size: Any,
    sample_weight: Any,
    bn_mode: str,
    steps: int | None,
    cache_bytes: Any,
    verbose: Any,
    replicas: Any = None,
) -> tuple[_Engine, sources.Batches, int]:
    """``prepared`` for a data source: one pass for the weights, the batches streamed after.

    Under a data-parallel engine (``replicas``) each batch read is cut into one
    shard per replica, on every pass alike, and the shards are weighted as
    micro-batches of their own.
    """
    for name, value, why in (
        ("batch_size", batch_size, "its batches are the micro-batches"),
        ("sample_weight", sample_weight, "it yields (x, y, sample_weight) batches"),
    ):
        if value is not None:
            raise ValueError(
                _validation.message(name, value, f"None when x is a data source ({why})")
            )
    verbose = sources.check_verbose(verbose, streamed=True)
    state: dict[str, Any] = {}

    def convert(raw: tuple) -> tuple:
        # The probe's checks and dtypes, on every batch read (numpy in, numpy out).
        x, y, sw = raw
        x = _as_numpy_tree(x, "x")
        if "engine" not in state:
            state["engine"], state["single"] = _engine_for_inputs(model, x, loss, bn_mode)
            state["weighted"] = sw is not None
        if y is None:
            raise ValueError(
                _validation.message(
                    "x", sources.shown(data), "a source of (x, y) or (x, y, sample_weight) batches"
                )
            )
        if not state["single"]:
            y = _labels_per_term(y, state["engine"].loss)
        y = _as_numpy_tree(y, "y")
        num_x, num_y = _num_samples(x, "x"), _num_samples(y, "y")
        if num_x != num_y or num_x == 0:
            raise ValueError(
                f"Argument `x` must yield batches with as many labels as inputs, at least one. "
                f"Received: a batch of {num_x} inputs and {num_y} labels"
            )
        if (sw is not None) != state["weighted"]:
            raise ValueError(
                _validation.message(
                    "x",
                    sources.shown(data),
                    "a source whose batches all have sample weights or none",
                )
            )
        if sw is not None:
            sw = _checked_sample_weight(sw, num_x).astype("float32")
        return x, y, sw

    stream = sources.Stream(data, steps=steps, cache_bytes=cache_bytes, convert=convert)
    count = 1 if replicas is None else backends.active().num_replicas(replicas)
    probe_loss = None
    sizes, denominators, counts, positive = [], [], [], False
    for x, y, sw in stream:  # the first pass: each shard's size and denominators
        probe_loss = state["engine"].loss
        positive = positive or sw is None or bool(np.any(sw))
        bounds = placement.replica_bounds(0, _num_samples(x, "x"), count)
        counts.append(len(bounds))
        for start, stop in bounds:
            sizes.append(stop - start)
            on_device = placement.batch_on_device(*placement.batch_rows((x, y, sw), start, stop))
            denominators.append(_denominators(model, probe_loss, on_device, sizes[-1]))
    if not positive:
        raise ValueError(
            "sample_weight is zero for every sample, so the weighted loss is 0/0; "
            "give at least one sample a positive weight"
        )
    weights, total = _weights_of(probe_loss, denominators, sizes)
    dtype = model.trainable_variables[0].dtype
    weights = [ops.convert_to_tensor(w.astype(dtype)) for w in weights]
    # Each batch's shard weights, in the order the batches are read.
    ends = np.cumsum(counts)
    per_batch = [weights[end - n : end] for n, end in zip(counts, ends, strict=True)]

    def to_device(raw: tuple, shard_weights: list) -> tuple:
        size = _num_samples(raw[0], "x")
        bounds = placement.replica_bounds(0, size, len(shard_weights))
        shards = [
            (*placement.batch_on_device(*placement.batch_rows(raw, start, stop)), w)
            for (start, stop), w in zip(bounds, shard_weights, strict=True)
        ]
        if len(shards) == 1:
            return shards[0]
        return placement.grouped(replicas, shards, [len(shards)])[0]

    batches = sources.StreamBatches(stream, per_batch, verbose, to_device=to_device)
    return state["engine"], batches, total


def _denominators(model: keras.Model, probe_loss: ProbeLoss, batch: tuple, size: int) -> Any:
    """``D_bk`` of one device batch (None when every reduction is "sum": no forward pass)."""
    if all(t.reduction == "sum" for t in probe_loss.terms):
        return None
    x, y, sw = batch
    return probe_loss.denominators(y, _forward(model, x), sw, size)


def _batch_weights(
    model: keras.Model, probe_loss: ProbeLoss, batches: list, sizes: list
) -> tuple[list[np.ndarray], int]:
    """First pass over the micro-batches: each one's denominators, then ``batch_weights``."""
    if len(batches) == 1 and process_count() == 1:
        return _weights_of(probe_loss, [None], sizes)
    return _weights_of(
        probe_loss,
        [_denominators(model, probe_loss, b, n) for b, n in zip(batches, sizes, strict=True)],
        sizes,
    )


def _weights_of(
    probe_loss: ProbeLoss, denominators: list, sizes: list
) -> tuple[list[np.ndarray], int]:
    """``[w_b1..w_bK, r_b]`` per batch from the denominators (``objective.batch_weights``), and N.

    Under several processes (``placement.process_count() > 1``) the totals are
    summed over every process's batches, so each process weighs its shard as
    part of the whole data.
    """
    reductions = [t.reduction for t in probe_loss.terms]
    processes = process_count()
    if len(sizes) == 1 and processes == 1:
        # One batch is the full data: Keras's own reduction, every weight 1.
        return [np.ones(len(reductions) + 1)], sizes[0]
    if denominators[0] is None:
        denominators = np.ones((len(sizes), len(reductions)))
    denominators = np.stack(denominators)
    # One all-reduce of [Σ_b D_b1, ..., Σ_b D_bK, Σ_b n_b] (the local sums alone in one process).
    totals = process_sum(np.append(denominators.sum(axis=0), sum(sizes)))
    empty = [
        t.name
        for t, total, r in zip(probe_loss.terms, totals[:-1], reductions, strict=True)
        if r != "sum" and not total > 0
    ]
    if empty:
        raise ValueError(
            f"the loss of output(s) {empty} has nothing to average over: every position is "
            "masked (or ignore_class) or weighted zero"
        )
    total_size = int(round(totals[-1]))
    weights = batch_weights(
        denominators, reductions, sizes, totals=totals[:-1], total_size=total_size
    )
    return weights, total_size
