"""Compiled models kept through one run of a claim, restarted from new weights for each trial.

A claim that trains the same network with the same optimizer on several seeds
(or in several configurations) would build and compile a new model for each:
TensorFlow then traces the training step again, JAX compiles it again, and the
curvature engines (``HessianProbe``, ``gate.GradientNorm``), cached per model,
are built again. One kept model per key instead, restarted before each trial::

    weights    ← those of a model freshly built with the trial's seed
    optimizer  ← its variables as they were just after it was built
                 (iterations 0, zero moments; the learning rate it was given)

gives the same trajectory as a new model: the same initial weights, the same
optimizer state and the same data, so the same numbers. One difference would
remain where ``fit`` shuffles on JAX and torch: there Keras's first ``fit`` of a
newly compiled model peeks at a batch to build its metrics, and that draws from
the global RNG that then shuffles (NumPy's on JAX, torch's on torch), which a
kept model skips. So for a shuffled fit on JAX and torch the kept model is
compiled again with a new optimizer (the curvature engines, cached per model,
are still kept); on TensorFlow, whose shuffle is seeded per ``fit``, it is not.

Example:
    >>> import numpy as np
    >>> from kerasnotes import losses, optimizers
    >>> from kerasnotes.experiments.training import mlp
    >>> models = CompiledModels()
    >>> loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> adam = lambda: optimizers.Adam(0.1)
    >>> first = models.get("adam", mlp(4, (3,), 2, seed=0), adam, loss, shuffle=False)
    >>> again = models.get("adam", mlp(4, (3,), 2, seed=1), adam, loss, shuffle=False)
    >>> again is first, bool(np.allclose(again.get_weights()[0], mlp(4, (3,), 2, 1).get_weights()[0]))
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from kerasnotes import _validation


class CompiledModels:
    """One compiled model per key, handed out again with a new start (see the module).

    The models live as long as this object: a claim keeps one in its run's
    ``Context`` (``context.models``), so they go with the run.
    """

    def __init__(self) -> None:
        self._kept: dict[Any, tuple[keras.Model, list[np.ndarray]]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def get(
        self,
        key: Any,
        seeded: keras.Model,
        make_optimizer: Callable[[], keras.optimizers.Optimizer],
        loss: Any,
        metrics: Sequence[Any] = (),
        labels: Any = None,
        shuffle: bool = True,
    ) -> keras.Model:
        """The model kept under ``key``, with ``seeded``'s weights and a new optimizer state.

        The first call for a key compiles ``seeded`` itself (as ``fit_run`` would:
        ``training.compile_for_run``) with ``make_optimizer()`` and keeps it; later
        calls copy ``seeded``'s weights into the kept model and put its optimizer's
        variables back to their values after ``build`` (or, for a shuffled fit on JAX
        and torch, compile it again with ``make_optimizer()``). ``fit_run`` then sees a model
        compiled with the optimizer it is given and compiles nothing.

        Args:
            key: what identifies the network and optimizer (hashable); every call with
                one key must pass models of one architecture and the same optimizer,
                loss and metrics.
            seeded: a new, uncompiled model with the trial's initial weights.
            make_optimizer: builds the optimizer: at a key's first call (and at each
                compilation again).
            loss, metrics, labels, shuffle: as ``fit_run``'s ``loss``, ``metrics``,
                ``train[1]`` and ``shuffle``; for a shuffled fit on JAX and torch the
                kept model is compiled again (see the module).

        Raises:
            ValueError: ``seeded``'s weights do not fit the kept model's.
        """
        from kerasnotes.experiments.training import compile_for_run

        kept = self._kept.get(key)
        if kept is None:
            compile_for_run(seeded, make_optimizer(), loss, metrics, labels)
            fresh = [np.array(v.numpy()) for v in seeded.optimizer.variables]
            self._kept[key] = (seeded, fresh)
            return seeded
        model, fresh = kept
        weights = seeded.get_weights()
        shapes = [w.shape for w in model.get_weights()]
        if [w.shape for w in weights] != shapes:
            raise ValueError(
                _validation.message(
                    "seeded", [w.shape for w in weights], f"weights shaped {shapes} (key {key!r})"
                )
            )
        model.set_weights(weights)
        if shuffle and keras.backend.backend() != "tensorflow":
            # Compiled again, so that fit peeks at the data as for a new model (the module);
            # with the kept loss object, which the curvature engines' cache is keyed by.
            compile_for_run(model, make_optimizer(), model.loss, metrics, labels)
            return model
        for variable, value in zip(model.optimizer.variables, fresh, strict=True):
            variable.assign(value)
        return model
