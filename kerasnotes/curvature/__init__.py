"""Curvature of a model's loss: Hessian-vector products and Krylov solvers on top.

``HessianProbe`` treats the Hessian of a Keras model's loss as a linear
operator; ``eigenvalues`` (Lanczos), ``trace`` (Hutch++), ``spectral_density``
(stochastic Lanczos quadrature) and ``analyze`` (notes F13, F14) are built on
its Hessian-vector products. Backend-specific autodiff lives in ``backends/``.
"""

from kerasnotes.curvature.probe import HessianProbe
from kerasnotes.curvature.results import CriticalPoint, Density, EigenResult, TraceResult

__all__ = ["CriticalPoint", "Density", "EigenResult", "HessianProbe", "TraceResult"]
