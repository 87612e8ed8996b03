"""The search space of ``NotesHyperModel``: its choices and how each hyperparameter is declared.

Every hyperparameter is declared on keras-tuner's ``HyperParameters`` through
the helpers below: a single allowed value becomes ``hp.Fixed``, several become
``hp.Choice``, a ``(min, max)`` pair ``hp.Float``/``hp.Int``, and the
hyperparameters of one optimizer, decay or normalization are declared inside
``hp.conditional_scope`` of that choice (and not at all when no allowed choice
uses them).

Example:
    >>> from kerasnotes.tuning import space
    >>> space.OPTIMIZER_HYPERPARAMETERS["adam"]
    ('beta_1', 'beta_2')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasnotes.optimizers import NAMES as _OPTIMIZER_NAMES
from kerasnotes.tuning._checks import RangeSpec

if TYPE_CHECKING:
    from kerasnotes.tuning.hypermodel import NotesHyperModel

__all__ = ["DECAYS", "NORMALIZATIONS", "OPTIMIZERS", "OPTIMIZER_HYPERPARAMETERS", "choose"]

#: Optimizer choices: the notes' F1 (sgd), F2k (momentum), F2 (momentum_ema), F3, F4, F5;
#: every name of ``kerasnotes.optimizers.get``, which builds them.
OPTIMIZERS = _OPTIMIZER_NAMES
#: Learning-rate decay choices: constant, F6 (exponential), F7 (step).
DECAYS = ("none", "exponential", "step")
#: Normalization choices: none, F11 (batch), F12 (layer, group).
NORMALIZATIONS = ("none", "batch", "layer", "group")

#: Optimizer choice -> its own hyperparameters, passed as settings to
#: ``kerasnotes.optimizers.get`` (the learning rate belongs to every optimizer).
OPTIMIZER_HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": (),
    "momentum": ("momentum",),
    "momentum_ema": ("momentum",),
    "adagrad": (),
    "rmsprop": ("rho",),
    "adam": ("beta_1", "beta_2"),
}


def _owners(hyperparameter: str) -> tuple[str, ...]:
    """The optimizer choices that use ``hyperparameter``, in ``OPTIMIZERS`` order."""
    return tuple(
        name for name in OPTIMIZERS if hyperparameter in OPTIMIZER_HYPERPARAMETERS.get(name, ())
    )


def _float_hp(hp, name: str, spec: RangeSpec, default: float, sampling: str) -> float:
    if not isinstance(spec, tuple):
        return hp.Fixed(name, float(spec))
    lo, hi = spec
    if sampling != "linear" and lo <= 0:
        sampling = "linear"  # log scales need a positive lower end
    return hp.Float(name, lo, hi, sampling=sampling, default=min(max(default, lo), hi))


def _int_hp(hp, name: str, spec: RangeSpec, *, doubling: bool = False) -> int:
    if not isinstance(spec, tuple):
        return hp.Fixed(name, int(spec))
    lo, hi = spec
    if doubling:
        return hp.Int(name, lo, hi, step=2, sampling="log")
    return hp.Int(name, lo, hi)


def _choice_hp(hp, name: str, values: tuple) -> Any:
    if len(values) == 1:
        return hp.Fixed(name, values[0])
    return hp.Choice(name, list(values))


def _check_override(name: str, value: Any, argument: str, allowed: tuple) -> None:
    """A value fixed through keras-tuner's own ``HyperParameters`` must be one the model allows.

    The conditional hyperparameters exist only for the allowed choices, so a
    value outside them could not be built.
    """
    if value not in allowed:
        # A hyperparameter, not an argument, hence not ``_validation.message``; same shape.
        raise ValueError(
            f"Hyperparameter `{name}` must be one of {argument}={list(allowed)} (widen "
            f"{argument} or fix {name} to one of them). Received: {name}={value!r}"
        )


def _conditional(hp, parent: str, owners: tuple, allowed: tuple, declare) -> Any:
    """Declare a hyperparameter active only when ``parent`` is one of ``owners``.

    Nothing is declared when no allowed value of the parent uses it (a search
    over Adam alone has no ``momentum`` entry).
    """
    values = [v for v in owners if v in allowed]
    if not values:
        return None
    with hp.conditional_scope(parent, values):
        return declare()


def choose(hp: Any, space: NotesHyperModel) -> dict[str, Any]:
    """Declare every hyperparameter of ``space`` on ``hp`` and return this trial's choices.

    ```
    optimizer, learning_rate, [momentum | rho | beta_1, beta_2], lr_decay,
    [decay_rate | decay_drop, decay_every], batch_size, normalization, [groups], depth, width
    ```

    (``[...]``: declared inside ``hp.conditional_scope`` of the choice that uses it.)
    Calling it again on the same ``hp`` (as ``fit`` does) re-reads the same
    values: keras-tuner returns an existing entry instead of a new one.

    Args:
        hp: the trial's ``keras_tuner.HyperParameters``.
        space: the hypermodel whose validated arguments bound each hyperparameter.

    Returns:
        hyperparameter name -> this trial's value (None for an inactive conditional one).

    Example:
        >>> import keras_tuner as kt
        >>> from kerasnotes.tuning import NotesHyperModel
        >>> hp = kt.HyperParameters()
        >>> chosen = choose(hp, NotesHyperModel((4,), 2, optimizers="rmsprop", rho=0.9))
        >>> chosen["optimizer"], chosen["rho"], chosen["momentum"]
        ('rmsprop', 0.9, None)
    """
    optimizer = _choice_hp(hp, "optimizer", space.optimizers)
    _check_override("optimizer", optimizer, "optimizers", space.optimizers)
    chosen: dict[str, Any] = {
        "optimizer": optimizer,
        "learning_rate": _float_hp(hp, "learning_rate", space.learning_rate, 1e-2, "log"),
    }
    # The decay's parameters are declared even when a search never picks
    # them, so that keras-tuner sees the whole space before the first trial.
    chosen["momentum"] = _conditional(
        hp,
        "optimizer",
        _owners("momentum"),
        space.optimizers,
        lambda: _float_hp(hp, "momentum", space.momentum, 0.9, "reverse_log"),
    )
    chosen["rho"] = _conditional(
        hp,
        "optimizer",
        _owners("rho"),
        space.optimizers,
        lambda: _float_hp(hp, "rho", space.rho, 0.9, "reverse_log"),
    )
    chosen["beta_1"] = _conditional(
        hp,
        "optimizer",
        _owners("beta_1"),
        space.optimizers,
        lambda: _float_hp(hp, "beta_1", space.beta_1, 0.9, "reverse_log"),
    )
    chosen["beta_2"] = _conditional(
        hp,
        "optimizer",
        _owners("beta_1"),
        space.optimizers,
        lambda: _float_hp(hp, "beta_2", space.beta_2, 0.999, "reverse_log"),
    )
    chosen["lr_decay"] = _choice_hp(hp, "lr_decay", space.decays)
    _check_override("lr_decay", chosen["lr_decay"], "decays", space.decays)
    chosen["decay_rate"] = _conditional(
        hp,
        "lr_decay",
        ("exponential",),
        space.decays,
        lambda: _float_hp(hp, "decay_rate", space.decay_rate, 0.1, "log"),
    )
    chosen["decay_drop"] = _conditional(
        hp,
        "lr_decay",
        ("step",),
        space.decays,
        lambda: _float_hp(hp, "decay_drop", space.decay_drop, 0.5, "linear"),
    )
    chosen["decay_every"] = _conditional(
        hp,
        "lr_decay",
        ("step",),
        space.decays,
        lambda: _int_hp(hp, "decay_every", space.decay_every),
    )
    chosen["batch_size"] = _choice_hp(hp, "batch_size", space.batch_sizes)
    chosen["normalization"] = _choice_hp(hp, "normalization", space.normalizations)
    _check_override(
        "normalization", chosen["normalization"], "normalizations", space.normalizations
    )
    chosen["groups"] = _conditional(
        hp,
        "normalization",
        ("group",),
        space.normalizations,
        lambda: _choice_hp(hp, "groups", space.groups),
    )
    chosen["depth"] = _int_hp(hp, "depth", space.depth)
    chosen["width"] = _int_hp(hp, "width", space.width, doubling=True)
    return chosen
