"""Where a probe's micro-batches live: split over the devices of a Keras distribution.

With a distribution set (``keras.distribution.set_distribution(DataParallel())``,
on JAX), each micro-batch is split along its first axis over the mesh's batch
devices while the weights stay replicated, so every compiled product (loss,
gradient, HVP, GGN product) runs on all devices at once and the backend's
partitioner adds the reduction across them:

```
∇L = Σ_b Σ_{d ∈ devices} Σ_{i ∈ shard(b, d)} ∇ℓ_i        (an all-reduce over d)
```

The same sum in another order, so every result equals the one-device value to
round-off. A micro-batch whose size the devices do not divide is left whole
(replicated): the numbers are the same, only that batch is not split. Without a
distribution this is ``keras.ops.convert_to_tensor``.

A backend with its own data-parallel engine (TensorFlow's ``tf.distribute``,
the section at the end) gets each micro-batch as one shard per replica instead
(``replica_bounds``, ``grouped``); the backend runs every product per replica
and sums the replicas' results.

Processes (PyTorch, ``torch.distributed`` initialised, e.g. under ``torchrun``):
each process holds its own shard of the data, and the probe adds its local sums
over its micro-batches, then sums them over the processes (``process_sum``, an
all-reduce in the backend):

```
w_bk = D_bk / Σ_ranks Σ_b D_bk,   r_b = n_b / Σ_ranks n        (global denominators)
L = Σ_ranks Σ_b L_b,   ∇L, Hv likewise                         (one all-reduce per product)
```

so every process sees the loss, gradient and products of all shards together,
identical on every rank, and the solvers (seeded alike) take identical steps.
That is the Hessian of one model only if the ranks hold the same weights, which
a probe checks when it is built (``check_same_weights``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasnotes import _validation, backends


def batch_devices() -> int:
    """How many devices a micro-batch is split over: the distribution's batch axis, else 1.

    Example:
        >>> batch_devices()   # no distribution set
        1
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[list(mesh.axis_names).index(distribution.batch_dim_name)])


def batch_tensor(array: np.ndarray) -> Any:
    """``array`` as a backend tensor, split along axis 0 over the distribution's batch devices.

    Args:
        array: one micro-batch's inputs, labels or sample weights (first axis: samples).

    Example:
        >>> import numpy as np
        >>> t = batch_tensor(np.ones((4, 2), "float32"))   # no distribution: one device
        >>> tuple(t.shape)
        (4, 2)
    """
    tensor = ops.convert_to_tensor(array)
    distribution = keras.distribution.distribution()
    devices = batch_devices()
    if distribution is None or devices == 1 or array.ndim == 0 or array.shape[0] % devices:
        return tensor
    return keras.distribution.distribute_tensor(
        tensor, distribution.get_data_layout(tuple(array.shape))
    )


# ----------------------------------------------- replicas of a backend engine (tf.distribute)
# A backend that runs products per replica (TensorFlow's tf.distribute) offers
def batch_rows(batch: tuple, start: int, stop: int) -> tuple:
    """Rows ``[start, stop)`` of a numpy batch ``(x, y, sample_weight)`` (a replica's shard).

    Example:
        >>> x, y, sw = batch_rows((np.arange(6).reshape(3, 2), np.arange(3), None), 1, 3)
        >>> x.tolist(), y.tolist(), sw
        ([[2, 3], [4, 5]], [1, 2], None)
    """
    x, y, sw = batch
    return (
        keras.tree.map_structure(lambda a: a[start:stop], x),
        keras.tree.map_structure(lambda a: a[start:stop], y),
        None if sw is None else sw[start:stop],
    )


def batch_on_device(x: Any, y: Any, sw: Any) -> tuple:
    """A numpy batch's inputs, targets and sample weights as device tensors (``batch_tensor``)."""
    return (
        keras.tree.map_structure(batch_tensor, x),
        keras.tree.map_structure(batch_tensor, y),
        None if sw is None else batch_tensor(sw),
    )


# data_parallel(model, distribution) -> engine | None, num_replicas(engine) and
# per_replica(engine, shards); the helpers below are its backend-neutral side.


def data_parallel(model: Any, distribution: Any) -> Any:
    """The backend's data-parallel engine for a probe of ``model``, or None (one device).

    On TensorFlow: ``distribution`` (a ``tf.distribute.Strategy``), else the
    strategy in scope, else the one the model's variables were created under.
    Other backends take ``distribution=None`` only (JAX reads the active
    ``keras.distribution``).

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> data_parallel(model, None) is None   # no strategy, no distribution
        True
    """
    backend = backends.active()
    find = getattr(backend, "data_parallel", None)
    if find is not None:
        return find(model, distribution)
    if distribution is None:
        return None
    name = keras.backend.backend()
    how = (
        "set one with keras.distribution.set_distribution(...) instead"
        if name == "jax"
        else "a tf.distribute.Strategy is for the TensorFlow backend"
    )
    raise ValueError(
        _validation.message("distribution", distribution, f"None on the {name} backend ({how})")
    )


