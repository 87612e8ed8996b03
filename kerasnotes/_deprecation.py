"""The renamed ``logdir=`` argument, accepted for one more release beside ``log_dir=``.

The Python API spells the log folder ``log_dir`` (as ``keras.callbacks.TensorBoard``);
the command line keeps ``--logdir`` (as ``tensorboard``). Functions that took
``logdir=`` before the rename call :func:`renamed_log_dir`.
"""

from __future__ import annotations

import os
import warnings
from typing import Any


def renamed_log_dir(log_dir: Any, logdir: Any, *, default: Any, caller: str) -> Any:
    """``log_dir``, or the deprecated ``logdir`` with a ``DeprecationWarning``.

    Args:
        log_dir: the value of the new argument.
        logdir: the value of the old argument (None when not given).
        default: ``log_dir``'s default, to tell "not given" from "given".
        caller: the public function's name, for the messages.

    Raises:
        TypeError: both were given.

    Example:
        >>> import warnings
        >>> from kerasnotes._deprecation import renamed_log_dir
        >>> renamed_log_dir("runs/a", None, default="runs", caller="f")
        'runs/a'
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     renamed_log_dir("runs", "runs/b", default="runs", caller="f")
        'runs/b'
        >>> caught[0].category.__name__
        'DeprecationWarning'
    """
    if logdir is None:
        return log_dir
    given = log_dir is not None if default is None else os.fspath(log_dir) != os.fspath(default)
    if given:
        raise TypeError(
            f"{caller}(): Argument `logdir` is the deprecated spelling of `log_dir`, so "
            f"they cannot both be given; pass only log_dir. Received: log_dir={log_dir!r}, logdir={logdir!r}"
        )
    warnings.warn(
        f"{caller}(logdir=...) is deprecated and will be removed in the next release; "
        "use log_dir=... (the spelling of keras.callbacks.TensorBoard)",
        DeprecationWarning,
        stacklevel=3,  # the caller of the public function
    )
    return logdir
