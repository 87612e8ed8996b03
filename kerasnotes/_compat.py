"""Every private Keras and keras-tuner name kerasnotes uses, in one place.

Keras's public API has no way to do these few things, so kerasnotes reaches
into ``keras.src`` (and ``keras_tuner.src``). Private names may change in any
release; ``pyproject.toml`` caps Keras below the first minor version that has
not been tested (``SUPPORTED_KERAS``), and ``tests/test_compat.py`` checks each
use below on the installed versions, naming the symbol and the version when
one changed. The uses:

- ``in_stateless_scope()`` and ``get_autocast_scope()``: whether a variable's
  ``.value`` is the stored tensor itself (the torch in-place optimizer step is
  only valid then).
- ``Optimizer._backend_update_step(grads, trainable_variables, learning_rate)``:
  the method ``apply`` calls for the actual update, overridden by
  ``kerasnotes.optimizers.base.NotesOptimizer`` for an eager in-place fast path
  on torch (``check_backend_update_step`` checks it is still there and shaped
  as relied on).
- ``flatten_layers(model)``: ``Layer._flatten_layers``, every layer of a model,
  nested ones included (``model.layers`` lists only the top level).
- ``get_keras_mask`` / ``set_keras_mask``: the "this element does not count"
  mask a tensor carries, which ``keras.losses.Loss.__call__`` honours when it
  reduces.
- ``unscale_loss_for_distribution(value)``: under a ``tf.distribute`` strategy
  ``keras.losses.Loss.__call__`` divides its value by the number of replicas
  (``fit`` sums the replicas' gradients); the curvature probe sums the
  replicas' weighted shares itself and undoes that division.
- ``set_random_seed(seed)``: ``keras.utils.set_random_seed`` without importing
  TensorFlow on the JAX and torch backends (Keras imports it, when installed,
  only to seed it: 4-7 s of CPU at the tour's start). It writes the two Keras
  global-state entries Keras's own function writes (``global_random_seed`` and
  the global ``SeedGenerator``), read through ``keras.src``.
- ``keras_tuner_distribute``: keras-tuner's ``distribute.utils``
  (``has_chief_oracle``, ``is_chief_oracle``), read from the environment
  variables keras-tuner's distributed search sets. Imported on first use, so
  importing this module does not import keras-tuner.

A name Keras no longer has does not stop ``import kerasnotes``: it is replaced by
a stand-in that raises ``RuntimeError`` naming the symbol and the Keras version
when called (``get_keras_mask`` alone degrades instead: masks read as absent).

Example:
    >>> from kerasnotes import _compat
    >>> _compat.SUPPORTED_KERAS
    '>=3.10,<3.16'
    >>> import keras
    >>> model = keras.Sequential([keras.layers.Dense(1, name="d")], name="m")
    >>> [layer.name for layer in _compat.flatten_layers(model)]
    ['m', 'd']
"""

from __future__ import annotations

import importlib
import inspect
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

#: The Keras versions kerasnotes is tested with; the same range as ``pyproject.toml``.
SUPPORTED_KERAS = ">=3.10,<3.16"
#: The keras-tuner versions kerasnotes is tested with; the same range as ``pyproject.toml``.
SUPPORTED_KERAS_TUNER = ">=1.4.7,<1.5"


def changed_message(symbol: str, what: str, package: str = "keras") -> str:
    """The error text for private API that the installed Keras (or keras-tuner) changed."""
    if package == "keras":
        version, supported = keras.version(), SUPPORTED_KERAS
    else:
        from importlib import metadata

        version, supported = metadata.version(package), SUPPORTED_KERAS_TUNER
    return (
        f"kerasnotes relies on the private {package} API {symbol}, which {package} "
        f"{version} {what}; kerasnotes supports {package}{supported} "
        f"(pip install '{package}{supported}')."
    )


def _stand_in(symbol: str) -> Callable[..., Any]:
    def missing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(changed_message(symbol, "does not have"))

    missing.__name__ = symbol.rpartition(".")[2]
    return missing


try:
    from keras.src.backend.common.stateless_scope import in_stateless_scope
except ImportError:  # pragma: no cover - a Keras outside the supported range
    in_stateless_scope = _stand_in("keras.src.backend.common.stateless_scope.in_stateless_scope")

try:
    from keras.src.backend.common.variables import get_autocast_scope
except ImportError:  # pragma: no cover - a Keras outside the supported range
    get_autocast_scope = _stand_in("keras.src.backend.common.variables.get_autocast_scope")

try:
    from keras.src.backend.common.masking import set_keras_mask
except ImportError:  # pragma: no cover - a Keras outside the supported range
    set_keras_mask = _stand_in("keras.src.backend.common.masking.set_keras_mask")

try:  # Keras's own reader of the mask a tensor carries (an attribute on TF, a table on JAX)
    from keras.src.backend.common.masking import get_keras_mask
except ImportError:  # pragma: no cover - a Keras without it: masks are read as absent

    def get_keras_mask(tensor: Any) -> Any:
        return None


