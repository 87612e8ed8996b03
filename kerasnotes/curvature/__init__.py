"""Curvature of a model's loss: Hessian-vector products and Krylov solvers on top."""
