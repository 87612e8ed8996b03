"""Curvature of a model's loss: Hessian-vector products and Krylov solvers on top.

``HessianProbe`` treats the Hessian of a Keras model's loss as a linear
operator; ``eigenvalues`` (Lanczos), ``trace`` (Hutch++), ``spectral_density``
(stochastic Lanczos quadrature) and ``analyze`` (notes F13, F14) are built on
its Hessian-vector products; ``landscape`` (F16), ``layer_curvature`` (F18) and
``ggn_vp`` (the Gauss–Newton part, F19) show where the curvature comes from. Backend-specific autodiff lives in
``backends/``.
"""

from kerasnotes.curvature.probe import HessianProbe
from kerasnotes.curvature.results import (
    CriticalPoint,
    Density,
    EigenResult,
    Landscape,
    LayerCurvature,
    TraceResult,
)

__all__ = [
    "CriticalPoint",
    "Density",
    "EigenResult",
    "HessianProbe",
    "Landscape",
    "LayerCurvature",
    "TraceResult",
]