def replica_bounds(start: int, stop: int, replicas: int) -> list[tuple[int, int]]:
    """Rows ``[start, stop)`` cut into one shard per replica, as even as the count allows.

    A micro-batch with fewer rows than replicas is kept whole (one shard): an
    empty shard would have nothing to average over.

    Example:
        >>> replica_bounds(0, 5, 2)
        [(0, 3), (3, 5)]
        >>> replica_bounds(10, 11, 2)   # one row: not split
        [(10, 11)]
    """
    if replicas <= 1 or stop - start < replicas:
        return [(start, stop)]
    edges = start + np.cumsum(
        [0] + [len(p) for p in np.array_split(np.arange(stop - start), replicas)]
    )
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def grouped(engine: Any, batches: list, counts: list[int]) -> list:
    """Each micro-batch's shards (``counts`` of them in a row) as one distributed batch.

    ``batches`` are ``(x, y, sw, w)`` per shard; a micro-batch kept whole
    (count 1) stays as it is, on one device.
    """
    backend = backends.active()
    out, start = [], 0
    for count in counts:
        shards = batches[start : start + count]
        start += count
        if count == 1:
            out.append(shards[0])
            continue
        out.append(
            tuple(
                None
                if shards[0][i] is None
                else keras.tree.map_structure(
                    lambda *leaves: backend.per_replica(engine, list(leaves)),
                    *[s[i] for s in shards],
                )
                for i in range(4)
            )
        )
    return out


def num_replicas(model: Any, distribution: Any) -> int:
    """How many devices share a probe's data: the backend engine's replicas, else ``batch_devices()``.

    Example:
        >>> import keras
        >>> num_replicas(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), None)
        1
    """
    engine = data_parallel(model, distribution)
    if engine is None:
        return batch_devices()
    return int(backends.active().num_replicas(engine))


# ---------------------------------------------------------------- processes


def process_count() -> int:
    """How many processes hold a shard of the probe's data: the backend's group, else 1.

    Example:
        >>> process_count()   # one process (no torch.distributed group)
        1
    """
    hook = getattr(backends.active(), "process_count", None)
    return 1 if hook is None else int(hook())


def process_sum(array: Any) -> np.ndarray:
    """``Σ_processes array`` in float64, the same on every process; ``array`` itself in one.

    A collective: under several processes every one must call it, in the same
    order, with the same shape.

    Example:
        >>> process_sum(np.array([1.5, 2.0]))   # one process: the array itself
        array([1.5, 2. ])
    """
    array = np.asarray(array, dtype=np.float64)
    if process_count() == 1:
        return array
    return backends.active().process_sum(array)


def check_same_weights(weights: list[np.ndarray]) -> None:
    """Raise ``ValueError`` unless every process holds the same weights (a collective).

    A probe under several processes sums products taken at each process's own
    weights, which is the Hessian of one model only when the weights agree. Each
    process reduces its weights to three numbers, ``f = (Σθ, Σθ², Σ_i θ_i·i/n)``
    (the last one sees a permutation), and one ``process_sum`` of ``(f, f²)``
    gives every process the same spread over the P processes::

        spread² = Σ_p f_p² / P − (Σ_p f_p / P)²   (per component; 0 iff all f_p agree)

    so all processes raise, or none does (a raise on one rank alone would leave
    the others waiting in the next all-reduce). Nothing happens in one process.

    Example:
        >>> check_same_weights([np.ones((2, 2)), np.zeros(3)])   # one process: no check
    """
    processes = process_count()
    if processes == 1:
        return
    flat = np.concatenate([np.asarray(w, dtype=np.float64).reshape(-1) for w in weights])
    ramp = np.arange(flat.size, dtype=np.float64) / max(flat.size, 1)
    local = np.array([flat.sum(), flat @ flat, flat @ ramp])
    totals = process_sum(np.concatenate([local, local * local]))
    mean = totals[:3] / processes
    spread = np.sqrt(np.maximum(totals[3:] / processes - mean * mean, 0.0))
    # The sum of P equal float64 numbers rounds by a few ulps; weights trained apart
    # differ in their fourth or fifth digit at the latest.
    if np.any(spread > 1e-9 * np.maximum(np.abs(mean), 1e-30)):
        raise ValueError(
            f"model: the {processes} torch.distributed processes hold different weights "
            "(their sums differ), so their Hessian-vector products would add the Hessians "
            "of different models; give every rank the same weights before building the "
            "probe (e.g. broadcast them from rank 0, or train with synchronised gradients)"
        )
