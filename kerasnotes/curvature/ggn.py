"""The objective split at the model's outputs, for the generalized Gauss–Newton product (F19).

```
L(θ) = Σ_b ℓ_b(f_b(θ)) + R(θ),   f_b = model outputs on batch b,   J_b = ∂f_b/∂θ
H    = Σ_b J_bᵀ H_ℓb J_b  +  Σ_b Σ_k (∂ℓ_b/∂f_bk) ∇²f_bk  +  ∇²R
       \\_______________/     \\__________________________________/
            GGN  G                       residual
G v  = Σ_b J_bᵀ (H_ℓb (J_b v))     one JVP, one output-space HVP, one VJP per batch
```

``ℓ_b`` is the batch's weighted data loss ``Σ_k w_bk · λ_k · loss_k(y_b, f_b, s_b)`` exactly as in
``objective.make_objective`` (``objective.weighted_data_loss``); the regularisation losses ``R`` (``model.losses``) are
not a function of the outputs, so their curvature belongs to the residual term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from kerasnotes.curvature.forward import stateless_forward
from kerasnotes.curvature.objective import ProbeLoss, weighted_data_loss


def make_split_objective(
    model: keras.Model, loss_fn: ProbeLoss, bn_mode: str
) -> tuple[Callable, Callable]:
    """``forward(trainable, non_trainable, x) -> f`` and ``output_loss(f, y, sw, weights) -> ℓ``.

    ``output_loss(forward(θ, …), …)`` is the data part of the probe's objective;
    the model is held weakly, as there.
    """
    call = stateless_forward(model, bn_mode)

    def forward(trainable, non_trainable, x):
        y_pred, _ = call(trainable, non_trainable, x)
        return y_pred

    def output_loss(y_pred, y, sample_weight, weights):
        return weighted_data_loss(loss_fn, y, y_pred, sample_weight, weights)

    return forward, output_loss


def compiled_ggn(engine: Any) -> Callable:
    """The backend's compiled GGN product for the engine's (model, loss, bn_mode), cached on it."""
    if getattr(engine, "ggn", None) is None:
        from kerasnotes import backends

        model = engine.model_ref()
        if model is None:
            raise RuntimeError("the model this HessianProbe was built for no longer exists")
        forward, output_loss = make_split_objective(model, engine.loss, engine.bn_mode)
        engine.ggn = backends.active().ggn_function(forward, output_loss)
    return engine.ggn
