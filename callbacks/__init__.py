"""Keras callbacks that watch the optimisation: ``import kerasnotes.callbacks``.

- ``EarlyStopping``: stop when the monitored loss stops improving, keep the best weights (F15).
- ``LearningRateDecay``: set the learning rate from a schedule each epoch or step (F6, F7).
- ``SaddlePointDetector``: classify critical points with the Hessian and escape saddles (F13, F14).
- ``SharpnessMonitor``: the sharpness λmax against the optimizer's stability threshold (F17).
- ``LandscapeLogger``: the loss on a plane through the weights and the path across it (F16).
- ``OptimizerInspector``: log the kerasnotes optimizers' per-element learning rates (C5).

All of them write what they find to TensorBoard through ``kerasnotes.summary``
when given a ``log_dir`` (the layout is documented there).
"""

from __future__ import annotations

from .early_stopping import EarlyStopping
from .inspector import OptimizerInspector
from .landscape import LandscapeLogger
from .lr_decay import LearningRateDecay
from .saddle import SaddlePointDetector
from .sharpness import SharpnessMonitor

__all__ = [
    "EarlyStopping",
    "LandscapeLogger",
    "LearningRateDecay",
    "OptimizerInspector",
    "SaddlePointDetector",
    "SharpnessMonitor",
]
