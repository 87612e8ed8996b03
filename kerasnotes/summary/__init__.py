"""TensorBoard output without TensorFlow: the event writer, the tag layout, the HParams records.

- ``kerasnotes.summary.writer``: ``Writer``, event files through the ``tensorboard``
  package's own protos and record writer, on every backend.
- ``kerasnotes.summary.layout``: every tag name and tensor layout the callbacks
  write and the kerasnotes TensorBoard plugin reads (the contract between them).
- ``kerasnotes.summary.hparams``: the HParams dashboard's experiment and session
  records, as the keras-tuner searches of ``kerasnotes.tuning`` write them.

The writer and the layout's names are importable from here, as before the split.

Example:
    >>> import tempfile
    >>> from kerasnotes import summary
    >>> writer = summary.Writer.for_logdir(tempfile.mkdtemp())
    >>> writer.scalar(summary.TAG_LEARNING_RATE, 0.01, step=0)
    >>> writer.tensor(summary.TAG_CRITICAL_POINT, [3, 0.0, -2, 2, 0.5, 1, 1, 0.2, 40, 0.1], step=0)
    >>> writer.flush()
"""

from __future__ import annotations

from kerasnotes.summary.layout import (
    CRITICAL_POINT_FIELDS,
    EARLY_STOPPING_FIELDS,
    KIND_CODES,
    KIND_NAMES,
    LANDSCAPE_DIRECTION_CODES,
    LANDSCAPE_DIRECTION_FIELDS,
    LANDSCAPE_INFO_FIELDS,
    LANDSCAPE_TRAJECTORY_FIELDS,
    LAYER_CURVATURE_FIELDS,
    PLUGIN_NAME,
    SPECTRAL_MASSES_FIELDS,
    TAG_CRITICAL_POINT,
    TAG_EARLY_STOPPING_EVENT,
    TAG_EARLY_STOPPING_MONITOR,
    TAG_EFFECTIVE_LR_MEAN_PREFIX,
    TAG_EFFECTIVE_LR_PREFIX,
    TAG_GRAD_NORM,
    TAG_LAMBDA_MAX,
    TAG_LAMBDA_MIN,
    TAG_LANDSCAPE_DIRECTIONS,
    TAG_LANDSCAPE_INFO,
    TAG_LANDSCAPE_SURFACE,
    TAG_LANDSCAPE_TRAJECTORY,
    TAG_LAYER_CURVATURE,
    TAG_LAYER_NAMES,
    TAG_LEARNING_RATE,
    TAG_MINIMUM_RATIO,
    TAG_MINIMUM_RATIO_STDERR,
    TAG_RUN_INFO,
    TAG_SHARPNESS,
    TAG_SHARPNESS_NUM_HVP,
    TAG_SHARPNESS_THRESHOLD,
    TAG_SPECTRAL_DENSITY,
    TAG_SPECTRAL_MASSES,
    TAG_UPDATE_RATIO_PREFIX,
    effective_lr_histogram_tag,
    effective_lr_mean_tag,
    update_ratio_tag,
)
from kerasnotes.summary.writer import DEFAULT_HISTOGRAM_BUCKETS, Writer

__all__ = [
    "DEFAULT_HISTOGRAM_BUCKETS",
    "CRITICAL_POINT_FIELDS",
    "EARLY_STOPPING_FIELDS",
    "KIND_CODES",
    "KIND_NAMES",
    "LANDSCAPE_DIRECTION_CODES",
    "LANDSCAPE_DIRECTION_FIELDS",
    "LANDSCAPE_INFO_FIELDS",
    "LANDSCAPE_TRAJECTORY_FIELDS",
    "LAYER_CURVATURE_FIELDS",
    "PLUGIN_NAME",
    "TAG_CRITICAL_POINT",
    "TAG_EARLY_STOPPING_EVENT",
    "TAG_EARLY_STOPPING_MONITOR",
    "TAG_EFFECTIVE_LR_MEAN_PREFIX",
    "TAG_EFFECTIVE_LR_PREFIX",
    "TAG_GRAD_NORM",
    "TAG_LAMBDA_MAX",
    "TAG_LAMBDA_MIN",
    "TAG_LANDSCAPE_DIRECTIONS",
    "TAG_LANDSCAPE_INFO",
    "TAG_LANDSCAPE_SURFACE",
    "TAG_LANDSCAPE_TRAJECTORY",
    "TAG_LAYER_CURVATURE",
    "TAG_LAYER_NAMES",
    "TAG_LEARNING_RATE",
    "TAG_MINIMUM_RATIO",
    "TAG_MINIMUM_RATIO_STDERR",
    "TAG_RUN_INFO",
    "TAG_SHARPNESS",
    "TAG_SHARPNESS_NUM_HVP",
    "TAG_SHARPNESS_THRESHOLD",
    "TAG_SPECTRAL_DENSITY",
    "TAG_SPECTRAL_MASSES",
    "TAG_UPDATE_RATIO_PREFIX",
    "SPECTRAL_MASSES_FIELDS",
    "Writer",
    "effective_lr_histogram_tag",
    "effective_lr_mean_tag",
    "update_ratio_tag",
]
