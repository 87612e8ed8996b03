"""Each micro-batch's first-order state, kept between Hessian-vector products up to a budget.

```
Hv = Σ_b H_b v,    H_b v = ∇_θ(∇_θ L_b(θ) · v)
prepare_b:  forward and first backward pass of batch b, once   (state: activations, masks)
apply_b(v): the second-order part alone, on every product
kept:  batch 0 always; batch b > 0 while  Σ_kept state_bytes ≤ budget  (cache_bytes)
```

A probe's weights and data never change, so the part of ``H_b v`` that does
not depend on ``v`` can be computed once per batch: ``jax.linearize``, a
retained torch autograd graph, TensorFlow's HVP graph split at its dependence
on ``v`` (the backends' ``linearized_hvp``). Each kept batch then costs only
its second-order part on every later product; a batch whose state would pass
the budget is prepared once, used, dropped, and computed whole from then on.
The first batch is always kept, so a single-batch probe behaves as before
(its state is one forward pass's activations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def state_bytes(apply: Callable) -> int:
    """Memory a prepared product holds (``apply.state_bytes``, set by the backend; 0 if unknown)."""
    return int(getattr(apply, "state_bytes", 0))


class PreparedProducts:
    """``H_b v`` per micro-batch ``b``, from kept first-order state where the budget allows.

    Args:
        engine: the probe's compiled functions (``prepare_hvp``: None when the
            backend cannot split the product; ``hvp``: the whole product).
        trainable, non_trainable: the probe's weights, as device tensors.
        budget: bytes of state kept beyond the first batch's.

    Example:
        >>> from types import SimpleNamespace
        >>> def prepare(t, nt, x, *rest):
        ...     apply = lambda v: [x * v[0]]
        ...     apply.state_bytes = 8
        ...     return apply
        >>> engine = SimpleNamespace(prepare_hvp=prepare, hvp=None)
        >>> products = PreparedProducts(engine, [], [], budget=8)
        >>> [products.product(b, (x, None, None, None), [1.0])[0] for b, x in enumerate([1.0, 2.0, 3.0])]
        [1.0, 2.0, 3.0]
        >>> products.kept, products.state_bytes      # batch 0 always, batch 1 within 8 bytes
        (2, 16)
    """

    def __init__(self, engine: Any, trainable: list, non_trainable: list, budget: int) -> None:
        self._engine = engine
        self._trainable, self._non_trainable = trainable, non_trainable
        self._budget = int(budget)
        self._kept: dict[int, Callable] = {}
        self._refused: set[int] = set()
        self._extra_bytes = 0
        self.state_bytes = 0

    @property
    def kept(self) -> int:
        """How many batches' first-order state is held."""
        return len(self._kept)

    def holds(self, index: int) -> bool:
        """Whether batch ``index``'s state is held (its product needs no data)."""
        return index in self._kept

    def kept_product(self, index: int, vectors: list) -> list:
        """``H_b v`` from batch ``index``'s held state."""
        return self._kept[index](vectors)

    def product(self, index: int, batch: tuple, vectors: list) -> list:
        """``H_b v`` for batch ``index`` = ``(x, y, sample_weight, weights)`` on the device."""
        if index in self._kept:
            return self._kept[index](vectors)
        prepare = self._engine.prepare_hvp
        if prepare is None or index in self._refused:
            return self._engine.hvp(self._trainable, self._non_trainable, *batch, vectors)
        apply = prepare(self._trainable, self._non_trainable, *batch)
        size = state_bytes(apply)
        if index == 0 or self._extra_bytes + size <= self._budget:
            self._kept[index] = apply
            self.state_bytes += size
            if index:
                self._extra_bytes += size
        else:
            self._refused.add(index)
        return apply(vectors)
