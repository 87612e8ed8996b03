"""Curvature of a model's loss: Hessian-vector products and Krylov solvers on top.

``HessianProbe`` treats the Hessian of a Keras model's loss as a linear
operator; ``eigenvalues`` (Lanczos), ``trace`` (Hutch++), ``spectral_density``
(stochastic Lanczos quadrature) and ``analyze`` (notes F13, F14) are built on
its Hessian-vector products; ``landscape`` (F16), ``layer_curvature`` (F18) and
``ggn_vp`` (the Gauss–Newton part, F19) show where the curvature comes from. Backend-specific autodiff lives in
``kerasnotes.backends``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "CriticalPoint",
    "Density",
    "EigenResult",
    "HessianProbe",
    "Landscape",
    "LayerCurvature",
    "TraceResult",
]

# Loaded on first use: the TensorBoard plugin imports ``classify`` (the rule of
# F13) and must not pull in Keras and a backend with it.
_HOMES = {
    "HessianProbe": "probe",
    "CriticalPoint": "results",
    "Density": "results",
    "EigenResult": "results",
    "Landscape": "results",
    "LayerCurvature": "results",
    "TraceResult": "results",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