try:  # Keras divides a loss by the replica count under tf.distribute; this multiplies back
    from keras.src.losses.loss import unscale_loss_for_distribution
except ImportError:  # pragma: no cover - a Keras without it: no division to undo

    def unscale_loss_for_distribution(value: Any) -> Any:
        return value


try:  # the global state keras.utils.set_random_seed writes
    from keras.src.backend.common import global_state as _global_state
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED as _RANDOM_SEED
except ImportError:  # pragma: no cover - a Keras outside the supported range
    _global_state = None
try:  # the key keras.random's global generator is kept under
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR as _SEED_GENERATOR
except ImportError:  # Keras 3.10 spells it only inside global_seed_generator()
    _SEED_GENERATOR = "global_seed_generator"


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)``, but TensorFlow is seeded only if it is loaded.

    Keras's function imports TensorFlow whenever it is installed, to seed
    ``tf.random`` for ``tf.data`` pipelines, whatever the backend. On JAX and
    torch nothing kerasnotes runs draws from ``tf.random`` (Keras shuffles
    arrays with NumPy there), so this seeds Python's ``random``, NumPy, the
    Keras global seed generator and torch (on torch), exactly as Keras does,
    and TensorFlow too when it is already imported or is the backend (then it
    is Keras's function itself). On every supported Keras the global generator
    starts afresh from ``seed``, so seeding twice repeats ``keras.random``'s
    draws (Keras 3.10's own function kept the generator it had).

    Example:
        >>> import numpy as np
        >>> set_random_seed(3); a = np.random.rand()
        >>> set_random_seed(3); a == np.random.rand()
        True
    """
    if _global_state is None:
        keras.utils.set_random_seed(seed)
        return
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        # Keras 3.10 keeps an existing global generator, so seeding twice did not
        # repeat keras.random's draws; newer releases drop it, as this does on all.
        _global_state.set_global_attribute(_SEED_GENERATOR, None)
        return
    if not isinstance(seed, int):
        raise ValueError(
            f"Expected `seed` argument to be an integer. Received: seed={seed} (of type "
            f"{type(seed)})"
        )
    _global_state.set_global_attribute(_RANDOM_SEED, seed)
    _global_state.set_global_attribute(_SEED_GENERATOR, None)  # recreated from the seed
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        from kerasnotes import backends  # the one place that imports torch

        backends.active().manual_seed(seed)


#: The optimizer method kerasnotes overrides, and the arguments it relies on.
BACKEND_UPDATE_STEP = "_backend_update_step"
BACKEND_UPDATE_STEP_ARGS = ("grads", "trainable_variables", "learning_rate")


def check_backend_update_step() -> None:
    """Raise ``RuntimeError`` unless ``keras.optimizers.Optimizer`` has the overridden hook.

    ``NotesOptimizer`` overrides ``Optimizer._backend_update_step(grads,
    trainable_variables, learning_rate)``, which ``Optimizer.apply`` calls once
    a step with the filtered gradients and the current learning rate. A Keras
    without it would skip the override (same numbers, no fast path); one with
    other arguments would break it.

    Example:
        >>> check_backend_update_step()  # passes on a supported Keras
    """
    symbol = f"keras.optimizers.Optimizer.{BACKEND_UPDATE_STEP}"
    method = getattr(keras.optimizers.Optimizer, BACKEND_UPDATE_STEP, None)
    if not callable(method):
        raise RuntimeError(changed_message(symbol, "does not have"))
    arguments = tuple(inspect.signature(method).parameters)[1:]
    if arguments != BACKEND_UPDATE_STEP_ARGS:
        raise RuntimeError(
            changed_message(
                symbol, f"defines with arguments {arguments}, not {BACKEND_UPDATE_STEP_ARGS}"
            )
        )


def flatten_layers(
    model: keras.layers.Layer, include_self: bool = True, recursive: bool = True
) -> Iterator[keras.layers.Layer]:
    """Every layer of ``model`` (``Layer._flatten_layers``), nested models' layers included.

    Args:
        model: a Keras layer or model.
        include_self: yield ``model`` itself first.
        recursive: descend into nested layers and models.

    Example:
        >>> import keras
        >>> inner = keras.Sequential([keras.layers.Dense(2, name="a")], name="m")
        >>> outer = keras.Sequential([inner, keras.layers.Dense(1, name="b")])
        >>> [layer.name for layer in flatten_layers(outer, include_self=False)]
        ['m', 'a', 'b']
    """
    method = getattr(model, "_flatten_layers", None)
    if method is None:
        raise RuntimeError(changed_message("keras.layers.Layer._flatten_layers", "does not have"))
    return method(include_self=include_self, recursive=recursive)


def __getattr__(name: str) -> Any:
    # keras-tuner is imported on first use: most of kerasnotes never needs it.
    if name == "keras_tuner_distribute":
        try:
            module = importlib.import_module("keras_tuner.src.distribute.utils")
        except ImportError as error:  # pragma: no cover - a keras-tuner outside the range
            raise ImportError(
                changed_message("keras_tuner.src.distribute.utils", "does not have", "keras-tuner")
            ) from error
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
