"""Data-parallel products under a ``tf.distribute`` strategy (``MirroredStrategy`` and kin).

```
f(θ) = Σ_b Σ_{r ∈ replicas} f_{b,r}(θ)      (f: the weighted loss, its gradient or Hv;
                                            one all-reduce ``strategy.reduce(SUM)`` per product)
```

A micro-batch of a probe under a strategy is cut into one shard per replica;
each shard is weighted as a micro-batch of its own (``engine.batch_weights``),
so the shards' weighted losses add up to the micro-batch's and the reduced sum
is the one-device value in another order. The shards travel as one
``PerReplica`` value per argument (``per_replica``); every compiled product of
``kerasnotes.backends.tensorflow`` recognises such arguments and runs itself
with ``strategy.run`` on each replica, then sums over the replicas
(``dispatching``). Arguments that are plain tensors (the weights, a vector ``v``)
are the same on every replica.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from kerasnotes import _validation

# The strategy of each PerReplica value made by per_replica(): a compiled
# product finds from its arguments which strategy to run under. Weak keys: the
# entry goes with the probe's batches.
_STRATEGIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def data_parallel(model: Any, distribution: Any) -> tf.distribute.Strategy | None:
    """The strategy a probe splits its micro-batches over, or None (one device).

    ``distribution`` when given; else the strategy whose scope is entered
    (``tf.distribute.get_strategy()``); else the one the model's variables were
    created under (``MirroredVariable.distribute_strategy``). A strategy with
    one replica is None: there is nothing to split.
    """
    if distribution is not None:
        if not isinstance(distribution, tf.distribute.Strategy):
            raise TypeError(
                _validation.message(
                    "distribution", distribution, "None or a tf.distribute.Strategy"
                )
            )
        strategy = distribution
    elif tf.distribute.has_strategy():
        strategy = tf.distribute.get_strategy()
    else:
        strategy = None
        for variable in model.trainable_variables:
            strategy = getattr(getattr(variable, "value", None), "distribute_strategy", None)
            if strategy is not None:
                break
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return None
    return strategy


def num_replicas(strategy: tf.distribute.Strategy) -> int:
    """How many replicas share a micro-batch."""
    return int(strategy.num_replicas_in_sync)


def per_replica(strategy: tf.distribute.Strategy, shards: list) -> Any:
    """One distributed value from one tensor per replica, each put on its replica's device."""
    devices = strategy.extended.worker_devices

    def value(context: Any) -> tf.Tensor:
        index = context.replica_id_in_sync_group
        with tf.device(devices[index]):
            return tf.identity(shards[index])

    distributed = strategy.experimental_distribute_values_from_function(value)
    _STRATEGIES[distributed] = strategy
    return distributed


def _strategy_of(args: tuple) -> tf.distribute.Strategy | None:
    # x, y, sample weights, batch weights: the data arguments (positions 2-5).
    for arg in args[2:6]:
        for leaf in tf.nest.flatten(arg):
            if isinstance(leaf, tf.distribute.DistributedValues):
                return _STRATEGIES.get(leaf)
    return None


def dispatching(fn: Callable, compiled: Callable) -> Callable:
    """``compiled`` for one device's arguments; ``fn`` per replica, summed, for distributed ones.

    Args:
        fn: the uncompiled product ``(trainable, non_trainable, x, y, sw, weights, ...)``.
        compiled: the same function, compiled for one device.
    """
    runs: dict[int, tuple] = {}

    def call(*args: Any) -> Any:
        strategy = _strategy_of(args)
        if strategy is None:
            return compiled(*args)
        if id(strategy) not in runs:
            runs[id(strategy)] = (strategy, _replicated(fn, strategy))
        return runs[id(strategy)][1](*args)

    return call


def _replicated(fn: Callable, strategy: tf.distribute.Strategy) -> Callable:
    """Compiled: ``fn`` on every replica (``strategy.run``), its outputs summed over them."""

    def replicated(*args: Any) -> Any:
        per = strategy.run(fn, args=args)
        return tf.nest.map_structure(
            lambda t: strategy.reduce(tf.distribute.ReduceOp.SUM, t, axis=None), per
        )

    return tf.function(replicated, autograph=False)


def linearized(prepare: Callable, full: Callable) -> Callable:
    """``prepare(...) -> apply(v)``: the split graph on one device, ``full`` per replica.

    Distributed data gets no split graph: each ``apply`` runs the whole
    reverse-over-reverse product on every replica (``full``, a ``dispatching``
    function).
    """

    def prepared(*args: Any) -> Callable:
        if _strategy_of(args) is None:
            return prepare(*args)
        return lambda vectors: full(*args, vectors)

    return prepared
