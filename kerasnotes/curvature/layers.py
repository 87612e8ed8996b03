"""Per-layer curvature: λmax and trace of the Hessian's diagonal blocks (notes F18).

```
θ = (θ_1, …, θ_L),   H_ll = ∂²L/∂θ_l²  (the rows and columns of H that belong to θ_l)
H_ll v_l = (H [0, …, v_l, …, 0])_l            one full Hessian-vector product
lambda_max = λmax(H_ll),   trace = tr(H_ll)
```

The blocks ignore the coupling between layers (the off-diagonal blocks), so
the layers' λmax need not add up to, nor bound, the λmax of the whole ``H``;
the traces do add up: ``Σ_l tr(H_ll) = tr(H)``. Comparing blocks shows which
layer is sharp, e.g. how BatchNormalization lowers the curvature of the layer
before it (claim C13).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasnotes import _compat, _validation
from kerasnotes.curvature.lanczos import lanczos
from kerasnotes.curvature.trace import hutchpp


def variable_groups(model: Any, per_variable: bool) -> list[tuple[str, list[int]]]:
    """``[(name, [indices into model.trainable_variables])]``, in the order of the variables.

    A variable belongs to the innermost layer that created it (a nested model's
    weights go to its own layers); with ``per_variable=True`` each variable is
    its own group, named by its path.
    """
    variables = model.trainable_variables
    if per_variable:
        return [(getattr(v, "path", v.name), [i]) for i, v in enumerate(variables)]
    owner: dict[int, str] = {}
    for layer in _compat.flatten_layers(model, include_self=True, recursive=True):
        for variable in getattr(layer, "_trainable_variables", []):
            owner[id(variable)] = layer.name  # inner layers come later and win
    groups: dict[str, list[int]] = {}
    for i, variable in enumerate(variables):
        name = owner.get(id(variable), getattr(variable, "path", variable.name))
        groups.setdefault(name, []).append(i)
    return list(groups.items())


def layer_curvature(
    probe: Any, num_samples: int, per_variable: bool, tol: float, max_iter: int, seed: int
) -> list:
    """The body of ``HessianProbe.layer_curvature`` (see there)."""
    from kerasnotes.curvature.results import LayerCurvature

    _validation.integer("num_samples", num_samples, minimum=3)
    _validation.boolean("per_variable", per_variable)
    if not tol > 0:
        raise ValueError(_validation.message("tol", tol, "positive"))
    # A ValueError for a wrong type too, as this check has always raised.
    _validation.integer("max_iter", max_iter, minimum=1, wrong_type=ValueError)

    starts = np.concatenate([[0], np.cumsum([int(np.prod(s)) for s in probe._shapes])])
    n = probe.num_parameters
    rng = np.random.default_rng(seed)
    results = []
    for name, indices in variable_groups(probe._model, bool(per_variable)):
        block = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in indices])
        size = len(block)
        before = probe._counted()

        def block_product(v_block: np.ndarray, block: np.ndarray = block) -> np.ndarray:
            v = np.zeros(n)
            v[block] = v_block
            return probe.hvp(v)[block]

        if probe._dense is not None or size <= num_samples // 3:
            # Small blocks (or a Hessian already at hand): the exact block costs
            # size products, fewer than Lanczos plus Hutch++ would spend.
            if probe._dense is not None:
                dense = probe._dense[np.ix_(block, block)]
            else:
                columns = np.column_stack([block_product(e) for e in np.eye(size)])
                dense = 0.5 * (columns + columns.T)
            lam_max = float(np.linalg.eigvalsh(dense)[-1])
            trace, stderr = float(np.trace(dense)), 0.0
        else:

            def converged(run: Any) -> bool:
                theta, s = run.ritz()
                scale = max(np.max(np.abs(theta)), 1e-300)
                return bool(run.residuals(s[:, -1:])[0] <= tol * scale)

            run = lanczos(block_product, rng.standard_normal(size), max_iter, rng, stop=converged)
            lam_max = float(run.ritz()[0][-1])
            trace, stderr, _ = hutchpp(block_product, size, num_samples, rng)
        results.append(
            LayerCurvature(
                name=name,
                num_parameters=size,
                lambda_max=lam_max,
                trace=float(trace),
                trace_stderr=float(stderr),
                num_hvp=probe._counted() - before,
            )
        )
    return results
