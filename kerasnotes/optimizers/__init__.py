"""The notes' optimizers (F1–F5) as drop-in Keras 3 optimizers.

Each class takes the same arguments, with the same defaults, as the Keras
built-in of the same name and gives the same numbers; it adds the notes'
variants as explicit options and ``inspect(variable)``, which returns its state
and per-element effective learning rate as numpy arrays.

Example:
    >>> import kerasnotes as kn
    >>> opt = kn.optimizers.get("momentum", learning_rate=0.05)
    >>> type(opt).__name__, opt.momentum
    ('SGD', 0.9)
"""

from __future__ import annotations

from kerasnotes.optimizers.adagrad import Adagrad
from kerasnotes.optimizers.adam import Adam
from kerasnotes.optimizers.base import NotesOptimizer
from kerasnotes.optimizers.registry import NAMES, get
from kerasnotes.optimizers.rmsprop import RMSprop
from kerasnotes.optimizers.sgd import SGD

__all__ = ["NAMES", "SGD", "Adagrad", "Adam", "NotesOptimizer", "RMSprop", "get"]
