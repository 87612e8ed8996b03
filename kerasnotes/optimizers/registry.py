"""``get(name, **settings)``: an optimizer by the short names the notes use."""

from __future__ import annotations

from typing import Any

from kerasnotes import _validation
from kerasnotes.optimizers.adagrad import Adagrad
from kerasnotes.optimizers.adam import Adam
from kerasnotes.optimizers.base import NotesOptimizer
from kerasnotes.optimizers.rmsprop import RMSprop
from kerasnotes.optimizers.sgd import SGD

#: Every short name ``get`` knows, in the notes' order; ``kerasnotes.tuning`` offers exactly these.
NAMES = ("sgd", "momentum", "momentum_ema", "adagrad", "rmsprop", "adam")

_DEFAULT_MOMENTUM = 0.9


def get(name: str, **settings: Any) -> NotesOptimizer:
    """Builds a kerasnotes optimizer from a short name and its arguments.

    ```
    "sgd"          -> SGD(**settings)                                       (F1)
    "momentum"     -> SGD(momentum=0.9, **settings)                         (F2k)
    "momentum_ema" -> SGD(momentum=0.9, momentum_form="ema", **settings)    (F2)
    "adagrad"      -> Adagrad(**settings)                                   (F3)
    "rmsprop"      -> RMSprop(**settings)                                   (F4)
    "adam"         -> Adam(**settings)                                      (F5)
    ```

    Args:
        name: one of ``NAMES`` (case-insensitive).
        **settings: constructor arguments of that class; for ``"momentum"`` and
            ``"momentum_ema"``, ``momentum`` defaults to 0.9 and may be overridden
            (``"momentum_ema"`` always has ``momentum_form="ema"``).

    Returns:
        a new, unbuilt optimizer.

    Raises:
        ValueError: ``name`` is not one of ``NAMES`` (or a setting is invalid, or
            ``momentum_form`` other than ``"ema"`` is passed with ``"momentum_ema"``).

    Difference from ``keras.optimizers.get``: returns kerasnotes classes, knows
    ``"momentum"`` and ``"momentum_ema"``, and takes the settings as keyword arguments.

    Example:
        >>> import kerasnotes as kn
        >>> opt = kn.optimizers.get("momentum", learning_rate=0.01)
        >>> type(opt).__name__, opt.momentum, opt.nesterov
        ('SGD', 0.9, False)
        >>> kn.optimizers.get("momentum_ema", momentum=0.8).momentum_form
        'ema'
    """
    if not isinstance(name, str) or name.lower() not in NAMES:
        raise ValueError(_validation.message("name", name, f"one of {NAMES}"))
    name = name.lower()
    if name == "sgd":
        return SGD(**settings)
    if name == "momentum":
        settings.setdefault("momentum", _DEFAULT_MOMENTUM)
        return SGD(**settings)
    if name == "momentum_ema":
        form = settings.setdefault("momentum_form", "ema")
        if form != "ema":
            raise ValueError(
                _validation.message(
                    "momentum_form",
                    form,
                    "'ema' for name='momentum_ema' (use name='momentum' for other forms)",
                )
            )
        settings.setdefault("momentum", _DEFAULT_MOMENTUM)
        return SGD(**settings)
    if name == "adagrad":
        return Adagrad(**settings)
    if name == "rmsprop":
        return RMSprop(**settings)
    return Adam(**settings)
