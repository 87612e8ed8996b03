"""kerasnotes: the optimisation side of deep learning as Keras 3 components.

Optimizers, learning-rate schedules, losses, normalization layers, a Hessian
probe, callbacks, a TensorBoard plugin and keras-tuner searches, each carrying
the formula of the study notes it implements.

Submodules load on first use, so ``import kerasnotes`` costs no more than
``import keras`` (the backend Keras picks is the only framework imported).

Example:
    >>> import kerasnotes as kn
    >>> opt = kn.optimizers.Adam(learning_rate=1e-3)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "callbacks",
    "curvature",
    "datasets",
    "layers",
    "losses",
    "notes",
    "optimizers",
    "schedules",
    "summary",
    "tensorboard_plugins",
    "tuning",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'kerasnotes' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
