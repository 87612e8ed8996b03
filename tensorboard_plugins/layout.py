"""The tags the kerasnotes tab reads, taken from :mod:`kerasnotes.summary`.

``kerasnotes.summary`` owns the data layout (tag names, tensor fields, kind
codes); this module only gathers the parts the plugin uses under the names
its readers use, so a change of layout is made in one place.
"""

from __future__ import annotations

from kerasnotes import summary

PLUGIN_NAME = summary.PLUGIN_NAME
SCALARS_PLUGIN = "scalars"
TEXT_PLUGIN = "text"
#: Every kerasnotes tag starts with this; other scalars in a run are ignored.
TAG_PREFIX = "kerasnotes/"

GRAD_NORM = summary.TAG_GRAD_NORM
LAMBDA_MIN = summary.TAG_LAMBDA_MIN
LAMBDA_MAX = summary.TAG_LAMBDA_MAX
MINIMUM_RATIO = summary.TAG_MINIMUM_RATIO
#: Curvature series name in the JSON -> scalar tag.
CURVATURE_SCALARS = {
    "grad_norm": GRAD_NORM,
    "lambda_min": LAMBDA_MIN,
    "lambda_max": LAMBDA_MAX,
    "minimum_ratio": MINIMUM_RATIO,
    "minimum_ratio_stderr": summary.TAG_MINIMUM_RATIO_STDERR,
}
#: Sharpness series name in the JSON -> scalar tag (SharpnessMonitor, F17).
SHARPNESS_SCALARS = {
    "sharpness": summary.TAG_SHARPNESS,
    "threshold": summary.TAG_SHARPNESS_THRESHOLD,
    "num_hvp": summary.TAG_SHARPNESS_NUM_HVP,
}
SHARPNESS = summary.TAG_SHARPNESS
LEARNING_RATE = summary.TAG_LEARNING_RATE
EARLY_STOPPING_MONITOR = summary.TAG_EARLY_STOPPING_MONITOR
EFFECTIVE_LR_MEAN_PREFIX = summary.TAG_EFFECTIVE_LR_MEAN_PREFIX
UPDATE_RATIO_PREFIX = summary.TAG_UPDATE_RATIO_PREFIX

CRITICAL_POINT = summary.TAG_CRITICAL_POINT
CRITICAL_POINT_FIELDS = summary.CRITICAL_POINT_FIELDS
CRITICAL_POINT_SIZE = len(CRITICAL_POINT_FIELDS)
KIND_NAMES = summary.KIND_NAMES
SPECTRAL_DENSITY = summary.TAG_SPECTRAL_DENSITY
SPECTRAL_MASSES = summary.TAG_SPECTRAL_MASSES
SPECTRAL_MASSES_FIELDS = summary.SPECTRAL_MASSES_FIELDS
EARLY_STOPPING_EVENT = summary.TAG_EARLY_STOPPING_EVENT
EARLY_STOPPING_FIELDS = summary.EARLY_STOPPING_FIELDS
RUN_INFO = summary.TAG_RUN_INFO
