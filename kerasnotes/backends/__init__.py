"""Backend-specific code: the only place in kerasnotes that imports TF, JAX or torch.

Each module (``tensorflow``, ``jax``, ``torch``) offers the same functions:
the curvature probe's compiled gradient and Hessian-vector products
(``gradient_function``, ``hvp_function``, optionally ``linearized_hvp`` and
``flat_gradient_function``, JAX's loss and gradient as one vector for a single
copy to the host) and ``short_lived_graphs()``, the framework settings the tour
trains under.
A backend with a process-level engine (torch: ``torch.distributed``) also offers
``process_count()`` and ``process_sum(array)``, read through
``kerasnotes.curvature.placement``.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def active() -> ModuleType:
    """The module of the backend Keras runs on (``keras.backend.backend()``).

    Example:
        >>> import keras
        >>> active().__name__.rsplit(".", 1)[-1] == keras.backend.backend()
        True
    """
    import keras

    return importlib.import_module(f"{__name__}.{keras.backend.backend()}")
